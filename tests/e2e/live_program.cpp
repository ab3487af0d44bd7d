#include "live_program.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "fixture_util.h"

extern char** environ;

namespace lpsafe::e2e {
namespace {

std::string status_field(const std::string& status, const std::string& key) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
    }
    return {};
}

// /proc/<pid>/task/<tid>/syscall starts with the system call number, or
// "running" / "-1" when the thread is in user space.
bool in_syscall(pid_t pid, int tid) {
    const std::string s = read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
    return !s.empty() && s.rfind("running", 0) != 0 && s.rfind("-1", 0) != 0;
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    // Default dispositions and no blocked signals in the child, whatever the
    // test runner inherited (nohup ignores SIGHUP, and an ignored signal is
    // inherited across exec): the tests send signals and expect their
    // default action.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    if (posix_spawn(&pid, args[0], &fa, &attr, args.data(), environ) != 0) pid = -1;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

LiveProgram::LiveProgram(std::vector<std::string> argv) {
    roles_path_ = argv.at(1);
    std::filesystem::remove(roles_path_);
    pid_ = spawn(argv);
    if (pid_ < 0) {
        error_ = "cannot start " + argv[0];
        return;
    }
    // Bounded: 10 s for a thousand threads on a loaded machine.
    for (int i = 0; i < 1000; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            error_ = argv[0] + " exited early";
            return;
        }
        if (file_exists(roles_path_)) {
            roles_ = read_roles(roles_path_);
            bool parked = true;
            for (const auto& [tid, role] : roles_) {
                parked = parked && (role == "spin" || role == "churn" || in_syscall(pid_, tid));
            }
            if (parked) {
                ok_ = true;
                return;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    error_ = argv[0] + " did not park within 10 s";
}

LiveProgram::~LiveProgram() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(roles_path_);
}

std::string stopped_or_traced_threads(pid_t pid) {
    std::string out;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string status = read_file(e.path().string() + "/status");
        if (status.empty()) continue;  // exited since the listing
        const std::string state = status_field(status, "State");
        const std::string tracer = status_field(status, "TracerPid");
        if (state.empty() || state[0] == 't' || state[0] == 'T' || tracer != "0")
            out += e.path().filename().string() + ": State " + state + ", TracerPid " + tracer + "\n";
    }
    return out;
}

}  // namespace lpsafe::e2e

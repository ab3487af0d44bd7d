#include "kernel_helpers.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Sleeping (S) with a wchan: the task is inside the system call.
bool is_parked(int pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'S') return false;
    const std::string wchan = slurp("/proc/" + std::to_string(pid) + "/wchan");
    return !wchan.empty() && wchan != "0";
}

}  // namespace

std::string kparked_bin() {
    const char* v = std::getenv("LPSAFE_KPARKED");
    return v != nullptr ? v : "";
}

ParkedHelper::ParkedHelper(const std::string& mode) {
    std::vector<std::string> args = {kparked_bin()};
    std::istringstream words(mode);
    for (std::string w; words >> w;) args.push_back(w);
    pid_ = fork();
    if (pid_ == 0) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
        if (freopen("/dev/null", "w", stdout) == nullptr) _exit(127);
        execv(argv[0], argv.data());
        _exit(127);
    }
    for (int i = 0; i < 200 && pid_ > 0; ++i) {
        if (is_parked(pid_)) {
            parked_ = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

ParkedHelper::~ParkedHelper() { kill_and_reap(); }

void ParkedHelper::kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

std::string ParkedHelper::top_function() const {
    const std::string stack = slurp("/proc/" + std::to_string(pid_) + "/stack");
    const auto b = stack.find("] ");
    const auto e = stack.find('+');
    if (b == std::string::npos || e == std::string::npos || e < b) return "";
    return stack.substr(b + 2, e - b - 2);
}

int stack_read_error(int pid) {
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stack").c_str(), "r");
    if (f == nullptr) return errno;
    char buf[256];
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    const int err = n == 0 && std::ferror(f) ? errno : 0;
    std::fclose(f);
    return err;
}

}  // namespace lpsafe::e2e

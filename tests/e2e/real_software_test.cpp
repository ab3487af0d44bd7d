// Real software, as distributions build and ship it: programs built with the
// default flags (g++ -O2, PIE; lazy binding and -z now), Debian's python3,
// and packaged daemons (memcached, redis-server) running on loopback. Each
// is started by the test, and every thread is judged three ways: from a
// core (gcore), live (--pid) and from a snapshot (record, then --snapshot).
//
// For every parked thread: safe for an unrelated patch, blocked by the
// function it sleeps in, and the same verdict from all three inputs. A
// JavaScript runtime with JIT frames on the stack (node) stays unreliable,
// saying why. The table printed at the end is the evidence.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "fixture_util.h"
#include "readers/ptrace/ptrace_capture.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
}

// Each thread's state letter and system call number ("S 232"), read from
// /proc: what a parked thread keeps while it stays parked.
std::map<std::string, std::string> thread_waits(pid_t pid) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        const std::string stat = read_file(t.path() / "stat");
        const auto close = stat.rfind(')');
        std::istringstream syscall(read_file(t.path() / "syscall"));
        std::string nr;
        syscall >> nr;
        out[t.path().filename()] = (close == std::string::npos ? "?" : stat.substr(close + 2, 1)) + " " + nr;
    }
    return out;
}

// Until every thread of `pid` sleeps (S) in the same system call at two
// reads 200 ms apart, or 10 s. A daemon that accepts connections may still
// be starting its other threads or opening files (redis-server's were seen
// in open() under load): judging it then compares a core and a live capture
// of different moments.
void wait_settled(pid_t pid) {
    auto before = thread_waits(pid);
    for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        auto now = thread_waits(pid);
        const bool asleep = std::all_of(now.begin(), now.end(), [](const auto& w) { return w.second[0] == 'S'; });
        if (asleep && now == before) return;
        before = std::move(now);
    }
}

// A program run as a child of the test: started, waited for, killed.
class Child {
public:
    // Waits for the line "ready" on standard output (our own programs).
    static Child until_ready(std::vector<std::string> argv) {
        Child c(std::move(argv), true);
        c.wait_ready();
        return c;
    }
    // Waits until a TCP port on 127.0.0.1 accepts (daemons), then lets
    // their threads settle into their waits.
    static Child until_listening(std::vector<std::string> argv, int port) {
        Child c(std::move(argv), false);
        for (int i = 0; i < 200 && c.ok_ == false; ++i) {
            const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            c.ok_ = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            close(s);
            if (!c.ok_) std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        if (c.ok_) wait_settled(c.pid_);
        return c;
    }
    Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), in_(std::exchange(o.in_, -1)), out_(std::exchange(o.out_, -1)), ok_(o.ok_) {}
    ~Child() {
        if (in_ >= 0) close(in_);
        if (out_ >= 0) close(out_);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }
    bool ok() const { return ok_; }

private:
    Child(std::vector<std::string> argv, bool pipe_out) {
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            dup2(in[0], 0);
            const int null = open("/dev/null", O_WRONLY);
            dup2(pipe_out ? out[1] : null, 1);
            dup2(null, 2);
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            execvp(args[0], args.data());
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        in_ = in[1];
        out_ = out[0];
    }
    void wait_ready() {
        std::string line;
        char c;
        while (line.find("ready") == std::string::npos && read(out_, &c, 1) == 1) line += c;
        ok_ = line.find("ready") != std::string::npos;
    }
    pid_t pid_ = -1;
    int in_ = -1;   // the child's stdin: it exits when this closes
    int out_ = -1;
    bool ok_ = false;
};

json lpsafe_json(const std::string& args) {
    const CommandResult r = run_command(lpsafe_bin() + " " + args + " --json");
    if (r.out.empty()) {
        ADD_FAILURE() << "lpsafe " << args << ": exit " << r.exit_status << ": " << r.err;
        return json::object({{"tasks", json::array()}});
    }
    return json::parse(r.out);
}

struct Inputs {
    std::string core;
    std::string snapshot;
    pid_t pid = 0;
};

// The three inputs of one process: live, its core, its snapshot.
std::vector<std::pair<std::string, std::string>> sources(const Inputs& in) {
    return {{"core", "--core " + in.core}, {"live", "--pid " + std::to_string(in.pid)}, {"snapshot", "--snapshot " + in.snapshot}};
}

struct Tally {
    int threads = 0, safe = 0, blocked = 0, unreliable = 0;  // unrelated patch, from the core
    int blocked_by_own = 0;  // patched where it sleeps, blocked from all three inputs
    bool same = true;
};
std::map<std::string, Tally>& table() {
    static std::map<std::string, Tally> t;
    return t;
}

std::string why(const json& task) {
    std::string s;
    for (const auto& f : task.value("failed_checks", json::array()))
        s += "  " + f.value("check", "") + ": " + f.value("detail", "") + "\n";
    return s;
}

class RealSoftware : public testing::Test {
protected:
    void SetUp() override {
        if (lpsafe_bin().empty()) GTEST_SKIP() << "LPSAFE_BIN is not set (run through meson test)";
        dir_ = fs::temp_directory_path() / ("lpsafe-real." + std::to_string(getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    Inputs capture(const Child& c, const std::string& name) {
        Inputs in;
        in.pid = c.pid();
        std::string file = name;
        for (char& ch : file)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        const std::string base = (dir_ / file).string();
        const CommandResult g = run_command("gcore -o " + base + " " + std::to_string(c.pid()));
        in.core = base + "." + std::to_string(c.pid());
        EXPECT_TRUE(fs::exists(in.core)) << "gcore: " << g.err;
        in.snapshot = base + ".snap";
        const CommandResult r = run_command(lpsafe_bin() + " record --pid " + std::to_string(c.pid()) + " -o " + in.snapshot);
        EXPECT_EQ(r.exit_status, 0) << r.err;
        return in;
    }

    // Every thread: safe for an unrelated patch from core, live and
    // snapshot alike; then blocked, from each input, by the innermost named
    // function of its stack (where it sleeps). The one thread `jit_tid`
    // (0: none) runs JIT code instead: it must be unreliable from every
    // input, saying so.
    void judge_parked(const std::string& name, const Child& c, const std::string& unrelated, int jit_tid = 0) {
        ASSERT_TRUE(c.ok()) << name << " did not start";
        const Inputs in = capture(c, name);
        std::map<std::string, std::map<int, json>> by_input;
        for (const auto& [input, arg] : sources(in)) {
            const json doc = lpsafe_json("check " + arg + " --func " + unrelated);
            for (const json& t : doc["tasks"]) by_input[input][t["tid"].get<int>()] = t;
            if (jit_tid != 0) expect_unreliable_for_jit(by_input[input], jit_tid, input);
        }
        Tally tally;
        const auto& core = by_input["core"];
        ASSERT_FALSE(core.empty()) << name;
        std::map<int, std::string> sleeps_in;  // tid -> OBJECT:FUNCTION
        for (const auto& [tid, t] : core) {
            ++tally.threads;
            const std::string v = t["verdict"];
            tally.safe += v == "safe";
            tally.blocked += v == "blocked";
            tally.unreliable += v == "unreliable";
            if (tid != jit_tid) {
                EXPECT_EQ(v, "safe") << name << " thread " << tid << " (" << t.value("comm", "") << ") from its core:\n"
                                     << why(t);
            }
            for (const std::string input : {"live", "snapshot"}) {
                const auto other = by_input[input].find(tid);
                const bool same = other != by_input[input].end() && other->second["verdict"] == t["verdict"];
                tally.same = tally.same && same;
                EXPECT_TRUE(same) << name << " thread " << tid << ": core says " << v << ", " << input << " says "
                                  << (other != by_input[input].end() ? other->second["verdict"].get<std::string>() + "\n" + why(other->second)
                                                                     : "nothing");
            }
            if (tid == jit_tid) continue;
            for (const json& f : t["frames"]) {
                if (!f.value("function", std::string()).empty()) {
                    sleeps_in[tid] = f["object"].get<std::string>() + ":" + f["function"].get<std::string>();
                    break;
                }
            }
        }
        // Blocked by the function each thread sleeps in.
        std::string funcs;
        for (const auto& spec : std::set<std::string>(
                 [&] { std::set<std::string> s; for (auto& [tid, f] : sleeps_in) s.insert(f); return s; }()))
            funcs += " --func '" + spec + "'";
        ASSERT_FALSE(funcs.empty());
        std::map<int, int> blocked_inputs;
        for (const auto& [input, arg] : sources(in)) {
            const json doc = lpsafe_json("check " + arg + funcs);
            for (const json& t : doc["tasks"]) {
                const int tid = t["tid"];
                if (!sleeps_in.count(tid)) continue;
                blocked_inputs[tid] += t["verdict"] == "blocked";
                EXPECT_EQ(t["verdict"], "blocked") << name << " thread " << tid << " from " << input
                                                   << " with a patch of " << sleeps_in[tid] << ":\n" << why(t);
            }
        }
        for (const auto& [tid, n] : blocked_inputs) tally.blocked_by_own += n == 3;
        table()[name] = tally;
    }

    // V8 runs JavaScript as JIT code and builtins without CFI; the reason
    // must name that code: anonymous memory or no CFI.
    static void expect_unreliable_for_jit(const std::map<int, json>& tasks, int tid, const std::string& input) {
        const auto t = tasks.find(tid);
        ASSERT_NE(t, tasks.end()) << input << ": no thread " << tid;
        EXPECT_EQ(t->second["verdict"], "unreliable") << input << ": thread " << tid << " runs JavaScript";
        const std::string reasons = why(t->second);
        EXPECT_TRUE(reasons.find("anonymous code") != std::string::npos ||
                    reasons.find("no CFI") != std::string::npos || reasons.find("no known module") != std::string::npos)
            << input << ":\n" << reasons;
    }

    fs::path dir_;
};

std::string program(const char* var) { return env(var); }

int free_port() {
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
}

TEST_F(RealSoftware, CppThreadPoolLazyBinding) {
    judge_parked("thread_pool (g++ -O2, lazy)", Child::until_ready({program("LPSAFE_RS_POOL_LAZY")}), "libc.so.6:abs");
}

TEST_F(RealSoftware, CppThreadPoolBindNow) {
    judge_parked("thread_pool (g++ -O2, -z now)", Child::until_ready({program("LPSAFE_RS_POOL_NOW")}), "libc.so.6:abs");
}

TEST_F(RealSoftware, CSemWaitLazyBinding) {
    judge_parked("sem_wait (gcc -O2, lazy)", Child::until_ready({program("LPSAFE_RS_SEM_LAZY")}), "libc.so.6:abs");
}

TEST_F(RealSoftware, CSemWaitBindNow) {
    judge_parked("sem_wait (gcc -O2, -z now)", Child::until_ready({program("LPSAFE_RS_SEM_NOW")}), "libc.so.6:abs");
}

TEST_F(RealSoftware, PythonThreads) {
    if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "python3 is not installed (scripts/install-deps.sh)";
    judge_parked("python3 threads", Child::until_ready({"/usr/bin/python3", program("LPSAFE_RS_PY")}), "libc.so.6:abs");
}

TEST_F(RealSoftware, Memcached) {
    if (!fs::exists("/usr/bin/memcached")) GTEST_SKIP() << "memcached is not installed (scripts/install-deps.sh)";
    const int port = free_port();
    judge_parked("memcached -t 4",
                 Child::until_listening({"/usr/bin/memcached", "-u", "root", "-l", "127.0.0.1", "-p",
                                         std::to_string(port), "-U", "0", "-t", "4", "-m", "16"},
                                        port),
                 "libc.so.6:abs");
}

TEST_F(RealSoftware, RedisServer) {
    if (!fs::exists("/usr/bin/redis-server")) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
    const int port = free_port();
    judge_parked("redis-server",
                 Child::until_listening({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", dir_.string(), "--daemonize",
                                         "no"},
                                        port),
                 "libc.so.6:abs");
}

// A lazily bound process keeps its .got.plt writable; live captures read
// writable memory only from copies, so the capture must have copied the GOT
// slots (copy_got_slots) or a call through a PLT stub has no target live
// while it has one in a core. The copy must be the process's own bytes.
TEST_F(RealSoftware, LiveCaptureHoldsWritableGotSlots) {
    const Child c = Child::until_ready({program("LPSAFE_RS_POOL_LAZY")});
    ASSERT_TRUE(c.ok());
    auto image = readers::capture_process(c.pid());
    ASSERT_TRUE(image.ok()) << image.error().message;
    const std::string mem_path = "/proc/" + std::to_string(c.pid()) + "/mem";
    const int fd = open(mem_path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    size_t writable_slots = 0;
    for (const Module& m : image->modules.modules()) {
        if (!m.image || !m.status.usable()) continue;
        for (const auto& [start, end] : m.image->got_ranges()) {
            for (uint64_t at = start + m.bias; at < end + m.bias; at += 8) {
                const Mapping* map = image->mapping_at(at);
                if (map == nullptr || !map->writable) continue;
                ++writable_slots;
                const auto copied = image->memory->read_u64(at);
                uint64_t real = 0;
                ASSERT_EQ(pread(fd, &real, sizeof real, static_cast<off_t>(at)), static_cast<ssize_t>(sizeof real));
                ASSERT_TRUE(copied.has_value()) << m.name << " GOT slot " << std::hex << at << " was not copied";
                EXPECT_EQ(*copied, real) << m.name << " GOT slot " << std::hex << at;
            }
        }
    }
    close(fd);
    // The program's own .got.plt and libstdc++'s (partial RELRO) at least.
    EXPECT_GT(writable_slots, 10u);
}

// A thread with JavaScript frames on its stack must stay unreliable, from
// every input, saying why. node's other threads (V8's platform workers,
// its signal and inspector threads) run no JavaScript and are judged like
// any C++ thread.
TEST_F(RealSoftware, NodeWithJavaScriptFramesStaysUnreliable) {
    if (!fs::exists("/usr/bin/node")) GTEST_SKIP() << "node is not installed (scripts/install-deps.sh: nodejs)";
    // A JavaScript function blocks in a synchronous read of stdin: read(2)
    // under V8's frames.
    const Child c = Child::until_ready(
        {"/usr/bin/node", "-e",
         "function park(){ const b = Buffer.alloc(1); while (require('fs').readSync(0, b) > 0) {} }"
         " console.log('ready'); setTimeout(() => park(), 200);"});
    ASSERT_TRUE(c.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    wait_settled(c.pid());
    judge_parked("node (JavaScript on the main thread)", c, "libc.so.6:abs", c.pid());
}

class TablePrinter : public testing::Environment {
public:
    void TearDown() override {
        std::ostringstream s;
        s << "\n| program | threads | safe | blocked | unreliable | core = live = snapshot | blocked by own sleep function (all 3 inputs) |\n"
             "|---|---|---|---|---|---|---|\n";
        for (const auto& [name, t] : table())
            s << "| " << name << " | " << t.threads << " | " << t.safe << " | " << t.blocked << " | " << t.unreliable
              << " | " << (t.same ? "yes" : "no") << " | " << t.blocked_by_own << " |\n";
        std::cout << s.str();
    }
};
const auto* printer = testing::AddGlobalTestEnvironment(new TablePrinter);

}  // namespace
}  // namespace lpsafe::e2e

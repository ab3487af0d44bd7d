// Live processes through ptrace: the fixture programs run, lpsafe stops each
// thread only to copy it, and the verdicts must be the ones their cores get
// (parked.expect). Every test ends by checking that no thread of the target
// was left stopped or traced.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixture_util.h"
#include "live_program.h"
#include "readers/ptrace/ptrace_capture.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) {
    return (fs::temp_directory_path() / (name + "." + std::to_string(getpid()))).string();
}

std::string many_threads_bin() {
    const char* b = std::getenv("LPSAFE_MANY_THREADS");
    return b != nullptr ? b : "";
}

ProcessReport capture_and_check(pid_t pid, const std::vector<std::string>& funcs, unsigned max_frames = 128) {
    auto image = readers::capture_process(pid);
    EXPECT_TRUE(image.ok()) << (image.ok() ? "" : image.error().message);
    if (!image.ok()) return {};
    PatchSet patch;
    for (const auto& f : funcs) EXPECT_TRUE(patch.add_spec(f).ok());
    CheckOptions options;
    options.unwind.max_frames = max_frames;
    auto report = check_process(*image, patch, options);
    EXPECT_TRUE(report.ok()) << (report.ok() ? "" : report.error().message);
    return report.ok() ? *report : ProcessReport{};
}

void expect_captured(const TaskVerdict& t) {
    EXPECT_NE(t.verdict, VerdictKind::gone) << t.reason;
    EXPECT_NE(t.verdict, VerdictKind::unreadable) << t.reason;
    EXPECT_GT(t.stop_ns, 0u) << "tid " << t.tid;
}

// ---- parked.c, live: the same verdicts as its cores ------------------------

class LiveParked : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (fixtures_dir().empty()) GTEST_SKIP() << "LPSAFE_FIXTURES is not set (run through meson test)";
        expect_ = read_expectations(fixtures_dir() + "/parked.expect");
        program_ = std::make_unique<LiveProgram>(
            std::vector<std::string>{fixtures_dir() + "/" + GetParam() + "/parked", tmp("lpsafe-live-roles")});
        ASSERT_TRUE(program_->ok()) << program_->error();
        ASSERT_EQ(program_->roles().size(), 9u);
    }
    void TearDown() override {
        if (program_ && program_->ok()) {
            EXPECT_EQ(stopped_or_traced_threads(program_->pid()), "");
        }
    }
    std::map<std::string, Expectation> expect_;
    std::unique_ptr<LiveProgram> program_;
};

TEST_P(LiveParked, VerdictsMatchTheCores) {
    const ProcessReport r = capture_and_check(program_->pid(), {"parked:spin_outer"});
    expect_untouched_verdicts(r, program_->roles(), expect_, false);
    for (const TaskVerdict& t : r.tasks) {
        const std::string role = program_->roles().at(t.tid);
        expect_captured(t);
        EXPECT_EQ(t.comm, role);  // the thread's own name, from /proc
        EXPECT_EQ(t.state, role == "spin" ? "R" : "S") << role;
        if (role != "smash") continue;
        // The forged return address is caught at the frame that holds it.
        const int bad = index_of(t.frames, "smash_inner") + 1;
        EXPECT_TRUE(std::any_of(t.findings.begin(), t.findings.end(), [&](const Finding& f) {
            return f.check == Check::return_after_call && f.frame == bad;
        })) << dump(t);
    }
}

TEST_P(LiveParked, EachParkedChainBlocksItsThread) {
    for (const std::string& role : kParkedRoles) {
        const std::string fn = expect_.at(role).chain.front();
        const ProcessReport r = capture_and_check(program_->pid(), {"parked:" + fn});
        EXPECT_EQ(r.summary.blocked, 1) << fn;
        EXPECT_EQ(r.summary.safe, 5) << fn;
        for (const TaskVerdict& t : r.tasks) {
            if (t.verdict != VerdictKind::blocked) continue;
            EXPECT_EQ(program_->roles().at(t.tid), role);
            ASSERT_EQ(t.blocked_by.size(), 1u);
            EXPECT_EQ(t.blocked_by[0].frame, index_of(t.frames, fn)) << dump(t);
        }
    }
}

// The whole stack was copied: with a depth limit above its 200 recursive
// frames, the deep thread's walk reaches the real bottom and is safe.
TEST_P(LiveParked, DeepRecursionIsCopiedToItsBottom) {
    const ProcessReport r = capture_and_check(program_->pid(), {"parked:spin_outer"}, 1000);
    for (const TaskVerdict& t : r.tasks) {
        if (program_->roles().at(t.tid) != "deep") continue;
        EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
        EXPECT_EQ(t.end.kind, StackEnd::Kind::outermost);
        EXPECT_EQ(std::count_if(t.frames.begin(), t.frames.end(),
                                [](const Frame& f) { return f.function == "deep_recurse"; }),
                  200);
        return;
    }
    FAIL() << "no deep thread";
}

TEST_P(LiveParked, CommandReportsStopTimes) {
    const auto r = run_command(lpsafe_bin() + " check --pid " + std::to_string(program_->pid()) +
                               " --func parked:pause_inner --json");
    EXPECT_EQ(r.exit_status, 1) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["tasks"].size(), 9u);
    uint64_t total = 0, longest = 0;
    for (const auto& t : j["tasks"]) {
        const uint64_t ns = t.value("stop_ns", uint64_t{0});
        EXPECT_GT(ns, 0u) << t.dump();
        total += ns;
        longest = std::max(longest, ns);
        if (program_->roles().at(t["tid"].get<int>()) == "pause") {
            EXPECT_EQ(t["verdict"], "blocked");
        }
    }
    EXPECT_EQ(j["summary"]["stop_ns_total"], total);
    EXPECT_EQ(j["summary"]["stop_ns_max"], longest);
    const auto text = run_command(lpsafe_bin() + " stack --pid " + std::to_string(program_->pid()));
    EXPECT_NE(text.out.find("stopped 9 threads for "), std::string::npos) << text.out;
}

// A process stopped by job control stays stopped: lpsafe's interrupt and
// detach must not resume it (ptrace(2): a group-stop survives PTRACE_DETACH).
TEST_P(LiveParked, JobControlStopIsKept) {
    const auto stopped_lines = [&] {
        const std::string s = stopped_or_traced_threads(program_->pid());
        return std::count(s.begin(), s.end(), '\n');
    };
    ASSERT_EQ(kill(program_->pid(), SIGSTOP), 0);
    for (int i = 0; i < 1000 && stopped_lines() < 9; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ(stopped_lines(), 9);
    const ProcessReport r = capture_and_check(program_->pid(), {"parked:spin_outer"});
    // A detached thread wakes and re-enters the group stop it owes
    // (kernel/ptrace.c __ptrace_unlink() sets JOBCTL_STOP_PENDING): a
    // moment in the kernel, which /proc may show as running.
    for (int i = 0; i < 500 && stopped_lines() < 9; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::string after = stopped_or_traced_threads(program_->pid());
    kill(program_->pid(), SIGCONT);
    for (const TaskVerdict& t : r.tasks) {
        expect_captured(t);
        EXPECT_EQ(t.state, "T");
    }
    // Every thread still stopped (9 lines), none traced.
    EXPECT_EQ(std::count(after.begin(), after.end(), '\n'), 9) << after;
    std::istringstream lines(after);
    for (std::string line; std::getline(lines, line);) EXPECT_NE(line.find("TracerPid 0"), std::string::npos) << line;
    for (int i = 0; i < 1000 && stopped_lines() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

INSTANTIATE_TEST_SUITE_P(Variants, LiveParked, testing::Values("fp", "nofp"));

// ---- a thousand threads, and a stack deeper than the copy --------------------

class LiveMany : public testing::Test {
protected:
    void SetUp() override {
        if (many_threads_bin().empty()) GTEST_SKIP() << "LPSAFE_MANY_THREADS is not set (run through meson test)";
    }
};

TEST_F(LiveMany, ThousandThreadsAllCapturedAndReleased) {
    // 2 MiB of recursion: twice the 1 MiB lpsafe copies of a stack.
    LiveProgram program({many_threads_bin(), tmp("lpsafe-many-roles"), "1000", "2048"});
    ASSERT_TRUE(program.ok()) << program.error();
    const ProcessReport r = capture_and_check(program.pid(), {"many_threads:worker_inner"}, 100000);
    ASSERT_EQ(r.tasks.size(), 1002u);
    EXPECT_EQ(r.summary.blocked, 1000);
    EXPECT_EQ(r.summary.safe, 1);
    EXPECT_EQ(r.summary.unreliable, 1);
    for (const TaskVerdict& t : r.tasks) {
        const std::string role = program.roles().at(t.tid);
        expect_captured(t);
        if (role == "worker") {
            ASSERT_EQ(t.blocked_by.size(), 1u) << dump(t);
            EXPECT_EQ(t.blocked_by[0].frame, index_of(t.frames, "worker_inner"));
        } else if (role == "deep") {
            // The copy ends 1 MiB above sp: the walk runs out of stack bytes
            // long before the bottom, and says so.
            EXPECT_EQ(t.verdict, VerdictKind::unreliable);
            EXPECT_EQ(t.end.kind, StackEnd::Kind::failed) << dump(t);
            EXPECT_TRUE(std::any_of(t.findings.begin(), t.findings.end(),
                                    [](const Finding& f) { return f.check == Check::bottom; }));
            EXPECT_LT(std::count_if(t.frames.begin(), t.frames.end(),
                                    [](const Frame& f) { return f.function == "deep_recurse"; }),
                      1100);
        } else {
            EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
        }
    }
    EXPECT_EQ(stopped_or_traced_threads(program.pid()), "");
}

// Threads that come and go during the capture: the list is re-read, each
// thread is captured or reported gone (or, if the list never settles,
// unreadable), the parked ones keep their verdicts, nothing stays stopped.
TEST_F(LiveMany, ThreadsComingAndGoingDuringTheCapture) {
    LiveProgram program({many_threads_bin(), tmp("lpsafe-churn-roles"), "50", "0", "2"});
    ASSERT_TRUE(program.ok()) << program.error();
    int gone = 0;
    for (int run = 0; run < 5; ++run) {
        const ProcessReport r = capture_and_check(program.pid(), {"many_threads:worker_inner"});
        EXPECT_EQ(r.summary.blocked, 50);
        for (const TaskVerdict& t : r.tasks) {
            const auto role = program.roles().find(t.tid);
            if (role != program.roles().end() && role->second != "churn") expect_captured(t);
            if (t.verdict == VerdictKind::gone) {
                ++gone;
                EXPECT_NE(t.reason.find("exited"), std::string::npos) << t.reason;
            }
            if (t.verdict == VerdictKind::unreadable) {
                EXPECT_NE(t.reason.find("did not settle"), std::string::npos) << t.reason;
            }
        }
    }
    EXPECT_GT(gone, 0) << "no short-lived thread exited between listing and stop in 5 captures";
    EXPECT_EQ(stopped_or_traced_threads(program.pid()), "");
}

// lpsafe killed mid-capture must leave every thread running and untraced.
// The capture blocks SIGTERM/SIGINT/SIGHUP while a thread is attached; the
// test waits until /proc shows them blocked, i.e. a capture is under way.
TEST_F(LiveMany, KilledMidCaptureLeavesNothingStopped) {
    if (lpsafe_bin().empty()) GTEST_SKIP() << "LPSAFE_BIN is not set";
    LiveProgram program({many_threads_bin(), tmp("lpsafe-kill-roles"), "1000"});
    ASSERT_TRUE(program.ok()) << program.error();
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        SCOPED_TRACE(strsignal(sig));
        const pid_t lp = spawn({lpsafe_bin(), "stack", "--pid", std::to_string(program.pid())});
        ASSERT_GT(lp, 0);
        const uint64_t bit = uint64_t{1} << (sig - 1);
        bool capturing = false;
        for (int i = 0; i < 200000 && !capturing; ++i) {
            const std::string status = read_file("/proc/" + std::to_string(lp) + "/status");
            const auto at = status.find("SigBlk:");
            if (at == std::string::npos) break;  // lpsafe already exited
            capturing = (std::stoull(status.substr(at + 7), nullptr, 16) & bit) != 0;
        }
        kill(lp, sig);
        int status = 0;
        ASSERT_EQ(waitpid(lp, &status, 0), lp);
        EXPECT_TRUE(capturing) << "never saw lpsafe inside a capture";
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
        EXPECT_EQ(stopped_or_traced_threads(program.pid()), "");
    }
}

// --all-user, run in a fresh pid namespace so that it sees only the
// fixture and itself (never the other processes of the machine): it finds
// the fixture, judges it as its core is judged, and never lists itself.
TEST(LiveAllUser, FindsTheFixtureAndSkipsItself) {
    if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    if (run_command("unshare --pid --fork --mount-proc true").exit_status != 0)
        GTEST_SKIP() << "cannot create a pid namespace here (unshare)";
    const std::string roles = tmp("lpsafe-all-roles");
    fs::remove(roles);
    // sh starts parked, waits for it to park, then becomes lpsafe (pid 1).
    const auto r = run_command(
        "unshare --pid --fork --mount-proc sh -c '\"$0\" \"$1\" & i=0; "
        "while [ ! -s \"$1\" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; sleep 0.2; "
        "exec \"$2\" check --all-user --func parked:spin_outer --json' " +
        fixtures_dir() + "/fp/parked " + roles + " " + lpsafe_bin());
    fs::remove(roles);
    ASSERT_EQ(r.exit_status, 2) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    std::map<std::string, int> verdicts;
    std::set<int> pids;
    for (const auto& t : j["tasks"]) {
        pids.insert(t["pid"].get<int>());
        ++verdicts[t["verdict"].get<std::string>()];
    }
    EXPECT_EQ(pids, std::set<int>{2});  // parked; lpsafe itself is pid 1
    EXPECT_EQ(verdicts, (std::map<std::string, int>{{"safe", 6}, {"unreliable", 3}}));
}

// ---- ptrace refused ------------------------------------------------------

// A child this test traces itself: lpsafe cannot attach a second tracer and
// must say so, mark the threads unreadable and still judge other processes.
TEST(LiveRefused, AlreadyTracedProcessIsUnreadableWithTheCause) {
    if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        for (;;) pause();
    }
    ASSERT_EQ(ptrace(PTRACE_SEIZE, child, nullptr, nullptr), 0) << strerror(errno);
    const std::string traced_by = "already traced by pid " + std::to_string(getpid());

    auto image = readers::capture_process(child);
    ASSERT_TRUE(image.ok()) << image.error().message;
    ASSERT_EQ(image->threads.size(), 1u);
    EXPECT_EQ(image->threads[0].status, CaptureStatus::unreadable);
    EXPECT_NE(image->threads[0].status_reason.find(traced_by), std::string::npos) << image->threads[0].status_reason;

    const auto alone = run_command(lpsafe_bin() + " check --func pause --pid " + std::to_string(child));
    EXPECT_EQ(alone.exit_status, 4) << alone.out << alone.err;
    EXPECT_NE(alone.out.find(traced_by), std::string::npos) << alone.out;

    LiveProgram parked({fixtures_dir() + "/fp/parked", tmp("lpsafe-refused-roles")});
    ASSERT_TRUE(parked.ok()) << parked.error();
    const auto both = run_command(lpsafe_bin() + " check --func parked:spin_outer --json --pid " +
                                  std::to_string(child) + " --pid " + std::to_string(parked.pid()));
    EXPECT_EQ(both.exit_status, 2) << both.err;  // parked's unreliable threads outrank unreadable
    const auto j = nlohmann::json::parse(both.out);
    EXPECT_EQ(j["summary"]["unreadable"], 1);
    EXPECT_EQ(j["summary"]["safe"], 6);
    EXPECT_EQ(j["summary"]["unreliable"], 3);

    // lpsafe left the child as it found it: traced by this test only.
    EXPECT_NE(read_file("/proc/" + std::to_string(child) + "/status").find("TracerPid:\t" + std::to_string(getpid())),
              std::string::npos);
    kill(child, SIGKILL);
    waitpid(child, nullptr, __WALL);
}

// lpsafe run as an unprivileged user against a root process: refused, and
// the message names the missing capability.
TEST(LiveRefused, WithoutCapSysPtraceTheCauseIsNamed) {
    if (lpsafe_bin().empty()) GTEST_SKIP() << "LPSAFE_BIN is not set";
    if (getuid() != 0 || run_command("command -v setpriv").exit_status != 0)
        GTEST_SKIP() << "needs root and setpriv to run lpsafe unprivileged";
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        for (;;) pause();
    }
    const auto r = run_command("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all " +
                               lpsafe_bin() + " check --func libc.so.6:pause --pid " + std::to_string(child));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    if (r.exit_status == 126 || r.exit_status == 127) GTEST_SKIP() << "lpsafe not executable by nobody: " << r.err;
    EXPECT_EQ(r.exit_status, 4) << r.out << r.err;
    EXPECT_NE(r.out.find("lacks CAP_SYS_PTRACE"), std::string::npos) << r.out;
}

// A second thread of this test process, parked until the test ends.
int worker_tid() {
    static const int tid = [] {
        std::atomic<int> id{0};
        std::thread([&id] {
            // All signals blocked: SIGCHLD from the tracees of later tests
            // must reach the capturing thread's sigtimedwait(), not this one.
            sigset_t all;
            sigfillset(&all);
            pthread_sigmask(SIG_BLOCK, &all, nullptr);
            id = static_cast<int>(gettid());
            for (;;) pause();
        }).detach();
        while (id == 0) std::this_thread::yield();
        return id.load();
    }();
    return tid;
}

TEST(LiveErrors, MissingProcessAndKernelThreadAreErrors) {
    if (lpsafe_bin().empty()) GTEST_SKIP() << "LPSAFE_BIN is not set";
    if (read_file("/proc/2/comm") == "kthreadd\n") {  // not so in every pid namespace
        const auto kthread = run_command(lpsafe_bin() + " stack --pid 2");
        EXPECT_EQ(kthread.exit_status, 3);
        EXPECT_NE(kthread.err.find("kernel thread"), std::string::npos) << kthread.err;
    }
    auto self = readers::capture_process(getpid());
    EXPECT_FALSE(self.ok());
    const auto thread = run_command(lpsafe_bin() + " stack --pid " + std::to_string(worker_tid()));
    EXPECT_EQ(thread.exit_status, 3);
    EXPECT_NE(thread.err.find("is a thread id"), std::string::npos) << thread.err;
    const auto none = run_command(lpsafe_bin() + " stack --pid 2147483646");
    EXPECT_EQ(none.exit_status, 3);
    EXPECT_NE(none.err.find("no process"), std::string::npos) << none.err;
    const pid_t zombie = fork();
    ASSERT_GE(zombie, 0);
    if (zombie == 0) _exit(0);
    siginfo_t info{};
    ASSERT_EQ(waitid(P_PID, zombie, &info, WEXITED | WNOWAIT), 0);  // exited, not reaped
    auto exited = readers::capture_process(zombie);
    ASSERT_FALSE(exited.ok());
    EXPECT_NE(exited.error().message.find("has exited"), std::string::npos) << exited.error().message;
    waitpid(zombie, nullptr, 0);
}

}  // namespace
}  // namespace lpsafe::e2e

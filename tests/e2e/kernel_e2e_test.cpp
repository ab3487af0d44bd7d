// End-to-end kernel checks: live /proc with helpers parked in known system
// calls, the committed captures of real /proc trees replayed with exact
// verdicts (fixtures/kernel/*.expect, computed independently by the
// generator script), and bad captures.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>
#include <sstream>

#include "fixture_util.h"
#include "kernel_helpers.h"
#include "lpsafe/kernel_stack.h"
#include "readers/kernel/kernel_scan.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string kernel_fixtures() {
    const char* v = std::getenv("LPSAFE_KERNEL_FIXTURES");
    return v != nullptr ? v : "";
}

void skip_unless_stacks_readable(const ParkedHelper& h) {
    if (const int err = stack_read_error(h.pid()); err != 0) {
        GTEST_SKIP() << "/proc/<pid>/stack is not readable here (" << std::strerror(err)
                     << "): kernel stack checks need CAP_SYS_ADMIN and ptrace access";
    }
}

json check_json(const std::string& args, int& status) {
    const CommandResult r = run_command(lpsafe_bin() + " check --kernel --json " + args);
    status = r.exit_status;
    EXPECT_NE(r.exit_status, 3) << r.err;
    return r.exit_status == 3 ? json{} : json::parse(r.out);
}

std::map<int, json> tasks_of(const json& j, int pid) {
    std::map<int, json> out;
    for (const json& t : j["tasks"]) {
        if (t["pid"] == pid) out[t["tid"].get<int>()] = t;
    }
    return out;
}

// The verdict of a single-threaded process ("" when it is not listed).
std::string verdict_of(const json& j, int pid) {
    const auto tasks = tasks_of(j, pid);
    return tasks.size() == 1 ? tasks.begin()->second["verdict"].get<std::string>() : std::string{};
}

class LiveKernel : public testing::Test {
protected:
    void SetUp() override {
        for (const char* mode : {"pause", "nanosleep", "pipe"}) {
            helpers_.push_back(std::make_unique<ParkedHelper>(mode));
            ASSERT_TRUE(helpers_.back()->parked()) << mode << " helper did not park";
        }
        skip_unless_stacks_readable(*helpers_.front());
    }
    std::vector<std::unique_ptr<ParkedHelper>> helpers_;
};

TEST_F(LiveKernel, HelpersAreBlockedByTheFunctionTheirStackShows) {
    const std::map<std::string, std::string> usual = {
        {"pause", "__do_sys_pause"}, {"nanosleep", "hrtimer_nanosleep"}, {"pipe", "anon_pipe_read"}};
    std::string funcs;
    for (const auto& h : helpers_) funcs += " --func vmlinux:" + h->top_function();
    int status = 0;
    const json j = check_json(funcs, status);
    EXPECT_EQ(status, 1);
    for (size_t i = 0; i < helpers_.size(); ++i) {
        const auto tasks = tasks_of(j, helpers_[i]->pid());
        ASSERT_EQ(tasks.size(), 1u);
        const json& t = tasks.begin()->second;
        EXPECT_EQ(t["verdict"], "blocked") << t.dump(2);
        EXPECT_EQ(t["state"], "S");
        EXPECT_EQ(t["blocked_by"][0]["frame"], 0);
        EXPECT_EQ(t["blocked_by"][0]["function"], helpers_[i]->top_function());
        EXPECT_EQ(t["frames"][0]["method"], "procfs");
        EXPECT_EQ(t["skipped_checks"][0]["check"], "return-after-call");
        RecordProperty("top_" + std::to_string(i), helpers_[i]->top_function());
        (void)usual;
    }
}

TEST_F(LiveKernel, HelpersAreSafeForAPatchThatMissesThem) {
    int status = 0;
    const json j = check_json("--func vmlinux:vfs_write", status);
    for (const auto& h : helpers_) {
        const auto tasks = tasks_of(j, h->pid());
        ASSERT_EQ(tasks.size(), 1u);
        EXPECT_EQ(tasks.begin()->second["verdict"], "safe") << tasks.begin()->second.dump(2);
    }
}

TEST_F(LiveKernel, StrictMakesTheSkippedCheckUnreliable) {
    int status = 0;
    const json j = check_json("--strict --func vmlinux:vfs_write", status);
    EXPECT_EQ(verdict_of(j, helpers_[0]->pid()), "unreliable");
    EXPECT_NE(status, 0);
}

// An image that is not the running kernel (here: any other ELF) must not
// vouch for return addresses: /sys/kernel/notes names the running build-id.
TEST_F(LiveKernel, AnImageOfAnotherKernelMakesVerdictsUnreliable) {
    const char* image = std::getenv("LPSAFE_KIMAGE");
    if (image == nullptr || stack_read_error(helpers_[0]->pid()) != 0) GTEST_SKIP() << "no image or stacks";
    if (access("/sys/kernel/notes", R_OK) != 0) GTEST_SKIP() << "/sys/kernel/notes unreadable: no build-id to compare";
    int status = 0;
    const json j = check_json(std::string("--vmlinux ") + image + " --func vmlinux:vfs_write", status);
    const auto tasks = tasks_of(j, helpers_[0]->pid());
    ASSERT_EQ(tasks.size(), 1u);
    const json& t = tasks.begin()->second;
    EXPECT_EQ(t["verdict"], "unreliable");
    ASSERT_FALSE(t["failed_checks"].empty());
    EXPECT_NE(t["failed_checks"][0]["detail"].get<std::string>().find("build-id"), std::string::npos) << t.dump(2);
}

TEST_F(LiveKernel, ThreadsOfOneProcessAreEachChecked) {
    ParkedHelper threads("threads 3");
    ASSERT_TRUE(threads.parked());
    int status = 0;
    const json j = check_json("--func vmlinux:" + helpers_[2]->top_function(), status);
    const auto tasks = tasks_of(j, threads.pid());
    ASSERT_EQ(tasks.size(), 4u);
    int blocked = 0;
    for (const auto& [tid, t] : tasks) blocked += t["verdict"] == "blocked" ? 1 : 0;
    EXPECT_EQ(blocked, 3);  // the three pipe readers; the main thread is in pause()
}

TEST_F(LiveKernel, RecordedCaptureReplaysTheSameVerdicts) {
    const std::string file = (fs::path(testing::TempDir()) / "live.lpk").string();
    const CommandResult rec = run_command(lpsafe_bin() + " record --kernel -o " + file);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    int status = 0;
    const json j = check_json("--proc-root " + file + " --func vmlinux:" + helpers_[0]->top_function(), status);
    EXPECT_EQ(verdict_of(j, helpers_[0]->pid()), "blocked");
    EXPECT_EQ(verdict_of(j, helpers_[1]->pid()), "safe");
}

TEST_F(LiveKernel, AnExitedProcessIsNoLongerTheSame) {
    auto source = readers::open_live_proc();
    int err = 0;
    auto hold = source->hold(helpers_[0]->pid(), err);
    ASSERT_NE(hold, nullptr) << std::strerror(err);
    EXPECT_TRUE(hold->still_same());
    helpers_[0]->kill_and_reap();
    EXPECT_FALSE(hold->still_same());
}

// Other processes on a shared machine may sleep in the same function, so
// the test follows its own helper: listed while parked, absent once killed.
TEST_F(LiveKernel, WatchFollowsTheBlockingTaskUntilItIsGone) {
    const int pid = helpers_[0]->pid();
    std::thread killer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        helpers_[0]->kill_and_reap();
    });
    const CommandResult r =
        run_command(lpsafe_bin() + " check --kernel --watch --timeout 6 --func vmlinux:" + helpers_[0]->top_function());
    killer.join();
    EXPECT_NE(r.exit_status, 3) << r.err;
    const std::string listed = "  " + std::to_string(pid) + " " + std::to_string(pid) + " (kparked)";
    const auto first_round = r.out.find("still blocking:");
    ASSERT_NE(first_round, std::string::npos) << r.out;
    EXPECT_NE(r.out.find(listed, first_round), std::string::npos) << r.out;
    // The final report (from "N tasks:") no longer lists the helper.
    const auto final_report = r.out.rfind(" tasks: ");
    ASSERT_NE(final_report, std::string::npos) << r.out;
    const std::regex row("\\s" + std::to_string(pid) + "\\s+" + std::to_string(pid) + "\\s");
    EXPECT_FALSE(std::regex_search(r.out.substr(final_report), row)) << r.out;
}

TEST(LiveKernelPermissions, InitStackIsUnreadableAndReported) {
    if (stack_read_error(1) != EPERM && stack_read_error(1) != EACCES) {
        GTEST_SKIP() << "/proc/1/stack is readable here; no unreadable task to observe";
    }
    int status = 0;
    const json j = check_json("--func vmlinux:vfs_write", status);
    const auto init = tasks_of(j, 1);
    ASSERT_FALSE(init.empty());
    EXPECT_EQ(init.begin()->second["verdict"], "unreadable");
    EXPECT_NE(init.begin()->second["reason"].get<std::string>().find("CAP_SYS_ADMIN"), std::string::npos);
}

std::vector<std::string> fixture_captures() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(kernel_fixtures())) {
        if (e.path().extension() == ".lpk") out.push_back(e.path().string());
    }
    return out;
}

TEST(KernelFixtures, ReplayGivesTheExpectedVerdictForEveryTask) {
    const auto captures = fixture_captures();
    ASSERT_FALSE(captures.empty()) << "no captures in " << kernel_fixtures();
    for (const std::string& capture : captures) {
        int status = 0;
        const json j = check_json("--proc-root " + capture + " --patch-file " + kernel_fixtures() + "/patch.txt", status);
        std::ostringstream got;
        std::vector<std::tuple<int, int, std::string>> lines;
        for (const json& t : j["tasks"]) {
            std::string v = t["verdict"];
            if (v == "blocked") v += " " + t["blocked_by"][0]["object"].get<std::string>() + ":" +
                                 t["blocked_by"][0]["function"].get<std::string>();
            lines.emplace_back(t["pid"], t["tid"], v);
        }
        EXPECT_EQ(j["kernel"]["release"], fs::path(capture).stem().string());
        EXPECT_EQ(j["kernel"]["build_id"].get<std::string>().size(), 40u);
        std::sort(lines.begin(), lines.end());
        for (const auto& [pid, tid, v] : lines) got << pid << " " << tid << " " << v << "\n";
        const std::string expect = fs::path(capture).replace_extension(".expect").string();
        EXPECT_EQ(got.str(), read_file(expect)) << capture;
    }
}

TEST(KernelFixtures, TruncatedArchiveIsAnError) {
    const auto captures = fixture_captures();
    ASSERT_FALSE(captures.empty());
    const std::string cut = (fs::path(testing::TempDir()) / "cut.lpk").string();
    fs::copy_file(captures.front(), cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(cut) / 2);
    const CommandResult r = run_command(lpsafe_bin() + " check --kernel --proc-root " + cut + " --func schedule");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST(KernelUsage, KernelOptionsAndCoresDoNotMix) {
    const CommandResult both = run_command(lpsafe_bin() + " check --kernel --core /bin/true --func schedule");
    EXPECT_EQ(both.exit_status, 3);
    EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
    const CommandResult stray = run_command(lpsafe_bin() + " check --core /bin/true --strict --func schedule");
    EXPECT_EQ(stray.exit_status, 3);
    EXPECT_NE(stray.err.find("--strict applies to kernel stacks only"), std::string::npos) << stray.err;
    const CommandResult none = run_command(lpsafe_bin() + " check --kernel");
    EXPECT_EQ(none.exit_status, 3);
    const CommandResult watch_capture =
        run_command(lpsafe_bin() + " check --kernel --watch --proc-root /tmp --func schedule");
    EXPECT_EQ(watch_capture.exit_status, 3);
    EXPECT_NE(watch_capture.err.find("--watch"), std::string::npos) << watch_capture.err;
}

TEST(KernelFixtures, MissingKallsymsIsAnError) {
    const fs::path dir = fs::path(testing::TempDir()) / "empty-proc";
    fs::create_directories(dir / "1/task/1");
    const CommandResult r = run_command(lpsafe_bin() + " check --kernel --proc-root " + dir.string() + " --func schedule");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("kallsyms"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lpsafe::e2e

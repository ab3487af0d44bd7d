// /sys/kernel/livepatch and per-task patch_state in `check --kernel`. This
// machine's kernel has no CONFIG_LIVEPATCH, so the test unpacks the committed
// capture of a real /proc tree into a directory and adds a tree laid out as
// the kernel lays it out (Documentation/ABI/testing/sysfs-kernel-livepatch,
// kernel/livepatch/core.c: "<function>,<sympos>" directories with no
// attributes; fs/proc/base.c: patch_state "%d\n") where a capture keeps it
// (docs/kernel-capture-format.md), then checks it as a directory and, after
// re-recording, as an archive.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CapturedLivepatch : public testing::Test {
protected:
    void SetUp() override {
        const char* v = std::getenv("LPSAFE_KERNEL_FIXTURES");
        if (v == nullptr || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
        work_ = fs::temp_directory_path() / ("lpsafe-lp-" + std::to_string(getpid()));
        fs::remove_all(work_);
        fs::create_directories(work_);
        const auto r = run_command(lpsafe_bin() + " record --kernel --proc-root " + std::string(v) +
                                   "/6.18.44-fc-v669.lpk -o " + tree() + "/");
        ASSERT_EQ(r.exit_status, 0) << r.err;
    }
    void TearDown() override { fs::remove_all(work_); }

    std::string tree() const { return (work_ / "tree").string(); }
    void file(const std::string& rel, const std::string& content) {
        const fs::path p = work_ / "tree" / rel;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << content;
    }
    void dir(const std::string& rel) { fs::create_directories(work_ / "tree" / rel); }

    // klp_vmlinux.ko (fixtures/livepatch) loaded and in transition on a 6.13+
    // kernel: cmdline_proc_show (old_sympos 0: the kernel names it ",1") and
    // type_show,3.
    void loaded_patch() {
        const std::string lp = "lpsafe-capture/sys-kernel-livepatch/klp_vmlinux/";
        file(lp + "enabled", "1\n");
        file(lp + "transition", "1\n");
        file(lp + "force", "");  // write-only in the kernel; never read
        file(lp + "replace", "0\n");
        file(lp + "stack_order", "1\n");
        file(lp + "vmlinux/patched", "1\n");
        dir(lp + "vmlinux/cmdline_proc_show,1");
        dir(lp + "vmlinux/type_show,3");
        // kthreadd (2) already switched, init (1) not yet, 3 idle, 4 garbage.
        file("2/task/2/patch_state", "1\n");
        file("1/task/1/patch_state", "0\n");
        file("3/task/3/patch_state", "-1\n");
        file("4/task/4/patch_state", "7\n");
    }

    json check_json(const std::string& root) {
        const auto r = run_command(lpsafe_bin() + " check --kernel --json --proc-root " + root + " --func vmlinux:kthread");
        EXPECT_NE(r.exit_status, 3) << r.err;
        return r.exit_status == 3 ? json{} : json::parse(r.out);
    }

    fs::path work_;
};

json task(const json& j, int tid) {
    for (const json& t : j["tasks"]) {
        if (t["tid"] == tid) return t;
    }
    return {};
}

const json kExpectedLivepatch = json::parse(R"({
  "available": true, "in_transition": true,
  "patches": [{"name": "klp_vmlinux", "enabled": true, "transition": true, "replace": false, "stack_order": 1,
               "objects": [{"name": "vmlinux", "patched": true,
                            "functions": [{"name": "cmdline_proc_show", "sympos": 1},
                                          {"name": "type_show", "sympos": 3}]}]}]})");

TEST_F(CapturedLivepatch, LoadedPatchAndTaskStatesAreShown) {
    loaded_patch();
    const json j = check_json(tree());
    EXPECT_EQ(j["kernel"]["livepatch"], kExpectedLivepatch) << j["kernel"]["livepatch"].dump(2);
    EXPECT_EQ(task(j, 2)["patch_state"], "patched");
    EXPECT_EQ(task(j, 1)["patch_state"], "unpatched");
    EXPECT_EQ(task(j, 3)["patch_state"], "idle");
    EXPECT_EQ(task(j, 4)["patch_state"], "unreadable");
    EXPECT_NE(task(j, 4)["patch_state_error"].get<std::string>().find("unexpected value '7'"), std::string::npos);
    EXPECT_FALSE(task(j, 5).contains("patch_state")) << "no patch_state file was recorded for it";

    const auto text = run_command(lpsafe_bin() + " check --kernel --proc-root " + tree() + " --func vmlinux:kthread");
    EXPECT_NE(text.out.find("\nlivepatch: 1 patch loaded, a transition is in progress\n"
                            "  klp_vmlinux: enabled, in transition, replace 0, stack_order 1\n"
                            "    vmlinux (patched): cmdline_proc_show,1 type_show,3\n"),
              std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find("\npatch_state unpatched (1 task):\n         1        1  "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("\npatch_state patched (1 task):\n         2        2  kthreadd"), std::string::npos)
        << text.out;
}

TEST_F(CapturedLivepatch, AnArchiveKeepsTheTreeAndTheStates) {
    loaded_patch();
    const std::string archive = (work_ / "with-livepatch.lpk").string();
    const auto r = run_command(lpsafe_bin() + " record --kernel --proc-root " + tree() + " -o " + archive);
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const json from_dir = check_json(tree());
    const json from_archive = check_json(archive);
    EXPECT_EQ(from_archive["kernel"]["livepatch"], kExpectedLivepatch);
    // A directory lists tasks in readdir order, an archive sorted: compare by id.
    const auto by_id = [](json tasks) {
        std::sort(tasks.begin(), tasks.end(),
                  [](const json& a, const json& b) { return std::pair{a["pid"], a["tid"]} < std::pair{b["pid"], b["tid"]}; });
        return tasks;
    };
    const json dir_tasks = by_id(from_dir["tasks"]), archive_tasks = by_id(from_archive["tasks"]);
    EXPECT_TRUE(dir_tasks == archive_tasks) << "tasks differ between the tree and its archive";
    EXPECT_EQ(task(from_archive, 4)["patch_state"], "unreadable");
}

TEST_F(CapturedLivepatch, NoTreeMeansNoLivepatchSupport) {
    const json j = check_json(tree());
    EXPECT_EQ(j["kernel"]["livepatch"], json::parse(R"({"available": false, "in_transition": false, "patches": []})"));
    for (const json& t : j["tasks"]) EXPECT_FALSE(t.contains("patch_state"));
    const auto text = run_command(lpsafe_bin() + " check --kernel --proc-root " + tree() + " --func vmlinux:kthread");
    EXPECT_EQ(text.out.find("livepatch:"), std::string::npos) << text.out;
}

TEST_F(CapturedLivepatch, OutsideATransitionIdleTasksAreCounted) {
    const std::string lp = "lpsafe-capture/sys-kernel-livepatch/klp_vmlinux/";
    file(lp + "enabled", "1\n");
    file(lp + "transition", "0\n");
    dir(lp + "vmlinux/cmdline_proc_show,1");
    file("2/task/2/patch_state", "-1\n");
    file("3/task/3/patch_state", "-1\n");
    const auto text = run_command(lpsafe_bin() + " check --kernel --proc-root " + tree() + " --func vmlinux:kthread");
    EXPECT_NE(text.out.find("\nlivepatch: 1 patch loaded\n  klp_vmlinux: enabled\n    vmlinux: cmdline_proc_show,1\n"
                            "\npatch_state idle (2 tasks):\n  no transition in progress\n"),
              std::string::npos)
        << text.out;
}

TEST_F(CapturedLivepatch, AMalformedTreeIsAnError) {
    file("lpsafe-capture/sys-kernel-livepatch/broken/enabled", "yes\n");
    const auto r = run_command(lpsafe_bin() + " check --kernel --proc-root " + tree() + " --func vmlinux:kthread");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("broken/enabled: expected 0 or 1, found 'yes'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lpsafe::e2e

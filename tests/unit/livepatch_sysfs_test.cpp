// /sys/kernel/livepatch and patch_state readers. This machine's kernel has no
// CONFIG_LIVEPATCH (no /sys/kernel/livepatch, no patch_state files), so the
// loaded-patch cases use a tree in a temporary directory laid out as the
// kernel lays it out: Documentation/ABI/testing/sysfs-kernel-livepatch and
// kernel/livepatch/core.c (function directories "%s,%lu" with old_sympos or
// 1), fs/proc/base.c for patch_state ("%d\n").
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "readers/kernel/livepatch_sysfs.h"

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;

class FakeRoot : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("lpsafe-sysfs-" + std::to_string(getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    void TearDown() override { fs::remove_all(root_); }

    void file(const std::string& rel, const std::string& content) {
        const fs::path p = root_ / rel;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << content;
    }
    void dir(const std::string& rel) { fs::create_directories(root_ / rel); }

    // A 6.13-style patch (replace, stack_order, object "patched") in
    // transition, and a 4.x-style one without those attributes.
    void two_patches() {
        const std::string lp = "sys/kernel/livepatch/";
        file(lp + "klp_two_objects/enabled", "1\n");
        file(lp + "klp_two_objects/transition", "1\n");
        file(lp + "klp_two_objects/force", "");
        file(lp + "klp_two_objects/replace", "0\n");
        file(lp + "klp_two_objects/stack_order", "2\n");
        file(lp + "klp_two_objects/vmlinux/patched", "1\n");
        dir(lp + "klp_two_objects/vmlinux/meminfo_proc_show,1");
        file(lp + "klp_two_objects/nfsd/patched", "0\n");
        dir(lp + "klp_two_objects/nfsd/nfsd_open,1");
        dir(lp + "klp_two_objects/nfsd/nfsd_proc_getattr,2");
        file(lp + "klp_vmlinux/enabled", "0\n");
        file(lp + "klp_vmlinux/transition", "0\n");
        dir(lp + "klp_vmlinux/vmlinux/cmdline_proc_show,1");
        dir(lp + "klp_vmlinux/vmlinux/type_show,3");
    }

    fs::path root_;
};

TEST_F(FakeRoot, ListsPatchesObjectsAndFunctions) {
    two_patches();
    auto s = read_livepatch_sysfs(root_.string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE(s->available);
    EXPECT_TRUE(s->in_transition());
    ASSERT_EQ(s->patches.size(), 2u);

    const LoadedPatch& a = s->patches[0];
    EXPECT_EQ(a.name, "klp_two_objects");
    EXPECT_TRUE(a.enabled);
    EXPECT_TRUE(a.transition);
    EXPECT_EQ(a.replace, false);
    EXPECT_EQ(a.stack_order, 2u);
    ASSERT_EQ(a.objects.size(), 2u);
    EXPECT_EQ(a.objects[0].name, "nfsd");  // sorted by name
    EXPECT_EQ(a.objects[0].patched, false);
    ASSERT_EQ(a.objects[0].funcs.size(), 2u);
    EXPECT_EQ(a.objects[0].funcs[0].name, "nfsd_open");
    EXPECT_EQ(a.objects[0].funcs[0].sympos, 1u);
    EXPECT_EQ(a.objects[0].funcs[1].name, "nfsd_proc_getattr");
    EXPECT_EQ(a.objects[0].funcs[1].sympos, 2u);
    EXPECT_EQ(a.objects[1].name, "vmlinux");
    EXPECT_EQ(a.objects[1].patched, true);

    const LoadedPatch& b = s->patches[1];
    EXPECT_EQ(b.name, "klp_vmlinux");
    EXPECT_FALSE(b.enabled);
    EXPECT_FALSE(b.transition);
    EXPECT_FALSE(b.replace.has_value());
    EXPECT_FALSE(b.stack_order.has_value());
    ASSERT_EQ(b.objects.size(), 1u);
    EXPECT_FALSE(b.objects[0].patched.has_value());
    ASSERT_EQ(b.objects[0].funcs.size(), 2u);
    EXPECT_EQ(b.objects[0].funcs[1].name, "type_show");
    EXPECT_EQ(b.objects[0].funcs[1].sympos, 3u);
}

TEST_F(FakeRoot, NoLivepatchDirectoryIsNotAnError) {
    auto s = read_livepatch_sysfs(root_.string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_FALSE(s->available);
    EXPECT_TRUE(s->patches.empty());
    EXPECT_FALSE(s->in_transition());
}

TEST_F(FakeRoot, MalformedAttributesAreErrors) {
    two_patches();
    file("sys/kernel/livepatch/klp_vmlinux/enabled", "yes\n");
    auto s = read_livepatch_sysfs(root_.string());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("klp_vmlinux/enabled"), std::string::npos) << s.error().message;

    file("sys/kernel/livepatch/klp_vmlinux/enabled", "1\n");
    dir("sys/kernel/livepatch/klp_vmlinux/vmlinux/no_sympos_here");
    s = read_livepatch_sysfs(root_.string());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("no_sympos_here"), std::string::npos) << s.error().message;
}

TEST_F(FakeRoot, MissingEnabledIsAnError) {
    dir("sys/kernel/livepatch/broken/vmlinux");
    auto s = read_livepatch_sysfs(root_.string());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("broken/enabled"), std::string::npos) << s.error().message;
}

TEST_F(FakeRoot, TaskPatchStates) {
    file("proc/100/task/100/patch_state", "1\n");
    file("proc/100/task/101/patch_state", "0\n");
    file("proc/200/task/200/patch_state", "-1\n");
    file("proc/300/task/300/patch_state", "7\n");
    dir("proc/400/task/400");  // exited while being read: no files left
    file("proc/self/task/1/patch_state", "1\n");  // not a pid: ignored
    file("proc/stat", "cpu 0\n");
    auto t = read_task_patch_states(root_.string());
    ASSERT_TRUE(t.ok()) << t.error().message;
    ASSERT_EQ(t->size(), 4u);
    EXPECT_EQ((*t)[0].pid, 100);
    EXPECT_EQ((*t)[0].tid, 100);
    EXPECT_EQ((*t)[0].state, PatchState::patched);
    EXPECT_EQ((*t)[1].tid, 101);
    EXPECT_EQ((*t)[1].state, PatchState::unpatched);
    EXPECT_EQ((*t)[2].state, PatchState::idle);
    EXPECT_STREQ(patch_state_name(*(*t)[2].state), "idle");
    EXPECT_FALSE((*t)[3].state.has_value());
    EXPECT_NE((*t)[3].unreadable.find("unexpected value '7'"), std::string::npos) << (*t)[3].unreadable;
}

// A patch_state that exists but cannot be opened is listed with the reason,
// never dropped (a symlink loop fails even for root, unlike a mode-000 file).
TEST_F(FakeRoot, UnreadablePatchStateCarriesTheReason) {
    dir("proc/100/task/100");
    fs::create_symlink("patch_state", root_ / "proc/100/task/100/patch_state");
    auto t = read_task_patch_states(root_.string());
    ASSERT_TRUE(t.ok()) << t.error().message;
    ASSERT_EQ(t->size(), 1u);
    EXPECT_FALSE((*t)[0].state.has_value());
    EXPECT_NE((*t)[0].unreadable.find("symbolic links"), std::string::npos) << (*t)[0].unreadable;
}

// The real machine: whatever it has must read without error, and agree with
// what the file system shows.
TEST(LivepatchSysfs, ThisMachine) {
    auto s = read_livepatch_sysfs("/");
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->available, fs::is_directory("/sys/kernel/livepatch"));
    auto t = read_task_patch_states("/");
    ASSERT_TRUE(t.ok()) << t.error().message;
    const bool has_patch_state = fs::exists("/proc/self/task/" + std::to_string(gettid()) + "/patch_state");
    if (!has_patch_state) {
        EXPECT_TRUE(t->empty());
    } else {
        const auto me = std::find_if(t->begin(), t->end(), [](const TaskPatchState& x) { return x.tid == gettid(); });
        ASSERT_NE(me, t->end());
        EXPECT_TRUE(me->state.has_value()) << me->unreadable;
    }
}

}  // namespace
}  // namespace lpsafe::readers

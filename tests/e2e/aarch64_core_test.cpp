// aarch64 end to end on real cores: parked.c cross-built with Debian's
// aarch64 gcc, run under qemu-user and dumped by qemu
// (fixtures/make-foreign-cores.sh). The cores have no NT_FILE and no text
// pages, so modules come from the link map and code from the files under
// the cross sysroot. Every thread must get the verdict x86_64's cores get
// (stack_expect.cpp), and the kernel's restart form of the top rule (pc AT
// the svc) must judge the same as qemu's (pc after it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "fixture_util.h"
#include "foreign_core.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr const char* kSysroot = "/usr/aarch64-linux-gnu";
constexpr unsigned kPc = 32;  // lpsafe's DWARF slot for the aarch64 pc

std::string cores_dir() { return ForeignCore::cores_dir(); }

class Aarch64Core : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
        core_.arch = "aarch64";
        core_.variant = GetParam();
        core_.sysroot = kSysroot;
        const Status loaded = core_.load();
        ASSERT_TRUE(loaded) << loaded.error().message;
    }
    ProcessReport check(const std::string& spec) { return core_.check(spec); }
    ResolvedPatchSet unrelated() { return core_.unrelated(); }
    const ThreadState& thread_of(const std::string& role) { return core_.thread_of(role); }
    ForeignCore core_;
};

TEST_P(Aarch64Core, ReadsAsAarch64WithModulesFromTheLinkMap) {
    const ProcessImage& p = core_.process;
    EXPECT_EQ(p.arch, ArchId::aarch64);
    EXPECT_EQ(p.threads.size(), 9u);
    std::vector<std::string> names;
    for (const Module& m : p.modules.modules()) {
        names.push_back(m.name);
        EXPECT_TRUE(m.status.usable()) << m.path << ": " << m.status.detail;
    }
    for (const char* want : {"parked", "libc.so.6", "ld-linux-aarch64.so.1"})
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

// A snapshot of the core (record) replays on this x86_64 host with the same
// frames and verdicts, without the aarch64 files.
TEST_P(Aarch64Core, SnapshotReplaysIdentically) { expect_snapshot_replays(core_); }

// An unrelated patch: every parked thread safe with the program's own chain
// and a real end of stack; spin, smash and deep unreliable for their reasons.
TEST_P(Aarch64Core, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = check("parked:spin_outer");
    expect_untouched_verdicts(r, core_.roles, core_.expect, false);
    int judged = 0;
    for (const TaskVerdict& t : r.tasks) judged += t.verdict == VerdictKind::safe;
    std::printf("aarch64-%s: %d of %zu threads safe\n", GetParam().c_str(), judged, r.tasks.size());
}

// Patching the function a thread sleeps in blocks exactly that thread, at
// the frame of that function.
TEST_P(Aarch64Core, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

// The kernel's form of a parked thread: arm64's signal code rewinds pc to
// the svc before get_signal() (arch/arm64/kernel/signal.c), so a kernel
// core or a ptrace stop shows pc AT `svc #0`. The same stack must be judged
// the same, with frame 0 at the svc.
TEST_P(Aarch64Core, KernelRestartFormJudgedLikeQemuForm) {
    for (const std::string& role : kParkedRoles) {
        SCOPED_TRACE(role);
        ThreadState t = thread_of(role);
        const uint64_t pc = *t.regs.get(kPc);
        t.regs.set(kPc, pc - 4);
        const ResolvedPatchSet patch = unrelated();
        const TaskVerdict v = check_thread(core_.process, t, patch);
        EXPECT_EQ(v.verdict, VerdictKind::safe) << dump(v);
        expect_chain(v, core_.expect.at(role).chain);
        // Eight bytes back is neither form: not parked.
        t.regs.set(kPc, pc - 8);
        const TaskVerdict off = check_thread(core_.process, t, patch);
        EXPECT_EQ(off.verdict, VerdictKind::unreliable) << dump(off);
        EXPECT_TRUE(std::any_of(off.findings.begin(), off.findings.end(),
                                [](const Finding& f) { return f.check == Check::top; }))
            << dump(off);
    }
}

// A stack cut short (the core lost the words above main's second frame)
// must not reach a real end: unreliable, for the bottom.
TEST_P(Aarch64Core, CutStackIsUnreliable) { expect_cut_stack_unreliable(core_); }

// x29 is 0 at every outermost frame the walk reaches (AAPCS64's end mark,
// set by glibc's _start and the clone child path).
TEST_P(Aarch64Core, OutermostFramesCarryTheEndMark) { expect_outermost_marks(core_); }

// eu-stack (elfutils 0.188: no --sysroot, so only the host-path core) must
// find the same pcs for every thread lpsafe judges reliable.
TEST_P(Aarch64Core, FramesEqualEuStacks) {
    if (GetParam() != "host") GTEST_SKIP() << "eu-stack cannot map guest paths (no --sysroot)";
    expect_frames_equal_eu_stack(core_, 6);
}

INSTANTIATE_TEST_SUITE_P(Variants, Aarch64Core, testing::Values("dist", "fp", "host"));

}  // namespace
}  // namespace lpsafe::e2e

namespace lpsafe::e2e {
namespace {

// glibc's syscall() is a leaf on aarch64: the innermost frame's caller comes
// from x30, not from the stack, and has the same sp
// (fixtures/programs/leaf_park.c).
class Aarch64LeafCore : public testing::Test {
protected:
    void SetUp() override {
        if (cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
        const std::string dir = cores_dir() + "/aarch64-leaf";
        auto p = readers::read_core(dir + "/core.qemu", {dir + "/leaf_park", kSysroot});
        ASSERT_TRUE(p) << p.error().message;
        process_ = std::move(*p);
        roles_ = read_roles(dir + "/roles.txt");
    }
    ResolvedPatchSet patch(const std::string& spec) {
        PatchSet set;
        EXPECT_TRUE(set.add_spec(spec));
        auto resolved = resolve_patch_set(set, process_.modules);
        EXPECT_TRUE(resolved);
        return resolved ? *resolved : ResolvedPatchSet{};
    }
    ProcessImage process_;
    std::map<int, std::string> roles_;
};

TEST_F(Aarch64LeafCore, LeafFrameZeroIsReliable) {
    const ResolvedPatchSet unrelated = patch("leaf_park:leaf_thread");
    ASSERT_EQ(process_.threads.size(), 2u);
    for (const ThreadState& t : process_.threads) {
        const TaskVerdict v = check_thread(process_, t, unrelated);
        SCOPED_TRACE(roles_.at(t.tid));
        if (roles_.at(t.tid) == "leaf") {
            EXPECT_EQ(v.verdict, VerdictKind::blocked) << dump(v);  // leaf_thread is on its stack
        } else {
            EXPECT_EQ(v.verdict, VerdictKind::safe) << dump(v);
            EXPECT_TRUE(v.findings.empty()) << dump(v);
        }
        ASSERT_GE(v.frames.size(), 3u);
        EXPECT_EQ(v.frames[0].function, "syscall") << dump(v);
        EXPECT_EQ(v.frames[1].pc, *t.regs.get(30)) << dump(v);  // the caller came from x30
        EXPECT_EQ(v.frames[1].sp, v.frames[0].sp) << dump(v);   // and a leaf moved no sp
        expect_chain(v, {"leaf_inner", "leaf_outer"});
        EXPECT_EQ(v.end.kind, StackEnd::Kind::outermost);
    }
}

TEST_F(Aarch64LeafCore, PatchingTheLeafBlocksAtFrameZero) {
    const ResolvedPatchSet leaf = patch("libc.so.6:syscall");
    for (const ThreadState& t : process_.threads) {
        const TaskVerdict v = check_thread(process_, t, leaf);
        ASSERT_EQ(v.verdict, VerdictKind::blocked) << dump(v);
        ASSERT_EQ(v.blocked_by.size(), 1u);
        EXPECT_EQ(v.blocked_by[0].frame, 0);
    }
}

// A wrong link register must not yield another reliable stack: off by an
// instruction it follows no call; another real return site is not where
// that call goes; zero ends nowhere.
TEST_F(Aarch64LeafCore, WrongLinkRegisterIsUnreliable) {
    const ResolvedPatchSet unrelated = patch("leaf_park:leaf_thread");
    for (const ThreadState& t : process_.threads) {
        const TaskVerdict good = check_thread(process_, t, unrelated);
        ASSERT_GE(good.frames.size(), 4u);
        const uint64_t lr = *t.regs.get(30);
        for (uint64_t lie : {lr + 4, lr - 4, good.frames[2].pc, good.frames[3].pc, uint64_t{0}}) {
            ThreadState bad = t;
            bad.regs.set(30, lie);
            const TaskVerdict v = check_thread(process_, bad, unrelated);
            EXPECT_EQ(v.verdict, VerdictKind::unreliable) << std::hex << lie << "\n" << dump(v);
        }
    }
}

}  // namespace
}  // namespace lpsafe::e2e

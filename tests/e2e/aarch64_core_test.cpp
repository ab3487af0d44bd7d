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

class Aarch64Core : public ForeignCoreTest {
protected:
    Aarch64Core() : ForeignCoreTest("aarch64", kSysroot) {}
    ProcessReport check(const std::string& spec) { return core_.check(spec); }
    ResolvedPatchSet unrelated() { return core_.unrelated(); }
    const ThreadState& thread_of(const std::string& role) { return core_.thread_of(role); }
};

TEST_P(Aarch64Core, ReadsAsAarch64WithModulesFromTheLinkMap) {
    expect_link_map_modules(core_.process, ArchId::aarch64, {"parked", "libc.so.6", "ld-linux-aarch64.so.1"});
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
class Aarch64LeafCore : public LeafCoreTest {
protected:
    Aarch64LeafCore() : LeafCoreTest("aarch64", kSysroot) {}
};

TEST_F(Aarch64LeafCore, LeafFrameZeroIsReliable) { expect_leaf_frame_zero_reliable(core_, 30); }

TEST_F(Aarch64LeafCore, PatchingTheLeafBlocksAtFrameZero) { expect_leaf_patch_blocks_frame_zero(core_); }

// A wrong link register must not yield another reliable stack: off by an
// instruction it follows no call; another real return site is not where
// that call goes; zero ends nowhere.
TEST_F(Aarch64LeafCore, WrongLinkRegisterIsUnreliable) { expect_wrong_link_register_unreliable(core_, 30); }

}  // namespace
}  // namespace lpsafe::e2e

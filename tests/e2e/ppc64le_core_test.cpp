// ppc64le end to end on real cores: parked.c cross-built with Debian's
// ppc64el gcc, run under qemu-user and dumped by qemu
// (fixtures/make-foreign-cores.sh). As for aarch64 the cores have no
// NT_FILE and no text pages: modules come from the link map, code from the
// files under the cross sysroot. Every thread must get the verdict x86_64's
// cores get (stack_expect.cpp), and the walk must end where the ELFv2 back
// chain ends: at glibc's __clone for threads, at __libc_start_main for main
// (docs/verdict-rules.md, ppc64le).
#include <gtest/gtest.h>

#include <algorithm>

#include "fixture_util.h"
#include "foreign_core.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPc = 67;  // lpsafe's slot for the ppc64 pc (nip)

class Ppc64leCore : public ForeignCoreTest {
protected:
    Ppc64leCore() : ForeignCoreTest("ppc64le", "/usr/powerpc64le-linux-gnu") {}
};

TEST_P(Ppc64leCore, ReadsAsPpc64leWithModulesFromTheLinkMap) {
    const ProcessImage& p = core_.process;
    expect_link_map_modules(p, ArchId::ppc64le, {"parked", "libc.so.6", "ld64.so.2"});
    // r13 locates glibc's descriptors.
    expect_start_routines_known(p);
}

TEST_P(Ppc64leCore, SnapshotReplaysIdentically) { expect_snapshot_replays(core_); }

// An unrelated patch: the six parked threads safe with the program's own
// chain and a real end; spin unreliable at the top, deep at the depth
// limit, smash at its forged return address.
TEST_P(Ppc64leCore, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = core_.check("parked:spin_outer");
    expect_untouched_verdicts(r, core_.roles, core_.expect, false, "__libc_start_main");
    int safe = 0;
    for (const TaskVerdict& t : r.tasks) {
        const std::string& role = core_.roles.at(t.tid);
        SCOPED_TRACE(role);
        safe += t.verdict == VerdictKind::safe;
        if (t.verdict == VerdictKind::safe && role != "main") {
            // start_thread (unnamed: the cross libc is stripped) then __clone,
            // whose child path has no CFI and a back chain of 0.
            EXPECT_EQ(t.frames.back().function, "clone") << dump(t);  // __clone's weak alias, as the symbolizer names it
            EXPECT_EQ(t.frames.back().method, UnwindMethod::cfi) << dump(t);
            EXPECT_NE(t.end.detail.find("back chain ends at clone"), std::string::npos) << t.end.detail;
        }
        if (role == "main") {
            EXPECT_NE(t.end.detail.find("back chain ends above __libc_start_main"), std::string::npos) << t.end.detail;
        }
    }
    EXPECT_EQ(safe, 6);
    std::printf("ppc64le-%s: %d of %zu threads safe\n", GetParam().c_str(), safe, r.tasks.size());
}

// smash_inner wrote &spin_outer (a global entry, after padding, not a
// call) into its caller's LR save slot: the frame after it is not a return
// site.
TEST_P(Ppc64leCore, SmashedReturnAddressIsUnreliableAtItsFrame) {
    const TaskVerdict v = check_thread(core_.process, core_.thread_of("smash"), core_.unrelated());
    ASSERT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    const int smashed = index_of(v.frames, "smash_inner") + 1;
    ASSERT_GT(smashed, 0) << dump(v);
    // The frame's pc is spin_outer's global entry; looked up at pc - 1 it
    // lies in the padding before it, so it has no function of its own.
    const Module* parked = core_.process.modules.find(v.frames[smashed].pc);
    ASSERT_NE(parked, nullptr);
    const auto spin_outer = parked->image->symbols_named("spin_outer");
    ASSERT_EQ(spin_outer.size(), 1u);
    EXPECT_EQ(v.frames[smashed].pc, parked->bias + spin_outer[0]->start) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::return_after_call, smashed)) << dump(v);
    EXPECT_EQ(v.end.kind, StackEnd::Kind::failed) << dump(v);
}

TEST_P(Ppc64leCore, SpinnerIsUnreliableAtTheTop) { expect_spinner_unreliable_at_top(core_); }

// pause_inner calls pause through a PLT call stub (std r2,24(r1); ld
// r12,off(r2); mtctr r12; bctr): the call's target is the slot's value,
// libc's pause, found from pause_inner's own TOC pointer; the local call to
// mark_ready lands on its local entry, inside the symbol.
TEST_P(Ppc64leCore, BlFollowsThePltCallStubToLibc) { expect_plt_call_reaches_libc_pause(core_); }

TEST_P(Ppc64leCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

// ppc64 restarts a system call after get_signal() (check_syscall_restart in
// arch/powerpc/kernel/signal.c), so no input shows pc AT the sc: a pc
// there is not a parked thread.
TEST_P(Ppc64leCore, PcAtTheScIsNotParked) { expect_moved_pc_not_parked(core_, kPc, {-4}); }

TEST_P(Ppc64leCore, CutStackIsUnreliable) { expect_cut_stack_unreliable(core_); }

// A back chain of 0 at every outermost frame the walk reaches.
TEST_P(Ppc64leCore, OutermostFramesCarryTheEndMark) { expect_outermost_marks(core_); }

// eu-stack (elfutils 0.188) on the host-path core: the same pcs for the six
// safe threads. It stops at __clone too ("address out of range" after it),
// and at __libc_start_main for main.
TEST_P(Ppc64leCore, FramesEqualEuStacks) {
    if (GetParam() != "host") GTEST_SKIP() << "eu-stack cannot map guest paths (no --sysroot)";
    expect_frames_equal_eu_stack(core_, 6);
}

INSTANTIATE_TEST_SUITE_P(Variants, Ppc64leCore, testing::Values("dist", "fp", "host"));

// glibc's syscall() is a leaf on ppc64le too (its `sc` path never stores
// LR): frame 0's caller comes from LR at the same r1
// (fixtures/programs/leaf_park.c).
class Ppc64leLeafCore : public LeafCoreTest {
protected:
    Ppc64leLeafCore() : LeafCoreTest("ppc64le", "/usr/powerpc64le-linux-gnu") {}
};

constexpr unsigned kLr = 65;

TEST_F(Ppc64leLeafCore, LeafFrameZeroIsReliable) { expect_leaf_frame_zero_reliable(core_, kLr); }

TEST_F(Ppc64leLeafCore, PatchingTheLeafBlocksAtFrameZero) { expect_leaf_patch_blocks_frame_zero(core_); }

TEST_F(Ppc64leLeafCore, WrongLinkRegisterIsUnreliable) { expect_wrong_link_register_unreliable(core_, kLr); }

}  // namespace
}  // namespace lpsafe::e2e

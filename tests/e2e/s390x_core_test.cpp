// s390x end to end on real cores: parked.c cross-built with Debian's s390x
// gcc, run under qemu-user and dumped by qemu (fixtures/make-foreign-cores.sh).
// The first big-endian row: the core's notes, the memory words and the
// link map are all read in the target's byte order. As for aarch64 the
// cores have no NT_FILE, no text pages and no FP registers: modules come
// from the link map, code from the files under the cross sysroot. Every
// thread must get the verdict x86_64's cores get (stack_expect.cpp), and
// the walk must end where glibc marks r14 undefined: its unnamed clone
// child for threads, _start for main (docs/verdict-rules.md, s390x).
#include <gtest/gtest.h>

#include <algorithm>

#include "fixture_util.h"
#include "foreign_core.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "overlay_memory.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPswa = 65;  // DWARF's PSW address: the pc
constexpr unsigned kR14 = 14;   // the return register
constexpr unsigned kR15 = 15;   // the stack pointer

class S390xCore : public ForeignCoreTest {
protected:
    S390xCore() : ForeignCoreTest("s390x", "/usr/s390x-linux-gnu") {}
};

TEST_P(S390xCore, ReadsAsS390xWithModulesFromTheLinkMap) {
    const ProcessImage& p = core_.process;
    expect_link_map_modules(p, ArchId::s390x, {"parked", "libc.so.6", "ld64.so.1"});
    // Big-endian notes: every tid is one roles.txt names.
    for (const ThreadState& t : p.threads) EXPECT_TRUE(core_.roles.count(t.tid)) << t.tid;
    // a0:a1 locate glibc's descriptors.
    expect_start_routines_known(p);
}

TEST_P(S390xCore, SnapshotReplaysIdentically) { expect_snapshot_replays(core_); }

// An unrelated patch: the six parked threads safe with the program's own
// chain and a real end; spin unreliable at the top, deep at the depth
// limit, smash at its forged return address.
TEST_P(S390xCore, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = core_.check("parked:spin_outer");
    // glibc 2.36's s390x start.S gives _start no size (no END), so its
    // frame is unnamed: main's walk ends in the program, above
    // __libc_start_main.
    expect_untouched_verdicts(r, core_.roles, core_.expect, false, "");
    int safe = 0;
    for (const TaskVerdict& t : r.tasks) {
        const std::string& role = core_.roles.at(t.tid);
        SCOPED_TRACE(role);
        safe += t.verdict == VerdictKind::safe;
        if (t.verdict != VerdictKind::safe) continue;
        EXPECT_NE(t.end.detail.find("undefined"), std::string::npos) << t.end.detail;
        // Every caller's sp is its callee's CFA less the 160-byte register
        // save area (the CFA is the caller's r15 + 160).
        for (size_t i = 0; i + 1 < t.frames.size(); ++i) EXPECT_EQ(t.frames[i].cfa - 160, t.frames[i + 1].sp) << dump(t);
        if (role == "main") {
            ASSERT_GE(t.frames.size(), 2u);
            EXPECT_EQ(t.frames[t.frames.size() - 2].function, "__libc_start_main") << dump(t);
            const Module* exe = core_.process.modules.find(t.frames.back().pc);
            ASSERT_NE(exe, nullptr);
            EXPECT_EQ(exe->name, "parked");
        } else {
            // start_thread then __clone's child path, both unnamed (the cross
            // libc is stripped): the last frame lies in libc, after the basr.
            const Module* libc = core_.process.modules.find(t.frames.back().pc);
            ASSERT_NE(libc, nullptr);
            EXPECT_EQ(libc->name, "libc.so.6");
        }
    }
    EXPECT_EQ(safe, 6);
    std::printf("s390x-%s: %d of %zu threads safe\n", GetParam().c_str(), safe, r.tasks.size());
}

// smash_inner wrote &spin_outer (a function entry, after nopr padding, not
// a call) into the r14 slot of the save area its caller allocated: the
// frame after it is not a return site.
TEST_P(S390xCore, SmashedReturnAddressIsUnreliableAtItsFrame) {
    const TaskVerdict v = check_thread(core_.process, core_.thread_of("smash"), core_.unrelated());
    ASSERT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    const int smashed = index_of(v.frames, "smash_inner") + 1;
    ASSERT_GT(smashed, 0) << dump(v);
    const Module* parked = core_.process.modules.find(v.frames[smashed].pc);
    ASSERT_NE(parked, nullptr);
    const auto spin_outer = parked->image->symbols_named("spin_outer");
    ASSERT_EQ(spin_outer.size(), 1u);
    EXPECT_EQ(v.frames[smashed].pc, parked->bias + spin_outer[0]->start) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::return_after_call, smashed)) << dump(v);
}

TEST_P(S390xCore, SpinnerIsUnreliableAtTheTop) { expect_spinner_unreliable_at_top(core_); }

// pause_inner calls pause through the PLT (larl %r1,slot; lg %r1,0(%r1);
// br %r1): the call's target is the slot's value, libc's pause, read from
// big-endian memory.
TEST_P(S390xCore, BraslFollowsThePltToLibc) { expect_plt_call_reaches_libc_pause(core_); }

TEST_P(S390xCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

// s390 restarts a system call after get_signal() (arch_do_signal_or_restart
// in arch/s390/kernel/signal.c), so no input shows the PSW AT the svc; nor
// 2 bytes further (inside the next instruction), nor 4 or 6 bytes back,
// where the bytes before the pc are not an svc.
TEST_P(S390xCore, PcAtTheSvcIsNotParked) { expect_moved_pc_not_parked(core_, kPswa, {-2, -4, 2}); }

TEST_P(S390xCore, CutStackIsUnreliable) { expect_cut_stack_unreliable(core_); }

// A back chain of 0 at every outermost frame the walk reaches (glibc's
// _start and clone clear it).
TEST_P(S390xCore, OutermostFramesCarryTheEndMark) { expect_outermost_marks(core_); }

// eu-stack (elfutils 0.188, s390 backend) on the host-path core: the same
// pcs for the six safe threads, down to the clone child and _start.
TEST_P(S390xCore, FramesEqualEuStacks) {
    if (GetParam() != "host") GTEST_SKIP() << "eu-stack cannot map guest paths (no --sysroot)";
    expect_frames_equal_eu_stack(core_, 6);
}

INSTANTIATE_TEST_SUITE_P(Variants, S390xCore, testing::Values("dist", "backchain", "host"));

// -mbackchain: every frame of the program's own functions (not libc's,
// built without it) is cross-checked by the back chain, and agrees.
TEST(S390xBackChain, ProgramFramesAreCrossChecked) {
    if (ForeignCore::cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
    for (const char* variant : {"backchain", "dist"}) {
        SCOPED_TRACE(variant);
        ForeignCore core;
        core.arch = "s390x";
        core.variant = variant;
        core.sysroot = "/usr/s390x-linux-gnu";
        ASSERT_TRUE(core.load());
        const TaskVerdict v = check_thread(core.process, core.thread_of("pause"), core.unrelated());
        ASSERT_EQ(v.verdict, VerdictKind::safe) << dump(v);
        int crossed = 0;
        for (const Frame& f : v.frames) crossed += f.cross_checked;
        // pause_outer and pause_thread (pause_inner is the caller of
        // frame 0 and checked too): none without the back chain.
        if (std::string(variant) == "backchain") {
            EXPECT_GE(crossed, 2) << dump(v);
        } else {
            EXPECT_EQ(crossed, 0) << dump(v);
        }
    }
}

// A corrupted back chain in the -mbackchain core: the CFI and the chain
// disagree, and the thread is unreliable at that frame.
TEST(S390xBackChain, CorruptChainDisagreesWithTheCfi) {
    if (ForeignCore::cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
    ForeignCore core;
    core.arch = "s390x";
    core.variant = "backchain";
    core.sysroot = "/usr/s390x-linux-gnu";
    ASSERT_TRUE(core.load());
    const ThreadState& t = core.thread_of("pause");
    const TaskVerdict good = check_thread(core.process, t, core.unrelated());
    const int outer = index_of(good.frames, "pause_outer");
    ASSERT_GT(outer, 0) << dump(good);
    ASSERT_TRUE(good.frames[outer].cross_checked) << dump(good);
    auto overlay = std::make_shared<OverlayMemory>(core.process.memory);
    overlay->patch_u64(good.frames[outer].sp, good.frames[outer].sp + 8);
    ProcessImage bad = core.process;
    bad.memory = overlay;
    const TaskVerdict v = check_thread(bad, t, core.unrelated());
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::cross_check, outer)) << dump(v);
}

// glibc's syscall() is a leaf on s390x (it saves r6/r7 in its caller's save
// area and never touches r14 or r15): frame 0's caller comes from r14 at
// the same r15 (fixtures/programs/leaf_park.c).
class S390xLeafCore : public LeafCoreTest {
protected:
    S390xLeafCore() : LeafCoreTest("s390x", "/usr/s390x-linux-gnu") {}
};

TEST_F(S390xLeafCore, LeafFrameZeroIsReliable) { expect_leaf_frame_zero_reliable(core_, kR14); }

TEST_F(S390xLeafCore, PatchingTheLeafBlocksAtFrameZero) { expect_leaf_patch_blocks_frame_zero(core_); }

TEST_F(S390xLeafCore, WrongLinkRegisterIsUnreliable) { expect_wrong_link_register_unreliable(core_, kR14); }

}  // namespace
}  // namespace lpsafe::e2e

namespace lpsafe::e2e {
namespace {

// fpr_leaf.c: main parked in a leaf that keeps its caller's r11 in f2
// (CFI "r11 in DWARF 17"); the caller addresses its frame through r11
// (alloca). qemu-user's core has no FP registers, so r11 cannot be
// recovered: the walk stops at fpr_caller and says why, never guessing a
// CFA.
TEST(S390xFprLeaf, RegisterKeptInAnFpRegisterCannotBeChecked) {
    if (ForeignCore::cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
    const std::string dir = ForeignCore::cores_dir() + "/s390x-fprleaf";
    auto process = readers::read_core(dir + "/core.qemu", {dir + "/fpr_leaf", "/usr/s390x-linux-gnu"});
    ASSERT_TRUE(process) << process.error().message;
    ASSERT_EQ(process->threads.size(), 1u);
    PatchSet set;
    ASSERT_TRUE(set.add_spec("fpr_leaf:main"));
    auto patch = resolve_patch_set(set, process->modules);
    ASSERT_TRUE(patch);
    const TaskVerdict v = check_thread(*process, process->threads.front(), *patch);
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    ASSERT_EQ(v.frames.size(), 2u) << dump(v);
    EXPECT_EQ(v.frames[0].function, "fpr_leaf");
    EXPECT_EQ(v.frames[1].function, "fpr_caller");
    EXPECT_EQ(v.end.kind, StackEnd::Kind::failed);
    EXPECT_NE(v.end.detail.find("kept register 11 in register 17"), std::string::npos) << v.end.detail;
    EXPECT_NE(v.end.detail.find("no floating-point registers"), std::string::npos) << v.end.detail;
    // The top rule itself holds: the leaf is parked after its svc.
    EXPECT_FALSE(has_finding(v, Check::top, 0)) << dump(v);
}

}  // namespace
}  // namespace lpsafe::e2e

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
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "overlay_memory.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr const char* kSysroot = "/usr/aarch64-linux-gnu";
constexpr unsigned kPc = 32;  // lpsafe's DWARF slot for the aarch64 pc

std::string cores_dir() {
    const char* d = std::getenv("LPSAFE_FOREIGN_CORES");
    return d != nullptr ? d : "";
}

struct Loaded {
    ProcessImage process;
    std::map<int, std::string> roles;
    std::map<std::string, Expectation> expect;
};

class Aarch64Core : public testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
        const std::string dir = cores_dir() + "/aarch64-" + GetParam();
        // aarch64-host's link map names host paths already.
        auto p = readers::read_core(dir + "/core.qemu", {dir + "/parked", GetParam() == "host" ? "" : kSysroot});
        ASSERT_TRUE(p) << p.error().message;
        loaded_.process = std::move(*p);
        loaded_.roles = read_roles(dir + "/roles.txt");
        loaded_.expect = read_expectations(std::string(std::getenv("LPSAFE_SOURCE_FIXTURES")) + "/programs/parked.expect");
    }
    ProcessReport check(const std::string& spec) {
        PatchSet patch;
        EXPECT_TRUE(patch.add_spec(spec));
        auto r = check_process(loaded_.process, patch);
        EXPECT_TRUE(r) << r.error().message;
        return r ? *r : ProcessReport{};
    }
    // The patch set every test below judges against: nothing on a parked chain.
    ResolvedPatchSet unrelated() {
        PatchSet set;
        EXPECT_TRUE(set.add_spec("parked:spin_outer"));
        auto resolved = resolve_patch_set(set, loaded_.process.modules);
        EXPECT_TRUE(resolved);
        return resolved ? *resolved : ResolvedPatchSet{};
    }
    const ThreadState& thread_of(const std::string& role) {
        for (const ThreadState& t : loaded_.process.threads)
            if (loaded_.roles.at(t.tid) == role) return t;
        ADD_FAILURE() << "no thread " << role;
        return loaded_.process.threads.front();
    }
    Loaded loaded_;
};

TEST_P(Aarch64Core, ReadsAsAarch64WithModulesFromTheLinkMap) {
    const ProcessImage& p = loaded_.process;
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
TEST_P(Aarch64Core, SnapshotReplaysIdentically) {
    const std::string dir = cores_dir() + "/aarch64-" + GetParam();
    const std::string snap = testing::TempDir() + "aarch64-" + GetParam() + ".snap";
    const std::string input = " --core " + dir + "/core.qemu --exe " + dir + "/parked" +
                              (GetParam() == "host" ? "" : std::string(" --sysroot ") + kSysroot);
    const CommandResult rec = run_command(lpsafe_bin() + " record" + input + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    const std::string func = " --func parked:sleep_inner --json";
    const CommandResult from_core = run_command(lpsafe_bin() + " check" + input + func);
    const CommandResult from_snapshot = run_command(lpsafe_bin() + " check --snapshot " + snap + func);
    EXPECT_EQ(from_core.exit_status, 1) << from_core.err;  // sleep_inner's thread is blocked
    EXPECT_EQ(from_snapshot.exit_status, from_core.exit_status) << from_snapshot.err;
    EXPECT_EQ(from_snapshot.out, from_core.out);
}

// An unrelated patch: every parked thread safe with the program's own chain
// and a real end of stack; spin, smash and deep unreliable for their reasons.
TEST_P(Aarch64Core, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = check("parked:spin_outer");
    expect_untouched_verdicts(r, loaded_.roles, loaded_.expect, false);
    int judged = 0;
    for (const TaskVerdict& t : r.tasks) judged += t.verdict == VerdictKind::safe;
    std::printf("aarch64-%s: %d of %zu threads safe\n", GetParam().c_str(), judged, r.tasks.size());
}

// Patching the function a thread sleeps in blocks exactly that thread, at
// the frame of that function.
TEST_P(Aarch64Core, PatchingTheSleepingFunctionBlocks) {
    expect_sleeping_function_blocks([this](const std::string& spec) { return check(spec); }, loaded_.roles, loaded_.expect);
}

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
        const TaskVerdict v = check_thread(loaded_.process, t, patch);
        EXPECT_EQ(v.verdict, VerdictKind::safe) << dump(v);
        expect_chain(v, loaded_.expect.at(role).chain);
        // Eight bytes back is neither form: not parked.
        t.regs.set(kPc, pc - 8);
        const TaskVerdict off = check_thread(loaded_.process, t, patch);
        EXPECT_EQ(off.verdict, VerdictKind::unreliable) << dump(off);
        EXPECT_TRUE(std::any_of(off.findings.begin(), off.findings.end(),
                                [](const Finding& f) { return f.check == Check::top; }))
            << dump(off);
    }
}

// A stack cut short (the core lost the words above main's second frame)
// must not reach a real end: unreliable, for the bottom.
TEST_P(Aarch64Core, CutStackIsUnreliable) {
    const ThreadState& t = thread_of("main");
    const ResolvedPatchSet patch = unrelated();
    const TaskVerdict whole = check_thread(loaded_.process, t, patch);
    ASSERT_EQ(whole.verdict, VerdictKind::safe) << dump(whole);
    ASSERT_GE(whole.frames.size(), 4u);
    auto overlay = std::make_shared<OverlayMemory>(loaded_.process.memory);
    const uint64_t cut = whole.frames[2].cfa;
    overlay->hide(cut - 16, cut + 4096 * 64);
    ProcessImage cut_process = loaded_.process;
    cut_process.memory = overlay;
    const TaskVerdict v = check_thread(cut_process, t, patch);
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(std::any_of(v.findings.begin(), v.findings.end(),
                            [](const Finding& f) { return f.check == Check::bottom; }))
        << dump(v);
}

// x29 is 0 at every outermost frame the walk reaches (AAPCS64's end mark,
// set by glibc's _start and the clone child path).
TEST_P(Aarch64Core, OutermostFramesCarryTheEndMark) {
    const ProcessReport r = check("parked:spin_outer");
    for (const TaskVerdict& t : r.tasks) {
        if (t.end.kind != StackEnd::Kind::outermost) continue;
        for (const Finding& f : t.findings) EXPECT_NE(f.check, Check::bottom) << dump(t);
    }
}

// eu-stack (elfutils 0.188: no --sysroot, so only the host-path core) must
// find the same pcs for every thread lpsafe judges reliable.
TEST_P(Aarch64Core, FramesEqualEuStacks) {
    if (GetParam() != "host") GTEST_SKIP() << "eu-stack cannot map guest paths (no --sysroot)";
    const std::string dir = cores_dir() + "/aarch64-host";
    const auto peer = eu_stack_pcs(dir + "/core.qemu", dir + "/parked");
    const ProcessReport r = check("parked:spin_outer");
    int compared = 0;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict != VerdictKind::safe) continue;
        ASSERT_TRUE(peer.count(t.tid)) << t.tid;
        std::vector<unsigned long long> ours;
        for (const Frame& f : t.frames) ours.push_back(f.pc);
        EXPECT_EQ(ours, peer.at(t.tid)) << dump(t);
        ++compared;
    }
    EXPECT_EQ(compared, 6);
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

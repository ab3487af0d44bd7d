// s390x end to end on data written by a real s390 kernel: Debian 12's own
// s390x kernel booted under qemu-system-s390x (TCG, s390-ccw-virtio) with
// parked.c in a busybox initramfs (fixtures/s390x-guest/make-s390x-fixtures.sh;
// the extracts are committed in fixtures/s390x-guest/recorded). The core was
// written by the kernel (SIGABRT): unlike qemu-user's s390x cores it has
// NT_FILE, naming the cross sysroot's libraries by their host paths, and the
// kernel's own orig_gpr2. The /proc capture is judged with the s390x row's
// stack ends, found from its own kallsyms.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <span>
#include <utility>
#include <vector>

#include "fixture_util.h"
#include "foreign_core.h"
#include "guest_kernel_image.h"
#include "kernel_guest.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPswa = 65;  // DWARF's PSW address: the pc
constexpr unsigned kR1 = 1;     // the system call number when svc's immediate is 0
constexpr unsigned kR2 = 2;     // first argument and result
// arch/s390/include/asm/ptrace.h: the PSW's problem-state bit (user mode).
constexpr uint64_t kPswMaskPstate = 0x0001000000000000;
// include/linux/errno.h: what a blocked call returns when a signal ends it.
constexpr int64_t kErestartsys = -512, kErestartnohand = -514, kErestartRestartblock = -516, kEintr = -4;

std::string recorded() { return guest_recorded("s390x-guest"); }

// The kernel's s390_regs words lpsafe's Regs does not keep, straight from
// each (big-endian) NT_PRSTATUS: struct elf_prstatus has pr_pid at 32 and
// pr_reg at 112; s390_regs is psw {mask, addr}, gprs[16], acrs[16] (32-bit),
// orig_gpr2 (arch/s390/include/uapi/asm/ptrace.h).
struct RawRegs {
    uint64_t psw_mask = 0, gpr2 = 0, orig_gpr2 = 0;
};
std::map<int, RawRegs> raw_prstatus(const std::string& path) {
    const RawCore core = read_raw_core(path);
    std::map<int, RawRegs> out;
    if (!core.big_endian) ADD_FAILURE() << path << " is not a big-endian ELF file";
    for (const RawCoreNote& n : core.notes(NT_PRSTATUS)) {
        const size_t reg = n.desc + 112;
        out[static_cast<int>(core.u32(n.desc + 32))] = {core.u64(reg), core.u64(reg + 16 + 2 * 8),
                                                        core.u64(reg + 16 + 128 + 64)};
    }
    return out;
}

// The shared checks of foreign_core.h run on it as on the qemu-user cores.
class S390xKernelCore : public KernelCoreTest {
protected:
    void SetUp() override { load("s390x-guest", "s390x", "s390x-linux-gnu"); }
    uint16_t halfword_at(uint64_t addr) const {
        uint16_t h = 0;
        EXPECT_EQ(core_.process.read_code(addr, std::as_writable_bytes(std::span(&h, 1))), 2u) << std::hex << addr;
        return __builtin_bswap16(h);
    }
};

TEST_F(S390xKernelCore, ModulesComeFromNtFile) {
    expect_nt_file_modules(process_, ArchId::s390x,
                           {"/usr/s390x-linux-gnu/lib/libc.so.6", "/usr/s390x-linux-gnu/lib/ld64.so.1"});
}

// The kernel's form. s390 restarts a system call only after get_signal():
// arch_do_signal_or_restart() (arch/s390/kernel/signal.c) notes
// thread.system_call from int_code, calls get_signal() (which writes the
// core for SIGABRT and never returns), and only when it returns with a
// handler to run does it, for -ERESTARTSYS with SA_RESTART or
// -ERESTARTNOINTR, set gprs[2] = orig_gpr2 and psw.addr =
// __rewind_psw(psw, int_code >> 16) (back over the svc), or turn
// -ERESTARTNOHAND/-ERESTART_RESTARTBLOCK into -EINTR. So every parked thread
// has the PSW just after its `svc` (opcode 0a, 2 bytes; the number in its
// immediate, or in r1 for svc 0), the call's -ERESTART* result still in r2
// and the first argument kept apart in orig_gpr2; epoll_wait is not
// restarted (-EINTR). Every register set is the user's (problem state).
TEST_F(S390xKernelCore, ParkedThreadsShowTheKernelsRestartForm) {
    const std::map<int, RawRegs> raw = raw_prstatus(recorded() + "/core.kernel");
    ASSERT_EQ(raw.size(), 9u);
    // arch/s390/kernel/syscalls/syscall.tbl (64-bit) and what each call
    // returns when a signal ends its wait: sys_pause -ERESTARTNOHAND,
    // hrtimer_nanosleep -ERESTART_RESTARTBLOCK, pipe_read and futex_wait
    // -ERESTARTSYS, ep_poll -EINTR.
    const std::map<std::string, std::pair<uint64_t, int64_t>> calls = {
        {"main", {29, kErestartnohand}},    {"pause", {29, kErestartnohand}},
        {"smash", {29, kErestartnohand}},   {"deep", {29, kErestartnohand}},
        {"nanosleep", {262, kErestartRestartblock}},  // clock_nanosleep
        {"piperead", {3, kErestartsys}},    {"condvar", {238, kErestartsys}},
        {"epoll", {251, kEintr}},
    };
    int parked = 0;
    for (const ThreadState& t : process_.threads) {
        const std::string& role = roles_.at(t.tid);
        SCOPED_TRACE(role);
        const RawRegs& r = raw.at(t.tid);
        EXPECT_EQ(*t.regs.get(kR2), r.gpr2);  // lpsafe's reading of the same note
        EXPECT_NE(r.psw_mask & kPswMaskPstate, 0u) << std::hex << r.psw_mask;
        const uint64_t pc = *t.regs.get(kPswa);
        if (role == "spin") {
            EXPECT_NE(halfword_at(pc - 2) >> 8, 0x0au);  // stopped by the timer, not in a call
            continue;
        }
        ASSERT_TRUE(calls.count(role));
        // The code comes from the NT_FILE files (the core has no text pages).
        const uint16_t svc = halfword_at(pc - 2);
        ASSERT_EQ(svc >> 8, 0x0au) << std::hex << svc;
        const uint64_t nr = (svc & 0xff) != 0 ? (svc & 0xffu) : *t.regs.get(kR1);
        EXPECT_EQ(nr, calls.at(role).first);
        EXPECT_EQ(static_cast<int64_t>(r.gpr2), calls.at(role).second);
        // Not rewound: r2 is not yet orig_gpr2 again.
        EXPECT_NE(r.gpr2, r.orig_gpr2);
        if (role == "nanosleep") {
            EXPECT_EQ(r.orig_gpr2, 0u);  // CLOCK_REALTIME, glibc's nanosleep
        }
        ++parked;
    }
    EXPECT_EQ(parked, 8);
}

// The same verdicts as every other parked core: parked threads safe with the
// program's own chain (PSW after the svc), spin, smash, deep unreliable.
TEST_F(S390xKernelCore, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = core_.check("parked:spin_outer");
    // The kernel core names every thread by the process's comm: roles from
    // the file. glibc 2.36's s390x _start has no size: main's walk ends in
    // the program, unnamed (as in qemu-user's s390x cores).
    expect_untouched_verdicts(r, roles_, core_.expect, false, "");
    int safe = 0;
    for (const TaskVerdict& t : r.tasks) {
        const std::string& role = roles_.at(t.tid);
        SCOPED_TRACE(role);
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) == kParkedRoles.end()) {
            EXPECT_EQ(t.verdict, VerdictKind::unreliable) << dump(t);
            continue;
        }
        EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
        EXPECT_TRUE(t.findings.empty()) << dump(t);
        EXPECT_EQ(t.end.kind, StackEnd::Kind::outermost) << dump(t);
        EXPECT_NE(t.end.detail.find("undefined"), std::string::npos) << t.end.detail;
        // Every caller's sp is its callee's CFA less the 160-byte register
        // save area.
        for (size_t i = 0; i + 1 < t.frames.size(); ++i) EXPECT_EQ(t.frames[i].cfa - 160, t.frames[i + 1].sp) << dump(t);
        safe += t.verdict == VerdictKind::safe;
    }
    EXPECT_EQ(safe, 6);
}

// The forms the s390 kernel never writes: the PSW AT the svc (what the
// restart would make of it), 4 bytes back, or 2 bytes on, is not parked.
TEST_F(S390xKernelCore, PcAtTheSvcIsNotParked) {
    for (const std::string& role : kParkedRoles) {
        SCOPED_TRACE(role);
        for (int64_t delta : {-2, -4, 2}) {
            ThreadState t = core_.thread_of(role);
            t.regs.set(kPswa, *t.regs.get(kPswa) + static_cast<uint64_t>(delta));
            const TaskVerdict v = check_thread(process_, t, core_.unrelated());
            EXPECT_EQ(v.verdict, VerdictKind::unreliable) << delta << "\n" << dump(v);
            EXPECT_TRUE(has_finding(v, Check::top, 0)) << delta << "\n" << dump(v);
        }
    }
}

TEST_F(S390xKernelCore, SpinnerIsUnreliableAtTheTop) {
    const TaskVerdict v = check_thread(process_, core_.thread_of("spin"), core_.unrelated());
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::top, 0)) << dump(v);
}

// smash_inner's forged return address: unreliable at the frame after it.
TEST_F(S390xKernelCore, SmashedReturnAddressIsUnreliableAtItsFrame) {
    const TaskVerdict v = check_thread(process_, core_.thread_of("smash"), core_.unrelated());
    ASSERT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    const int smashed = index_of(v.frames, "smash_inner") + 1;
    ASSERT_GT(smashed, 0) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::return_after_call, smashed)) << dump(v);
}

TEST_F(S390xKernelCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

TEST_F(S390xKernelCore, CutStackIsUnreliable) { expect_cut_stack_unreliable(core_); }

TEST_F(S390xKernelCore, OutermostFramesCarryTheEndMark) { expect_outermost_marks(core_); }

// eu-stack reads the same core through its NT_FILE: the same pcs for the
// six safe threads.
TEST_F(S390xKernelCore, FramesEqualEuStacks) { expect_frames_equal_eu_stack(core_, 6); }

// `lpsafe record` of the kernel's core, then `check --snapshot`: the same
// JSON and exit status as the core itself (the snapshot keeps the NT_FILE
// modules' code and the big-endian registers).
TEST_F(S390xKernelCore, SnapshotReplaysIdentically) {
    const std::string input = " --core " + core_.core_path + " --exe " + core_.exe_path;
    const std::string snap = testing::TempDir() + "s390x-kernel.snap";
    const CommandResult rec = run_command(lpsafe_bin() + " record" + input + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    const std::string func = " --func parked:sleep_inner --json";
    const CommandResult from_core = run_command(lpsafe_bin() + " check" + input + func);
    const CommandResult from_snapshot = run_command(lpsafe_bin() + " check --snapshot " + snap + func);
    EXPECT_EQ(from_core.exit_status, 1) << from_core.err;  // sleep_inner's thread is blocked
    EXPECT_EQ(from_snapshot.exit_status, from_core.exit_status) << from_snapshot.err;
    EXPECT_EQ(from_snapshot.out, from_core.out);
    const nlohmann::json j = nlohmann::json::parse(from_snapshot.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["summary"]["safe"], 5);
    EXPECT_EQ(j["summary"]["blocked"], 1);
}

// fpr_leaf.c, dumped by the same kernel (the guest runs it alone first):
// main parked in a leaf that keeps its caller's r11 in f2 (CFI "r11 in
// DWARF 17"), the caller addressing its frame through r11 (alloca: CFA =
// r11 + 328). qemu-user's core of it has no FP registers and stops at
// fpr_caller (s390x_core_test.cpp, S390xFprLeaf); the kernel's carries
// them as NT_PRFPREG (struct s390_fp_regs), so the walk goes on, exactly.
class S390xKernelFprLeaf : public testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
        if (!std::filesystem::exists("/usr/s390x-linux-gnu/lib/libc.so.6"))
            GTEST_SKIP() << "the s390x cross libc is not installed (the core's NT_FILE names its files)";
        auto p = readers::read_core(core_path_, {exe_path_, ""});
        ASSERT_TRUE(p) << p.error().message;
        process_ = std::move(*p);
        ASSERT_EQ(process_.threads.size(), 1u);
    }
    ResolvedPatchSet patch(const std::string& spec) const {
        PatchSet set;
        EXPECT_TRUE(set.add_spec(spec)) << spec;
        auto resolved = resolve_patch_set(set, process_.modules);
        EXPECT_TRUE(resolved) << spec;
        return resolved ? *resolved : ResolvedPatchSet{};
    }
    // A function of the same program on no frame of the stack.
    TaskVerdict check_unrelated(const ProcessImage& process) const {
        return check_thread(process, process.threads.front(), patch("libc.so.6:qsort"));
    }
    const std::string dir_ = recorded();
    const std::string core_path_ = dir_ + "/core-fpr_leaf.kernel";
    const std::string exe_path_ = dir_ + "/fpr_leaf";
    ProcessImage process_;
};

// fprs[16] of every NT_FPREGSET note, straight from the file (8 bytes in:
// after fpc and its pad).
std::vector<std::vector<uint64_t>> raw_fp_regs(const std::string& path) {
    const RawCore core = read_raw_core(path);
    std::vector<std::vector<uint64_t>> out;
    for (const RawCoreNote& n : core.notes(NT_FPREGSET)) {
        EXPECT_EQ(n.size, 136u);
        std::vector<uint64_t> f;
        for (unsigned i = 0; i < 16; ++i) f.push_back(core.u64(n.desc + 8 + 8 * i));
        out.push_back(f);
    }
    return out;
}

// The ABI's DWARF numbers of f0..f15 (s390x ELF ABI supplement; binutils'
// gas/testsuite/gas/s390/cfi-regnames.d prints r16 as f0, r20 as f1, r17 as f2).
constexpr unsigned kFprDwarf[16] = {16, 20, 17, 21, 18, 22, 19, 23, 24, 28, 25, 29, 26, 30, 27, 31};
constexpr unsigned kF2 = 17;

TEST_F(S390xKernelFprLeaf, FpRegistersComeFromNtPrfpreg) {
    const auto raw = raw_fp_regs(core_path_);
    ASSERT_EQ(raw.size(), 1u);
    const Regs& regs = process_.threads.front().regs;
    for (unsigned n = 0; n < 16; ++n) {
        ASSERT_TRUE(regs.has(kFprDwarf[n])) << "f" << n;
        EXPECT_EQ(*regs.get(kFprDwarf[n]), raw[0][n]) << "f" << n;
    }
}

// Out of the leaf r11 comes from f2; fpr_caller's CFA is r11 + 328, and the
// walk goes on to glibc's start, every frame's sp its CFA less 160.
TEST_F(S390xKernelFprLeaf, WalkRecoversR11FromF2) {
    const TaskVerdict v = check_unrelated(process_);
    EXPECT_EQ(v.verdict, VerdictKind::safe) << dump(v);
    ASSERT_GE(v.frames.size(), 4u) << dump(v);
    EXPECT_EQ(v.frames[0].function, "fpr_leaf");
    EXPECT_EQ(v.frames[1].function, "fpr_caller");
    EXPECT_EQ(v.frames[2].function, "main");
    EXPECT_EQ(v.frames[1].cfa, *process_.threads.front().regs.get(kF2) + 328) << dump(v);
    EXPECT_EQ(v.end.kind, StackEnd::Kind::outermost) << dump(v);
    for (size_t i = 0; i + 1 < v.frames.size(); ++i) EXPECT_EQ(v.frames[i].cfa - 160, v.frames[i + 1].sp) << dump(v);
}

TEST_F(S390xKernelFprLeaf, PatchingAFunctionOnTheChainBlocksAtItsFrame) {
    const std::pair<const char*, int> cases[] = {{"fpr_leaf:fpr_leaf", 0}, {"fpr_leaf:fpr_caller", 1}, {"fpr_leaf:main", 2}};
    for (const auto& [spec, frame] : cases) {
        const TaskVerdict v = check_thread(process_, process_.threads.front(), patch(spec));
        EXPECT_EQ(v.verdict, VerdictKind::blocked) << spec << "\n" << dump(v);
        ASSERT_FALSE(v.blocked_by.empty()) << spec;
        EXPECT_EQ(v.blocked_by[0].frame, frame) << spec << "\n" << dump(v);
    }
}

// The same core without its FP registers is qemu-user's case again: r11 is
// unknown past the leaf, and the walk says which register it needed.
TEST_F(S390xKernelFprLeaf, WithoutFpRegistersItIsUnreliable) {
    ProcessImage stripped = process_;
    for (unsigned reg : kFprDwarf) stripped.threads.front().regs.clear(reg);
    const TaskVerdict v = check_unrelated(stripped);
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    ASSERT_EQ(v.frames.size(), 2u) << dump(v);
    EXPECT_EQ(v.frames[1].function, "fpr_caller");
    EXPECT_EQ(v.end.kind, StackEnd::Kind::failed);
    EXPECT_NE(v.end.detail.find("kept register 11 in register 17"), std::string::npos) << v.end.detail;
    EXPECT_NE(v.end.detail.find("NT_PRFPREG"), std::string::npos) << v.end.detail;
}

// Only f2 wrong: fpr_caller's CFA moves with it and the walk no longer holds.
TEST_F(S390xKernelFprLeaf, WrongF2IsUnreliable) {
    for (const int64_t delta : {-8, 8, 4096}) {
        ProcessImage bad = process_;
        Regs& regs = bad.threads.front().regs;
        regs.set(kF2, *regs.get(kF2) + delta);
        const TaskVerdict v = check_unrelated(bad);
        EXPECT_EQ(v.verdict, VerdictKind::unreliable) << delta << "\n" << dump(v);
        EXPECT_FALSE(has_finding(v, Check::top, 0)) << delta << "\n" << dump(v);
    }
}

// `lpsafe record` keeps the FP registers with the others: the snapshot gives
// the same JSON and exit status, blocked and safe alike.
TEST_F(S390xKernelFprLeaf, SnapshotReplaysIdentically) {
    const std::string input = " --core " + core_path_ + " --exe " + exe_path_;
    const std::string snap = testing::TempDir() + "s390x-kernel-fpr-leaf.snap";
    const CommandResult rec = run_command(lpsafe_bin() + " record" + input + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    for (const auto& [func, status] : {std::pair<std::string, int>{"fpr_leaf:fpr_caller", 1}, {"libc.so.6:qsort", 0}}) {
        const std::string args = " --func " + func + " --json";
        const CommandResult from_core = run_command(lpsafe_bin() + " check" + input + args);
        const CommandResult from_snapshot = run_command(lpsafe_bin() + " check --snapshot " + snap + args);
        EXPECT_EQ(from_core.exit_status, status) << func << ": " << from_core.err;
        EXPECT_EQ(from_snapshot.exit_status, from_core.exit_status) << func << ": " << from_snapshot.err;
        EXPECT_EQ(from_snapshot.out, from_core.out) << func;
    }
}

// The kernel's /proc view of the same guest (every task, kthreads too),
// recorded while both copies of parked were parked (the core's copy and
// roles-proc.txt's).
class S390xKernelProc : public KernelProcTest {
protected:
    S390xKernelProc() : KernelProcTest("s390x-guest") {}
};

// "[<0>] name+0xoff/0xsize" -> name.
std::string function_of(const std::string& line) {
    const size_t at = line.find("] ");
    const size_t plus = line.find('+', at);
    return at == std::string::npos || plus == std::string::npos ? line : line.substr(at + 2, plus - at - 2);
}

// Every task's stack file, with its directory.
std::vector<std::filesystem::path> task_dirs(const std::string& capture) {
    std::vector<std::filesystem::path> out;
    for (const auto& pid : std::filesystem::directory_iterator(capture)) {
        if (!std::filesystem::exists(pid.path() / "task")) continue;
        for (const auto& task : std::filesystem::directory_iterator(pid.path() / "task")) out.push_back(task.path());
    }
    return out;
}

// Every task not running ends at one of the s390x row's stack ends and is
// safe against an unrelated function; the ends seen are the ones
// s390x_kernel.cpp notes as "Seen:".
TEST_F(S390xKernelProc, EveryStackEndsAtAnS390End) {
    const JudgedEnds seen = expect_known_ends(recorded() + "/capture", ArchId::s390x);
    EXPECT_EQ(seen.judged, 59);
    EXPECT_EQ(seen.running, 2);  // both spinners, preempted in user space
    EXPECT_EQ(seen.ends, (std::set<std::string>{"system_call", "ret_from_fork"}));
    EXPECT_EQ(seen.check["summary"]["unreliable"], 0);
}

// The user-space entry of a parked thread, as the kernel lists it:
// __do_syscall (the C handler) is listed but is not the end; entry.S's
// system_call, which called it with `brasl %r14,__do_syscall`, is.
TEST_F(S390xKernelProc, SyscallChainEndsInSystemCall) {
    for (const std::vector<std::string>& names : nanosleep_listings(recorded() + "/capture")) {
        ASSERT_GE(names.size(), 4u);
        EXPECT_EQ(names.front(), "hrtimer_nanosleep");
        EXPECT_EQ(std::vector<std::string>(names.end() - 2, names.end()),
                  (std::vector<std::string>{"__do_syscall", "system_call"}));
    }
}

// Every kernel thread ends `kthread, __ret_from_fork, ret_from_fork`
// (kthreadd: `kthreadd, __ret_from_fork, ret_from_fork`): entry.S's
// ret_from_fork calls the C __ret_from_fork, which calls the thread
// function; copy_thread() zeroed the back chain above ret_from_fork.
TEST_F(S390xKernelProc, KthreadsEndInRetFromFork) {
    int status = 0;
    const nlohmann::json check = kernel_check_json(recorded() + "/capture", "vmlinux:pipe_read", status);
    ASSERT_FALSE(check.empty());
    int kthreads = 0;
    for (const nlohmann::json& t : check["tasks"]) {
        const auto& f = t["frames"];
        if (f.size() < 3 || f.back()["function"] != "ret_from_fork") continue;
        SCOPED_TRACE(t.dump(2));
        EXPECT_EQ(f[f.size() - 2]["function"], "__ret_from_fork");
        const std::string above = f[f.size() - 3]["function"];
        EXPECT_TRUE(above == "kthread" || (above == "kthreadd" && t["tid"] == 2)) << above;
        EXPECT_EQ(t["verdict"], "safe");
        ++kthreads;
    }
    EXPECT_EQ(kthreads, 42);
}

// s390 lists nothing above the scheduler's caller: __unwind_start()
// (arch/s390/kernel/unwind_bc.c) takes the first address from the r14 slot
// of the frame __switch_to saved at thread.ksp, a return into __schedule,
// and kernel/stacktrace.c drops scheduler text. So the first line of every
// sleeping task is a named function, the one wchan names, and no
// __switch_to appears anywhere (unlike ppc64's stale word and __switch_to).
TEST_F(S390xKernelProc, ListingsStartAtTheSchedulersCaller) {
    int sleeping = 0;
    for (const auto& task : task_dirs(recorded() + "/capture")) {
        SCOPED_TRACE(task.string());
        const auto lines = lines_of(read_file((task / "stack").string()));
        ASSERT_GE(lines.size(), 3u);
        for (const std::string& l : lines) {
            EXPECT_NE(l.find("+0x"), std::string::npos) << l;
            EXPECT_EQ(l.find("__switch_to"), std::string::npos) << l;
        }
        const std::string wchan = lines_of(read_file((task / "wchan").string())).at(0);
        if (wchan == "0") continue;  // the running spinners
        EXPECT_EQ(function_of(lines[0]), wchan);
        ++sleeping;
    }
    EXPECT_EQ(sleeping, 59);
}

// A listing cut at a C handler (__do_syscall, __ret_from_fork) did not
// reach the task's final pt_regs: unreliable at its last frame, for the
// bottom. And wchan is compared with the first entry.
TEST_F(S390xKernelProc, ListingCutAtTheCHandlerIsUnreliable) {
    const std::string dir = copy_capture("s390x-cut");
    int proc_pid = 0, nanosleep_tid = 0, pause_tid = 0;
    for (const auto& [tid, role] : read_roles(recorded() + "/roles-proc.txt")) {
        if (role == "main") proc_pid = tid;  // the process's pid is its main thread's tid
        if (role == "nanosleep") nanosleep_tid = tid;
        if (role == "pause") pause_tid = tid;
    }
    ASSERT_NE(proc_pid, 0);
    ASSERT_NE(nanosleep_tid, 0);
    ASSERT_NE(pause_tid, 0);
    const auto drop_last = [](const std::string& path) {
        auto lines = lines_of(read_file(path));
        lines.pop_back();
        std::ofstream out(path);
        for (const auto& l : lines) out << l << "\n";
    };
    const std::string task = dir + "/" + std::to_string(proc_pid) + "/task/";
    drop_last(task + std::to_string(nanosleep_tid) + "/stack");
    const int kthreadd = 2;
    drop_last(dir + "/2/task/2/stack");
    std::ofstream(task + std::to_string(pause_tid) + "/wchan") << "do_nanosleep";
    int status = 0;
    const nlohmann::json j = kernel_check_json(dir, "vmlinux:pipe_read", status);
    ASSERT_FALSE(j.empty());
    EXPECT_EQ(status, 1);  // the piperead threads are still blocked
    int checked = 0;
    for (const nlohmann::json& t : j["tasks"]) {
        const int tid = t["tid"];
        if (tid != nanosleep_tid && tid != pause_tid && tid != kthreadd) continue;
        SCOPED_TRACE(t.dump(2));
        EXPECT_EQ(t["verdict"], "unreliable");
        ASSERT_EQ(t["failed_checks"].size(), 1u);
        const nlohmann::json& f = t["failed_checks"][0];
        const std::string detail = f["detail"];
        if (tid == pause_tid) {
            EXPECT_EQ(f["check"], "top");
            EXPECT_EQ(f["frame"], 0);
            EXPECT_NE(detail.find("wchan says do_nanosleep but the stack starts at __s390_sys_pause"),
                      std::string::npos)
                << detail;
        } else {
            const std::string cut = tid == kthreadd ? "__ret_from_fork" : "__do_syscall";
            EXPECT_EQ(f["check"], "bottom");
            EXPECT_EQ(f["frame"], int(t["frames"].size()) - 1);
            EXPECT_NE(detail.find("ends at " + cut + ", which is not a known end"), std::string::npos) << detail;
        }
        ++checked;
    }
    EXPECT_EQ(checked, 3);
}

// The spinners were preempted in user space by the timer: their listing
// ends at the external-interrupt entry (entry.S INT_HANDLER, `brasl
// %r14,do_ext_irq`, its frame under the user pt_regs), one of the row's
// ends, though running tasks are not judged.
TEST_F(S390xKernelProc, SpinnersEndAtTheInterruptEntry) {
    const auto ends = arch_of(ArchId::s390x).kernel_stack_ends();
    int spinners = 0;
    for (const auto& task : task_dirs(recorded() + "/capture")) {
        const auto lines = lines_of(read_file((task / "stack").string()));
        if (lines_of(read_file((task / "wchan").string())).at(0) != "0") continue;
        SCOPED_TRACE(task.string());
        ASSERT_FALSE(lines.empty());
        const std::string last = function_of(lines.back());
        EXPECT_TRUE(last == "ext_int_handler" || last == "io_int_handler") << last;
        EXPECT_TRUE(std::any_of(ends.begin(), ends.end(), [&](const KernelStackEnd& e) { return e.function == last; }));
        ++spinners;
    }
    EXPECT_EQ(spinners, 2);
}

// The tree recorded into a capture archive (on this x86_64 host) replays
// with the same verdicts: the archive keeps what says s390.
TEST_F(S390xKernelProc, ArchiveReplaysTheTree) { expect_archive_replays(recorded() + "/capture", "s390x.lpk", 61); }

// The architecture comes from the capture's symbols.
TEST_F(S390xKernelProc, ArchitectureFromKallsyms) {
    EXPECT_EQ(capture_arch(recorded() + "/capture", ArchId::x86_64), ArchId::s390x);
    EXPECT_EQ(capture_arch(recorded() + "/capture", ArchId::ppc64le), ArchId::s390x);
}

// Return-after-call on the kernel's frames with the code of Debian's own
// s390x vmlinuz: the kernel's decompressor with the raw kernel (`objcopy -O
// binary` of vmlinux, from `_text`) in it as an xz stream, which lpsafe finds
// and wraps as a big-endian EM_S390 ELF (src/readers/kernel/
// raw_kernel_image.cpp). The committed excerpt (fixtures/make-image-excerpt.py)
// is an s390 boot image again: the vmlinuz's head (IPL PSW and CCWs, the
// "S390EP" entry table) and, in xz, the raw kernel with the bytes of every
// function the capture's stacks name, zeros elsewhere. The real vmlinuz is
// read as well when the guest's cache holds it.
enum class S390xImage { excerpt, vmlinuz };

class S390xKernelImage : public S390xKernelProc, public testing::WithParamInterface<S390xImage> {
protected:
    void SetUp() override {
        S390xKernelProc::SetUp();
        if (IsSkipped()) return;
        if (GetParam() == S390xImage::vmlinuz && !std::filesystem::exists(cached_vmlinuz()))
            GTEST_SKIP() << cached_vmlinuz() << " is not cached: fixtures/s390x-guest/make-s390x-fixtures.sh downloads it";
    }
    static std::string cached_vmlinuz() {
        const char* cache = std::getenv("LPSAFE_CACHE");
        return std::string(cache != nullptr ? cache : "/var/cache/lpsafe") +
               "/s390x-guest/kernel-6.1.0-50-s390x/boot/vmlinuz-6.1.0-50-s390x";
    }
    // The raw kernel's xz stream: right after the excerpt's 0x10010-byte
    // head; in the vmlinuz, the second xz magic (the first, at 0x18ac6 in
    // the decompressor's code, does not decode).
    static GuestImage image() {
        constexpr const char* kBuildId = "64191809e7272da77af306133aa6c566be0be242";
        if (GetParam() == S390xImage::excerpt)
            return {recorded() + "/vmlinuz-excerpt", "s390 boot image (xz stream at offset 0x10010)", kBuildId};
        return {cached_vmlinuz(), "s390 boot image (xz stream at offset 0x2e818)", kBuildId};
    }
    static constexpr int kJudged = 59;  // every task but the two spinners
};

// The same verdict for every task as without the image (57 safe, the two
// piperead threads blocked), and return-after-call runs on every one of
// the 239 frames the judged tasks list: none is refused. Debian's 6.1
// kernel has no expolines (CONFIG_EXPOLINE is not set): its return sites
// follow `brasl %r14` (36 of the 41 distinct sites: ret_from_fork's call of
// __ret_from_fork, system_call's of __do_syscall, every call of schedule)
// or `basr %r14,%rN` (5: kthread's `threadfn(data)` through r8,
// __ret_from_fork's, __do_syscall's and vfs_read's through r1).
TEST_P(S390xKernelImage, KeepsEveryVerdictAndRunsReturnAfterCall) {
    const nlohmann::json with = expect_image_keeps_verdicts(recorded() + "/capture", image(), kJudged);
    ASSERT_FALSE(with.empty());
    EXPECT_EQ(with["summary"]["safe"], 57);
    EXPECT_EQ(with["summary"]["blocked"], 2);
    EXPECT_EQ(with["summary"]["running"], 2);
    EXPECT_EQ(with["summary"]["unreliable"], 0);
    size_t frames = 0;
    for (const nlohmann::json& t : with["tasks"]) {
        if (t["verdict"] == "running") continue;
        for (const nlohmann::json& f : t["frames"]) EXPECT_EQ(f["object"], "vmlinux") << t.dump();
        frames += t["frames"].size();
    }
    EXPECT_EQ(frames, 239u);
}

// rcu_gp (tid 3) lists rescuer_thread+0x378 (after a 6-byte brasl),
// kthread+0x10c (after a 2-byte basr), __ret_from_fork+0x3c and
// ret_from_fork+0xa (entry.S's brasl). Each moved 2 bytes on or back (s390
// instructions are 2, 4 or 6 bytes) lands inside an instruction or after
// one that is not a call: unreliable at that frame for return-after-call,
// decoded from kallsyms' function start. Without the image the check is
// skipped and the move goes unseen.
TEST_P(S390xKernelImage, ReturnAddressMovedTwoBytesIsUnreliableAtItsFrame) {
    for (const MovedReturn& m : {MovedReturn{"rescuer_thread+0x378/", "rescuer_thread+0x37a/", 0},
                                 MovedReturn{"rescuer_thread+0x378/", "rescuer_thread+0x376/", 0},
                                 MovedReturn{"kthread+0x10c/", "kthread+0x10e/", 1},
                                 MovedReturn{"kthread+0x10c/", "kthread+0x10a/", 1},
                                 MovedReturn{"__ret_from_fork+0x3c/", "__ret_from_fork+0x3a/", 2},
                                 MovedReturn{"ret_from_fork+0xa/", "ret_from_fork+0x8/", 3}}) {
        expect_moved_return_caught(copy_capture("s390x-moved"), "/3/task/3/stack", 3, m, image().path);
    }
}

// The image's build-id is what the existing check compares with the
// capture's /sys/kernel/notes (big-endian, as the s390 kernel writes its
// notes): another running id makes every judged task unreliable, naming it.
TEST_P(S390xKernelImage, OtherRunningBuildIdMakesEveryVerdictUnreliable) {
    expect_other_build_id_caught(copy_capture("s390x-notes"), image(), kJudged);
}

INSTANTIATE_TEST_SUITE_P(Images, S390xKernelImage, testing::Values(S390xImage::excerpt, S390xImage::vmlinuz),
                         [](const testing::TestParamInfo<S390xImage>& i) {
                             return i.param == S390xImage::excerpt ? "Excerpt" : "CachedVmlinuz";
                         });

}  // namespace
}  // namespace lpsafe::e2e

// ppc64le end to end on data written by a real ppc64 kernel: Debian 12's own
// ppc64el kernel booted under qemu-system-ppc64 (TCG, pseries, POWER9) with
// parked.c in a busybox initramfs (fixtures/ppc64-guest/make-ppc64-fixtures.sh;
// the extracts are committed in fixtures/ppc64-guest/recorded). The core was
// written by the kernel (SIGABRT): it has NT_FILE, naming the cross
// sysroot's libraries by their host paths, and the kernel's own trap and
// orig_gpr3. The /proc capture is judged with the ppc64le row's stack ends
// and listing head, found from its own kallsyms.
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

#include "fixture_util.h"
#include "foreign_core.h"
#include "kernel_guest.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPc = 67;            // lpsafe's slot for the ppc64 pc (nip)
constexpr uint32_t kScv0 = 0x44000001;  // scv 0
constexpr uint32_t kSc = 0x44000002;    // sc
// include/linux/errno.h: what a blocked call returns when a signal ends it.
constexpr int64_t kErestartsys = -512, kErestartnohand = -514, kErestartRestartblock = -516, kEintr = -4;

std::string recorded() { return guest_recorded("ppc64-guest"); }

// The kernel's pt_regs words lpsafe's Regs does not keep, straight from
// each NT_PRSTATUS (struct elf_prstatus: pr_pid at 32, pr_reg at 112).
struct RawRegs {
    uint64_t gpr3 = 0, orig_gpr3 = 0, trap = 0;
};
std::map<int, RawRegs> raw_prstatus(const std::string& path) {
    const RawCore core = read_raw_core(path);
    std::map<int, RawRegs> out;
    for (const RawCoreNote& n : core.notes(NT_PRSTATUS)) {
        const size_t reg = n.desc + 112;
        out[static_cast<int>(core.u32(n.desc + 32))] = {core.u64(reg + 3 * 8), core.u64(reg + 34 * 8),
                                                        core.u64(reg + 40 * 8)};
    }
    return out;
}

// The shared checks of foreign_core.h run on it as on the qemu-user cores.
class Ppc64leKernelCore : public KernelCoreTest {
protected:
    void SetUp() override { load("ppc64-guest", "ppc64le", "powerpc64le-linux-gnu"); }
    uint32_t word_at(uint64_t addr) const {
        uint32_t w = 0;
        EXPECT_EQ(core_.process.read_code(addr, std::as_writable_bytes(std::span(&w, 1))), 4u) << std::hex << addr;
        return w;
    }
};

TEST_F(Ppc64leKernelCore, ModulesComeFromNtFile) {
    expect_nt_file_modules(process_, ArchId::ppc64le,
                           {"/usr/powerpc64le-linux-gnu/lib/libc.so.6", "/usr/powerpc64le-linux-gnu/lib/ld64.so.2"});
}

// The kernel's form: ppc64 restarts a system call only after get_signal()
// (do_signal() calls check_syscall_restart() after it, in
// arch/powerpc/kernel/signal.c), and the core is written inside
// get_signal(). So every parked thread has pc just after its `scv 0` (glibc
// 2.36 issues scv: POWER9's AT_HWCAP2 has SCV) with the call's -ERESTART*
// result still in r3 and the kernel's own marks: trap 0x3000 (scv) and the
// first argument in orig_gpr3. epoll_wait is not restarted: -EINTR. The
// spinner was stopped by the decrementer (trap 0x900), not in a call.
TEST_F(Ppc64leKernelCore, ParkedThreadsShowTheKernelsRestartForm) {
    const std::map<int, RawRegs> raw = raw_prstatus(recorded() + "/core.kernel");
    ASSERT_EQ(raw.size(), 9u);
    int restartable = 0;
    for (const ThreadState& t : process_.threads) {
        const std::string& role = roles_.at(t.tid);
        SCOPED_TRACE(role);
        const RawRegs& r = raw.at(t.tid);
        EXPECT_EQ(*t.regs.get(3), r.gpr3);
        const uint64_t pc = *t.regs.get(kPc);
        if (role == "spin") {
            EXPECT_EQ(r.trap, 0x900u);
            continue;
        }
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) == kParkedRoles.end()) continue;
        // The code comes from the NT_FILE files (the core has no text pages).
        EXPECT_EQ(word_at(pc - 4), kScv0);
        EXPECT_NE(word_at(pc), kScv0);
        EXPECT_NE(word_at(pc), kSc);
        EXPECT_EQ(r.trap, 0x3000u);
        // scv leaves its return address in LR (Power ISA 3.0, "System Call Vectored").
        EXPECT_EQ(*t.regs.get(65), pc);
        const auto result = static_cast<int64_t>(r.gpr3);
        if (role == "epoll") {
            EXPECT_EQ(result, kEintr);
        } else {
            EXPECT_TRUE(result == kErestartsys || result == kErestartnohand || result == kErestartRestartblock)
                << result;
            ++restartable;
        }
    }
    EXPECT_EQ(restartable, static_cast<int>(kParkedRoles.size()) - 1);
}

// The same verdicts as every other parked core: parked threads safe with the
// program's own chain (pc after the scv), spin, smash, deep unreliable.
TEST_F(Ppc64leKernelCore, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = core_.check("parked:spin_outer");
    // The kernel core names every thread by the process's comm: roles from the file.
    expect_untouched_verdicts(r, roles_, core_.expect, false, "__libc_start_main");
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
        safe += t.verdict == VerdictKind::safe;
    }
    EXPECT_EQ(safe, 6);
}

// The form the ppc64 kernel never writes: pc moved back onto the scv (as
// arm64's rewind would show it) is not a parked thread.
TEST_F(Ppc64leKernelCore, PcAtTheScvIsNotParked) {
    for (const std::string& role : kParkedRoles) {
        SCOPED_TRACE(role);
        ThreadState t = core_.thread_of(role);
        t.regs.set(kPc, *t.regs.get(kPc) - 4);
        const TaskVerdict v = check_thread(process_, t, core_.unrelated());
        EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
        EXPECT_TRUE(has_finding(v, Check::top, 0)) << dump(v);
    }
}

TEST_F(Ppc64leKernelCore, SpinnerIsUnreliableAtTheTop) {
    const TaskVerdict v = check_thread(process_, core_.thread_of("spin"), core_.unrelated());
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::top, 0)) << dump(v);
}

// smash_inner's forged return address: unreliable at the frame after it.
TEST_F(Ppc64leKernelCore, SmashedReturnAddressIsUnreliableAtItsFrame) {
    const TaskVerdict v = check_thread(process_, core_.thread_of("smash"), core_.unrelated());
    ASSERT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    const int smashed = index_of(v.frames, "smash_inner") + 1;
    ASSERT_GT(smashed, 0) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::return_after_call, smashed)) << dump(v);
}

TEST_F(Ppc64leKernelCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

TEST_F(Ppc64leKernelCore, CutStackIsUnreliable) { expect_cut_stack_unreliable(core_); }

// eu-stack reads the same core through its NT_FILE: the same pcs for the
// six safe threads.
TEST_F(Ppc64leKernelCore, FramesEqualEuStacks) { expect_frames_equal_eu_stack(core_, 6); }

// The kernel's /proc view of the same guest (every task, kthreads too),
// recorded while both copies of parked were parked (the core's copy and
// roles-proc.txt's).
class Ppc64leKernelProc : public KernelProcTest {
protected:
    Ppc64leKernelProc() : KernelProcTest("ppc64-guest") {}
};

// Every task not running ends at one of the ppc64le row's stack ends and is
// safe against an unrelated function; the ends seen are the ones
// ppc64le_kernel.cpp notes as "Seen:". Each listing's stale first word is
// dropped and __switch_to is frame 0.
TEST_F(Ppc64leKernelProc, EveryStackEndsAtAPpc64End) {
    const JudgedEnds seen = expect_known_ends(recorded() + "/capture", ArchId::ppc64le);
    EXPECT_EQ(seen.judged, 62);
    EXPECT_EQ(seen.running, 2);  // both spinners, preempted in user space
    EXPECT_EQ(seen.ends, (std::set<std::string>{"system_call_vectored_common", "ret_from_kernel_thread"}));
    for (const nlohmann::json& t : seen.check["tasks"]) {
        if (t["verdict"] == "running") continue;
        SCOPED_TRACE(t.dump(2));
        ASSERT_FALSE(t["frames"].empty());
        EXPECT_EQ(t["frames"].front()["function"], "__switch_to");
        const std::string path = recorded() + "/capture/" + std::to_string(int(t["pid"])) + "/task/" +
                                 std::to_string(int(t["tid"])) + "/stack";
        EXPECT_EQ(t["frames"].size() + 1, lines_of(read_file(path)).size());
    }
}

// The user-space entry of a parked thread, as the kernel lists it:
// system_call_exception (the C handler) is listed but is not the end; the
// interrupt_64.S entry that called it is.
TEST_F(Ppc64leKernelProc, SyscallChainEndsInTheScvEntry) {
    for (const std::vector<std::string>& names : nanosleep_listings(recorded() + "/capture")) {
        ASSERT_GE(names.size(), 4u);
        EXPECT_EQ(names[0], "__switch_to");
        EXPECT_EQ(names[1], "hrtimer_nanosleep");
        EXPECT_EQ(std::vector<std::string>(names.end() - 2, names.end()),
                  (std::vector<std::string>{"system_call_exception", "system_call_vectored_common"}));
    }
}

// The stale first word is real: on this kernel every listing starts with a
// word that is no return address of the task (mostly 0x0; data addresses;
// old return addresses such as try_to_wake_up+0x5a4 in a kworker), and
// __switch_to comes second.
TEST_F(Ppc64leKernelProc, EveryListingStartsWithAStaleWordThenTheSwitch) {
    int raw = 0, named = 0, total = 0;
    for (const auto& pid : std::filesystem::directory_iterator(recorded() + "/capture")) {
        if (!std::filesystem::exists(pid.path() / "task")) continue;
        for (const auto& task : std::filesystem::directory_iterator(pid.path() / "task")) {
            const auto lines = lines_of(read_file((task.path() / "stack").string()));
            ASSERT_GE(lines.size(), 3u) << task.path();
            ++total;
            (lines[0].find("+0x") == std::string::npos ? raw : named) += 1;
            EXPECT_EQ(lines[1].rfind("[<0>] __switch_to+", 0), 0u) << task.path();
        }
    }
    EXPECT_EQ(total, 64);
    EXPECT_GE(raw, 50);
    EXPECT_GE(named, 1);
}

// Without the stale word the listing does not start at the switch: the
// head is checked, not skipped blindly. And wchan is compared with the
// entry after __switch_to.
TEST_F(Ppc64leKernelProc, ListingWithoutTheSwitchFrameIsUnreliable) {
    const std::string dir = copy_capture("ppc64-no-head");
    int proc_pid = 0, nanosleep_tid = 0, pause_tid = 0;
    for (const auto& [tid, role] : read_roles(recorded() + "/roles-proc.txt")) {
        if (role == "main") proc_pid = tid;  // the process's pid is its main thread's tid
        if (role == "nanosleep") nanosleep_tid = tid;
        if (role == "pause") pause_tid = tid;
    }
    ASSERT_NE(proc_pid, 0);
    ASSERT_NE(nanosleep_tid, 0);
    ASSERT_NE(pause_tid, 0);
    const std::string task = dir + "/" + std::to_string(proc_pid) + "/task/";
    {
        auto lines = lines_of(read_file(task + std::to_string(nanosleep_tid) + "/stack"));
        lines.erase(lines.begin());
        std::ofstream out(task + std::to_string(nanosleep_tid) + "/stack");
        for (const auto& l : lines) out << l << "\n";
    }
    std::ofstream(task + std::to_string(pause_tid) + "/wchan") << "do_nanosleep";
    int status = 0;
    const nlohmann::json j = kernel_check_json(dir, "vmlinux:pipe_read", status);
    ASSERT_FALSE(j.empty());
    int checked = 0;
    for (const nlohmann::json& t : j["tasks"]) {
        if (t["tid"] != nanosleep_tid && t["tid"] != pause_tid) continue;
        SCOPED_TRACE(t.dump(2));
        EXPECT_EQ(t["verdict"], "unreliable");
        ASSERT_FALSE(t["failed_checks"].empty());
        EXPECT_EQ(t["failed_checks"][0]["check"], "top");
        const std::string detail = t["failed_checks"][0]["detail"];
        if (t["tid"] == nanosleep_tid) {
            EXPECT_EQ(t["failed_checks"][0]["frame"], 0);
            EXPECT_NE(detail.find("where the context switch __switch_to must be"), std::string::npos) << detail;
        } else {
            EXPECT_EQ(t["failed_checks"][0]["frame"], 1);
            EXPECT_NE(detail.find("wchan says do_nanosleep but the stack starts at sys_pause"), std::string::npos)
                << detail;
        }
        ++checked;
    }
    EXPECT_EQ(checked, 2);
}

// The tree recorded into a capture archive (on this x86_64 host) replays
// with the same verdicts: the archive keeps what says ppc64.
TEST_F(Ppc64leKernelProc, ArchiveReplaysTheTree) { expect_archive_replays(recorded() + "/capture", "ppc64.lpk", 64); }

// The architecture comes from the capture's symbols.
TEST_F(Ppc64leKernelProc, ArchitectureFromKallsyms) {
    EXPECT_EQ(capture_arch(recorded() + "/capture", ArchId::x86_64), ArchId::ppc64le);
    EXPECT_EQ(capture_arch(recorded() + "/capture", ArchId::aarch64), ArchId::ppc64le);
}

}  // namespace
}  // namespace lpsafe::e2e

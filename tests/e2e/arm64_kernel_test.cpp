// arm64 end to end on data written by a real arm64 kernel: Debian 12's own
// arm64 kernel booted under qemu-system-aarch64 (TCG) with parked.c in a
// busybox initramfs (fixtures/arm64-guest/make-arm64-fixtures.sh; the
// extracts are committed in fixtures/arm64-guest/recorded). The core was
// written by the kernel (SIGABRT): it has NT_FILE, naming the cross
// sysroot's libraries by their host paths, and arm64's rewound pc (AT the
// svc, arch/arm64/kernel/signal.c). The /proc capture is judged with the
// arm64 row's stack ends, found from its own kallsyms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>

#include <unistd.h>

#include "fixture_util.h"
#include "foreign_core.h"
#include "guest_kernel_image.h"
#include "kernel_guest.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPc = 32;           // lpsafe's DWARF slot for the aarch64 pc
constexpr uint32_t kSvc0 = 0xd4000001;  // svc #0

std::string recorded() { return guest_recorded("arm64-guest"); }

// The shared checks of foreign_core.h run on it as on the qemu-user cores.
class Arm64KernelCore : public KernelCoreTest {
protected:
    void SetUp() override { load("arm64-guest", "aarch64", "aarch64-linux-gnu"); }
};

TEST_F(Arm64KernelCore, ModulesComeFromNtFile) {
    expect_nt_file_modules(process_, ArchId::aarch64,
                           {"/usr/aarch64-linux-gnu/lib/libc.so.6", "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"});
}

// The kernel's forms, both in this one core. A thread parked in a
// restartable system call has pc AT its `svc #0`: do_signal() rewound it
// before get_signal() (arch/arm64/kernel/signal.c), and x0 holds orig_x0
// again. epoll_pwait is not restarted (it returns -EINTR, fs/eventpoll.c):
// pc stays after the svc and x0 is -EINTR, as in qemu-user's cores.
TEST_F(Arm64KernelCore, ParkedThreadsShowTheKernelsRestartForm) {
    int at_svc = 0;
    for (const ThreadState& t : process_.threads) {
        const std::string& role = roles_.at(t.tid);
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) == kParkedRoles.end()) continue;
        SCOPED_TRACE(role);
        // The core has no text pages: the code comes from the NT_FILE files.
        const uint64_t pc = *t.regs.get(kPc);
        uint32_t at = 0, before = 0;
        ASSERT_EQ(process_.read_code(pc, std::as_writable_bytes(std::span(&at, 1))), 4u);
        ASSERT_EQ(process_.read_code(pc - 4, std::as_writable_bytes(std::span(&before, 1))), 4u);
        const int64_t x0 = static_cast<int64_t>(*t.regs.get(0));
        if (role == "epoll") {
            EXPECT_EQ(before, kSvc0);
            EXPECT_EQ(x0, -4);  // -EINTR
        } else {
            EXPECT_EQ(at, kSvc0);
            EXPECT_NE(x0, -4);
            ++at_svc;
        }
    }
    EXPECT_EQ(at_svc, static_cast<int>(kParkedRoles.size()) - 1);
}

// The same verdicts as every other parked core: parked threads safe with the
// program's own chain (in either form), spin, smash, deep unreliable.
TEST_F(Arm64KernelCore, ParkedThreadsSafeOthersUnreliable) {
    const ProcessReport r = core_.check("parked:spin_outer");
    // The kernel core names every thread by the process's comm: roles from the file.
    expect_untouched_verdicts(r, roles_, core_.expect, false);
    for (const TaskVerdict& t : r.tasks) {
        const std::string& role = roles_.at(t.tid);
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) == kParkedRoles.end()) continue;
        SCOPED_TRACE(role);
        EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
        EXPECT_TRUE(t.findings.empty()) << dump(t);
        EXPECT_EQ(t.end.kind, StackEnd::Kind::outermost) << dump(t);
    }
}

TEST_F(Arm64KernelCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(core_); }

// The kernel's /proc view of the same guest (every task, kthreads too),
// recorded while both copies of parked were parked (the core's copy and
// roles-proc.txt's).
class Arm64KernelProc : public KernelProcTest {
protected:
    Arm64KernelProc() : KernelProcTest("arm64-guest") {}
};

// Every task not running ends at one of the arm64 row's stack ends and is
// safe against an unrelated function; the ends seen are the ones
// aarch64_kernel.cpp notes as "Seen:".
TEST_F(Arm64KernelProc, EveryStackEndsAtAnArm64End) {
    const JudgedEnds seen = expect_known_ends(recorded() + "/capture", ArchId::aarch64);
    EXPECT_GE(seen.judged, 50);
    EXPECT_EQ(seen.ends, (std::set<std::string>{"el0t_64_sync", "ret_from_fork"}));
}

// The user-space entry of a parked thread, as the kernel lists it: the C
// handlers (el0t_64_sync_handler, el0_svc, do_el0_svc) are listed but are
// not the end; the entry.S vector stub that called them is.
TEST_F(Arm64KernelProc, SyscallChainEndsInTheVectorStub) {
    for (const std::vector<std::string>& names : nanosleep_listings(recorded() + "/capture")) {
        ASSERT_GE(names.size(), 4u);
        EXPECT_EQ(names.front(), "hrtimer_nanosleep");
        EXPECT_EQ(std::vector<std::string>(names.end() - 4, names.end()),
                  (std::vector<std::string>{"do_el0_svc", "el0_svc", "el0t_64_sync_handler", "el0t_64_sync"}));
    }
}

// The tree recorded into a capture archive (on this x86_64 host) replays
// with the same verdicts: the archive keeps what says arm64.
TEST_F(Arm64KernelProc, ArchiveReplaysTheTree) { expect_archive_replays(recorded() + "/capture", "arm64.lpk", 62); }

// The architecture comes from the capture's symbols: with x86_64's ends the
// same capture would fail every user task at its bottom.
TEST_F(Arm64KernelProc, ArchitectureFromKallsyms) {
    EXPECT_EQ(capture_arch(recorded() + "/capture", ArchId::x86_64), ArchId::aarch64);
    auto none = Kallsyms::parse("ffff800008010000 T _stext\nffff8000080166bc T ret_from_fork\n");
    ASSERT_TRUE(none);
    EXPECT_EQ(kernel_arch_of(*none, ArchId::x86_64), ArchId::x86_64);  // ret_from_fork is every arch's
    EXPECT_EQ(kernel_arch_of(*none, ArchId::aarch64), ArchId::aarch64);
    auto x86 = Kallsyms::parse("ffffffff81000000 T _text\nffffffff82000090 T entry_SYSCALL_64_after_hwframe\n");
    ASSERT_TRUE(x86);
    EXPECT_EQ(kernel_arch_of(*x86, ArchId::aarch64), ArchId::x86_64);
}


// Return-after-call on the kernel's frames, with the code of Debian's own
// arm64 vmlinuz (a raw Image, which lpsafe wraps as an ELF:
// src/readers/kernel/raw_kernel_image.cpp). The committed excerpt
// (fixtures/make-image-excerpt.py) holds the bytes of every function the
// capture's stacks name, xz-compressed; elsewhere zeros.
class Arm64KernelImage : public Arm64KernelProc {
protected:
    static GuestImage excerpt() {
        return {recorded() + "/vmlinuz-excerpt.xz", "arm64 Image (xz stream)", "d34ebfe0b641cdfdc5460d84a5d1f9380050eb97"};
    }
    static constexpr int kJudged = 60;  // every task but the two running ones
};

// The same verdict for every task as without the image, but return-after-call
// now runs on the vmlinux frames (without the image it is skipped on every
// judged task).
TEST_F(Arm64KernelImage, ExcerptKeepsEveryVerdictAndRunsReturnAfterCall) {
    expect_image_keeps_verdicts(recorded() + "/capture", excerpt(), kJudged);
}

// A copy of the capture where one listed return address of rcu_gp (tid 3:
// rescuer_thread+0x38c, kthread+0xe0, ret_from_fork+0x10) no longer follows
// a call: moved 4 bytes on or back, or onto the second instruction of its
// function (the first, +0x0, is refused before: pc 0, "executable").
// Each is unreliable at that frame for return-after-call; without the image
// the check is skipped and the move goes unseen.
TEST_F(Arm64KernelImage, MovedReturnAddressIsUnreliableAtItsFrame) {
    for (const MovedReturn& m : {MovedReturn{"rescuer_thread+0x38c/", "rescuer_thread+0x390/", 0},
                                 MovedReturn{"kthread+0xe0/", "kthread+0xdc/", 1},
                                 MovedReturn{"kthread+0xe0/", "kthread+0x4/", 1}}) {
        expect_moved_return_caught(copy_capture("arm64-moved"), "/3/task/3/stack", 3, m, excerpt().path);
    }
}

// The excerpt's build-id is what the existing check compares: a capture
// whose running kernel says another id (one byte of the guest's
// /sys/kernel/notes changed) gets every judged task unreliable, naming it.
TEST_F(Arm64KernelImage, OtherRunningBuildIdMakesEveryVerdictUnreliable) {
    ASSERT_EQ(read_file(recorded() + "/capture/lpsafe-capture/sys-kernel-notes").size(), 96u);
    expect_other_build_id_caught(copy_capture("arm64-notes"), excerpt(), kJudged);
}

}  // namespace
}  // namespace lpsafe::e2e

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
// (make-image-excerpt.py) holds the bytes of every function the capture's
// stacks name, xz-compressed; elsewhere zeros.
class Arm64KernelImage : public Arm64KernelProc {
protected:
    static std::string excerpt() { return recorded() + "/vmlinuz-excerpt.xz"; }
    // `lpsafe check --kernel --json` on `capture` against vmlinux:pipe_read,
    // with the excerpt as --vmlinux or with no image at all.
    static nlohmann::json check(const std::string& capture, bool with_image) {
        const CommandResult r = run_command(lpsafe_bin() + " check --kernel --json --proc-root " + capture +
                                            (with_image ? " --vmlinux " + excerpt() : " --no-kernel-image") +
                                            " --func vmlinux:pipe_read");
        EXPECT_NE(r.exit_status, 3) << r.err;
        return r.exit_status == 3 ? nlohmann::json{} : nlohmann::json::parse(r.out);
    }
    static bool skips_return_after_call(const nlohmann::json& task) {
        if (!task.contains("skipped_checks")) return false;
        return std::any_of(task["skipped_checks"].begin(), task["skipped_checks"].end(),
                           [](const nlohmann::json& s) { return s["check"] == "return-after-call"; });
    }
};

// The same verdict for every task as without the image, but return-after-call
// now runs on the vmlinux frames (without the image it is skipped on every
// judged task).
TEST_F(Arm64KernelImage, ExcerptKeepsEveryVerdictAndRunsReturnAfterCall) {
    const nlohmann::json without = check(recorded() + "/capture", false);
    const nlohmann::json with = check(recorded() + "/capture", true);
    ASSERT_FALSE(without.empty());
    ASSERT_FALSE(with.empty());
    EXPECT_EQ(with["kernel"]["image_format"], "arm64 Image (xz stream)");
    EXPECT_EQ(with["kernel"]["image_missing"], "");
    // The running kernel's build-id (the capture's lpsafe-capture/
    // sys-kernel-notes, /sys/kernel/notes of the guest) is the excerpt's.
    EXPECT_EQ(with["kernel"]["build_id"], "d34ebfe0b641cdfdc5460d84a5d1f9380050eb97");
    EXPECT_EQ(with["kernel"]["image_mismatch"], "");
    std::map<int, std::string> before;
    int skipped_before = 0;
    for (const nlohmann::json& t : without["tasks"]) {
        before[t["tid"]] = t["verdict"];
        skipped_before += skips_return_after_call(t) ? 1 : 0;
    }
    EXPECT_EQ(skipped_before, 60);  // every task but the two running ones
    ASSERT_EQ(with["tasks"].size(), before.size());
    for (const nlohmann::json& t : with["tasks"]) {
        SCOPED_TRACE(int(t["tid"]));
        EXPECT_EQ(t["verdict"], before[t["tid"]]);
        EXPECT_FALSE(skips_return_after_call(t)) << t.dump(2);
    }
    EXPECT_EQ(with["summary"], without["summary"]);
}

// A copy of the capture where one listed return address of rcu_gp (tid 3:
// rescuer_thread+0x38c, kthread+0xe0, ret_from_fork+0x10) no longer follows
// a call: moved 4 bytes on or back, or onto the second instruction of its
// function (the first, +0x0, is refused before: pc 0, "executable").
// Each is unreliable at that frame for return-after-call; without the image
// the check is skipped and the move goes unseen.
TEST_F(Arm64KernelImage, MovedReturnAddressIsUnreliableAtItsFrame) {
    const std::string stack_file = "/3/task/3/stack";
    const std::string original = read_file(recorded() + "/capture" + stack_file);
    struct Move {
        const char* from;
        const char* to;
        int frame;
    };
    for (const Move& m : {Move{"rescuer_thread+0x38c/", "rescuer_thread+0x390/", 0},
                          Move{"kthread+0xe0/", "kthread+0xdc/", 1}, Move{"kthread+0xe0/", "kthread+0x4/", 1}}) {
        SCOPED_TRACE(m.to);
        const size_t at = original.find(m.from);
        ASSERT_NE(at, std::string::npos) << original;
        const std::filesystem::path copy = copy_capture("arm64-moved");
        std::string stack = original;
        stack.replace(at, std::string(m.from).size(), m.to);
        std::ofstream(copy.string() + stack_file, std::ios::trunc) << stack;
        const nlohmann::json with = check(copy.string(), true);
        const nlohmann::json without = check(copy.string(), false);
        std::filesystem::remove_all(copy);
        ASSERT_FALSE(with.empty());
        ASSERT_FALSE(without.empty());
        EXPECT_EQ(with["summary"]["unreliable"], 1) << with["summary"].dump();
        for (const nlohmann::json& t : with["tasks"]) {
            if (t["verdict"] != "unreliable") continue;
            EXPECT_EQ(t["tid"], 3);
            ASSERT_EQ(t["failed_checks"].size(), 1u) << t.dump();
            EXPECT_EQ(t["failed_checks"][0]["check"], "return-after-call") << t.dump();
            EXPECT_EQ(t["failed_checks"][0]["frame"], m.frame) << t.dump();
        }
        EXPECT_EQ(without["summary"]["unreliable"], 0) << without["summary"].dump();
    }
}

// The excerpt's build-id is what the existing check compares: a capture
// whose running kernel says another id (one byte of the guest's
// /sys/kernel/notes changed) gets every judged task unreliable, naming it.
TEST_F(Arm64KernelImage, OtherRunningBuildIdMakesEveryVerdictUnreliable) {
    const std::filesystem::path copy = copy_capture("arm64-notes");
    const std::string notes_file = copy.string() + "/lpsafe-capture/sys-kernel-notes";
    std::string notes = read_file(notes_file);
    ASSERT_EQ(notes.size(), 96u);
    notes[20] = static_cast<char>(notes[20] ^ 0xff);  // inside the 20-byte id at 16
    std::ofstream(notes_file, std::ios::trunc | std::ios::binary) << notes;
    const nlohmann::json with = check(copy.string(), true);
    std::filesystem::remove_all(copy);
    ASSERT_FALSE(with.empty());
    EXPECT_NE(std::string(with["kernel"]["image_mismatch"]).find("d34ebfe0b641cdfdc5460d84a5d1f9380050eb97"),
              std::string::npos)
        << with["kernel"].dump();
    EXPECT_EQ(with["summary"]["unreliable"], 60) << with["summary"].dump();
}

}  // namespace
}  // namespace lpsafe::e2e

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
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "fixture_util.h"
#include "foreign_core.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

constexpr unsigned kPc = 32;           // lpsafe's DWARF slot for the aarch64 pc
constexpr uint32_t kSvc0 = 0xd4000001;  // svc #0

std::string recorded() { return std::string(std::getenv("LPSAFE_SOURCE_FIXTURES")) + "/arm64-guest/recorded"; }

// The shared checks of foreign_core.h run on it as on the qemu-user cores;
// it is read here, not by ForeignCore::load() (a kernel core, no sysroot).
class Arm64KernelCore : public testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
        if (!std::filesystem::exists("/usr/aarch64-linux-gnu/lib/libc.so.6"))
            GTEST_SKIP() << "libc6-arm64-cross is not installed (the core's NT_FILE names its files)";
        // No sysroot: the core's NT_FILE names the files.
        auto p = readers::read_core(recorded() + "/core.kernel", {recorded() + "/parked", ""});
        ASSERT_TRUE(p) << p.error().message;
        core_.arch = "aarch64";
        core_.variant = "kernel";
        core_.process = std::move(*p);
        core_.roles = read_roles(recorded() + "/roles-core.txt");
        core_.expect = read_expectations(std::string(std::getenv("LPSAFE_SOURCE_FIXTURES")) + "/programs/parked.expect");
    }
    ForeignCore core_;
    const ProcessImage& process_ = core_.process;
    const std::map<int, std::string>& roles_ = core_.roles;
};

TEST_F(Arm64KernelCore, ModulesComeFromNtFile) {
    EXPECT_EQ(process_.arch, ArchId::aarch64);
    EXPECT_EQ(process_.threads.size(), 9u);
    std::set<std::string> paths;
    for (const Module& m : process_.modules.modules()) {
        paths.insert(m.path);
        EXPECT_TRUE(m.status.usable()) << m.path << ": " << m.status.detail;
    }
    EXPECT_TRUE(paths.count("/usr/aarch64-linux-gnu/lib/libc.so.6")) << testing::PrintToString(paths);
    EXPECT_TRUE(paths.count("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")) << testing::PrintToString(paths);
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
class Arm64KernelProc : public testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
    }
    nlohmann::json check_json(const std::string& func, int& status, const std::string& root = recorded() + "/capture") {
        const CommandResult r =
            run_command(lpsafe_bin() + " check --kernel --no-kernel-image --json --proc-root " + root + " --func " + func);
        status = r.exit_status;
        EXPECT_NE(r.exit_status, 3) << r.err;
        return r.exit_status == 3 ? nlohmann::json{} : nlohmann::json::parse(r.out);
    }
};

// Every task not running ends at one of the arm64 row's stack ends and is
// safe against an unrelated function; the ends seen are the ones
// aarch64_kernel.cpp notes as "Seen:".
TEST_F(Arm64KernelProc, EveryStackEndsAtAnArm64End) {
    int status = 0;
    const nlohmann::json j = check_json("vmlinux:pipe_read", status);
    ASSERT_FALSE(j.empty());
    std::set<std::string> ends;
    const auto arm64_ends = arch_of(ArchId::aarch64).kernel_stack_ends();
    int judged = 0;
    for (const nlohmann::json& t : j["tasks"]) {
        const int tid = t["tid"];
        SCOPED_TRACE(tid);
        if (t["verdict"] == "running") {
            EXPECT_EQ(t["state"], "R");
            continue;
        }
        ++judged;
        ASSERT_FALSE(t["frames"].empty()) << t.dump(2);
        const std::string last = t["frames"].back()["function"];
        ends.insert(last);
        EXPECT_TRUE(std::any_of(arm64_ends.begin(), arm64_ends.end(),
                                [&](const KernelStackEnd& e) { return e.function == last; }))
            << last;
        EXPECT_EQ(t["end"], "kernel stack end " + last) << t.dump(2);
        // Both copies of parked were parked then; parked names its threads by role.
        const bool reader = t["comm"] == "piperead";
        EXPECT_EQ(t["verdict"], reader ? "blocked" : "safe") << t.dump(2);
    }
    EXPECT_GE(judged, 50);
    EXPECT_EQ(ends, (std::set<std::string>{"el0t_64_sync", "ret_from_fork"}));
}

// The user-space entry of a parked thread, as the kernel lists it: the C
// handlers (el0t_64_sync_handler, el0_svc, do_el0_svc) are listed but are
// not the end; the entry.S vector stub that called them is.
TEST_F(Arm64KernelProc, SyscallChainEndsInTheVectorStub) {
    int status = 0;
    const nlohmann::json j = check_json("vmlinux:hrtimer_nanosleep", status);
    ASSERT_FALSE(j.empty());
    int seen = 0;
    for (const nlohmann::json& t : j["tasks"]) {
        if (t["comm"] != "nanosleep") continue;
        std::vector<std::string> names;
        for (const nlohmann::json& f : t["frames"]) names.push_back(f["function"]);
        ASSERT_GE(names.size(), 4u);
        EXPECT_EQ(names.front(), "hrtimer_nanosleep");
        EXPECT_EQ(std::vector<std::string>(names.end() - 4, names.end()),
                  (std::vector<std::string>{"do_el0_svc", "el0_svc", "el0t_64_sync_handler", "el0t_64_sync"}));
        EXPECT_EQ(t["verdict"], "blocked");
        ++seen;
    }
    EXPECT_EQ(seen, 2);  // both copies of parked
}

// The tree recorded into a capture archive (on this x86_64 host) replays
// with the same verdicts: the archive keeps what says arm64.
TEST_F(Arm64KernelProc, ArchiveReplaysTheTree) {
    const std::string archive = testing::TempDir() + "arm64.lpk";
    const CommandResult rec =
        run_command(lpsafe_bin() + " record --kernel --proc-root " + recorded() + "/capture -o " + archive);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    int tree_status = 0, archive_status = 0;
    nlohmann::json tree = check_json("vmlinux:pipe_read", tree_status);
    nlohmann::json replay = check_json("vmlinux:pipe_read", archive_status, archive);
    EXPECT_EQ(archive_status, tree_status);
    const auto by_tid = [](const nlohmann::json& a, const nlohmann::json& b) { return a["tid"] < b["tid"]; };
    std::vector<nlohmann::json> a(tree["tasks"].begin(), tree["tasks"].end());
    std::vector<nlohmann::json> b(replay["tasks"].begin(), replay["tasks"].end());
    std::sort(a.begin(), a.end(), by_tid);
    std::sort(b.begin(), b.end(), by_tid);
    EXPECT_EQ(a.size(), 62u);
    EXPECT_EQ(a, b);
    EXPECT_EQ(replay["summary"]["unreliable"], 0);
}

// The architecture comes from the capture's symbols: with x86_64's ends the
// same capture would fail every user task at its bottom.
TEST_F(Arm64KernelProc, ArchitectureFromKallsyms) {
    std::string text = read_file(recorded() + "/capture/kallsyms");
    auto k = Kallsyms::parse(text);
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ(kernel_arch_of(*k, ArchId::x86_64), ArchId::aarch64);
    auto none = Kallsyms::parse("ffff800008010000 T _stext\nffff8000080166bc T ret_from_fork\n");
    ASSERT_TRUE(none);
    EXPECT_EQ(kernel_arch_of(*none, ArchId::x86_64), ArchId::x86_64);  // ret_from_fork is every arch's
    EXPECT_EQ(kernel_arch_of(*none, ArchId::aarch64), ArchId::aarch64);
    auto x86 = Kallsyms::parse("ffffffff81000000 T _text\nffffffff82000090 T entry_SYSCALL_64_after_hwframe\n");
    ASSERT_TRUE(x86);
    EXPECT_EQ(kernel_arch_of(*x86, ArchId::aarch64), ArchId::x86_64);
}

}  // namespace
}  // namespace lpsafe::e2e

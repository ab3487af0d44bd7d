// The pieces of the live capture on real processes: /proc parsers against
// this process's own /proc files, the x86_64 register set as ptrace returns
// it, and LiveMemory's rule (copies first, live reads of non-writable
// mappings only, nothing once the process has exited).
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "lpsafe/arch.h"
#include "readers/ptrace/live_memory.h"
#include "readers/modules/proc_files.h"
#include "readers/ptrace/ptrace_thread.h"

namespace lpsafe::readers {
namespace {

int g_writable = 42;

__attribute__((noinline)) int code_marker(int x) { return x * 3 + 1; }

const Mapping* holding(const std::vector<Mapping>& maps, uint64_t addr) {
    for (const Mapping& m : maps) {
        if (m.contains(addr)) return &m;
    }
    return nullptr;
}

TEST(ProcFiles, OwnMapShowsCodeStackAndFiles) {
    auto text = read_proc_file("/proc/self/maps");
    ASSERT_TRUE(text.ok()) << text.error().message;
    auto maps = parse_maps(*text);
    ASSERT_TRUE(maps.ok()) << maps.error().message;
    const Mapping* code = holding(*maps, reinterpret_cast<uint64_t>(&code_marker));
    ASSERT_NE(code, nullptr);
    EXPECT_TRUE(code->executable && code->readable && !code->writable);
    EXPECT_EQ(code->path, std::filesystem::canonical("/proc/self/exe").string());
    int local = 0;
    const Mapping* stack = holding(*maps, reinterpret_cast<uint64_t>(&local));
    ASSERT_NE(stack, nullptr);
    EXPECT_TRUE(stack->writable);
    EXPECT_EQ(stack->path, "");  // "[stack]" is not a file
    EXPECT_TRUE(std::is_sorted(maps->begin(), maps->end(),
                               [](const Mapping& a, const Mapping& b) { return a.start < b.start; }));
}

TEST(ProcFiles, MapsLinesWithSpacesAndBadLines) {
    auto ok = parse_maps("7f0000000000-7f0000001000 r--p 00002000 08:01 1234   /tmp/a b (deleted)\n");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    ASSERT_EQ(ok->size(), 1u);
    EXPECT_EQ((*ok)[0].path, "/tmp/a b (deleted)");
    EXPECT_EQ((*ok)[0].file_offset, 0x2000u);
    EXPECT_FALSE(parse_maps("garbage\n").ok());
    EXPECT_FALSE(parse_maps("2000-1000 r-xp 0 00:00 0\n").ok());
    EXPECT_FALSE(parse_maps("1000-3000 r-xp 0 00:00 0\n2000-4000 r-xp 0 00:00 0\n").ok());
}

TEST(ProcFiles, OwnTaskAndAuxv) {
    auto tasks = list_tasks(getpid());
    ASSERT_TRUE(tasks.ok());
    EXPECT_NE(std::find(tasks->begin(), tasks->end(), static_cast<int>(gettid())), tasks->end());
    auto info = read_task_info(getpid(), gettid());
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->state, 'R');  // it is reading its own stat
    EXPECT_EQ(info->tracer_pid, 0);
    EXPECT_FALSE(is_kernel_thread(*info));
    auto auxv = read_auxv(getpid());
    ASSERT_TRUE(auxv.ok());
    const auto pagesz = std::find_if(auxv->begin(), auxv->end(), [](const auto& e) { return e.first == AT_PAGESZ; });
    ASSERT_NE(pagesz, auxv->end());
    EXPECT_EQ(pagesz->second, getauxval(AT_PAGESZ));
    EXPECT_FALSE(list_tasks(2147483646).ok());
}

TEST(LiveRegs, UserRegsMustHaveTheKernelSize) {
    const Arch& arch = arch_of(ArchId::x86_64);
    std::vector<uint64_t> words(arch.user_regs_size / 8);
    words[16] = 0x401000;  // rip
    words[19] = 0x7ffd000;  // rsp
    words[15] = 202;  // orig_rax
    auto regs = arch.parse_user_regs(std::as_bytes(std::span(words)));
    ASSERT_TRUE(regs.ok()) << regs.error().message;
    EXPECT_EQ(regs->get(arch.pc_reg), 0x401000u);
    EXPECT_EQ(regs->get(arch.sp_reg), 0x7ffd000u);
    EXPECT_EQ(regs->syscall_nr, 202);
    EXPECT_FALSE(arch.parse_user_regs(std::as_bytes(std::span(words)).first(68)).ok());  // 32-bit layout
}

TEST(LiveThread, MissingThreadIsGone) {
    CaptureScratch scratch(4096);
    const ThreadCapture c =
        capture_thread(getpid(), 2147483646, TaskInfo{}, arch_of(ArchId::x86_64), {}, CaptureLimits{}, scratch);
    EXPECT_EQ(c.thread.status, CaptureStatus::gone);
    EXPECT_FALSE(c.left_seized);
}

TEST(LiveMemoryRules, CopiesFirstLiveCodeOnlyNothingAfterExit) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        g_writable = 7;  // the child's own value, never read live
        for (;;) pause();
    }
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
    ASSERT_GE(pidfd, 0);
    auto maps = parse_maps(*read_proc_file("/proc/" + std::to_string(child) + "/maps"));
    ASSERT_TRUE(maps.ok());
    const uint64_t stack_addr = 0x10000;
    std::vector<std::byte> copy(64, std::byte{0xab});
    LiveMemory memory(child, pidfd, *maps, {StackCopy{stack_addr, copy}});

    std::byte code[16], ours[16];
    std::memcpy(ours, reinterpret_cast<const void*>(&code_marker), sizeof ours);
    ASSERT_EQ(memory.read(reinterpret_cast<uint64_t>(&code_marker), code), sizeof code);
    EXPECT_EQ(std::memcmp(code, ours, sizeof code), 0);  // fork: same code, same place
    std::byte data[4];
    EXPECT_EQ(memory.read(reinterpret_cast<uint64_t>(&g_writable), data), 0u);  // writable: never live
    std::byte stack[80];
    EXPECT_EQ(memory.read(stack_addr, stack), 64u);  // the copy, and nothing after it
    EXPECT_EQ(stack[63], std::byte{0xab});

    kill(child, SIGKILL);
    siginfo_t info{};
    waitid(P_PID, child, &info, WEXITED | WNOWAIT);  // exited (zombie): the pid cannot be reused yet
    EXPECT_FALSE(pidfd_alive(pidfd));
    EXPECT_EQ(memory.read(reinterpret_cast<uint64_t>(&code_marker), code), 0u);
    EXPECT_EQ(memory.read(stack_addr, stack), 64u);  // copies outlive the process
    waitpid(child, nullptr, 0);
}

}  // namespace
}  // namespace lpsafe::readers

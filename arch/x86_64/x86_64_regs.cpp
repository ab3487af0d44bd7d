#include "x86_64_regs.h"

#include <array>
#include <cstring>

namespace lpsafe::x86_64 {
namespace {

// Offsets in struct elf_prstatus on x86_64: elf_siginfo (12) + pr_cursig (2)
// + padding (2) + pr_sigpend (8) + pr_sighold (8), then pr_pid.
constexpr size_t kPrPidOffset = 32;
// ... pr_ppid, pr_pgrp, pr_sid (12) and four struct timeval (64) later.
constexpr size_t kPrRegOffset = 112;
constexpr size_t kPrStatusSize = 336;

// Word indexes in user_regs_struct.
enum UserReg : size_t {
    u_r15, u_r14, u_r13, u_r12, u_rbp, u_rbx, u_r11, u_r10, u_r9, u_r8, u_rax, u_rcx, u_rdx,
    u_rsi, u_rdi, u_orig_rax, u_rip, u_cs, u_eflags, u_rsp, u_ss, u_fs_base,
};

}  // namespace

Regs regs_from_user_regs(std::span<const uint64_t, kUserRegsWords> w) {
    Regs regs(ArchId::x86_64);
    const std::pair<unsigned, size_t> map[] = {
        {rax, u_rax}, {rdx, u_rdx}, {rcx, u_rcx}, {rbx, u_rbx}, {rsi, u_rsi}, {rdi, u_rdi},
        {rbp, u_rbp}, {rsp, u_rsp}, {r8, u_r8}, {r9, u_r9}, {r10, u_r10}, {r11, u_r11},
        {r12, u_r12}, {r13, u_r13}, {r14, u_r14}, {r15, u_r15}, {rip, u_rip},
    };
    for (auto [dwarf, user] : map) regs.set(dwarf, w[user]);
    regs.syscall_nr = static_cast<int64_t>(w[u_orig_rax]);
    regs.thread_pointer = w[u_fs_base];
    return regs;
}

// TLS variant II (the TCB at the thread pointer): fs_base points at glibc's
// struct pthread itself, whose first word points to itself (tcbhead_t.tcb).
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t /*sizeof_pthread*/) { return thread_pointer; }

Result<Regs> parse_user_regs(std::span<const std::byte> regset) {
    std::array<uint64_t, kUserRegsWords> words{};
    if (regset.size() != sizeof words) {
        return make_error("register set is " + std::to_string(regset.size()) + " bytes, expected " +
                          std::to_string(sizeof words) + " (user_regs_struct) for x86_64");
    }
    std::memcpy(words.data(), regset.data(), sizeof words);
    return regs_from_user_regs(words);
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    if (note.size() < kPrStatusSize) {
        return make_error("NT_PRSTATUS note is " + std::to_string(note.size()) + " bytes, expected " +
                          std::to_string(kPrStatusSize) + " for x86_64");
    }
    ThreadState thread;
    int32_t pid = 0;
    std::memcpy(&pid, note.data() + kPrPidOffset, sizeof pid);
    thread.tid = pid;
    auto regs = parse_user_regs(note.subspan(kPrRegOffset, kUserRegsWords * sizeof(uint64_t)));
    if (!regs) return regs.error();
    thread.regs = std::move(*regs);
    return thread;
}

}  // namespace lpsafe::x86_64

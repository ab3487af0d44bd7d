#include "x86_64_regs.h"

#include <array>
#include <cstring>

#include "../common/arch_common.h"

namespace lpsafe::x86_64 {
namespace {

// struct elf_prstatus on x86_64 (arch_common.h has the shared offsets).
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
    if (auto copied = arch_common::copy_regset(regset, words, "user_regs_struct for x86_64"); !copied) return copied.error();
    return regs_from_user_regs(words);
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    return arch_common::parse_prstatus(note, kPrStatusSize, kUserRegsWords * sizeof(uint64_t), "x86_64", parse_user_regs);
}

}  // namespace lpsafe::x86_64

// x86_64 registers in DWARF numbering (System V psABI, figure 3.36) and the
// kernel's user_regs_struct layout used by NT_PRSTATUS and PTRACE_GETREGS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::x86_64 {

enum DwarfReg : unsigned {
    rax = 0, rdx = 1, rcx = 2, rbx = 3, rsi = 4, rdi = 5, rbp = 6, rsp = 7,
    r8 = 8, r9, r10, r11, r12, r13, r14, r15,
    rip = 16,  // the return-address column
};

// struct user_regs_struct (arch/x86/include/asm/user_64.h), 27 u64 words.
inline constexpr size_t kUserRegsWords = 27;

// Regs from a user_regs_struct image (shared by core notes and ptrace).
Regs regs_from_user_regs(std::span<const uint64_t, kUserRegsWords> words);
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread);

// A user_regs_struct as bytes (PTRACE_GETREGSET NT_PRSTATUS); fails unless
// exactly the kernel's size.
Result<Regs> parse_user_regs(std::span<const std::byte> regset);

// NT_PRSTATUS: struct elf_prstatus (include/uapi/linux/elfcore.h).
Result<ThreadState> parse_prstatus(std::span<const std::byte> note);

}  // namespace lpsafe::x86_64

// aarch64 registers in DWARF numbering ("DWARF for the Arm 64-bit
// Architecture", AADWARF64 4.1: x0-x30 are 0-30, sp is 31) and the kernel's
// struct user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h), which both
// NT_PRSTATUS and PTRACE_GETREGSET NT_PRSTATUS carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::aarch64 {

enum DwarfReg : unsigned {
    x0 = 0, x8 = 8, x29 = 29, x30 = 30,  // x29: frame pointer, x30: link register (the CFI's return-address column)
    sp = 31,
    // AADWARF64 leaves 32 without a DWARF meaning for the pc (it is never a
    // CFI column), so lpsafe keeps the thread's pc there.
    pc = 32,
};

// struct user_pt_regs: regs[31], sp, pc, pstate.
inline constexpr size_t kUserRegsWords = 34;

Result<Regs> parse_user_regs(std::span<const std::byte> regset);

// TLS variant I (glibc sysdeps/aarch64/nptl/tls.h: THREAD_SELF is
// `(struct pthread *)__builtin_thread_pointer () - 1`): the descriptor lies
// just below the thread pointer (tpidr_el0).
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread);

// NT_PRSTATUS: struct elf_prstatus (include/uapi/linux/elfcore.h) with
// aarch64's elf_gregset_t = user_pt_regs.
Result<ThreadState> parse_prstatus(std::span<const std::byte> note);

}  // namespace lpsafe::aarch64

// ppc64le registers in DWARF numbering (64-bit ELF V2 ABI, "DWARF Register
// Number Mapping": r0-r31 are 0-31, LR 65, CTR 66; elfutils' ppc backend
// uses the same) and the kernel's struct pt_regs
// (arch/powerpc/include/uapi/asm/ptrace.h), which NT_PRSTATUS and
// PTRACE_GETREGSET NT_PRSTATUS carry as elf_gregset_t.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::ppc64le {

enum DwarfReg : unsigned {
    r0 = 0,
    r1 = 1,    // the stack pointer; [r1] is the back chain (ELFv2 2.2.2.1)
    r2 = 2,    // TOC pointer
    r12 = 12,  // global entry address at a function's global entry
    r31 = 31,
    lr = 65,   // the CFI's return-address column
    ctr = 66,
    // 67 has no DWARF meaning in the ELFv2 mapping (never a CFI column), so
    // lpsafe keeps the thread's pc (nip) there.
    pc = 67,
};

// elf_gregset_t: ELF_NGREG = 48 words, of which pt_regs fills 44:
// gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe, trap, dar,
// dsisr, result.
inline constexpr size_t kUserRegsWords = 48;
inline constexpr size_t kNip = 32, kOrigGpr3 = 34, kCtr = 35, kLink = 36, kTrap = 40;

Result<Regs> parse_user_regs(std::span<const std::byte> regset);
Result<ThreadState> parse_prstatus(std::span<const std::byte> note);

// TLS variant I with the thread pointer r13 biased by 0x7000 (glibc
// sysdeps/powerpc/nptl/tls.h: THREAD_SELF is r13 - TLS_TCB_OFFSET -
// TLS_PRE_TCB_SIZE, the latter sizeof(struct pthread) plus tcbhead_t
// rounded up to struct pthread's alignment).
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread);

}  // namespace lpsafe::ppc64le

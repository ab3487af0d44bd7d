// s390x registers in DWARF numbering (s390x ELF ABI Supplement, "DWARF
// Register Number Mapping": r0-r15 are 0-15, f0-f15 16-31 in the order
// f0 f2 f4 f6 f1 f3 f5 f7 f8 f10 f12 f14 f9 f11 f13 f15, cr0-cr15 32-47,
// a0-a15 48-63, the PSW mask 64 and the PSW address 65; elfutils' s390
// backend agrees) and the kernel's s390_regs
// (arch/s390/include/uapi/asm/ptrace.h), which NT_PRSTATUS and
// PTRACE_GETREGSET NT_PRSTATUS carry as elf_gregset_t (big-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::s390x {

enum DwarfReg : unsigned {
    r0 = 0,
    r1 = 1,    // the system call number when it does not fit svc's immediate
    r2 = 2,    // first argument and return value
    r11 = 11,  // GCC's hard frame pointer, when a function needs one
    r14 = 14,  // the return address register; the CFI's return column
    r15 = 15,  // the stack pointer
    f0 = 16,   // where GCC parks callee-saved GPRs of leaf functions (ldgr)
    f15 = 31,
    a0 = 48,
    a1 = 49,
    pswa = 65,  // the PSW address: the pc
};

// The CFA is the caller's r15 + 160 (ABI "Stack Frame": the 160-byte
// register save area every caller allocates for its callee).
inline constexpr uint64_t kRegisterSaveArea = 160;

// s390_regs: psw {mask, addr}, gprs[16], acrs[16] (32-bit), orig_gpr2:
// 27 doublewords.
inline constexpr size_t kUserRegsBytes = 216;

Result<Regs> parse_user_regs(std::span<const std::byte> regset);
Result<ThreadState> parse_prstatus(std::span<const std::byte> note);

// struct s390_fp_regs (arch/s390/include/uapi/asm/ptrace.h): __u32 fpc,
// __u32 pad, freg_t fprs[16] in f0..f15 order, big-endian: what the kernel
// writes as each thread's "CORE" NT_PRFPREG note (s390_fpregs_get in
// arch/s390/kernel/ptrace.c; with the vector facility, the high halves of
// v0-v15). Sets f0-f15 in `regs` under their DWARF numbers (fpr_dwarf).
inline constexpr size_t kFpRegsBytes = 136;
Status add_fp_regs(std::span<const std::byte> note, Regs& regs);
// The DWARF number of f<n> (the ABI's even-then-odd order: f0 16, f2 17,
// ..., f1 20, ..., f15 31).
unsigned fpr_dwarf(unsigned n);

// TLS variant II: the thread pointer (a0:a1) points at struct pthread
// itself (glibc sysdeps/s390/nptl/tls.h, TLS_TCB_AT_TP; THREAD_SELF is
// the thread pointer).
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread);

}  // namespace lpsafe::s390x

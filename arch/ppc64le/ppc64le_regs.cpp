#include "ppc64le_regs.h"

#include <array>

#include "../common/arch_common.h"

namespace lpsafe::ppc64le {
namespace {

// struct elf_prstatus with ppc64's pr_reg: 112 + 384 + pr_fpvalid and
// padding (8) = 504 bytes, the size both the kernel and qemu-user write.
constexpr size_t kPrStatusSize = 504;

}  // namespace

Result<Regs> parse_user_regs(std::span<const std::byte> regset) {
    std::array<uint64_t, kUserRegsWords> w{};
    if (auto copied = arch_common::copy_regset(regset, w, "elf_gregset_t for ppc64"); !copied) return copied.error();
    Regs regs(ArchId::ppc64le);
    for (unsigned r = r0; r <= r31; ++r) regs.set(r, w[r]);
    regs.set(pc, w[kNip]);
    regs.set(lr, w[kLink]);
    regs.set(ctr, w[kCtr]);
    // trap 0xc00 with orig_gpr3 is how the kernel marks "in a system call"
    // (arch/powerpc/include/asm/ptrace.h, TRAP_IS_SYSCALL / syscall_get_nr
    // reads r0), but qemu-user leaves trap and orig_gpr3 at 0: as on
    // aarch64, the instruction before pc is the evidence (ppc64le_code.cpp).
    regs.syscall_nr = std::nullopt;
    // ELFv2 3.7.1: r13 is the thread pointer.
    regs.thread_pointer = w[13];
    return regs;
}

// glibc 2.36's tcbhead_t is 13 doublewords (hwcap, at_platform, the DSO,
// tar, split-stack and EBB reservations, pointer and stack guards, dtv:
// 104 bytes; GCC's -mstack-protector-guard-offset=-0x7010 and glibc's own
// `ld r9,-0x7068(r13)` for hwcap agree), rounded up to struct pthread's
// 64-byte alignment (TCB_ALIGNMENT, nptl/descr.h): 128.
uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread) {
    constexpr uint64_t kTlsTcbOffset = 0x7000, kTcbHeadRounded = 128;
    return thread_pointer - kTlsTcbOffset - kTcbHeadRounded - sizeof_pthread;
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    return arch_common::parse_prstatus(note, kPrStatusSize, kUserRegsWords * sizeof(uint64_t), "ppc64le", parse_user_regs);
}

}  // namespace lpsafe::ppc64le

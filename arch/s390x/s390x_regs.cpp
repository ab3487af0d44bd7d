#include "s390x_regs.h"

#include <cstring>

#include "../common/arch_common.h"

namespace lpsafe::s390x {
namespace {

// struct elf_prstatus with s390x's pr_reg: 112 + 216 + pr_fpvalid and
// padding (8) = 336 bytes, the size both the kernel and qemu-user write.
constexpr size_t kPrStatusSize = 336;

uint64_t be64(std::span<const std::byte> b, size_t at) {
    uint64_t v = 0;
    std::memcpy(&v, b.data() + at, sizeof v);
    return __builtin_bswap64(v);
}
uint32_t be32(std::span<const std::byte> b, size_t at) {
    uint32_t v = 0;
    std::memcpy(&v, b.data() + at, sizeof v);
    return __builtin_bswap32(v);
}

}  // namespace

Result<Regs> parse_user_regs(std::span<const std::byte> regset) {
    if (regset.size() != kUserRegsBytes) {
        return make_error("register set is " + std::to_string(regset.size()) + " bytes, expected " +
                          std::to_string(kUserRegsBytes) + " (s390_regs for s390x)");
    }
    Regs regs(ArchId::s390x);
    regs.set(pswa, be64(regset, 8));
    for (unsigned r = r0; r <= r15; ++r) regs.set(r, be64(regset, 16 + 8 * r));
    // The kernel's pt_regs knows the system call (int_code, PIF_SYSCALL), but
    // s390_regs does not carry it; orig_gpr2 is the first argument (0 in
    // qemu-user's cores). As elsewhere, the instruction before the pc is the
    // evidence (s390x_code.cpp).
    regs.syscall_nr = std::nullopt;
    // Access registers a0 (high) and a1 (low) hold the thread pointer.
    const uint32_t acr0 = be32(regset, 144), acr1 = be32(regset, 148);
    regs.thread_pointer = uint64_t{acr0} << 32 | acr1;
    return regs;
}

unsigned fpr_dwarf(unsigned n) {
    // f0 f2 f4 f6 f1 f3 f5 f7 | f8 f10 f12 f14 f9 f11 f13 f15: within each
    // half of eight, the even registers first (the ABI supplement's
    // "DWARF Register Number Mapping"; GCC's s390.h and elfutils'
    // backends/s390_regs.c agree).
    const unsigned half = n & 8, in_half = n & 7;
    return f0 + half + (in_half & 1 ? 4 + in_half / 2 : in_half / 2);
}

Status add_fp_regs(std::span<const std::byte> note, Regs& regs) {
    if (note.size() != kFpRegsBytes) {
        return make_error("NT_PRFPREG note is " + std::to_string(note.size()) + " bytes, expected " +
                          std::to_string(kFpRegsBytes) + " (s390_fp_regs for s390x)");
    }
    // An FP register holds whatever 64 bits ldgr put there: its bit pattern
    // is the saved GPR's value.
    for (unsigned n = 0; n < 16; ++n) regs.set(fpr_dwarf(n), be64(note, 8 + 8 * n));
    return Ok{};
}

uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t) { return thread_pointer; }

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    if (note.size() < kPrStatusSize) {
        return make_error("NT_PRSTATUS note is " + std::to_string(note.size()) + " bytes, expected " +
                          std::to_string(kPrStatusSize) + " for s390x");
    }
    ThreadState thread;
    thread.tid = static_cast<int32_t>(be32(note, arch_common::kPrPidOffset));
    auto regs = parse_user_regs(note.subspan(arch_common::kPrRegOffset, kUserRegsBytes));
    if (!regs) return regs.error();
    thread.regs = std::move(*regs);
    return thread;
}

}  // namespace lpsafe::s390x

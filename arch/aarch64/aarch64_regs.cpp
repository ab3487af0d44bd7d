#include "aarch64_regs.h"

#include <array>
#include <cstring>

#include "../common/arch_common.h"

namespace lpsafe::aarch64 {
namespace {

// struct elf_prstatus with aarch64's pr_reg: 112 + 272 + pr_fpvalid and
// padding (8) = 392 bytes, the size both the kernel and qemu-user write.
constexpr size_t kPrStatusSize = 392;

constexpr size_t kUserSp = 31, kUserPc = 32;

}  // namespace

Result<Regs> parse_user_regs(std::span<const std::byte> regset) {
    std::array<uint64_t, kUserRegsWords> w{};
    if (auto copied = arch_common::copy_regset(regset, w, "user_pt_regs for aarch64"); !copied) return copied.error();
    Regs regs(ArchId::aarch64);
    for (unsigned r = x0; r <= x30; ++r) regs.set(r, w[r]);
    regs.set(sp, w[kUserSp]);
    regs.set(pc, w[kUserPc]);
    // user_pt_regs has no orig_x0 and no syscall number: the kernel keeps
    // them in struct pt_regs only. Whether the thread is inside a system
    // call is then decided by the instruction at pc (aarch64_code.cpp).
    regs.syscall_nr = std::nullopt;
    return regs;
}

uint64_t glibc_thread_descriptor(uint64_t thread_pointer, uint64_t sizeof_pthread) {
    return thread_pointer - sizeof_pthread;
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    return arch_common::parse_prstatus(note, kPrStatusSize, kUserRegsWords * sizeof(uint64_t), "aarch64", parse_user_regs);
}

}  // namespace lpsafe::aarch64

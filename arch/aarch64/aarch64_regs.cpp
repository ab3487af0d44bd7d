#include "aarch64_regs.h"

#include <array>
#include <cstring>

namespace lpsafe::aarch64 {
namespace {

// struct elf_prstatus on a 64-bit kernel: elf_siginfo (12) + pr_cursig (2)
// + padding (2) + pr_sigpend (8) + pr_sighold (8), then pr_pid; pr_ppid,
// pr_pgrp, pr_sid and four struct timeval (16 + 64) later pr_reg, followed
// by pr_fpvalid and padding: 112 + 272 + 8 = 392 bytes (the size both the
// kernel and qemu-user write).
constexpr size_t kPrPidOffset = 32;
constexpr size_t kPrRegOffset = 112;
constexpr size_t kPrStatusSize = 392;

constexpr size_t kUserSp = 31, kUserPc = 32;

}  // namespace

Result<Regs> parse_user_regs(std::span<const std::byte> regset) {
    std::array<uint64_t, kUserRegsWords> w{};
    if (regset.size() != sizeof w) {
        return make_error("register set is " + std::to_string(regset.size()) + " bytes, expected " +
                          std::to_string(sizeof w) + " (user_pt_regs) for aarch64");
    }
    std::memcpy(w.data(), regset.data(), sizeof w);
    Regs regs(ArchId::aarch64);
    for (unsigned r = x0; r <= x30; ++r) regs.set(r, w[r]);
    regs.set(sp, w[kUserSp]);
    regs.set(pc, w[kUserPc]);
    // user_pt_regs has no orig_x0 and no syscall number: the kernel keeps
    // them in struct pt_regs only. Whether the thread is inside a system
    // call is then decided by the instruction at pc alone (aarch64_park.cpp).
    regs.syscall_nr = std::nullopt;
    return regs;
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note) {
    if (note.size() < kPrStatusSize) {
        return make_error("NT_PRSTATUS note is " + std::to_string(note.size()) + " bytes, expected " +
                          std::to_string(kPrStatusSize) + " for aarch64");
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

}  // namespace lpsafe::aarch64

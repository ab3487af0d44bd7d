// A register file in DWARF numbering, tagged with its architecture. Only the
// registers marked valid are known: a register the unwinder could not recover
// (call-clobbered, or not restored by a frame-pointer step) is invalid, and any
// rule that needs it fails instead of using a stale value.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>

#include "lpsafe/arch_id.h"

namespace lpsafe {

// Up to ppc64's LR (65) and CTR (66), and the pc lpsafe keeps at 67.
inline constexpr unsigned kMaxDwarfRegs = 68;

class Regs {
public:
    Regs() = default;
    explicit Regs(ArchId arch) : arch_(arch) {}

    ArchId arch() const { return arch_; }

    bool has(unsigned reg) const { return reg < kMaxDwarfRegs && valid_.test(reg); }
    std::optional<uint64_t> get(unsigned reg) const {
        if (!has(reg)) return std::nullopt;
        return values_[reg];
    }
    uint64_t get_or(unsigned reg, uint64_t fallback) const { return has(reg) ? values_[reg] : fallback; }
    void set(unsigned reg, uint64_t value) {
        if (reg >= kMaxDwarfRegs) return;
        values_[reg] = value;
        valid_.set(reg);
    }
    void clear(unsigned reg) {
        if (reg < kMaxDwarfRegs) valid_.reset(reg);
    }

    // The system call the thread is in, as the kernel reports it (x86_64:
    // orig_rax; -1 when the thread is not inside a system call).
    std::optional<int64_t> syscall_nr;
    // The thread pointer (x86_64: fs_base), where the C library keeps the
    // thread's descriptor; a reader learns from it where the thread started
    // (ThreadState::start_routine).
    std::optional<uint64_t> thread_pointer;

private:
    ArchId arch_ = ArchId::x86_64;
    std::array<uint64_t, kMaxDwarfRegs> values_{};
    std::bitset<kMaxDwarfRegs> valid_;
};

}  // namespace lpsafe

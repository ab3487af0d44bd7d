// Function extents from .eh_frame: every function the compiler emitted has
// an FDE whose [pc_begin, pc_begin + pc_range) is exactly its code, and
// .eh_frame survives `strip` (it is needed for exceptions and unwinding),
// where .symtab does not. A distribution binary thus keeps an extent for
// every function even where it keeps a symbol only for the exported ones.
//
// Lookups go through the .eh_frame_hdr search table when there is one (as
// libdw's do, so a snapshot that keeps only the looked-up FDEs answers the
// same), else through an index of the whole section built once.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace lpsafe {

struct FdeExtent {
    uint64_t start = 0;  // file (link-time) address
    uint64_t size = 0;
};

class FdeIndex {
public:
    explicit FdeIndex(Elf* elf);
    // The FDE covering `vaddr`, or nullopt when none does or the entry is
    // malformed (an extent is then unknown, never guessed).
    std::optional<FdeExtent> lookup(uint64_t vaddr) const;

private:
    std::optional<FdeExtent> fde_at(uint64_t offset) const;
    std::optional<FdeExtent> from_hdr(uint64_t vaddr) const;
    std::optional<FdeExtent> from_scan(uint64_t vaddr) const;

    std::span<const std::byte> eh_;
    uint64_t eh_addr_ = 0;
    std::span<const std::byte> hdr_;
    uint64_t hdr_addr_ = 0;
    bool hdr_usable_ = false;
    bool big_ = false;  // a big-endian object (s390x)
    mutable std::once_flag scanned_;
    mutable std::vector<FdeExtent> scan_;  // sorted by start, built once
};

}  // namespace lpsafe

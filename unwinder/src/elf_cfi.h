// The unwind tables of one ELF file (.eh_frame, then .debug_frame, as
// elfutils orders them), read through libdw and turned into plain CfiRows.
// Rows are cached by pc range: the hot loop looks a row up, it does not
// re-run CFA programs.
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "lpsafe/module.h"

namespace lpsafe {

class ElfCfi {
public:
    explicit ElfCfi(Elf* elf);
    ~ElfCfi();
    ElfCfi(const ElfCfi&) = delete;
    ElfCfi& operator=(const ElfCfi&) = delete;

    bool present() const { return eh_frame_ != nullptr || debug_frame_ != nullptr; }
    CfiLookup lookup(uint64_t vaddr) const;

private:
    CfiLookup lookup_uncached(uint64_t vaddr) const;

    Dwarf_CFI* eh_frame_ = nullptr;     // owned (dwarf_cfi_end)
    Dwarf* dwarf_ = nullptr;            // owned (dwarf_end); its CFI is not
    Dwarf_CFI* debug_frame_ = nullptr;  // owned separately
    // Why a table is not handed to libdw at all (cfi_preflight.h).
    std::optional<std::string> eh_frame_refusal_;
    std::optional<std::string> debug_frame_refusal_;
    mutable std::mutex mutex_;          // libdw's CFI caches are not thread-safe
    mutable std::map<uint64_t, CfiRow> rows_;  // by row start
};

}  // namespace lpsafe

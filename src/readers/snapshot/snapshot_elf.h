// Rebuilds an in-memory ELF object from a snapshot's ImageRecord, so that
// replay runs the very same ElfImage code (libelf, libdw CFI, symbol lookup)
// as a live file does, instead of a second implementation of those tables.
#pragma once

#include <cstddef>
#include <vector>

#include "lpsafe/result.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe::readers::snapshot {

// Program headers: the original PT_LOADs (flags and extent, no file bytes),
// one PT_LOAD with no permissions per recorded code chunk (what
// ElfImage::read serves), and a PT_NOTE with the build-id. Sections:
// .eh_frame_hdr, .eh_frame, .debug_frame at their original addresses,
// .symtab/.strtab with the function symbols, .dynamic/.dynstr for DT_SONAME.
Result<std::vector<std::byte>> build_elf(const ImageRecord& image);

// Bytes of an unrecorded part of a pruned section: a CIE/FDE length of
// 0xffffffff announces 64-bit DWARF, and the 64-bit length that follows is
// larger than any section, so libdw reports an error (fail closed) instead of
// a missing entry.
inline constexpr std::byte kPoison{0xff};

}  // namespace lpsafe::readers::snapshot

// What a stripped ELF file says about its missing symbols: the
// .gnu_debuglink section (the separate debug file's name and CRC-32) and the
// .gnu_debugdata section (MiniDebugInfo: an xz-compressed ELF object holding
// the .symtab of its local functions). docs/symbols.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe::readers {

struct DebugLink {
    std::string name;  // a file name, never a path (binutils writes the basename)
    uint32_t crc = 0;  // CRC-32 (zlib's) of the whole debug file
};

struct DebugSections {
    std::optional<DebugLink> link;
    std::span<const std::byte> debugdata;  // view into `elf_bytes`, empty when absent
};

// Reads the section headers of the ELF file in `elf_bytes`. A malformed
// .gnu_debuglink (no NUL, a name with '/', no room for the CRC) is an error,
// not an absent link, so that the caller can say why it was not followed.
Result<DebugSections> read_debug_sections(std::span<const std::byte> elf_bytes);

// CRC-32 of a whole file, as .gnu_debuglink records it.
Result<uint32_t> file_crc32(const std::string& path);

}  // namespace lpsafe::readers

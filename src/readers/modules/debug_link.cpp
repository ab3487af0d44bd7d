#include "readers/modules/debug_link.h"

#include <gelf.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "readers/modules/mapped_file.h"

namespace lpsafe::readers {

namespace {

// The debuglink section: the file name, NUL, padding to 4 bytes, then the
// CRC-32 in the file's byte order (binutils bfd/opncls.c,
// bfd_create_gnu_debuglink_section).
Result<DebugLink> parse_debuglink(std::span<const std::byte> bytes, bool big_endian) {
    const auto* chars = reinterpret_cast<const char*>(bytes.data());
    const auto nul = std::find(chars, chars + bytes.size(), '\0');
    if (nul == chars + bytes.size()) return make_error(".gnu_debuglink holds no NUL-terminated file name");
    DebugLink link;
    link.name.assign(chars, nul);
    if (link.name.empty() || link.name.find('/') != std::string::npos || link.name == "." || link.name == "..")
        return make_error(".gnu_debuglink names no plain file (\"" + link.name + "\")");
    const size_t crc_at = (link.name.size() + 1 + 3) & ~size_t{3};
    if (crc_at + 4 > bytes.size()) return make_error(".gnu_debuglink has no room for its CRC");
    uint8_t b[4];
    std::memcpy(b, bytes.data() + crc_at, 4);
    link.crc = big_endian ? (uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3])
                          : (uint32_t{b[3]} << 24 | uint32_t{b[2]} << 16 | uint32_t{b[1]} << 8 | b[0]);
    return link;
}

}  // namespace

Result<DebugSections> read_debug_sections(std::span<const std::byte> elf_bytes) {
    elf_version(EV_CURRENT);
    // elf_memory only reads (ELF_C_READ_MMAP semantics on the caller's bytes).
    Elf* elf = elf_memory(const_cast<char*>(reinterpret_cast<const char*>(elf_bytes.data())), elf_bytes.size());
    if (elf == nullptr) return make_error("not an ELF file");
    struct Closer {
        Elf* e;
        ~Closer() { elf_end(e); }
    } closer{elf};
    GElf_Ehdr ehdr;
    size_t shstrndx = 0;
    if (gelf_getehdr(elf, &ehdr) == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return make_error("unreadable ELF header or section names");
    DebugSections out;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
        const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (name == nullptr) continue;
        const bool is_link = std::strcmp(name, ".gnu_debuglink") == 0;
        const bool is_data = std::strcmp(name, ".gnu_debugdata") == 0;
        if (!is_link && !is_data) continue;
        if (shdr.sh_offset > elf_bytes.size() || shdr.sh_size > elf_bytes.size() - shdr.sh_offset)
            return make_error(std::string(name) + " lies beyond the end of the file");
        const auto bytes = elf_bytes.subspan(shdr.sh_offset, shdr.sh_size);
        if (is_data) {
            out.debugdata = bytes;
            continue;
        }
        auto link = parse_debuglink(bytes, ehdr.e_ident[EI_DATA] == ELFDATA2MSB);
        if (!link) return link.error();
        out.link = std::move(*link);
    }
    return out;
}

Result<uint32_t> file_crc32(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    uLong crc = crc32(0L, Z_NULL, 0);
    auto bytes = (*file)->bytes();
    // zlib takes a uInt length: feed the file in pieces.
    constexpr size_t kPiece = 1u << 30;
    for (size_t at = 0; at < bytes.size(); at += kPiece) {
        const size_t n = std::min(kPiece, bytes.size() - at);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
    }
    return static_cast<uint32_t>(crc);
}

}  // namespace lpsafe::readers

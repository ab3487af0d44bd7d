#include "readers/snapshot_tables.h"

#include <gelf.h>

#include <cstring>
#include <memory>
#include <string_view>

namespace lpsafe::readers::snapshot {
namespace {

struct RawSection {
    SectionKind kind;
    uint64_t addr = 0;
    std::span<const std::byte> bytes;
};

std::optional<SectionKind> kind_of(std::string_view name) {
    if (name == ".eh_frame_hdr") return SectionKind::eh_frame_hdr;
    if (name == ".eh_frame") return SectionKind::eh_frame;
    if (name == ".debug_frame") return SectionKind::debug_frame;
    return std::nullopt;
}

Result<std::vector<RawSection>> raw_sections(std::span<const std::byte> file, const std::string& path) {
    elf_version(EV_CURRENT);
    std::unique_ptr<Elf, decltype(&elf_end)> elf(
        elf_memory(const_cast<char*>(reinterpret_cast<const char*>(file.data())), file.size()), &elf_end);
    size_t shstrndx = 0;
    if (!elf || elf_getshdrstrndx(elf.get(), &shstrndx) != 0) return make_error(path + ": unreadable section headers");
    std::vector<RawSection> out;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type == SHT_NOBITS) continue;
        const char* name = elf_strptr(elf.get(), shstrndx, sh.sh_name);
        const auto kind = name != nullptr ? kind_of(name) : std::nullopt;
        if (!kind) continue;
        if ((sh.sh_flags & SHF_COMPRESSED) != 0)
            return make_error(path + ": compressed " + name + " is not supported in snapshots");
        if (sh.sh_offset > file.size() || sh.sh_size > file.size() - sh.sh_offset)
            return make_error(path + ": " + name + " extends past the end of the file");
        out.push_back({*kind, sh.sh_addr, file.subspan(sh.sh_offset, sh.sh_size)});
    }
    return out;
}

Section whole(const RawSection& raw) {
    Section s;
    s.kind = raw.kind;
    s.addr = raw.addr;
    s.size = raw.bytes.size();
    s.pieces.push_back({0, {raw.bytes.begin(), raw.bytes.end()}});
    return s;
}

}  // namespace

Result<std::vector<Section>> unwind_sections(const ElfImage& image, const std::vector<uint64_t>& lookups) {
    (void)lookups;
    auto raw = raw_sections(image.file_bytes(), image.path());
    if (!raw) return raw.error();
    std::vector<Section> out;
    for (const RawSection& r : *raw) out.push_back(whole(r));
    return out;
}

}  // namespace lpsafe::readers::snapshot

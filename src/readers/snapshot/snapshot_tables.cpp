#include "readers/snapshot/snapshot_tables.h"

#include <gelf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <memory>
#include <set>
#include <string_view>

#include "readers/snapshot/snapshot_bytes.h"

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

// The binary search table of .eh_frame_hdr in the encoding every linker
// writes: version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4, table
// datarel|sdata4 (LSB gABI, "Exception Frame Header"). Anything else keeps
// the sections whole.
struct HdrEntry {
    int32_t start = 0;  // relative to the header's address
    int32_t fde = 0;
};
constexpr size_t kHdrHead = 12;

std::optional<std::vector<HdrEntry>> search_table(const RawSection& hdr) {
    const auto b = hdr.bytes;
    if (b.size() < kHdrHead || b[0] != std::byte{1} || b[1] != std::byte{0x1b} || b[2] != std::byte{0x03} ||
        b[3] != std::byte{0x3b})
        return std::nullopt;
    const auto count = load<uint32_t>(b, 8);
    if (!count || *count > (b.size() - kHdrHead) / sizeof(HdrEntry)) return std::nullopt;
    std::vector<HdrEntry> table(*count);
    // An empty table has no storage: memcpy from/to null is undefined even for 0 bytes.
    if (!table.empty()) std::memcpy(table.data(), b.data() + kHdrHead, table.size() * sizeof(HdrEntry));
    return table;
}

// [offset, offset + size) of the CFI entry (CIE or FDE) at `offset`; only
// 32-bit DWARF entries, as gcc and clang emit for .eh_frame.
std::optional<std::pair<uint64_t, uint64_t>> entry_at(std::span<const std::byte> eh, uint64_t offset) {
    const auto length = load<uint32_t>(eh, offset);
    if (!length || *length == 0 || *length >= 0xfffffff0u || !in_bounds(offset, uint64_t{4} + *length, eh.size()))
        return std::nullopt;
    return std::pair{offset, uint64_t{4} + *length};
}

// The FDE at `offset` and the CIE it points to.
bool keep_fde(std::span<const std::byte> eh, uint64_t offset, std::vector<std::pair<uint64_t, uint64_t>>& keep) {
    const auto fde = entry_at(eh, offset);
    const auto cie_ptr = load<uint32_t>(eh, offset + 4);
    if (!fde || !cie_ptr || *cie_ptr == 0 || *cie_ptr > offset + 4) return false;
    const auto cie = entry_at(eh, offset + 4 - *cie_ptr);
    if (!cie) return false;
    keep.push_back(*fde);
    keep.push_back(*cie);
    return true;
}

// Keeps, of the search table, each looked-up pc's entry (as libdw's
// binary_search_fde picks it: the last start <= pc), the entry after it and
// the first entry, so that every pc resolves to the same entry as in the
// whole table or to a dropped FDE, which reads as poison (an error). Of
// .eh_frame, only the looked-up FDEs and their CIEs are kept.
std::optional<std::vector<Section>> pruned(const RawSection& hdr, const RawSection& eh,
                                           const std::vector<uint64_t>& lookups) {
    const auto table = search_table(hdr);
    if (!table || table->empty()) return std::nullopt;
    std::set<size_t> rows{0};
    std::vector<std::pair<uint64_t, uint64_t>> keep;
    for (uint64_t pc : lookups) {
        const auto it = std::upper_bound(table->begin(), table->end(), pc, [&](uint64_t a, const HdrEntry& e) {
            return a < hdr.addr + static_cast<int64_t>(e.start);
        });
        if (it == table->begin()) continue;  // below every FDE: no entry, in both tables
        const size_t row = static_cast<size_t>(it - table->begin()) - 1;
        rows.insert(row);
        if (row + 1 < table->size()) rows.insert(row + 1);
        const uint64_t fde_addr = hdr.addr + static_cast<int64_t>((*table)[row].fde);
        if (fde_addr < eh.addr || !keep_fde(eh.bytes, fde_addr - eh.addr, keep)) return std::nullopt;
    }
    ByteWriter w;
    w.bytes(hdr.bytes.first(8));
    w.u32(static_cast<uint32_t>(rows.size()));
    for (size_t row : rows) {
        w.u32(static_cast<uint32_t>((*table)[row].start));
        w.u32(static_cast<uint32_t>((*table)[row].fde));
    }
    Section new_hdr{SectionKind::eh_frame_hdr, hdr.addr, w.size(), {{0, std::move(w.data())}}};
    Section new_eh{SectionKind::eh_frame, eh.addr, eh.bytes.size(), {}};
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    for (const auto& [off, size] : keep) {
        const auto bytes = eh.bytes.subspan(off, size);
        new_eh.pieces.push_back({off, {bytes.begin(), bytes.end()}});
    }
    return std::vector<Section>{std::move(new_hdr), std::move(new_eh)};
}

}  // namespace

Result<std::vector<Section>> unwind_sections(const ElfImage& image, const std::vector<uint64_t>& lookups) {
    auto raw = raw_sections(image.file_bytes(), image.path());
    if (!raw) return raw.error();
    std::vector<Section> out;
    const RawSection* hdr = nullptr;
    for (const RawSection& r : *raw) {
        if (r.kind == SectionKind::eh_frame_hdr) {
            hdr = &r;
            continue;
        }
        if (r.kind == SectionKind::eh_frame && hdr != nullptr) {
            if (auto p = pruned(*hdr, r, lookups)) {
                for (auto& s : *p) out.push_back(std::move(s));
                hdr = nullptr;
                continue;
            }
            out.push_back(whole(*hdr));
            hdr = nullptr;
        }
        out.push_back(whole(r));
    }
    if (hdr != nullptr) out.push_back(whole(*hdr));
    return out;
}

}  // namespace lpsafe::readers::snapshot

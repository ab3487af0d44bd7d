#include "fde_index.h"

#include "byte_cursor.h"

#include <dwarf.h>
#include <gelf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace lpsafe {
namespace {

// A DW_EH_PE-encoded pointer (LSB "Exception Frame Header" / gABI):
// absolute or pc-relative only, which is what linkers and compilers emit
// for FDE pointers; any other application is refused (nullopt).
std::optional<uint64_t> read_encoded(ByteCursor& c, uint8_t enc, uint64_t section_addr, bool apply) {
    if (enc == DW_EH_PE_omit) return std::nullopt;
    const uint64_t field_addr = section_addr + c.at();
    uint64_t v = 0;
    switch (enc & 0x0f) {
        case DW_EH_PE_absptr: v = c.fixed<uint64_t>(); break;
        case DW_EH_PE_uleb128: v = c.uleb(); break;
        case DW_EH_PE_udata2: v = c.fixed<uint16_t>(); break;
        case DW_EH_PE_udata4: v = c.fixed<uint32_t>(); break;
        case DW_EH_PE_udata8: v = c.fixed<uint64_t>(); break;
        case DW_EH_PE_sleb128: v = static_cast<uint64_t>(c.sleb()); break;
        case DW_EH_PE_sdata2: v = static_cast<uint64_t>(int64_t{c.fixed<int16_t>()}); break;
        case DW_EH_PE_sdata4: v = static_cast<uint64_t>(int64_t{c.fixed<int32_t>()}); break;
        case DW_EH_PE_sdata8: v = c.fixed<uint64_t>(); break;
        default: return std::nullopt;
    }
    if (!c.ok()) return std::nullopt;
    if (!apply) return v;
    switch (enc & 0x70) {
        case DW_EH_PE_absptr: break;
        case DW_EH_PE_pcrel: v += field_addr; break;
        default: return std::nullopt;
    }
    if ((enc & DW_EH_PE_indirect) != 0) return std::nullopt;
    return v;
}

// The FDE pointer encoding of the CIE at `offset` ('R' in its augmentation).
std::optional<uint8_t> fde_encoding(std::span<const std::byte> eh, uint64_t offset, uint64_t eh_addr, bool big) {
    ByteCursor c(eh, offset, big);
    const auto length = c.fixed<uint32_t>();
    if (!c.ok() || length == 0 || length >= 0xfffffff0u) return std::nullopt;
    if (c.fixed<uint32_t>() != 0) return std::nullopt;  // not a CIE
    const auto version = c.fixed<uint8_t>();
    const std::string_view aug = c.cstr();
    if (!c.ok() || aug.empty() || aug[0] != 'z') return aug.empty() && c.ok() ? std::optional<uint8_t>(0) : std::nullopt;
    (void)c.uleb();  // code alignment
    (void)c.sleb();  // data alignment
    if (version == 1) (void)c.fixed<uint8_t>();
    else (void)c.uleb();  // return-address register
    (void)c.uleb();       // augmentation data length
    for (char ch : aug.substr(1)) {
        if (ch == 'R') {
            const auto enc = c.fixed<uint8_t>();
            return c.ok() ? std::optional<uint8_t>(enc) : std::nullopt;
        }
        if (ch == 'L') {
            (void)c.fixed<uint8_t>();
        } else if (ch == 'P') {
            const auto enc = c.fixed<uint8_t>();
            if (!read_encoded(c, static_cast<uint8_t>(enc & 0x0f), eh_addr, false)) return std::nullopt;
        } else if (ch != 'S' && ch != 'B') {
            return std::nullopt;  // unknown augmentation: its data cannot be skipped
        }
        if (!c.ok()) return std::nullopt;
    }
    return uint8_t{DW_EH_PE_absptr};
}

std::span<const std::byte> section_bytes(Elf_Scn* scn) {
    Elf_Data* data = elf_rawdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return {};
    return {static_cast<const std::byte*>(data->d_buf), data->d_size};
}

}  // namespace

FdeIndex::FdeIndex(Elf* elf) {
    size_t shstrndx = 0;
    if (elf == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0) return;
    // The tables are read raw, in the object's byte order (big on s390x).
    const char* ident = elf_getident(elf, nullptr);
    big_ = ident != nullptr && ident[EI_DATA] == ELFDATA2MSB;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type == SHT_NOBITS) continue;
        const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (name == nullptr) continue;
        if (std::string_view(name) == ".eh_frame") {
            eh_ = section_bytes(scn);
            eh_addr_ = sh.sh_addr;
        } else if (std::string_view(name) == ".eh_frame_hdr") {
            hdr_ = section_bytes(scn);
            hdr_addr_ = sh.sh_addr;
        }
    }
    // The table encoding every linker writes (version 1, eh_frame_ptr
    // pcrel|sdata4, fde_count udata4, table datarel|sdata4); another one
    // falls back to the scan.
    hdr_usable_ = hdr_.size() >= 12 && hdr_[0] == std::byte{1} && hdr_[1] == std::byte{0x1b} &&
                  hdr_[2] == std::byte{0x03} && hdr_[3] == std::byte{0x3b};
}

std::optional<FdeExtent> FdeIndex::fde_at(uint64_t offset) const {
    ByteCursor c(eh_, offset, big_);
    const auto length = c.fixed<uint32_t>();
    if (!c.ok() || length == 0 || length >= 0xfffffff0u) return std::nullopt;
    const uint64_t id_at = c.at();
    const auto cie_ptr = c.fixed<uint32_t>();
    if (!c.ok() || cie_ptr == 0 || cie_ptr > id_at) return std::nullopt;
    const auto enc = fde_encoding(eh_, id_at - cie_ptr, eh_addr_, big_);
    if (!enc) return std::nullopt;
    const auto begin = read_encoded(c, *enc, eh_addr_, true);
    const auto range = read_encoded(c, static_cast<uint8_t>(*enc & 0x0f), eh_addr_, false);
    if (!begin || !range || *range == 0 || offset + 4 + length > eh_.size()) return std::nullopt;
    return FdeExtent{*begin, *range};
}

std::optional<FdeExtent> FdeIndex::from_hdr(uint64_t vaddr) const {
    uint32_t count = 0;
    std::memcpy(&count, hdr_.data() + 8, sizeof count);
    if (big_) count = __builtin_bswap32(count);
    if (count > (hdr_.size() - 12) / 8) return std::nullopt;
    const auto entry = [&](uint32_t i, unsigned field) {
        int32_t v = 0;
        std::memcpy(&v, hdr_.data() + 12 + uint64_t{i} * 8 + field * 4, sizeof v);
        if (big_) v = static_cast<int32_t>(__builtin_bswap32(static_cast<uint32_t>(v)));
        return hdr_addr_ + static_cast<int64_t>(v);
    };
    // The last entry starting at or below vaddr, as libdw's search picks it.
    uint32_t lo = 0, hi = count;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (entry(mid, 0) <= vaddr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return std::nullopt;
    const uint64_t fde = entry(lo - 1, 1);
    if (fde < eh_addr_) return std::nullopt;
    auto found = fde_at(fde - eh_addr_);
    if (!found || vaddr < found->start || vaddr - found->start >= found->size) return std::nullopt;
    return found;
}

std::optional<FdeExtent> FdeIndex::from_scan(uint64_t vaddr) const {
    std::call_once(scanned_, [this] {
        uint64_t off = 0;
        while (off + 8 <= eh_.size()) {
            ByteCursor c(eh_, off, big_);
            const auto length = c.fixed<uint32_t>();
            if (!c.ok() || length == 0 || length >= 0xfffffff0u) break;  // terminator or 64-bit
            const auto id = c.fixed<uint32_t>();
            if (c.ok() && id != 0) {
                if (auto f = fde_at(off)) scan_.push_back(*f);
            }
            off += uint64_t{4} + length;
        }
        std::sort(scan_.begin(), scan_.end(), [](const FdeExtent& a, const FdeExtent& b) { return a.start < b.start; });
    });
    auto it = std::upper_bound(scan_.begin(), scan_.end(), vaddr,
                               [](uint64_t a, const FdeExtent& f) { return a < f.start; });
    if (it == scan_.begin()) return std::nullopt;
    --it;
    if (vaddr - it->start >= it->size) return std::nullopt;
    return *it;
}

std::optional<FdeExtent> FdeIndex::lookup(uint64_t vaddr) const {
    if (eh_.empty()) return std::nullopt;
    return hdr_usable_ ? from_hdr(vaddr) : from_scan(vaddr);
}

}  // namespace lpsafe

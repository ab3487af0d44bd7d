#include "cfi_preflight.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <string_view>

#include "byte_cursor.h"

namespace lpsafe {
namespace {

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::span<const std::byte> bytes_of(const Elf_Data* d) {
    if (d == nullptr || d->d_buf == nullptr) return {};
    return {static_cast<const std::byte*>(d->d_buf), d->d_size};
}

// What libdw's encoded_value_size answers for a DW_EH_PE format: the width
// of a fixed-size value, 0 for a LEB128 one (its width is in the bytes), or
// nullopt for a format libdw's read_encoded_value rejects.
std::optional<unsigned> fixed_width(uint8_t enc, unsigned address_size) {
    switch (enc & 0x0f) {
        case DW_EH_PE_absptr: return address_size;
        case DW_EH_PE_uleb128:
        case DW_EH_PE_sleb128: return 0;
        case DW_EH_PE_udata2:
        case DW_EH_PE_sdata2: return 2;
        case DW_EH_PE_udata4:
        case DW_EH_PE_sdata4: return 4;
        case DW_EH_PE_udata8:
        case DW_EH_PE_sdata8: return 8;
        default: return std::nullopt;
    }
}

// Steps over one encoded value as libdw's read_encoded_value does; false
// where this pass cannot follow it (libdw's DW_EH_PE_aligned padding depends
// on where the section sits in memory).
bool skip_encoded(ByteCursor& c, uint8_t enc, unsigned address_size) {
    if ((enc & 0x70) == DW_EH_PE_aligned) return false;
    const auto width = fixed_width(enc, address_size);
    if (!width) return false;
    if (*width == 0) (void)c.uleb();
    else c.skip(*width);
    return c.ok();
}

// The parts of a CIE that decide which bytes of its FDEs libdw executes
// (libdw cie.c, intern_new_cie).
struct CieShape {
    std::span<const std::byte> instructions;
    uint8_t fde_encoding = DW_EH_PE_absptr;
    bool sized_augmentation = false;      // 'z': FDEs carry a length-prefixed block
    uint64_t fde_augmentation_size = 0;  // otherwise: what libdw skips in each FDE
};

class TablePass {
public:
    TablePass(const unsigned char* e_ident, Elf_Data* data, bool eh_frame)
        : e_ident_(e_ident), data_(data), eh_frame_(eh_frame), bytes_(bytes_of(data)),
          address_size_(e_ident[EI_CLASS] == ELFCLASS32 ? 4 : 8) {}

    // libdw's linear search: entries in order until the end marker or an
    // entry it cannot step past.
    void walk_in_order() {
        Dwarf_Off offset = 0;
        while (!refusal_) {
            Dwarf_Off next = offset;
            Dwarf_CFI_Entry entry;
            const int r = dwarf_next_cfi(e_ident_, data_, eh_frame_, offset, &next, &entry);
            if (r > 0 || next <= offset) return;
            if (r == 0) visit(offset, entry);
            offset = next;
        }
    }

    // An FDE libdw reaches through the search table.
    void visit_fde_at(uint64_t offset) {
        if (refusal_ || offset >= bytes_.size()) return;
        Dwarf_Off next = 0;
        Dwarf_CFI_Entry entry;
        if (dwarf_next_cfi(e_ident_, data_, eh_frame_, offset, &next, &entry) == 0 && !dwarf_cfi_cie_p(&entry))
            visit(offset, entry);
    }

    void refuse(std::string why) {
        if (!refusal_) refusal_ = std::move(why);
    }
    const std::optional<std::string>& refusal() const { return refusal_; }
    std::span<const std::byte> bytes() const { return bytes_; }

private:
    void visit(uint64_t offset, const Dwarf_CFI_Entry& entry) {
        if (dwarf_cfi_cie_p(&entry)) {
            if (const auto cie = cie_shape(offset, entry.cie)) check_cie(offset, *cie);
            return;
        }
        if (!fdes_seen_.insert(offset).second) return;
        // libdw's __libdw_find_cie: an FDE whose CIE pointer does not lead
        // to a CIE is skipped, and so never executed.
        Dwarf_Off next = 0;
        Dwarf_CFI_Entry cie_entry;
        if (dwarf_next_cfi(e_ident_, data_, eh_frame_, entry.fde.CIE_pointer, &next, &cie_entry) != 0 ||
            !dwarf_cfi_cie_p(&cie_entry))
            return;
        const auto cie = cie_shape(entry.fde.CIE_pointer, cie_entry.cie);
        if (!cie) return;
        check_cie(entry.fde.CIE_pointer, *cie);
        const auto program = fde_program(offset, entry.fde, *cie);
        if (program) check_program(*program, cie->fde_encoding, "FDE", offset, cie_registers_[entry.fde.CIE_pointer]);
    }

    std::optional<CieShape> cie_shape(uint64_t offset, const Dwarf_CIE& cie) {
        CieShape shape;
        shape.instructions = span_of(cie.initial_instructions, cie.initial_instructions_end);
        if (cie.augmentation == nullptr) return shape;
        const auto aug_bytes = span_of(cie.augmentation_data, nullptr);
        ByteCursor data(aug_bytes, 0);
        for (const char* ap = cie.augmentation; *ap != '\0'; ++ap) {
            const char letter = *ap;
            if (letter == 'z') {
                shape.sized_augmentation = true;
            } else if (letter == 'L') {
                const auto lsda = data.fixed<uint8_t>();
                if (!shape.sized_augmentation && lsda != DW_EH_PE_omit)
                    shape.fde_augmentation_size += fixed_width(lsda, address_size_).value_or(0);
            } else if (letter == 'R') {
                shape.fde_encoding = data.fixed<uint8_t>();
            } else if (letter == 'P') {
                const auto enc = data.fixed<uint8_t>();
                if (data.ok() && !skip_encoded(data, enc, address_size_)) {
                    refuse("the CIE at " + hex(offset) + " has a personality pointer this check cannot step over");
                    return std::nullopt;
                }
            } else if (letter != 'S' && !shape.sized_augmentation) {
                break;  // libdw stops reading an unsized augmentation it does not know
            }
            if (!data.ok()) {
                refuse("the CIE at " + hex(offset) + " has augmentation data past the section's end");
                return std::nullopt;
            }
        }
        return shape;
    }

    void check_cie(uint64_t offset, const CieShape& cie) {
        if (cie_registers_.count(offset) != 0) return;
        cie_registers_[offset] = 0;
        cie_registers_[offset] = check_program(cie.instructions, cie.fde_encoding, "CIE", offset, 0);
    }

    // The instruction bytes of an FDE, found as libdw's intern_fde finds them.
    std::optional<std::span<const std::byte>> fde_program(uint64_t offset, const Dwarf_FDE& fde, const CieShape& cie) {
        const auto body = span_of(fde.start, fde.end);
        ByteCursor c(body, 0);
        const bool ok = skip_encoded(c, cie.fde_encoding, address_size_) &&
                        skip_encoded(c, static_cast<uint8_t>(cie.fde_encoding & 0x0f), address_size_);
        if (!ok) {
            // libdw cannot read the pc range either (and skips the FDE),
            // unless the encoding is one it reads and this pass does not.
            if ((cie.fde_encoding & 0x70) == DW_EH_PE_aligned)
                refuse("the FDE at " + hex(offset) + " uses DW_EH_PE_aligned, which this check does not follow");
            return std::nullopt;
        }
        if (cie.sized_augmentation) {
            const uint64_t len = c.uleb();
            if (!c.ok() || len > body.size() - c.at()) return std::nullopt;  // libdw: invalid, skipped
            c.skip(len);
        } else {
            c.skip(cie.fde_augmentation_size);
            if (!c.ok()) return std::nullopt;
        }
        return body.subspan(c.at());
    }

    // Walks a CFA program the way libdw's execute_cfi decodes it and returns
    // the number of registers its rules reach; refuses what would make libdw
    // allocate or copy without bound. `base_regs` is the CIE's width, which
    // an FDE's state starts from.
    uint64_t check_program(std::span<const std::byte> program, uint8_t fde_encoding, const char* what,
                           uint64_t offset, uint64_t base_regs) {
        ByteCursor c(program, 0);
        uint64_t regs = base_regs;
        unsigned depth = 0;
        uint64_t copied = 0;
        const auto rule_on = [&](uint64_t reg) {
            if (reg > kMaxCfiRegister) {
                refuse(std::string("the ") + what + " at " + hex(offset) + " names DWARF register " +
                       std::to_string(reg) + " (no ABI numbers one above " + std::to_string(kMaxCfiRegister) + ")");
                return false;
            }
            regs = std::max(regs, reg + 1);
            return true;
        };
        while (c.ok() && c.at() < program.size() && !refusal_) {
            const auto op = c.fixed<uint8_t>();
            switch (op & 0xc0) {
                case DW_CFA_advance_loc: continue;
                case DW_CFA_offset:
                    (void)c.uleb();
                    [[fallthrough]];
                case DW_CFA_restore:
                    if (!rule_on(op & 0x3f)) return regs;
                    continue;
                default: break;
            }
            switch (op) {
                case DW_CFA_nop:
                case DW_CFA_GNU_window_save: break;
                case DW_CFA_set_loc:
                    if (!skip_encoded(c, fde_encoding, address_size_)) return regs;
                    break;
                case DW_CFA_advance_loc1: c.skip(1); break;
                case DW_CFA_advance_loc2: c.skip(2); break;
                case DW_CFA_advance_loc4: c.skip(4); break;
                case DW_CFA_MIPS_advance_loc8: c.skip(8); break;
                case DW_CFA_offset_extended:
                case DW_CFA_register:
                case DW_CFA_val_offset:
                case DW_CFA_GNU_negative_offset_extended:
                    if (!rule_on(c.uleb())) return regs;
                    (void)c.uleb();
                    break;
                case DW_CFA_offset_extended_sf:
                case DW_CFA_val_offset_sf:
                    if (!rule_on(c.uleb())) return regs;
                    (void)c.sleb();
                    break;
                case DW_CFA_restore_extended:
                case DW_CFA_undefined:
                case DW_CFA_same_value:
                    if (!rule_on(c.uleb())) return regs;
                    break;
                case DW_CFA_expression:
                case DW_CFA_val_expression:
                    if (!rule_on(c.uleb())) return regs;
                    c.skip(c.uleb());
                    break;
                case DW_CFA_def_cfa_expression: c.skip(c.uleb()); break;
                case DW_CFA_def_cfa:
                case DW_CFA_def_cfa_sf:
                    (void)c.uleb();
                    (void)c.uleb();  // a sleb for _sf; same bytes to step over
                    break;
                case DW_CFA_def_cfa_register:
                case DW_CFA_def_cfa_offset:
                case DW_CFA_def_cfa_offset_sf:
                case DW_CFA_GNU_args_size: (void)c.uleb(); break;
                case DW_CFA_remember_state:
                    copied += regs;
                    if (++depth > kMaxCfiRememberDepth || copied > kMaxCfiRememberSlots) {
                        refuse(std::string("the ") + what + " at " + hex(offset) +
                               " remembers its state more than this check allows (" + std::to_string(depth) +
                               " deep, " + std::to_string(copied) + " register slots copied)");
                        return regs;
                    }
                    break;
                case DW_CFA_restore_state:
                    if (depth == 0) return regs;  // libdw stops: nothing to restore
                    --depth;
                    break;
                default: return regs;  // libdw stops at an opcode it does not know
            }
        }
        return regs;
    }

    std::span<const std::byte> span_of(const void* begin, const void* end) const {
        const auto* base = reinterpret_cast<const std::byte*>(bytes_.data());
        const auto* b = static_cast<const std::byte*>(begin);
        if (b == nullptr || b < base || b > base + bytes_.size()) return {};
        const auto* e = end == nullptr ? base + bytes_.size() : static_cast<const std::byte*>(end);
        if (e < b || e > base + bytes_.size()) return {};
        return {b, static_cast<size_t>(e - b)};
    }

    const unsigned char* e_ident_;
    Elf_Data* data_;
    bool eh_frame_;
    std::span<const std::byte> bytes_;
    unsigned address_size_;
    std::set<uint64_t> fdes_seen_;
    std::map<uint64_t, uint64_t> cie_registers_;  // CIE offset -> registers its program reaches
    std::optional<std::string> refusal_;
};

struct Section {
    Elf_Scn* scn = nullptr;
    GElf_Shdr shdr{};
};

// The sections libdw reads: for .eh_frame the first one so named and the
// last .eh_frame_hdr before it (dwarf_getcfi_elf, getcfi_shdr); for
// .debug_frame the first one (dwarf_begin_elf keeps the first of a name).
struct Located {
    Section table;
    Section hdr;
    bool found = false;
};

Located locate(Elf* elf, bool eh_frame) {
    Located out;
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0 || shstrndx == 0) return out;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (name == nullptr) continue;
        const std::string_view n(name);
        if (eh_frame && n == ".eh_frame_hdr") {
            out.hdr = {scn, sh};
        } else if (eh_frame ? n == ".eh_frame" : (n == ".debug_frame" || n == ".zdebug_frame")) {
            if (sh.sh_type == SHT_NOBITS) continue;
            out.table = {scn, sh};
            out.found = true;
            return out;
        }
    }
    return out;
}

uint64_t load(std::span<const std::byte> b, uint64_t at, unsigned width, bool swap) {
    uint64_t v = 0;
    if (at > b.size() || width > b.size() - at) return 0;
    if (width == 2) {
        uint16_t x;
        std::memcpy(&x, b.data() + at, 2);
        v = swap ? __builtin_bswap16(x) : x;
    } else if (width == 4) {
        uint32_t x;
        std::memcpy(&x, b.data() + at, 4);
        v = swap ? __builtin_bswap32(x) : x;
    } else if (width == 8) {
        std::memcpy(&v, b.data() + at, 8);
        if (swap) v = __builtin_bswap64(v);
    }
    return v;
}

// Every FDE the .eh_frame_hdr binary-search table points at (LSB, "Exception
// Frame Header"), for the table encoding every linker writes; a table in
// another encoding that libdw would search is refused.
void visit_search_table(TablePass& pass, const Section& hdr, const Section& eh, const unsigned char* e_ident) {
    const auto b = bytes_of(elf_rawdata(hdr.scn, nullptr));
    if (b.size() < 4 || b[0] != std::byte{1}) return;  // libdw: no table
    const auto ptr_enc = static_cast<uint8_t>(b[1]);
    const auto count_enc = static_cast<uint8_t>(b[2]);
    const auto table_enc = static_cast<uint8_t>(b[3]);
    if (count_enc == DW_EH_PE_omit || table_enc == DW_EH_PE_omit) return;
    const unsigned address_size = e_ident[EI_CLASS] == ELFCLASS32 ? 4 : 8;
    ByteCursor c(b, 4);
    const auto count_width = fixed_width(count_enc, address_size);
    if (!skip_encoded(c, ptr_enc, address_size) || !count_width || *count_width == 0) {
        pass.refuse(".eh_frame_hdr has a header this check cannot read");
        return;
    }
    const bool swap = (e_ident[EI_DATA] == ELFDATA2MSB) != (std::endian::native == std::endian::big);
    const uint64_t count = load(b, c.at(), *count_width, swap);
    c.skip(*count_width);
    if (!c.ok() || count == 0) return;
    if (table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
        if (fixed_width(table_enc, address_size).value_or(0) != 0)
            pass.refuse(".eh_frame_hdr's search table uses encoding " + hex(table_enc) + ", which this check does not read");
        return;
    }
    const uint64_t entries = std::min<uint64_t>(count, (b.size() - c.at()) / 8);
    for (uint64_t i = 0; i < entries && !pass.refusal(); ++i) {
        const auto rel = static_cast<int32_t>(load(b, c.at() + i * 8 + 4, 4, swap));
        const uint64_t fde_addr = hdr.shdr.sh_addr + static_cast<int64_t>(rel);
        pass.visit_fde_at(fde_addr - eh.shdr.sh_addr);
    }
}

}  // namespace

std::optional<std::string> cfi_table_refusal(Elf* elf, bool eh_frame) {
    const char* what = eh_frame ? ".eh_frame" : ".debug_frame";
    const auto* e_ident = reinterpret_cast<const unsigned char*>(elf_getident(elf, nullptr));
    if (e_ident == nullptr) return std::string(what) + ": no ELF identification";
    const Located where = locate(elf, eh_frame);
    if (!where.found) {
        // libdw found the table some other way (PT_GNU_EH_FRAME without
        // section headers); this pass cannot know its extent.
        return std::string(what) + " was found without a section header, so it cannot be checked";
    }
    // libdw reads .eh_frame raw and .debug_frame decompressed (it has
    // decompressed the section in place by the time this runs).
    Elf_Data* data = eh_frame ? elf_rawdata(where.table.scn, nullptr) : elf_getdata(where.table.scn, nullptr);
    if (data == nullptr) return std::nullopt;  // libdw has no bytes to run either
    TablePass pass(e_ident, data, eh_frame);
    pass.walk_in_order();
    if (eh_frame && where.hdr.scn != nullptr) visit_search_table(pass, where.hdr, where.table, e_ident);
    if (pass.refusal()) return std::string(what) + ": " + *pass.refusal();
    return std::nullopt;
}

}  // namespace lpsafe

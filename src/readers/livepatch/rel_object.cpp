// Reads a relocatable ELF object with libelf into plain data. Every offset,
// index and size comes from an untrusted file: each is checked before use,
// and anything malformed is an error value (or a pointer silently not
// recorded when only that one relocation is bad).
#include "readers/livepatch/rel_object.h"

#include <gelf.h>

#include <cstring>
#include <memory>

#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {
namespace {

// The relocation type that stores a full 64-bit absolute address (S + A) on
// each 64-bit little-endian architecture the kernel livepatches.
std::optional<uint32_t> abs64_type(uint16_t machine) {
    switch (machine) {
        case EM_X86_64: return R_X86_64_64;
        case EM_AARCH64: return R_AARCH64_ABS64;
        case EM_PPC64: return R_PPC64_ADDR64;
        case EM_RISCV: return 2;      // R_RISCV_64
        case EM_LOONGARCH: return 2;  // R_LARCH_64
        default: return std::nullopt;
    }
}

struct ElfCloser {
    void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

}  // namespace

bool RelSection::is_code() const { return (flags & SHF_ALLOC) != 0 && (flags & SHF_EXECINSTR) != 0; }
bool RelSection::is_data() const { return (flags & SHF_ALLOC) != 0 && (flags & SHF_EXECINSTR) == 0; }

class RelObjectLoader {
public:
    RelObjectLoader(RelObject& obj, Elf* elf) : obj_(obj), elf_(elf) {}

    Status load_sections() {
        size_t count = 0, shstrndx = 0;
        if (elf_getshdrnum(elf_, &count) != 0 || elf_getshdrstrndx(elf_, &shstrndx) != 0) {
            return make_error(obj_.name_ + ": unreadable section headers (" + elf_errmsg(-1) + ")");
        }
        obj_.sections_.resize(count);
        for (size_t i = 1; i < count; ++i) {
            GElf_Shdr shdr;
            Elf_Scn* scn = elf_getscn(elf_, i);
            if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr) {
                return make_error(obj_.name_ + ": unreadable section header " + std::to_string(i));
            }
            RelSection& s = obj_.sections_[i];
            const char* name = elf_strptr(elf_, shstrndx, shdr.sh_name);
            s.name = name != nullptr ? name : "";
            s.type = shdr.sh_type;
            s.flags = shdr.sh_flags;
            s.size = shdr.sh_size;
            if (shdr.sh_type == SHT_NOBITS) continue;
            if (!in_bounds(shdr.sh_offset, shdr.sh_size, obj_.owned_.size())) {
                return make_error(obj_.name_ + ": section " + s.name + " lies outside the file (truncated?)");
            }
            s.bytes = std::span<const std::byte>(obj_.owned_).subspan(shdr.sh_offset, shdr.sh_size);
        }
        return Ok{};
    }

    Status load_symbols_and_relocations() {
        for (size_t i = 1; i < obj_.sections_.size(); ++i) {
            Elf_Scn* scn = elf_getscn(elf_, i);
            GElf_Shdr shdr;
            if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr) continue;
            if (shdr.sh_type == SHT_SYMTAB) {
                if (!obj_.symbols_.empty()) return make_error(obj_.name_ + ": more than one symbol table");
                if (auto st = read_symbols(scn, shdr); !st) return st;
            }
        }
        if (obj_.symbols_.empty()) return make_error(obj_.name_ + ": no symbol table (a module needs one)");
        for (size_t i = 1; i < obj_.sections_.size(); ++i) {
            Elf_Scn* scn = elf_getscn(elf_, i);
            GElf_Shdr shdr;
            if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_RELA) continue;
            if (!obj_.section_valid(shdr.sh_info)) continue;
            if ((obj_.sections_[shdr.sh_info].flags & SHF_ALLOC) == 0) continue;  // debug info
            if (auto st = read_relocations(scn, shdr); !st) return st;
        }
        return Ok{};
    }

private:
    Status read_symbols(Elf_Scn* scn, const GElf_Shdr& shdr) {
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr || shdr.sh_entsize == 0) return make_error(obj_.name_ + ": unreadable symbol table");
        const size_t n = data->d_size / sizeof(Elf64_Sym);
        obj_.symbols_.resize(n);
        for (size_t k = 0; k < n; ++k) {
            GElf_Sym sym;
            if (gelf_getsym(data, static_cast<int>(k), &sym) == nullptr) continue;
            RelSymbol& s = obj_.symbols_[k];
            const char* name = elf_strptr(elf_, shdr.sh_link, sym.st_name);
            s.name = name != nullptr ? name : "";
            s.section = sym.st_shndx < SHN_LORESERVE && sym.st_shndx < obj_.sections_.size() ? sym.st_shndx : 0;
            s.value = sym.st_value;
            s.size = sym.st_size;
            s.type = GELF_ST_TYPE(sym.st_info);
        }
        return Ok{};
    }

    Status read_relocations(Elf_Scn* scn, const GElf_Shdr& shdr) {
        const auto abs64 = abs64_type(obj_.machine_);
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr) return make_error(obj_.name_ + ": unreadable relocation section");
        auto& slots = obj_.pointers_[shdr.sh_info];
        const size_t n = data->d_size / sizeof(Elf64_Rela);
        for (size_t k = 0; k < n; ++k) {
            GElf_Rela rela;
            if (gelf_getrela(data, static_cast<int>(k), &rela) == nullptr) continue;
            const size_t sym_index = GELF_R_SYM(rela.r_info);
            if (sym_index >= obj_.symbols_.size()) continue;
            const uint32_t type = static_cast<uint32_t>(GELF_R_TYPE(rela.r_info));
            // Code, and the ORC ip table (each entry a PC32 to the code it
            // describes: arch/x86/kernel/unwind_orc.c orc_ip()).
            if (obj_.machine_ == EM_X86_64 && (type == R_X86_64_PC32 || type == R_X86_64_PLT32) &&
                (obj_.sections_[shdr.sh_info].is_code() || obj_.sections_[shdr.sh_info].name == ".orc_unwind_ip")) {
                obj_.code_relocs_.push_back({static_cast<uint32_t>(shdr.sh_info), rela.r_offset,
                                             static_cast<uint32_t>(sym_index), rela.r_addend});
                continue;
            }
            if (type != *abs64) continue;
            const RelSymbol& sym = obj_.symbols_[sym_index];
            RelPointer p{sym.section, sym.value + static_cast<uint64_t>(rela.r_addend), sym.name};
            if (sym.section == 0) p.offset = static_cast<uint64_t>(rela.r_addend);
            slots[rela.r_offset] = std::move(p);
        }
        return Ok{};
    }

    RelObject& obj_;
    Elf* elf_;
};

Result<RelObject> RelObject::parse(std::span<const std::byte> bytes, const std::string& name) {
    RelObject obj;
    obj.name_ = name;
    if (!has_elf_magic(bytes)) return make_error(name + " is not an ELF file");
    obj.owned_.assign(bytes.begin(), bytes.end());
    elf_version(EV_CURRENT);
    ElfPtr elf(elf_memory(reinterpret_cast<char*>(obj.owned_.data()), obj.owned_.size()));
    if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return make_error(name + " is not an ELF file");
    GElf_Ehdr ehdr;
    if (gelf_getehdr(elf.get(), &ehdr) == nullptr) return make_error(name + ": unreadable ELF header");
    if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
        return make_error(name + ": only 64-bit little-endian objects are supported");
    }
    if (ehdr.e_type != ET_REL) return make_error(name + " is not a kernel module (not a relocatable ELF object)");
    obj.machine_ = ehdr.e_machine;
    if (!abs64_type(obj.machine_)) {
        return make_error(name + ": unsupported machine " + std::to_string(obj.machine_));
    }
    RelObjectLoader loader(obj, elf.get());
    if (auto st = loader.load_sections(); !st) return st.error();
    if (auto st = loader.load_symbols_and_relocations(); !st) return st.error();
    return obj;
}

const RelPointer* RelObject::pointer_at(uint32_t section, uint64_t offset) const {
    const auto* slots = pointers_in(section);
    if (slots == nullptr) return nullptr;
    const auto it = slots->find(offset);
    return it == slots->end() ? nullptr : &it->second;
}

const std::map<uint64_t, RelPointer>* RelObject::pointers_in(uint32_t section) const {
    const auto it = pointers_.find(section);
    return it == pointers_.end() ? nullptr : &it->second;
}

std::optional<uint64_t> RelObject::u64_at(uint32_t section, uint64_t offset) const {
    if (!section_valid(section)) return std::nullopt;
    const RelSection& s = sections_[section];
    if (!in_bounds(offset, 8, s.size)) return std::nullopt;
    if (s.type == SHT_NOBITS) return 0;
    return load<uint64_t>(s.bytes, offset);
}

std::optional<std::string> RelObject::string_at(uint32_t section, uint64_t offset, size_t max_len) const {
    if (!section_valid(section)) return std::nullopt;
    const auto bytes = sections_[section].bytes;
    if (offset >= bytes.size()) return std::nullopt;
    const auto* begin = reinterpret_cast<const char*>(bytes.data()) + offset;
    const size_t avail = std::min<uint64_t>(bytes.size() - offset, max_len + 1);
    const void* nul = std::memchr(begin, '\0', avail);
    if (nul == nullptr) return std::nullopt;
    return std::string(begin, static_cast<const char*>(nul));
}

bool RelObject::points_to_data(const RelPointer* p) const {
    return p != nullptr && section_valid(p->section) && sections_[p->section].is_data();
}

bool RelObject::points_to_code(const RelPointer* p) const {
    return p != nullptr && section_valid(p->section) && sections_[p->section].is_code();
}

std::string RelObject::where(uint32_t section, uint64_t offset) const {
    return (section_valid(section) ? sections_[section].name : std::string("?")) + "+" + hex(offset);
}

}  // namespace lpsafe::readers

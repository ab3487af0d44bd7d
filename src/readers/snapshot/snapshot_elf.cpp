#include "readers/snapshot/snapshot_elf.h"

#include <elf.h>

#include <cstring>
#include <string>

#include "lpsafe/arch.h"
#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers::snapshot {
namespace {

// An ELF file under construction: blobs appended at aligned offsets.
class ElfBuilder {
public:
    uint64_t append(std::span<const std::byte> bytes, uint64_t align = 8) {
        body_.resize((body_.size() + align - 1) / align * align);
        const uint64_t at = body_.size();
        body_.insert(body_.end(), bytes.begin(), bytes.end());
        return at;
    }
    template <typename T>
    uint64_t append_struct(const T& v) {
        return append(std::as_bytes(std::span(&v, 1)));
    }
    std::vector<std::byte>& body() { return body_; }

private:
    std::vector<std::byte> body_;
};

class StringTable {
public:
    StringTable() { bytes_.push_back(std::byte{0}); }
    uint32_t add(const std::string& s) {
        const auto at = static_cast<uint32_t>(bytes_.size());
        for (char c : s) bytes_.push_back(static_cast<std::byte>(c));
        bytes_.push_back(std::byte{0});
        return at;
    }
    std::span<const std::byte> bytes() const { return bytes_; }

private:
    std::vector<std::byte> bytes_;
};

Result<std::vector<std::byte>> build_id_note(const std::string& hexed, bool big) {
    if (hexed.size() % 2 != 0) return make_error("build-id '" + hexed + "' has an odd number of digits");
    std::vector<std::byte> note(12 + 4);
    uint32_t head[3] = {4, static_cast<uint32_t>(hexed.size() / 2), NT_GNU_BUILD_ID};
    if (big)
        for (uint32_t& w : head) to_big_endian(w);
    std::memcpy(note.data(), head, sizeof head);
    std::memcpy(note.data() + 12, "GNU", 4);
    for (size_t i = 0; i < hexed.size(); i += 2) {
        const std::string digits = hexed.substr(i, 2);
        if (digits.find_first_not_of("0123456789abcdef") != std::string::npos)
            return make_error("build-id '" + hexed + "' is not lower-case hexadecimal");
        note.push_back(static_cast<std::byte>(std::stoul(digits, nullptr, 16)));
    }
    note.resize((note.size() + 3) / 4 * 4);
    return note;
}

// A section's bytes: its recorded pieces over poison.
std::vector<std::byte> section_bytes(const Section& s) {
    std::vector<std::byte> bytes(s.size, kPoison);
    for (const Bytes& p : s.pieces) std::memcpy(bytes.data() + p.addr, p.bytes.data(), p.bytes.size());
    return bytes;
}

const char* section_name(SectionKind kind) {
    switch (kind) {
    case SectionKind::eh_frame_hdr: return ".eh_frame_hdr";
    case SectionKind::eh_frame: return ".eh_frame";
    case SectionKind::debug_frame: return ".debug_frame";
    }
    return "";
}

struct Sections {
    std::vector<Elf64_Shdr> headers{Elf64_Shdr{}};
    StringTable names;
    void add(ElfBuilder& b, const std::string& name, uint32_t type, uint64_t addr, std::span<const std::byte> data,
             uint64_t entsize = 0, uint32_t link = 0) {
        Elf64_Shdr sh{};
        sh.sh_name = names.add(name);
        sh.sh_type = type;
        sh.sh_flags = addr != 0 ? SHF_ALLOC : 0;
        sh.sh_addr = addr;
        sh.sh_offset = b.append(data);
        sh.sh_size = data.size();
        sh.sh_addralign = 1;
        sh.sh_entsize = entsize;
        sh.sh_link = link;
        headers.push_back(sh);
    }
    uint32_t next_index() const { return static_cast<uint32_t>(headers.size()); }
};

void add_symbols(ElfBuilder& b, Sections& secs, const ImageRecord& im, bool big) {
    if (im.symbols.empty()) return;
    StringTable strtab;
    std::vector<Elf64_Sym> syms(1);
    for (const Symbol& s : im.symbols) {
        Elf64_Sym sym{};
        sym.st_name = strtab.add(s.name);
        sym.st_info = ELF64_ST_INFO(s.global ? STB_GLOBAL : STB_LOCAL, STT_FUNC);
        sym.st_shndx = SHN_ABS;
        sym.st_value = s.start;
        sym.st_size = s.size;
        if (big) to_big_endian(sym);
        syms.push_back(sym);
    }
    const uint32_t strtab_index = secs.next_index();
    secs.add(b, ".strtab", SHT_STRTAB, 0, strtab.bytes());
    secs.add(b, ".symtab", SHT_SYMTAB, 0, std::as_bytes(std::span(syms)), sizeof(Elf64_Sym), strtab_index);
}

void add_soname(ElfBuilder& b, Sections& secs, const std::string& soname, bool big) {
    if (soname.empty()) return;
    StringTable dynstr;
    Elf64_Dyn dyn[2] = {{DT_SONAME, {dynstr.add(soname)}}, {DT_NULL, {0}}};
    if (big)
        for (Elf64_Dyn& d : dyn) to_big_endian(d);
    const uint32_t dynstr_index = secs.next_index();
    secs.add(b, ".dynstr", SHT_STRTAB, 0, dynstr.bytes());
    secs.add(b, ".dynamic", SHT_DYNAMIC, 0, std::as_bytes(std::span(dyn)), sizeof(Elf64_Dyn), dynstr_index);
}

}  // namespace

Result<std::vector<std::byte>> build_elf(const ImageRecord& im) {
    // A big-endian module (s390x) is rebuilt big-endian: its recorded CFI
    // bytes are in that order, and libdw reads them by EI_DATA.
    const Arch* arch = arch_for_elf_machine(im.machine);
    const bool big = arch != nullptr && arch->big_endian;
    std::vector<Elf64_Phdr> phdrs;
    for (const ElfSegment& s : im.segments) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_vaddr = ph.p_paddr = s.vaddr;
        ph.p_memsz = s.memsz;
        ph.p_flags = s.flags;
        ph.p_align = 1;
        phdrs.push_back(ph);
    }
    const size_t phnum = phdrs.size() + im.code.size() + (im.build_id.empty() ? 0 : 1);
    ElfBuilder b;
    b.body().resize(sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr));
    for (const Bytes& c : im.code) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_offset = b.append(c.bytes, 1);
        ph.p_vaddr = ph.p_paddr = c.addr;
        ph.p_filesz = ph.p_memsz = c.bytes.size();
        ph.p_align = 1;
        phdrs.push_back(ph);
    }
    Sections secs;
    if (!im.build_id.empty()) {
        auto note = build_id_note(im.build_id, big);
        if (!note) return note.error();
        Elf64_Phdr ph{};
        ph.p_type = PT_NOTE;
        ph.p_filesz = note->size();
        ph.p_align = 4;
        secs.add(b, ".note.gnu.build-id", SHT_NOTE, 0, *note);
        ph.p_offset = secs.headers.back().sh_offset;
        phdrs.push_back(ph);
    }
    // libdw takes .eh_frame_hdr only when it precedes .eh_frame, as linkers
    // lay them out; the recorded order is kept.
    for (const Section& s : im.sections) {
        secs.add(b, section_name(s.kind), SHT_PROGBITS, s.kind == SectionKind::debug_frame ? 0 : s.addr,
                 section_bytes(s));
    }
    add_symbols(b, secs, im, big);
    add_soname(b, secs, im.soname, big);
    const uint32_t shstrndx = secs.next_index();
    const uint32_t shstrtab_name = secs.names.add(".shstrtab");
    secs.add(b, "", SHT_STRTAB, 0, secs.names.bytes());
    secs.headers.back().sh_name = shstrtab_name;
    if (big)
        for (Elf64_Shdr& sh : secs.headers) to_big_endian(sh);
    const uint64_t shoff = b.append(std::as_bytes(std::span(secs.headers)));

    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = big ? ELFDATA2MSB : ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = im.executable_type ? ET_EXEC : ET_DYN;
    eh.e_machine = im.machine;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_shoff = shoff;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = static_cast<uint16_t>(secs.headers.size());
    eh.e_shstrndx = static_cast<uint16_t>(shstrndx);
    if (phnum >= PN_XNUM || secs.headers.size() >= SHN_LORESERVE) return make_error("too many recorded pieces for one ELF image");
    if (big) {
        to_big_endian(eh);
        for (Elf64_Phdr& ph : phdrs) to_big_endian(ph);
    }
    std::memcpy(b.body().data(), &eh, sizeof eh);
    std::memcpy(b.body().data() + sizeof eh, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr));
    return std::move(b.body());
}

}  // namespace lpsafe::readers::snapshot

// ELF files read with libelf over an mmap of the file (or over bytes taken
// from a process image): segments, build-id, soname, function symbols, and the
// unwind tables (elf_cfi.h).
#include <fcntl.h>
#include <gelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "elf_cfi.h"
#include "fde_index.h"
#include "lpsafe/module.h"

namespace lpsafe {
namespace {

struct ElfLibrary {
    ElfLibrary() { elf_version(EV_CURRENT); }
};

void ensure_libelf() {
    static ElfLibrary once;
    (void)once;
}

std::string hex(const unsigned char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

}  // namespace

struct ElfImage::Impl {
    std::string path;
    // Exactly one of these owns the bytes libelf reads.
    void* map = nullptr;
    size_t map_size = 0;
    std::vector<std::byte> owned;

    Elf* elf = nullptr;
    GElf_Ehdr ehdr{};
    std::string soname;
    std::string build_id;
    std::vector<ElfSegment> segments;
    std::vector<std::pair<uint64_t, uint64_t>> got_ranges;
    std::vector<Symbol> symbols;  // sorted by start, aliases merged
    std::map<std::string, uint64_t, std::less<>> thread_db;  // _thread_db_* objects
    std::unique_ptr<FdeIndex> fdes;
    bool have_symtab = false;
    mutable std::mutex derived_mutex;
    mutable std::map<std::string, AddressPairs, std::less<>> derived;
    // Made on first use: libdw's dwarf_begin_elf decompresses every
    // compressed .debug_* section, which a debug file read only for its
    // symbols (docs/symbols.md) never needs.
    mutable std::once_flag cfi_once;
    mutable std::unique_ptr<ElfCfi> cfi;
    const ElfCfi* tables() const {
        std::call_once(cfi_once, [this] { cfi = std::make_unique<ElfCfi>(elf); });
        return cfi.get();
    }

    ~Impl() {
        fdes.reset();
        cfi.reset();
        if (elf != nullptr) elf_end(elf);
        if (map != nullptr) munmap(map, map_size);
    }

    Status load(const char* data, size_t size);
    void read_segments_and_notes();
    void read_sections();
    void add_symbols(Elf_Scn* scn, const GElf_Shdr& shdr);
    void add_thread_db(const GElf_Sym& sym, const char* name);
    void finish_symbols();
};

Status ElfImage::Impl::load(const char* data, size_t size) {
    ensure_libelf();
    elf = elf_memory(const_cast<char*>(data), size);
    if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) return make_error(path + " is not an ELF file");
    if (gelf_getehdr(elf, &ehdr) == nullptr) return make_error(path + ": unreadable ELF header");
    if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
        return make_error(path + " is not an executable or shared object");
    }
    read_segments_and_notes();
    read_sections();
    finish_symbols();
    fdes = std::make_unique<FdeIndex>(elf);
    return Ok{};
}

void ElfImage::Impl::read_segments_and_notes() {
    size_t phnum = 0;
    if (elf_getphdrnum(elf, &phnum) != 0) return;
    for (size_t i = 0; i < phnum; ++i) {
        GElf_Phdr phdr;
        if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) continue;
        if (phdr.p_type == PT_LOAD) {
            segments.push_back({phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz, phdr.p_flags});
        } else if (phdr.p_type == PT_NOTE && build_id.empty()) {
            Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset), phdr.p_filesz,
                                                  ELF_T_NHDR);
            if (data == nullptr) continue;
            size_t offset = 0, name_off = 0, desc_off = 0;
            GElf_Nhdr nhdr;
            while (offset < data->d_size &&
                   (offset = gelf_getnote(data, offset, &nhdr, &name_off, &desc_off)) > 0) {
                const char* base = static_cast<const char*>(data->d_buf);
                if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
                    std::memcmp(base + name_off, "GNU", 4) == 0) {
                    build_id = hex(reinterpret_cast<const unsigned char*>(base + desc_off), nhdr.n_descsz);
                    break;
                }
            }
        }
    }
}

void ElfImage::Impl::read_sections() {
    Elf_Scn* scn = nullptr;
    std::vector<std::pair<Elf_Scn*, GElf_Shdr>> dynsyms;
    size_t shstrndx = 0;
    const bool names = elf_getshdrstrndx(elf, &shstrndx) == 0;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr) continue;
        if (names && shdr.sh_type == SHT_PROGBITS && shdr.sh_addr != 0 && shdr.sh_size != 0) {
            const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
            if (name != nullptr && (std::strcmp(name, ".got") == 0 || std::strcmp(name, ".got.plt") == 0))
                got_ranges.emplace_back(shdr.sh_addr, shdr.sh_addr + shdr.sh_size);
        }
        if (shdr.sh_type == SHT_SYMTAB) {
            have_symtab = true;
            add_symbols(scn, shdr);
        } else if (shdr.sh_type == SHT_DYNSYM) {
            dynsyms.emplace_back(scn, shdr);
        } else if (shdr.sh_type == SHT_DYNAMIC && soname.empty()) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            if (data == nullptr || shdr.sh_entsize == 0) continue;
            for (size_t i = 0; i < shdr.sh_size / shdr.sh_entsize; ++i) {
                GElf_Dyn dyn;
                if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
                if (dyn.d_tag == DT_SONAME) {
                    const char* s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
                    if (s != nullptr) soname = s;
                }
            }
        }
    }
    // .dynsym is a subset of .symtab; read it only when the file is stripped.
    if (!have_symtab) {
        for (auto& [s, shdr] : dynsyms) add_symbols(s, shdr);
    }
}

void ElfImage::Impl::add_symbols(Elf_Scn* scn, const GElf_Shdr& shdr) {
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || shdr.sh_entsize == 0) return;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
        const int type = GELF_ST_TYPE(sym.st_info);
        if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
        if (type == STT_OBJECT) {
            add_thread_db(sym, elf_strptr(elf, shdr.sh_link, sym.st_name));
            continue;
        }
        if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
        const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (name == nullptr || *name == '\0') continue;
        const int bind = GELF_ST_BIND(sym.st_info);
        symbols.push_back({name, sym.st_value, sym.st_size, bind == STB_GLOBAL || bind == STB_WEAK});
    }
}

// glibc publishes its thread descriptor's layout for libthread_db (nptl_db's
// structs.def): `_thread_db_<struct>_<field>` objects of three u32 (bits,
// count, offset). Only their addresses are kept; the bytes are read when used.
// Also the dynamic linker's `_rtld_global`, which libthread_db looks up too:
// its thread lists (`_dl_stack_used`, `_dl_stack_user`) find descriptors
// where no thread pointer does (qemu-user's cores have no NT_ARM_TLS).
void ElfImage::Impl::add_thread_db(const GElf_Sym& sym, const char* name) {
    constexpr std::string_view kPrefix = "_thread_db_";
    if (name == nullptr) return;
    if (std::string_view(name) != "_rtld_global" && std::string_view(name).substr(0, kPrefix.size()) != kPrefix) return;
    thread_db.emplace(name, sym.st_value);
}

void ElfImage::Impl::finish_symbols() {
    // Order by start, then prefer sized, global, and shorter (public) names, so
    // that the first symbol at an address is the one to show.
    std::sort(symbols.begin(), symbols.end(), [](const Symbol& a, const Symbol& b) {
        if (a.start != b.start) return a.start < b.start;
        if ((a.size != 0) != (b.size != 0)) return a.size != 0;
        if (a.global != b.global) return a.global;
        if (a.name.size() != b.name.size()) return a.name.size() < b.name.size();
        return a.name < b.name;
    });
}

ElfImage::ElfImage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ElfImage::~ElfImage() = default;

Result<std::shared_ptr<ElfImage>> ElfImage::open(const std::string& path) { return open(path, path); }

Result<std::shared_ptr<ElfImage>> ElfImage::open(const std::string& path, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    // O_NONBLOCK: a FIFO named by a core (NT_FILE) must not hang the reader
    // waiting for a writer; it is refused below as not a regular file.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return make_error(path + " is not a regular file");
    }
    if (st.st_size == 0) {
        ::close(fd);
        return make_error(path + " is empty");
    }
    impl->map_size = static_cast<size_t>(st.st_size);
    // Writable but private (copy-on-write, the file never changes): libelf
    // writes into the image when libdw decompresses SHF_COMPRESSED sections
    // (elf_compress), as Debian's debug files have them; a read-only map
    // made that a SIGSEGV.
    void* map = mmap(nullptr, impl->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return make_error("cannot map " + path + ": " + std::strerror(errno));
    impl->map = map;
    if (auto st2 = impl->load(static_cast<const char*>(map), impl->map_size); !st2) return st2.error();
    return std::shared_ptr<ElfImage>(new ElfImage(std::move(impl)));
}

Result<std::shared_ptr<ElfImage>> ElfImage::from_bytes(std::string name, std::vector<std::byte> bytes) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->owned = std::move(bytes);
    if (impl->owned.empty()) return make_error(impl->path + " is empty");
    if (auto st = impl->load(reinterpret_cast<const char*>(impl->owned.data()), impl->owned.size()); !st) {
        return st.error();
    }
    return std::shared_ptr<ElfImage>(new ElfImage(std::move(impl)));
}

const std::string& ElfImage::path() const { return impl_->path; }
uint16_t ElfImage::machine() const { return impl_->ehdr.e_machine; }
bool ElfImage::is_executable_type() const { return impl_->ehdr.e_type == ET_EXEC; }
const std::string& ElfImage::soname() const { return impl_->soname; }
const std::string& ElfImage::build_id() const { return impl_->build_id; }
const std::vector<ElfSegment>& ElfImage::segments() const { return impl_->segments; }
const std::vector<std::pair<uint64_t, uint64_t>>& ElfImage::got_ranges() const { return impl_->got_ranges; }
bool ElfImage::has_cfi() const { return impl_->tables()->present(); }

size_t ElfImage::read(uint64_t vaddr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = vaddr + done;
        const ElfSegment* seg = nullptr;
        for (const auto& s : impl_->segments) {
            if (at >= s.vaddr && at - s.vaddr < s.filesz) {
                seg = &s;
                break;
            }
        }
        if (seg == nullptr) break;
        const uint64_t file_off = seg->offset + (at - seg->vaddr);
        const size_t image_size = impl_->map != nullptr ? impl_->map_size : impl_->owned.size();
        if (file_off >= image_size) break;
        const auto* base = impl_->map != nullptr ? static_cast<const std::byte*>(impl_->map) : impl_->owned.data();
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>({out.size() - done, seg->vaddr + seg->filesz - at, image_size - file_off}));
        std::memcpy(out.data() + done, base + file_off, n);
        done += n;
    }
    return done;
}

const Symbol* ElfImage::symbol_at(uint64_t vaddr) const {
    const auto& syms = impl_->symbols;
    auto it = std::upper_bound(syms.begin(), syms.end(), vaddr,
                               [](uint64_t a, const Symbol& s) { return a < s.start; });
    // Walk back over symbols that start at or before vaddr; nested or
    // overlapping symbols are rare, so a few steps suffice.
    for (int steps = 0; it != syms.begin() && steps < 16; ++steps) {
        --it;
        if (it->contains(vaddr)) {
            // Prefer the first (best-ranked) symbol at this start address.
            auto first = it;
            while (first != syms.begin() && std::prev(first)->start == it->start) --first;
            for (auto c = first; c->start == it->start; ++c) {
                if (c->contains(vaddr)) return &*c;
            }
            return &*it;
        }
    }
    return nullptr;
}

std::optional<FunctionExtent> ElfImage::function_at(uint64_t vaddr) const {
    if (const Symbol* s = symbol_at(vaddr)) return FunctionExtent{s->start, s->size, s};
    if (!impl_->fdes) return std::nullopt;
    const auto fde = impl_->fdes->lookup(vaddr);
    if (!fde) return std::nullopt;
    return FunctionExtent{fde->start, fde->size, nullptr};
}

const ElfImage::AddressPairs& ElfImage::derived_table(std::string_view key, AddressPairs (*make)(const ElfImage&)) const {
    std::lock_guard lock(impl_->derived_mutex);
    auto it = impl_->derived.find(key);
    if (it == impl_->derived.end()) it = impl_->derived.emplace(std::string(key), make(*this)).first;
    return it->second;
}

std::vector<const Symbol*> ElfImage::symbols_named(std::string_view name) const {
    std::vector<const Symbol*> out;
    for (const auto& s : impl_->symbols) {
        if (s.name == name) out.push_back(&s);
    }
    return out;
}

const std::vector<Symbol>& ElfImage::symbols() const { return impl_->symbols; }

std::optional<SectionBytes> ElfImage::section_named(std::string_view name) const {
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(impl_->elf, &shstrndx) != 0) return std::nullopt;
    const auto file = file_bytes();
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(impl_->elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr) continue;
        const char* n = elf_strptr(impl_->elf, shstrndx, shdr.sh_name);
        if (n == nullptr || name != n) continue;
        if (shdr.sh_type == SHT_NOBITS || (shdr.sh_flags & SHF_COMPRESSED) != 0) return std::nullopt;
        if (shdr.sh_offset > file.size() || shdr.sh_size > file.size() - shdr.sh_offset) return std::nullopt;
        return SectionBytes{shdr.sh_addr, file.subspan(shdr.sh_offset, shdr.sh_size)};
    }
    return std::nullopt;
}

std::optional<uint64_t> ElfImage::thread_db_symbol(std::string_view name) const {
    const auto it = impl_->thread_db.find(name);
    if (it == impl_->thread_db.end()) return std::nullopt;
    return it->second;
}

bool ElfImage::has_symtab() const { return impl_->have_symtab; }

size_t ElfImage::add_symbols(const std::vector<Symbol>& more) {
    // A symbol outside the code this file loads names nothing a frame can be
    // in, and a wrong extent would mislead the checks that read symbol sizes.
    const auto in_code = [&](const Symbol& s) {
        return std::any_of(impl_->segments.begin(), impl_->segments.end(), [&](const ElfSegment& seg) {
            return (seg.flags & PF_X) != 0 && s.start >= seg.vaddr && s.start - seg.vaddr < seg.memsz &&
                   s.size <= seg.memsz - (s.start - seg.vaddr);
        });
    };
    std::set<std::pair<uint64_t, std::string>> known;
    for (const Symbol& k : impl_->symbols) known.emplace(k.start, k.name);
    const size_t before = impl_->symbols.size();
    for (const Symbol& s : more)
        if (in_code(s) && known.emplace(s.start, s.name).second) impl_->symbols.push_back(s);
    const size_t added = impl_->symbols.size() - before;
    if (added > 0) impl_->finish_symbols();
    return added;
}

std::span<const std::byte> ElfImage::file_bytes() const {
    if (impl_->map != nullptr) return {static_cast<const std::byte*>(impl_->map), impl_->map_size};
    return impl_->owned;
}

CfiLookup ElfImage::cfi_at(uint64_t vaddr) const {
    return impl_->tables()->lookup(vaddr);
}

}  // namespace lpsafe

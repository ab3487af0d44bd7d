#include "readers/core/link_map.h"

#include <elf.h>

#include <set>

#include "lpsafe/module.h"
#include "readers/core/dynamic_section.h"
#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxObjects = 4096;

std::optional<uint64_t> auxv_value(const Auxv& auxv, uint64_t type) {
    for (const auto& [t, v] : auxv)
        if (t == type) return v;
    return std::nullopt;
}

// A NUL-terminated string from memory, or else from `image` (loaded at
// `bias`): the dynamic linker's own entry is named by the executable's
// PT_INTERP string, which lies in a text page qemu does not dump.
std::optional<std::string> read_string(const Memory& memory, uint64_t addr, const ElfImage* image = nullptr,
                                       uint64_t bias = 0) {
    std::string s;
    std::byte c{};
    while (s.size() < kMaxPath) {
        const uint64_t at = addr + s.size();
        const bool got = memory.read(at, std::span(&c, 1)) == 1 ||
                         (image != nullptr && at >= bias && image->read(at - bias, std::span(&c, 1)) == 1);
        if (!got) return std::nullopt;
        if (c == std::byte{0}) return s;
        s.push_back(static_cast<char>(c));
    }
    return std::nullopt;
}

std::string join_sysroot(const std::string& sysroot, const std::string& path) {
    if (sysroot.empty()) return path;
    std::string root = sysroot;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    return path.starts_with('/') ? root + path : root + "/" + path;
}

// The file-backed part of every PT_LOAD, as mmap placed it.
void add_ranges(const ElfImage& image, uint64_t bias, const std::string& path, std::vector<FileRange>& out) {
    for (const ElfSegment& seg : image.segments()) {
        if (seg.filesz == 0) continue;
        const uint64_t start = (bias + seg.vaddr) & ~(kPage - 1);
        const uint64_t end = align_up(bias + seg.vaddr + seg.filesz, kPage);
        out.push_back({start, end, seg.offset & ~(kPage - 1), path});
    }
}

// The executable's load bias: AT_PHDR is where its program headers are,
// and the file says at which address they lie (PT_PHDR, else the segment
// holding e_phoff).
Result<uint64_t> exe_bias(const ElfImage& exe, uint64_t at_phdr) {
    const auto ehdr = load<Elf64_Ehdr>(exe.file_bytes(), 0, elf_is_big_endian(exe.file_bytes()));
    if (!ehdr) return make_error(exe.path() + " has no ELF header");
    for (const ElfSegment& seg : exe.segments()) {
        if (ehdr->e_phoff >= seg.offset && ehdr->e_phoff - seg.offset < seg.filesz)
            return at_phdr - (seg.vaddr + (ehdr->e_phoff - seg.offset));
    }
    return make_error(exe.path() + ": no PT_LOAD holds its program headers");
}

// r_debug (link.h): int r_version; struct link_map *r_map; ...
// link_map: l_addr, l_name, l_ld, l_next, l_prev.
struct LinkEntry {
    uint64_t l_addr = 0;
    std::string name;
    uint64_t l_ld = 0;
};

Result<std::vector<LinkEntry>> walk_link_map(const Memory& memory, uint64_t r_debug, const ElfImage& exe,
                                             uint64_t exe_bias) {
    auto map = memory.read_u64(r_debug + 8);
    if (!map) return make_error("r_debug at " + hex(r_debug) + " is not in the core's memory");
    std::vector<LinkEntry> out;
    std::set<uint64_t> seen;
    for (uint64_t at = *map; at != 0; ) {
        if (!seen.insert(at).second || out.size() >= kMaxObjects) return make_error("the link map loops");
        const auto addr = memory.read_u64(at), name = memory.read_u64(at + 8), ld = memory.read_u64(at + 16),
                   next = memory.read_u64(at + 24);
        if (!addr || !name || !ld || !next) return make_error("link_map entry at " + hex(at) + " is not in the core's memory");
        auto str = *name ? read_string(memory, *name, &exe, exe_bias) : std::string();
        if (!str) return make_error("the name of link_map entry at " + hex(at) + " is not in the core's memory");
        out.push_back({*addr, std::move(*str), *ld});
        at = *next;
    }
    return out;
}

// The r_debug address from DT_DEBUG of the executable's dynamic section.
Result<uint64_t> find_r_debug(const Memory& memory, const ElfImage& exe, uint64_t bias) {
    const auto dyn = dynamic_segment(exe);
    if (!dyn) return make_error(exe.path() + " has no dynamic section (a static executable: no link map)");
    auto entries = dynamic_in_memory(memory, bias + dyn->vaddr, dyn->size);
    if (!entries) return entries.error();
    for (const auto& [tag, value] : *entries) {
        if (tag != DT_DEBUG) continue;
        if (value == 0) return make_error("DT_DEBUG is 0: the dynamic linker had not started");
        return value;
    }
    return make_error(exe.path() + " has no DT_DEBUG entry");
}

}  // namespace

Result<std::vector<FileRange>> file_ranges_from_link_map(const Memory& memory, const Auxv& auxv,
                                                         const LinkMapSearch& search) {
    const auto at_phdr = auxv_value(auxv, AT_PHDR);
    if (!at_phdr) return make_error("the core has neither NT_FILE nor AT_PHDR: its modules cannot be found");
    std::string exe_path = search.exe;
    if (exe_path.empty()) {
        const auto execfn = auxv_value(auxv, AT_EXECFN);
        auto name = execfn ? read_string(memory, *execfn) : std::nullopt;
        if (!name) return make_error("the core has no NT_FILE and its AT_EXECFN is unreadable: pass --exe");
        exe_path = *name;
    }
    auto exe = ElfImage::open(exe_path);
    if (!exe) return make_error("the core has no NT_FILE, so the executable is needed: " + exe.error().message);
    auto bias = exe_bias(**exe, *at_phdr);
    if (!bias) return bias.error();
    std::vector<FileRange> out;
    add_ranges(**exe, *bias, exe_path, out);

    auto r_debug = find_r_debug(memory, **exe, *bias);
    if (!r_debug) return r_debug.error();
    auto entries = walk_link_map(memory, *r_debug, **exe, *bias);
    if (!entries) return entries.error();
    for (const LinkEntry& e : *entries) {
        if (e.name.empty()) continue;  // the executable (and entries without a file)
        auto image = ElfImage::open(join_sysroot(search.sysroot, e.name));
        if (!image) continue;
        const auto dyn = dynamic_segment(**image);
        // l_ld is where the object's dynamic section really is: a file that
        // would put it elsewhere is not the object that was loaded.
        if (!dyn || e.l_addr + dyn->vaddr != e.l_ld) continue;
        add_ranges(**image, e.l_addr, e.name, out);
    }
    return out;
}

}  // namespace lpsafe::readers

#include "readers/modules/module_loader.h"

#include <elf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "readers/core/core_notes.h"
#include "readers/modules/debug_symbols.h"
#include "readers/core/dynamic_section.h"
#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {

namespace {

// The granularity of mmap on x86_64; a mapping starts at the page that holds
// the first byte of its segment.
constexpr uint64_t kPageSize = 4096;
// Limits on what is read out of (untrusted) process memory.
constexpr uint64_t kMaxPhnum = 1024;
constexpr uint64_t kMaxNoteBytes = 64 * 1024;
constexpr uint64_t kMaxVdsoBytes = 1024 * 1024;

std::optional<uint64_t> auxv_value(const std::vector<std::pair<uint64_t, uint64_t>>& auxv, uint64_t type) {
    for (const auto& [t, v] : auxv)
        if (t == type) return v;
    return std::nullopt;
}

// The mappings of one loaded instance of a file, in address order.
struct Group {
    std::string path;
    std::vector<const Mapping*> maps;
};

std::vector<Group> group_by_file(const std::vector<Mapping>& mappings) {
    std::vector<Group> groups;
    std::map<std::string, size_t> current;  // path -> index of its latest group
    for (const Mapping& m : mappings) {
        if (m.path.empty()) continue;
        auto it = current.find(m.path);
        // Offsets never decrease within one load (RELRO maps one file page
        // twice, small objects share page 0 between segments).
        if (it != current.end() && m.file_offset >= groups[it->second].maps.back()->file_offset) {
            groups[it->second].maps.push_back(&m);
            continue;
        }
        current[m.path] = groups.size();
        groups.push_back({m.path, {&m}});
    }
    return groups;
}

std::string join_sysroot(const std::string& sysroot, const std::string& path) {
    if (sysroot.empty()) return path;
    std::string root = sysroot;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    return path.starts_with('/') ? root + path : root + "/" + path;
}

enum class FileState { elf, not_elf, missing, unreadable };

// Looks at the first bytes of the file only; ElfImage::open does the rest.
FileState probe_file(const std::string& file, std::string& why) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(file, ec);
    if (ec) {
        why = ec.message();
        return FileState::unreadable;
    }
    if (!exists) {
        why = "no such file";
        return FileState::missing;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
        why = std::strerror(errno);
        return FileState::unreadable;
    }
    char head[4] = {};
    in.read(head, sizeof head);
    if (in.gcount() != sizeof head) return FileState::not_elf;
    return has_elf_magic(std::as_bytes(std::span(head))) ? FileState::elf : FileState::not_elf;
}

const Mapping* lowest_offset(const Group& group) {
    return *std::min_element(group.maps.begin(), group.maps.end(),
                             [](const Mapping* a, const Mapping* b) { return a->file_offset < b->file_offset; });
}

bool memory_has_elf_header(const Memory& memory, uint64_t addr) {
    std::byte head[4];
    return memory.read(addr, head) == sizeof head && has_elf_magic(head);
}

// See load_modules: may a file we cannot open hold code the stacks run through?
bool may_hold_code(const Group& group, bool is_exe, const Memory& memory) {
    if (is_exe || group.path.find(".so") != std::string::npos) return true;
    for (const Mapping* m : group.maps)
        if (!m->permissions_known || m->executable) return true;
    const Mapping* low = lowest_offset(group);
    return low->file_offset == 0 && memory_has_elf_header(memory, low->start);
}

// Compares the file's build-id with the one in process memory.
ModuleStatus verify_build_id(const Group& group, const ElfImage& image, const std::string& file, uint64_t bias,
                             const Memory& memory) {
    using Kind = ModuleStatus::Kind;
    if (image.build_id().empty())
        return {Kind::build_id_unverified, file + " has no build-id: cannot check it is the file the process loaded"};
    const Mapping* low = lowest_offset(group);
    if (low->file_offset != 0)
        return {Kind::build_id_unverified,
                "the process has no mapping of the ELF header of " + file + ": cannot read its build-id from memory"};
    auto in_memory = build_id_in_memory(memory, low->start);
    // qemu-user's cores hold no page of a module's text segment, header and
    // build-id note included; its dynamic section (in the dumped data
    // segment) is then what identifies the file, a weaker proof the status
    // detail states.
    if (!in_memory && !memory_has_elf_header(memory, low->start)) {
        std::byte probe[1];
        if (memory.read(low->start, probe) == 0) {
            const std::string why = dynamic_mismatch(memory, image, bias);
            if (why.empty())
                return {Kind::ok, file + " identified by its dynamic section in memory (the core holds no page of "
                                         "its header to read the build-id from)"};
            return {Kind::build_id_unverified, "cannot verify " + file + ": the core holds no page of its ELF header, and " + why};
        }
    }
    if (!in_memory)
        return {Kind::build_id_unverified,
                "cannot verify " + file + " (build-id " + image.build_id() + "): " + in_memory.error().message};
    if (*in_memory != image.build_id())
        return {Kind::build_id_mismatch, "build-id of " + file + " (" + image.build_id() +
                                             ") differs from the one in process memory (" + *in_memory +
                                             "): not the file the process loaded"};
    return {Kind::ok, {}};
}

Module module_for(const Group& group, bool is_exe, const ModuleSearch& search, const Memory& memory,
                  DebugSymbolFinder& debug, bool& keep) {
    using Kind = ModuleStatus::Kind;
    Module mod;
    mod.path = group.path;
    mod.name = std::filesystem::path(group.path).filename().string();
    mod.start = group.maps.front()->start;
    mod.end = group.maps.back()->end;
    const std::string file = is_exe && !search.exe.empty() ? search.exe : join_sysroot(search.sysroot, group.path);
    const std::string tried = file == group.path ? file : file + " (for " + group.path + ")";

    keep = true;
    std::string why;
    switch (probe_file(file, why)) {
    case FileState::missing:
        keep = may_hold_code(group, is_exe, memory);
        mod.status = {Kind::missing_file, "cannot find " + tried + ": " + why};
        return mod;
    case FileState::unreadable:
        keep = may_hold_code(group, is_exe, memory);
        mod.status = {Kind::unreadable_file, "cannot read " + tried + ": " + why};
        return mod;
    case FileState::not_elf:
        // Data files are not modules; an executable that is not ELF is a
        // wrong --exe and must show.
        keep = is_exe;
        mod.status = {Kind::not_elf, tried + " is not an ELF file"};
        return mod;
    case FileState::elf:
        break;
    }

    auto image = ElfImage::open(file);
    if (!image) {
        mod.status = {Kind::unreadable_file, image.error().message};
        return mod;
    }
    mod.image = *image;  // kept even when unusable: reports may still symbolize
    auto bias = compute_bias(**image, *lowest_offset(group));
    if (!bias) {
        mod.status = {Kind::not_elf, bias.error().message + " (" + tried + ")"};
        return mod;
    }
    mod.bias = *bias;
    mod.status = verify_build_id(group, **image, file, mod.bias, memory);
    debug.add_symbols(mod, file);
    return mod;
}

// The vDSO comes from the process itself, so it is trusted as it is.
std::optional<Module> vdso_module(const std::vector<Mapping>& mappings, const Memory& memory, uint64_t base) {
    auto it = std::find_if(mappings.begin(), mappings.end(), [&](const Mapping& m) { return m.contains(base); });
    if (it == mappings.end() || it->end - base > kMaxVdsoBytes) return std::nullopt;
    std::vector<std::byte> bytes(it->end - base);
    if (memory.read(base, bytes) != bytes.size()) return std::nullopt;

    Module mod;
    mod.path = mod.name = "[vdso]";
    mod.start = it->start;
    mod.end = it->end;
    auto image = ElfImage::from_bytes("[vdso]", std::move(bytes));
    if (!image) {
        mod.status = {ModuleStatus::Kind::not_elf, "vDSO at " + hex(base) + ": " + image.error().message};
        return mod;
    }
    Mapping header;
    header.start = base;
    auto bias = compute_bias(**image, header);
    mod.image = *image;
    if (!bias) {
        mod.status = {ModuleStatus::Kind::not_elf, "vDSO at " + hex(base) + ": " + bias.error().message};
        return mod;
    }
    mod.bias = *bias;
    return mod;
}

}  // namespace

Result<uint64_t> compute_bias(const ElfImage& image, const Mapping& lowest) {
    for (const ElfSegment& seg : image.segments()) {
        if (seg.offset < lowest.file_offset || seg.offset - lowest.file_offset >= kPageSize) continue;
        // runtime(seg.offset) = lowest.start + (seg.offset - file_offset) = seg.vaddr + bias
        return lowest.start + (seg.offset - lowest.file_offset) - seg.vaddr;
    }
    return make_error("no PT_LOAD segment of " + image.path() + " starts in the page at file offset " +
                      hex(lowest.file_offset) + ", which the process mapped at " + hex(lowest.start) +
                      ": not the file the process loaded");
}

Result<std::string> build_id_in_memory(const Memory& memory, uint64_t header_addr) {
    std::byte ehdr_bytes[sizeof(Elf64_Ehdr)];
    if (memory.read(header_addr, ehdr_bytes) != sizeof ehdr_bytes)
        return make_error("process memory at " + hex(header_addr) + " does not hold the ELF header");
    const bool big = elf_is_big_endian(ehdr_bytes);
    const auto ehdr = *load<Elf64_Ehdr>(ehdr_bytes, 0, big);
    if (!has_elf_magic(ehdr_bytes) || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
        ehdr.e_phentsize != sizeof(Elf64_Phdr) || ehdr.e_phnum > kMaxPhnum)
        return make_error("process memory at " + hex(header_addr) + " holds no valid 64-bit ELF header");
    // No program headers, so no PT_NOTE to hold a build-id (and nothing for
    // the memcpy below: found by fuzz_core_reader under UBSan).
    if (ehdr.e_phnum == 0)
        return make_error("the ELF header in process memory at " + hex(header_addr) + " lists no program headers");

    std::vector<std::byte> phdr_bytes(ehdr.e_phnum * sizeof(Elf64_Phdr));
    if (memory.read(header_addr + ehdr.e_phoff, phdr_bytes) != phdr_bytes.size())
        return make_error("process memory lacks the program headers at " + hex(header_addr + ehdr.e_phoff));
    std::vector<Elf64_Phdr> phdrs(ehdr.e_phnum);
    std::memcpy(phdrs.data(), phdr_bytes.data(), phdr_bytes.size());
    if (big)
        for (Elf64_Phdr& ph : phdrs) to_host(ph);

    // The bias from memory's own program headers, not the file's: the file
    // is what is being checked.
    std::optional<uint64_t> bias;
    for (const Elf64_Phdr& ph : phdrs)
        if (ph.p_type == PT_LOAD && ph.p_offset < kPageSize) {
            bias = header_addr + ph.p_offset - ph.p_vaddr;
            break;
        }
    if (!bias) return make_error("the ELF header in memory at " + hex(header_addr) + " has no PT_LOAD at offset 0");

    std::string missing;
    for (const Elf64_Phdr& ph : phdrs) {
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0) continue;
        std::vector<std::byte> bytes(std::min(ph.p_filesz, kMaxNoteBytes));
        const uint64_t addr = *bias + ph.p_vaddr;
        if (memory.read(addr, bytes) != bytes.size()) {
            missing = "its notes at " + hex(addr) + " are not in process memory";
            continue;
        }
        auto notes = parse_notes(bytes, ph.p_align, big);
        if (!notes) continue;  // another segment may still hold the build-id
        for (const Note& note : *notes)
            if (note.name == "GNU" && note.type == NT_GNU_BUILD_ID && !note.desc.empty()) {
                std::string hexed;
                static constexpr char digits[] = "0123456789abcdef";
                for (std::byte b : note.desc) {
                    hexed += digits[std::to_integer<unsigned>(b) >> 4];
                    hexed += digits[std::to_integer<unsigned>(b) & 0xf];
                }
                return hexed;
            }
    }
    return make_error(missing.empty() ? "no build-id note in the ELF object at " + hex(header_addr) : missing);
}

ModuleMap load_modules(const std::vector<Mapping>& mappings, const Memory& memory,
                       const std::vector<std::pair<uint64_t, uint64_t>>& auxv, const ModuleSearch& search) {
    ModuleMap modules;
    // The main executable is the file mapped at the entry point; AT_ENTRY is
    // 9 (elf.h names it AT_ENTRY too).
    const auto entry = auxv_value(auxv, AT_ENTRY);
    DebugSymbolFinder debug({search.debug_dirs, search.sysroot});
    for (const Group& group : group_by_file(mappings)) {
        const bool is_exe = entry && std::any_of(group.maps.begin(), group.maps.end(),
                                                 [&](const Mapping* m) { return m->contains(*entry); });
        bool keep = false;
        Module mod = module_for(group, is_exe, search, memory, debug, keep);
        if (keep) modules.add(std::move(mod));
    }
    if (const auto vdso = auxv_value(auxv, AT_SYSINFO_EHDR))
        if (auto mod = vdso_module(mappings, memory, *vdso)) modules.add(std::move(*mod));
    return modules;
}

}  // namespace lpsafe::readers

#include "readers/core/core_file.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "lpsafe/arch.h"
#include "readers/core/core_notes.h"
#include "readers/core/pac_mask.h"
#include "readers/modules/elf_bytes.h"
#include "readers/core/link_map.h"
#include "readers/modules/module_loader.h"
#include "readers/modules/thread_start.h"

namespace lpsafe::readers {

namespace {

std::string describe_non_core_type(uint16_t type) {
    switch (type) {
    case ET_EXEC: return "an ELF executable";
    case ET_DYN: return "an ELF shared object or position-independent executable";
    case ET_REL: return "an ELF relocatable object";
    default: return "an ELF file of type " + std::to_string(type);
    }
}

// The ELF header checks, in the order that gives the most useful message.
Result<Elf64_Ehdr> read_ehdr(std::span<const std::byte> file, const std::string& path) {
    if (file.empty()) return make_error(path + " is empty (0 bytes), not a core dump");
    if (!has_elf_magic(file)) return make_error(path + " is not an ELF file (no ELF magic), so not a core dump");
    const auto ehdr = load<Elf64_Ehdr>(file, 0, elf_is_big_endian(file));
    if (!ehdr)
        return make_error(path + " is truncated: " + std::to_string(file.size()) +
                          " bytes, shorter than an ELF header (64 bytes)");
    if (ehdr->e_ident[EI_CLASS] != ELFCLASS64)
        return make_error(path + " is not a 64-bit ELF file (EI_CLASS=" + std::to_string(ehdr->e_ident[EI_CLASS]) +
                          "); only 64-bit cores are supported");
    // Big-endian cores (s390x) are read through load()'s byte swap.
    if (ehdr->e_ident[EI_DATA] != ELFDATA2LSB && ehdr->e_ident[EI_DATA] != ELFDATA2MSB)
        return make_error(path + " has an unknown byte order (EI_DATA=" + std::to_string(ehdr->e_ident[EI_DATA]) + ")");
    if (ehdr->e_type != ET_CORE) return make_error(path + " is " + describe_non_core_type(ehdr->e_type) + ", not a core dump");
    if (ehdr->e_phentsize != sizeof(Elf64_Phdr))
        return make_error(path + " is corrupt: program header entries are " + std::to_string(ehdr->e_phentsize) +
                          " bytes, not " + std::to_string(sizeof(Elf64_Phdr)));
    return *ehdr;
}

// With more than 65534 segments (large kernel cores), e_phnum holds PN_XNUM
// and the real count sits in section header 0's sh_info (elf(5)).
Result<uint64_t> program_header_count(std::span<const std::byte> file, const Elf64_Ehdr& ehdr,
                                      const std::string& path) {
    if (ehdr.e_phnum != PN_XNUM) return uint64_t{ehdr.e_phnum};
    const auto shdr0 = load<Elf64_Shdr>(file, ehdr.e_shoff, elf_is_big_endian(file));
    if (ehdr.e_shoff == 0 || !shdr0)
        return make_error(path + " is truncated or corrupt: e_phnum is PN_XNUM but section header 0 at " +
                          hex(ehdr.e_shoff) + " is not in the file");
    return uint64_t{shdr0->sh_info};
}

Result<std::vector<Elf64_Phdr>> read_phdrs(std::span<const std::byte> file, const Elf64_Ehdr& ehdr,
                                           const std::string& path) {
    auto count = program_header_count(file, ehdr, path);
    if (!count) return count.error();
    if (*count > file.size() / sizeof(Elf64_Phdr) ||
        !in_bounds(ehdr.e_phoff, *count * sizeof(Elf64_Phdr), file.size()))
        return make_error(path + " is truncated or corrupt: its " + std::to_string(*count) +
                          " program headers at offset " + hex(ehdr.e_phoff) + " extend past the end of the file (" +
                          std::to_string(file.size()) + " bytes)");
    std::vector<Elf64_Phdr> phdrs(*count);
    // No program headers: data() is null, and memcpy from/to null is
    // undefined even for 0 bytes (UBSan, found by fuzz_core_reader).
    if (*count > 0) std::memcpy(phdrs.data(), file.data() + ehdr.e_phoff, *count * sizeof(Elf64_Phdr));
    if (elf_is_big_endian(file))
        for (Elf64_Phdr& ph : phdrs) to_host(ph);
    return phdrs;
}

// PT_LOAD segments become memory (clamped to what the file holds) and
// mappings (permissions from p_flags).
struct Loads {
    std::vector<CoreMemory::Segment> segments;
    std::vector<Mapping> mappings;
};

Result<Loads> read_loads(std::span<const std::byte> file, const std::vector<Elf64_Phdr>& phdrs,
                         const std::string& path) {
    Loads loads;
    for (const Elf64_Phdr& ph : phdrs) {
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_offset + ph.p_filesz < ph.p_offset)
            return make_error(path + " is corrupt: a PT_LOAD segment at " + hex(ph.p_vaddr) +
                              " wraps around the address space or the file");
        // A truncated core keeps the part of the segment it still holds.
        const uint64_t available = ph.p_offset < file.size() ? file.size() - ph.p_offset : 0;
        const uint64_t readable = std::min({ph.p_filesz, ph.p_memsz, available});
        loads.segments.push_back({ph.p_vaddr, ph.p_memsz,
                                  readable ? file.subspan(ph.p_offset, readable) : std::span<const std::byte>{}});
        Mapping m;
        m.start = ph.p_vaddr;
        m.end = ph.p_vaddr + ph.p_memsz;
        m.readable = ph.p_flags & PF_R;
        m.writable = ph.p_flags & PF_W;
        m.executable = ph.p_flags & PF_X;
        loads.mappings.push_back(std::move(m));
    }
    std::sort(loads.segments.begin(), loads.segments.end(),
              [](const auto& a, const auto& b) { return a.vaddr < b.vaddr; });
    std::sort(loads.mappings.begin(), loads.mappings.end(),
              [](const auto& a, const auto& b) { return a.start < b.start; });
    for (size_t i = 1; i < loads.segments.size(); ++i) {
        const auto& prev = loads.segments[i - 1];
        if (loads.segments[i].vaddr < prev.vaddr + prev.memsz)
            return make_error(path + " is corrupt: PT_LOAD segments overlap at " + hex(loads.segments[i].vaddr));
    }
    return loads;
}

// Index of the range in `ranges` (sorted by start, non-overlapping) that
// contains `addr`, if any.
template <typename Range>
std::optional<size_t> covering(const std::vector<Range>& ranges, uint64_t addr) {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), addr,
                               [](uint64_t a, const Range& r) { return a < r.start; });
    if (it == ranges.begin()) return std::nullopt;
    --it;
    if (addr >= it->end) return std::nullopt;
    return static_cast<size_t>(it - ranges.begin());
}

// Joins PT_LOAD mappings with NT_FILE ranges. Both describe the same VMAs
// for kernel cores; gcore leaves out mappings it did not dump, which are then
// known from NT_FILE only (permissions unknown). The address space is cut at
// every boundary of either list, and pieces with the same origin re-joined,
// so a mapping is split only where the two lists really disagree.
Result<std::vector<Mapping>> merge_mappings(const std::vector<Mapping>& loads, std::vector<FileRange> files) {
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
    for (size_t i = 1; i < files.size(); ++i)
        if (files[i].start < files[i - 1].end)
            return make_error("NT_FILE entries overlap at " + hex(files[i].start));

    std::vector<uint64_t> cuts;
    for (const auto& m : loads) cuts.insert(cuts.end(), {m.start, m.end});
    for (const auto& f : files) cuts.insert(cuts.end(), {f.start, f.end});
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    std::vector<Mapping> out;
    std::optional<size_t> last_load, last_file;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        const uint64_t a = cuts[i], b = cuts[i + 1];
        const auto load = covering(loads, a);
        const auto file = covering(files, a);
        if (!load && !file) continue;
        if (!out.empty() && out.back().end == a && load == last_load && file == last_file) {
            out.back().end = b;
            continue;
        }
        Mapping m;
        if (load) {
            m = loads[*load];
        } else {
            m.permissions_known = false;
        }
        m.start = a;
        m.end = b;
        if (file) {
            m.path = files[*file].path;
            m.file_offset = files[*file].file_offset + (a - files[*file].start);
        }
        out.push_back(std::move(m));
        last_load = load;
        last_file = file;
    }
    return out;
}

uint64_t note_alignment(const Elf64_Phdr& ph) { return ph.p_align == 8 ? 8 : 4; }

}  // namespace

CoreMemory::CoreMemory(std::shared_ptr<const MappedFile> file, std::vector<Segment> segments)
    : file_(std::move(file)), segments_(std::move(segments)) {}

// The segment whose range holds `at` (dumped or not), or end(). The unwinder
// reads a few words per frame from the same thread's stack, so the segment
// of the previous read is tried first; a core of 1,000 threads has over
// 2,000 segments to search otherwise. The hint is only a guess: a stale
// value (another thread's) just costs the search.
std::vector<CoreMemory::Segment>::const_iterator CoreMemory::find_segment(uint64_t at) const {
    const size_t hint = hint_.load(std::memory_order_relaxed);
    if (hint < segments_.size() && at - segments_[hint].vaddr < segments_[hint].memsz) return segments_.begin() + hint;
    auto it = std::upper_bound(segments_.begin(), segments_.end(), at,
                               [](uint64_t a, const Segment& s) { return a < s.vaddr; });
    if (it == segments_.begin()) return segments_.end();
    --it;
    hint_.store(static_cast<size_t>(it - segments_.begin()), std::memory_order_relaxed);
    return it;
}

size_t CoreMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    // One segment per pass: a read may run on into the next segment when that
    // one starts exactly where the readable part of this one ends.
    while (done < out.size()) {
        const uint64_t at = addr + done;
        if (at < addr) break;  // wrapped around the address space
        auto it = find_segment(at);
        if (it == segments_.end()) break;
        const uint64_t offset = at - it->vaddr;
        if (offset >= it->bytes.size()) break;
        const size_t n = std::min<uint64_t>(out.size() - done, it->bytes.size() - offset);
        std::memcpy(out.data() + done, it->bytes.data() + offset, n);
        done += n;
    }
    return done;
}

Result<ProcessImage> read_core(const std::string& path, const CoreOptions& options) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.error();
    std::shared_ptr<const MappedFile> file = std::move(*mapped);
    const auto bytes = file->bytes();

    auto ehdr = read_ehdr(bytes, path);
    if (!ehdr) return ehdr.error();
    const Arch* arch = arch_for_elf_machine(ehdr->e_machine);
    if (arch == nullptr)
        return make_error(path + ": unsupported architecture e_machine=" + std::to_string(ehdr->e_machine));
    auto phdrs = read_phdrs(bytes, *ehdr, path);
    if (!phdrs) return phdrs.error();

    CoreNotes notes;
    for (const Elf64_Phdr& ph : *phdrs) {
        if (ph.p_type != PT_NOTE) continue;
        // Without its notes a core has no registers: that is fatal, unlike a
        // truncated PT_LOAD.
        if (!in_bounds(ph.p_offset, ph.p_filesz, bytes.size()))
            return make_error(path + " is truncated: its notes (" + std::to_string(ph.p_filesz) + " bytes at offset " +
                              hex(ph.p_offset) + ") extend past the end of the file (" +
                              std::to_string(bytes.size()) + " bytes)");
        auto decoded = decode_core_notes(bytes.subspan(ph.p_offset, ph.p_filesz), note_alignment(ph), *arch, notes);
        if (!decoded) return make_error(path + ": malformed note: " + decoded.error().message);
    }
    if (notes.threads.empty()) return make_error(path + ": core has no threads (no NT_PRSTATUS notes)");

    auto loads = read_loads(bytes, *phdrs, path);
    if (!loads) return loads.error();
    auto memory = std::make_shared<CoreMemory>(file, std::move(loads->segments));
    memory->set_big_endian(elf_is_big_endian(bytes));
    // qemu-user writes no NT_FILE: the dynamic linker's link map in the
    // core's memory names the files instead. Should that fail too, the core
    // still opens and its frames lie in no module (unreliable, with why).
    if (notes.files.empty()) {
        if (auto linked = file_ranges_from_link_map(*memory, notes.auxv, {options.exe, options.sysroot}))
            notes.files = std::move(*linked);
    }
    auto mappings = merge_mappings(loads->mappings, notes.files);
    if (!mappings) return make_error(path + ": malformed NT_FILE note: " + mappings.error().message);

    ProcessImage image;
    image.arch = arch->id;
    // The first NT_PRSTATUS is the thread that dumped (kernel) or gdb's
    // current thread, not necessarily the main thread: prefer PRPSINFO.
    image.pid = notes.process && notes.process->pid > 0 ? notes.process->pid : notes.threads.front().tid;
    if (notes.process) image.comm = notes.process->comm;
    image.threads = std::move(notes.threads);
    image.mappings = std::move(*mappings);
    if (auto pac = settle_pac_masks(image, notes.auxv); !pac) return make_error(path + ": " + pac.error().message);
    image.modules = load_modules(image.mappings, *memory, notes.auxv, ModuleSearch{options.exe, options.sysroot, options.debug_dirs});
    image.memory = std::move(memory);
    learn_thread_starts(image);
    return image;
}

}  // namespace lpsafe::readers

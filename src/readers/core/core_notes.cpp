#include "readers/core/core_notes.h"

#include <elf.h>

#include <string>

#include "readers/core/pac_mask.h"
#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {

Result<std::vector<Note>> parse_notes(std::span<const std::byte> segment, uint64_t align, bool big) {
    if (align != 8) align = 4;
    std::vector<Note> notes;
    uint64_t pos = 0;
    while (pos < segment.size()) {
        const auto header = load<Elf64_Nhdr>(segment, pos, big);
        if (!header)
            return make_error("note at offset " + hex(pos) + " is cut off: " +
                              std::to_string(segment.size() - pos) + " bytes left, a note header needs 12");
        const uint64_t name_pos = pos + sizeof(Elf64_Nhdr);
        if (!in_bounds(name_pos, header->n_namesz, segment.size()))
            return make_error("note at offset " + hex(pos) + " has a name of " + std::to_string(header->n_namesz) +
                              " bytes, past the end of its segment");
        const uint64_t desc_pos = align_up(name_pos + header->n_namesz, align);
        if (!in_bounds(desc_pos, header->n_descsz, segment.size()))
            return make_error("note at offset " + hex(pos) + " (type " + std::to_string(header->n_type) +
                              ") has a descriptor of " + std::to_string(header->n_descsz) +
                              " bytes, past the end of its segment");

        Note note;
        const auto* name = reinterpret_cast<const char*>(segment.data() + name_pos);
        std::string_view name_view(name, header->n_namesz);
        // n_namesz counts the terminating NUL; tolerate its absence.
        while (!name_view.empty() && name_view.back() == '\0') name_view.remove_suffix(1);
        note.name = name_view;
        note.type = header->n_type;
        note.desc = segment.subspan(desc_pos, header->n_descsz);
        notes.push_back(note);

        // The padding after the last descriptor may be missing; stop there.
        pos = align_up(desc_pos + header->n_descsz, align);
    }
    return notes;
}

Result<ProcessInfo> parse_prpsinfo(std::span<const std::byte> desc, bool big) {
    // struct elf_prpsinfo on 64-bit Linux (x86_64, aarch64, ppc64, ...): four chars,
    // unsigned long pr_flag, two 32-bit ids, then pr_pid at 24 and pr_fname[16]
    // at 40; 136 bytes in all.
    constexpr uint64_t kPidOffset = 24, kFnameOffset = 40, kSize = 136;
    if (desc.size() < kSize)
        return make_error("NT_PRPSINFO note has " + std::to_string(desc.size()) + " bytes, expected " +
                          std::to_string(kSize));
    ProcessInfo info;
    info.pid = *load<int32_t>(desc, kPidOffset, big);
    const auto* fname = reinterpret_cast<const char*>(desc.data() + kFnameOffset);
    size_t len = 0;
    while (len < 16 && fname[len] != '\0') ++len;
    info.comm.assign(fname, len);
    return info;
}

Result<std::vector<FileRange>> parse_nt_file(std::span<const std::byte> desc, bool big) {
    // long count; long page_size; {long start, end, file_ofs}[count];
    // then count NUL-terminated names (fs/binfmt_elf.c fill_files_note).
    const auto count = load<uint64_t>(desc, 0, big);
    const auto page_size = load<uint64_t>(desc, 8, big);
    if (!count || !page_size) return make_error("NT_FILE note is too short for its header");
    if (*page_size == 0 || (*page_size & (*page_size - 1)) != 0)
        return make_error("NT_FILE note has an invalid page size " + std::to_string(*page_size));
    constexpr uint64_t kEntry = 24;
    if (*count > (desc.size() - 16) / kEntry)
        return make_error("NT_FILE note claims " + std::to_string(*count) + " files but holds " +
                          std::to_string(desc.size()) + " bytes");

    std::vector<FileRange> files(*count);
    for (uint64_t i = 0; i < *count; ++i) {
        const uint64_t at = 16 + i * kEntry;
        FileRange& f = files[i];
        f.start = *load<uint64_t>(desc, at, big);
        f.end = *load<uint64_t>(desc, at + 8, big);
        const uint64_t pages = *load<uint64_t>(desc, at + 16, big);
        if (f.end <= f.start)
            return make_error("NT_FILE entry " + std::to_string(i) + " has an empty or inverted range " +
                              hex(f.start) + "-" + hex(f.end));
        if (pages > UINT64_MAX / *page_size)
            return make_error("NT_FILE entry " + std::to_string(i) + " has an impossible file offset");
        f.file_offset = pages * *page_size;
    }

    const auto* names = reinterpret_cast<const char*>(desc.data());
    uint64_t pos = 16 + *count * kEntry;
    for (uint64_t i = 0; i < *count; ++i) {
        uint64_t end = pos;
        while (end < desc.size() && names[end] != '\0') ++end;
        if (end == desc.size())
            return make_error("NT_FILE note ends inside file name " + std::to_string(i) + " of " +
                              std::to_string(*count));
        files[i].path.assign(names + pos, end - pos);
        pos = end + 1;
    }
    return files;
}

Result<Auxv> parse_auxv(std::span<const std::byte> desc, bool big) {
    Auxv auxv;
    for (uint64_t pos = 0;; pos += 16) {
        if (pos == desc.size()) return auxv;  // no AT_NULL: accept what is there
        const auto type = load<uint64_t>(desc, pos, big);
        const auto value = load<uint64_t>(desc, pos + 8, big);
        if (!type || !value)
            return make_error("NT_AUXV note has " + std::to_string(desc.size()) +
                              " bytes, not a whole number of 16-byte entries");
        if (*type == AT_NULL) return auxv;
        auxv.emplace_back(*type, *value);
    }
}

Status decode_core_notes(std::span<const std::byte> segment, uint64_t align, const Arch& arch, CoreNotes& out) {
    auto notes = parse_notes(segment, align, arch.big_endian);
    if (!notes) return notes.error();
    for (const Note& note : *notes) {
        // The kernel writes each thread's extra register sets as "LINUX"
        // notes right after its NT_PRSTATUS (fs/binfmt_elf.c,
        // fill_thread_core_info); aarch64's PAC mask is one of them.
        if (note.name == "LINUX" && note.type == NT_ARM_PAC_MASK && arch.id == ArchId::aarch64) {
            if (out.threads.empty()) return make_error("NT_ARM_PAC_MASK note before any NT_PRSTATUS");
            auto mask = parse_pac_mask(note.desc, PointerAuthMask::Source::core_note);
            if (!mask) return make_error("thread " + std::to_string(out.threads.back().tid) + ": " + mask.error().message);
            out.threads.back().pac = *mask;
            continue;
        }
        // "LINUX" notes reuse small type numbers for other register sets.
        if (note.name != "CORE") continue;
        switch (note.type) {
        case NT_PRSTATUS: {
            auto thread = arch.parse_prstatus(note.desc);
            if (!thread)
                return make_error("NT_PRSTATUS note of thread " + std::to_string(out.threads.size() + 1) + ": " +
                                  thread.error().message);
            out.threads.push_back(std::move(*thread));
            break;
        }
        // The thread's FP registers, right after its NT_PRSTATUS; where the
        // architecture reads them (s390x), its CFI may name them.
        case NT_PRFPREG:
            if (arch.add_fp_regs == nullptr) break;
            if (out.threads.empty()) return make_error("NT_PRFPREG note before any NT_PRSTATUS");
            if (auto st = arch.add_fp_regs(note.desc, out.threads.back().regs); !st)
                return make_error("thread " + std::to_string(out.threads.back().tid) + ": " + st.error().message);
            break;
        // The kernel writes one of each of the following; should a core
        // carry more, the first one wins.
        case NT_PRPSINFO:
            if (!out.process) {
                auto info = parse_prpsinfo(note.desc, arch.big_endian);
                if (!info) return info.error();
                out.process = std::move(*info);
            }
            break;
        case NT_FILE:
            if (out.files.empty()) {
                auto files = parse_nt_file(note.desc, arch.big_endian);
                if (!files) return files.error();
                out.files = std::move(*files);
            }
            break;
        case NT_AUXV:
            if (out.auxv.empty()) {
                auto auxv = parse_auxv(note.desc, arch.big_endian);
                if (!auxv) return auxv.error();
                out.auxv = std::move(*auxv);
            }
            break;
        default:
            break;
        }
    }
    return Ok{};
}

}  // namespace lpsafe::readers

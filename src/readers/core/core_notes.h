// ELF notes: bounds-checked iteration over a PT_NOTE segment, and decoders
// for the notes a Linux core carries (NT_PRSTATUS, NT_PRPSINFO, NT_FILE,
// NT_AUXV). Any length that does not fit is an Error, never a read past the end.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lpsafe/arch.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct Note {
    std::string_view name;  // without the terminating NUL
    uint32_t type = 0;
    std::span<const std::byte> desc;  // a view into the segment
};

// Splits a note segment into notes. `align` is the segment's note alignment:
// 4 for core notes and most object notes, 8 for segments with p_align 8
// (.note.gnu.property). Any other value is treated as 4.
// `big`: the target is big-endian (s390x), so the note headers are too.
Result<std::vector<Note>> parse_notes(std::span<const std::byte> segment, uint64_t align = 4, bool big = false);

// NT_PRPSINFO (struct elf_prpsinfo, 64-bit layout).
struct ProcessInfo {
    int pid = 0;
    std::string comm;  // pr_fname: the first 15 bytes of the command name
};
Result<ProcessInfo> parse_prpsinfo(std::span<const std::byte> desc, bool big = false);

// One entry of NT_FILE: a file-backed mapping.
struct FileRange {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t file_offset = 0;  // in bytes (the note stores pages)
    std::string path;
};
Result<std::vector<FileRange>> parse_nt_file(std::span<const std::byte> desc, bool big = false);

using Auxv = std::vector<std::pair<uint64_t, uint64_t>>;  // (type, value), AT_NULL excluded
Result<Auxv> parse_auxv(std::span<const std::byte> desc, bool big = false);

// Everything read_core needs from the notes, threads in file order.
struct CoreNotes {
    std::vector<ThreadState> threads;
    std::optional<ProcessInfo> process;
    std::vector<FileRange> files;  // empty when the core has no NT_FILE
    Auxv auxv;
};
// Decodes the "CORE" notes of one PT_NOTE segment into `out` (called once per
// segment, so threads keep the order of the file). NT_PRFPREG goes into the
// thread's registers where the architecture reads it (Arch::add_fp_regs);
// other notes (further register sets, NT_SIGINFO, ...) are skipped.
Status decode_core_notes(std::span<const std::byte> segment, uint64_t align, const Arch& arch, CoreNotes& out);

}  // namespace lpsafe::readers

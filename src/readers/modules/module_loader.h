// From a process's file-backed mappings to verified modules: which ELF file
// each mapping comes from, where it is loaded (bias), and whether the file on
// disk is the one the process really loaded (build-id read from process
// memory). Shared by every reader (core, /proc, ptrace), so it takes mappings
// and memory, not a core.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/module.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct ModuleSearch {
    std::string exe;      // opened instead of the main executable's path (not prefixed by sysroot)
    std::string sysroot;  // prefixed to every path the process names
    // Roots of separate debug file trees; empty: <sysroot>/usr/lib/debug
    // (readers/modules/debug_symbols.h).
    std::vector<std::string> debug_dirs = {};
};

// One Module per loaded ELF file, plus the vDSO when memory holds it.
//
// Which mapped files are modules: a file that exists but does not start with
// the ELF magic (locale archive, fonts, data files) is not. A file that cannot
// be found or read is a Module with status missing_file / unreadable_file when
// it may hold code: it is the main executable (the file mapped at AT_ENTRY),
// one of its mappings is (or may be: permissions unknown) executable, its path
// contains ".so", or process memory shows an ELF header at its offset-0
// mapping. Everything else is skipped.
//
// A file mapped at several places (dlopen in two namespaces, or mmap of a
// library as data) yields one Module per place: a new one starts whenever
// the file offset decreases from one mapping of the file to the next.
//
// A usable module whose file has no .symtab gets the function symbols of a
// verified debug file, MiniDebugInfo or debuginfod (readers/modules/debug_symbols.h).
ModuleMap load_modules(const std::vector<Mapping>& mappings, const Memory& memory,
                       const std::vector<std::pair<uint64_t, uint64_t>>& auxv, const ModuleSearch& search);

// Load bias of `image` given the mapping of its lowest file offset: the
// mapping starts at the page holding the PT_LOAD segment whose file offset
// lies in [file_offset, file_offset + page). Fails when no segment does: the
// file is not the one the process mapped.
Result<uint64_t> compute_bias(const ElfImage& image, const Mapping& lowest);

// The GNU build-id (lower-case hex) of the ELF object whose header process
// memory holds at `header_addr`: Ehdr, program headers and PT_NOTE contents
// all read through `memory`, every size checked.
Result<std::string> build_id_in_memory(const Memory& memory, uint64_t header_addr);

}  // namespace lpsafe::readers

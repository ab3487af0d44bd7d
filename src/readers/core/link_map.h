// The modules of a process read from the dynamic linker's own list
// (r_debug.r_map, found through DT_DEBUG in the executable's dynamic
// section), for cores that do not name their files: qemu-user writes no
// NT_FILE note. Each module's file is opened to place its PT_LOAD segments,
// which become the file ranges NT_FILE would have given.
#pragma once

#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/core/core_notes.h"

namespace lpsafe::readers {

struct LinkMapSearch {
    std::string exe;      // the executable's file; empty: AT_EXECFN as the process saw it
    std::string sysroot;  // prefixed to the paths the link map names
};

// File ranges for the executable (placed by AT_PHDR) and every object on the
// link map whose file is found. An object whose file is missing or whose
// dynamic section is not where the link map says (l_ld) is left out: its
// frames then lie in no module, which the checks report.
Result<std::vector<FileRange>> file_ranges_from_link_map(const Memory& memory, const Auxv& auxv,
                                                         const LinkMapSearch& search);

}  // namespace lpsafe::readers

// The unwind tables of a module as a snapshot keeps them: the raw
// .eh_frame_hdr, .eh_frame and .debug_frame sections, read out of the file
// image with libelf, in file order.
#pragma once

#include <cstdint>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe::readers::snapshot {

// `lookups`: the file addresses the engine looked up in this module's CFI.
// With an .eh_frame_hdr search table, only the entries those lookups reach
// are kept (the rest of .eh_frame becomes poison, see snapshot_elf.h);
// without one, libdw scans the whole section, so it is kept whole.
Result<std::vector<Section>> unwind_sections(const ElfImage& image, const std::vector<uint64_t>& lookups);

}  // namespace lpsafe::readers::snapshot

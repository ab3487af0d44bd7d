// The dynamic section of a loaded ELF object as process memory holds it:
// where the dynamic linker keeps its own records (DT_DEBUG -> r_debug), and
// the one part of a module that a core without the module's header pages
// (qemu-user's: text segments are not dumped) still holds to identify it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// The file's PT_DYNAMIC segment (file address and size), when it has one.
struct DynamicSegment {
    uint64_t vaddr = 0;
    uint64_t size = 0;
    uint64_t offset = 0;
};
std::optional<DynamicSegment> dynamic_segment(const ElfImage& image);

// The (tag, value) entries up to DT_NULL, read from process memory at `addr`.
Result<std::vector<std::pair<int64_t, uint64_t>>> dynamic_in_memory(const Memory& memory, uint64_t addr,
                                                                   uint64_t max_bytes);

// Does process memory hold `image`'s dynamic section at `bias`? Every entry
// must have the file's tag and value, or the value plus `bias` (glibc's
// elf_get_dynamic_info relocates the address entries of a writable
// .dynamic in place); DT_DEBUG is the dynamic linker's to fill. The entries
// (string table and hash table addresses, relocation counts and sizes,
// DT_NEEDED offsets, init arrays) change with almost any rebuild, but this
// is weaker than a build-id: the caller says so. Returns why not, or "".
std::string dynamic_mismatch(const Memory& memory, const ElfImage& image, uint64_t bias);

}  // namespace lpsafe::readers

// Walking kernel data structures in a dump: C strings and struct list_head
// lists (include/linux/list.h), bounded so that a corrupt or cyclic dump is
// an error, never a hang.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// The NUL-terminated string at `addr`, cut at `max` bytes; nullopt when the
// memory ends before its NUL.
std::optional<std::string> read_kernel_string(const Memory& memory, uint64_t addr, size_t max);

// Calls `visit` with the address of each structure on the list at `head`
// (the structure holds its struct list_head at offset `member`), in list
// order; stops at the first error `visit` returns, and fails when the list
// loops, breaks or exceeds `max_entries`.
Status for_each_list_entry(const Memory& memory, uint64_t head, uint64_t member, const char* what,
                           const std::function<Status(uint64_t)>& visit, size_t max_entries = 1u << 16);

}  // namespace lpsafe::readers

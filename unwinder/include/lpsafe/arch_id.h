#pragma once

#include <string_view>

namespace lpsafe {

// The values are the snapshot format's (docs/snapshot-format.md): never
// renumber.
enum class ArchId { x86_64 = 0, aarch64 = 1, ppc64le = 2, s390x = 3 };

std::string_view arch_name(ArchId arch);

}  // namespace lpsafe

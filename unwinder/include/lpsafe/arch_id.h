#pragma once

#include <string_view>

namespace lpsafe {

enum class ArchId { x86_64, aarch64 };

std::string_view arch_name(ArchId arch);

}  // namespace lpsafe

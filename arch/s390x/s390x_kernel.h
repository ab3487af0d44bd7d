// s390 kernel stack rules for /proc listings.
#pragma once

#include <span>
#include <string_view>

#include "lpsafe/arch.h"

namespace lpsafe::s390x {

std::span<const KernelStackEnd> kernel_stack_ends();
std::span<const std::string_view> kernel_indirect_thunks();
std::span<const std::string_view> kernel_return_thunks();
std::span<const std::string_view> kernel_paravirt_tables();

}  // namespace lpsafe::s390x

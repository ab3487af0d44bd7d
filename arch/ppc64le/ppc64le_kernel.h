// ppc64 kernel stack rules for /proc listings.
#pragma once

#include <span>
#include <string_view>

#include "lpsafe/arch.h"

namespace lpsafe::ppc64le {

std::span<const KernelStackEnd> kernel_stack_ends();
std::span<const std::string_view> kernel_indirect_thunks();
std::span<const std::string_view> kernel_return_thunks();
std::span<const std::string_view> kernel_paravirt_tables();

}  // namespace lpsafe::ppc64le

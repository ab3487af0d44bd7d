// x86_64 kernel stack rules for /proc listings.
#pragma once

#include <span>

#include "lpsafe/arch.h"

namespace lpsafe::x86_64 {

std::span<const KernelStackEnd> kernel_stack_ends();

}  // namespace lpsafe::x86_64

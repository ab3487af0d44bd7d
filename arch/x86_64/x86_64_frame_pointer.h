#pragma once

#include "lpsafe/arch.h"

namespace lpsafe::x86_64 {

Result<FpStep> fp_step(const Memory& memory, uint64_t fp);
bool cfi_row_is_fp_frame(const CfiRow& row);

}  // namespace lpsafe::x86_64

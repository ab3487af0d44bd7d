#pragma once

#include "lpsafe/arch.h"

namespace lpsafe::aarch64 {

Result<FpStep> fp_step(const Memory& memory, uint64_t fp);
bool cfi_row_is_fp_frame(const CfiRow& row);
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc);

}  // namespace lpsafe::aarch64

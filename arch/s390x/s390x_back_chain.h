#pragma once

#include "lpsafe/arch.h"

namespace lpsafe::s390x {

Result<FpStep> fp_step(const Memory& memory, uint64_t sp);
bool cfi_row_is_fp_frame(const CfiRow& row);
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc);
RuleOutcome check_stack_end_marker(const Memory& memory, const Regs& outermost);

}  // namespace lpsafe::s390x

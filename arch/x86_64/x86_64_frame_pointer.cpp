// The x86_64 frame-pointer walker (System V psABI 3.4.1 with
// -fno-omit-frame-pointer): [rbp] = caller's rbp, [rbp+8] = return address,
// and the caller's stack pointer after the return is rbp+16.
#include <dwarf.h>

#include "../common/arch_common.h"
#include "x86_64_frame_pointer.h"
#include "x86_64_regs.h"

namespace lpsafe::x86_64 {

Result<FpStep> fp_step(const Memory& memory, uint64_t fp) { return arch_common::frame_record_step(memory, fp, 8); }

using arch_common::is_cfa_plus;

// CFA = rbp + 16, rbp saved at CFA-16, return address at CFA-8: the CFI says
// this frame is a frame-pointer frame, so an independent frame-pointer step
// must reach the same caller.
bool cfi_row_is_fp_frame(const CfiRow& row) {
    if (row.cfa.size() != 1) return false;
    const DwarfOp& op = row.cfa[0];
    const bool rbp_plus_16 = (op.atom == DW_OP_bregx && op.number == rbp && op.number2 == 16) ||
                             (op.atom == DW_OP_breg6 && op.number == 16);
    if (!rbp_plus_16) return false;
    const RegRule& saved_rbp = row.rule(rbp);
    const RegRule& ret = row.rule(row.ra_column);
    return saved_rbp.kind == RegRule::Kind::location && is_cfa_plus(saved_rbp.expr, -16) &&
           ret.kind == RegRule::Kind::location && is_cfa_plus(ret.expr, -8);
}

}  // namespace lpsafe::x86_64

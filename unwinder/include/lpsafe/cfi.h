// Call-frame information as plain data: one row of the CFI table (the rules
// that hold at one pc), independent of libdw so that rules can be cached,
// recorded in snapshots, and built by hand in tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/regs.h"
#include "lpsafe/result.h"

namespace lpsafe {

// One DWARF expression operation (DW_OP_*), as libdw delivers it.
struct DwarfOp {
    uint8_t atom = 0;
    uint64_t number = 0;
    uint64_t number2 = 0;
};
using DwarfExpr = std::vector<DwarfOp>;

struct RegRule {
    enum class Kind : uint8_t {
        undefined,   // the caller's value cannot be recovered
        same_value,  // unchanged by this frame
        location,    // saved in memory at the address the expression yields
        value,       // the caller's value is what the expression yields
    };
    Kind kind = Kind::undefined;
    DwarfExpr expr;
};

struct CfiRow {
    uint64_t start = 0;  // [start, end): file addresses the row holds for
    uint64_t end = 0;
    unsigned ra_column = 0;
    bool signal_frame = false;  // the caller's pc is exact, not a return address
    bool from_debug_frame = false;
    DwarfExpr cfa;
    std::vector<RegRule> regs;  // indexed by DWARF register number

    const RegRule& rule(unsigned reg) const;
};

// Evaluates a CFI expression. `cfa` is pushed by DW_OP_call_frame_cfa. Every
// register the expression reads must be valid in `regs`; every memory read
// must succeed. The evaluator is bounded (stack depth, operation count).
Result<uint64_t> eval_dwarf_expr(const DwarfExpr& expr, const Regs& regs, std::optional<uint64_t> cfa,
                                 const Memory& memory);

}  // namespace lpsafe

namespace lpsafe {

// The caller's state after applying one CFI row to the callee's registers.
struct CfiStep {
    Regs caller;
    uint64_t cfa = 0;
    bool return_address_undefined = false;  // the outermost frame: a real end
};

// Applies `row` to `callee`. Registers whose rule is undefined, or whose rule
// needs something unknown, are invalid in the result; failing to compute the
// CFA or the return address is an error.
Result<CfiStep> apply_cfi_row(const CfiRow& row, const Regs& callee, unsigned sp_reg, const Memory& memory);

}  // namespace lpsafe

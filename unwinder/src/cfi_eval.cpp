// A bounded evaluator for the DWARF expressions that CFI uses (DWARF 5,
// section 6.4.2). Only operations that make sense in call-frame rules are
// accepted; anything else is an error rather than a guess.
#include <dwarf.h>

#include <algorithm>
#include <array>
#include <string>

#include "lpsafe/cfi.h"

namespace lpsafe {
namespace {

constexpr size_t kMaxStack = 64;
constexpr size_t kMaxSteps = 256;  // bounds DW_OP_skip/bra loops

class EvalStack {
public:
    bool push(uint64_t v) {
        if (size_ == kMaxStack) return false;
        values_[size_++] = v;
        return true;
    }
    bool pop(uint64_t& v) {
        if (size_ == 0) return false;
        v = values_[--size_];
        return true;
    }
    bool pick(size_t depth, uint64_t& v) const {
        if (depth >= size_) return false;
        v = values_[size_ - 1 - depth];
        return true;
    }
    size_t size() const { return size_; }

private:
    // Not zeroed: only pushed entries are read, and this runs for every
    // register rule of every frame.
    std::array<uint64_t, kMaxStack> values_;
    size_t size_ = 0;
};

Error op_error(const char* what, uint8_t atom) {
    return make_error(std::string(what) + " (DW_OP 0x" + [&] {
        static const char* hex = "0123456789abcdef";
        return std::string{hex[atom >> 4], hex[atom & 15]};
    }() + ")");
}

std::optional<uint64_t> binary(uint8_t atom, uint64_t a, uint64_t b) {
    // a is the second entry, b the top: "a OP b".
    const auto sa = static_cast<int64_t>(a), sb = static_cast<int64_t>(b);
    switch (atom) {
    case DW_OP_plus: return a + b;
    case DW_OP_minus: return a - b;
    case DW_OP_mul: return a * b;
    case DW_OP_and: return a & b;
    case DW_OP_or: return a | b;
    case DW_OP_xor: return a ^ b;
    case DW_OP_shl: return b >= 64 ? 0 : a << b;
    case DW_OP_shr: return b >= 64 ? 0 : a >> b;
    case DW_OP_shra: return static_cast<uint64_t>(b >= 64 ? (sa < 0 ? -1 : 0) : sa >> b);
    case DW_OP_div:
        if (sb == 0 || (sa == INT64_MIN && sb == -1)) return std::nullopt;
        return static_cast<uint64_t>(sa / sb);
    case DW_OP_mod:
        if (b == 0) return std::nullopt;
        return a % b;
    case DW_OP_eq: return a == b;
    case DW_OP_ne: return a != b;
    case DW_OP_lt: return sa < sb;
    case DW_OP_gt: return sa > sb;
    case DW_OP_le: return sa <= sb;
    case DW_OP_ge: return sa >= sb;
    default: return std::nullopt;
    }
}

bool is_binary(uint8_t atom) {
    switch (atom) {
    case DW_OP_plus: case DW_OP_minus: case DW_OP_mul: case DW_OP_and: case DW_OP_or:
    case DW_OP_xor: case DW_OP_shl: case DW_OP_shr: case DW_OP_shra: case DW_OP_div:
    case DW_OP_mod: case DW_OP_eq: case DW_OP_ne: case DW_OP_lt: case DW_OP_gt:
    case DW_OP_le: case DW_OP_ge:
        return true;
    default:
        return false;
    }
}

}  // namespace

namespace {

// The shapes libdw gives almost every CFI rule (CFA = register + offset;
// saved at CFA + offset), evaluated without the stack machine. Same result
// as the general loop; anything else, including an unknown register (whose
// error the loop words), goes to the loop.
std::optional<uint64_t> eval_common(const DwarfExpr& expr, const Regs& regs, std::optional<uint64_t> cfa) {
    if (expr.size() == 2 && expr[0].atom == DW_OP_call_frame_cfa && expr[1].atom == DW_OP_plus_uconst && cfa) {
        return *cfa + expr[1].number;
    }
    if (expr.size() != 1) return std::nullopt;
    const DwarfOp& op = expr[0];
    if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
        if (auto r = regs.get(op.atom - DW_OP_breg0)) return *r + op.number;
    } else if (op.atom == DW_OP_bregx && op.number < kMaxDwarfRegs) {
        if (auto r = regs.get(static_cast<unsigned>(op.number))) return *r + op.number2;
    }
    return std::nullopt;
}

}  // namespace

Result<uint64_t> eval_dwarf_expr(const DwarfExpr& expr, const Regs& regs, std::optional<uint64_t> cfa,
                                 const Memory& memory) {
    if (auto v = eval_common(expr, regs, cfa)) return *v;
    EvalStack stack;
    size_t steps = 0;
    for (size_t i = 0; i < expr.size(); ++i) {
        if (++steps > kMaxSteps) return make_error("CFI expression does not terminate");
        const DwarfOp& op = expr[i];
        const uint8_t a = op.atom;
        bool ok = true;
        uint64_t x = 0, y = 0;
        if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
            ok = stack.push(a - DW_OP_lit0);
        } else if (a >= DW_OP_breg0 && a <= DW_OP_breg31) {
            auto r = regs.get(a - DW_OP_breg0);
            if (!r) return make_error("CFI needs register " + std::to_string(a - DW_OP_breg0) + ", which is unknown");
            ok = stack.push(*r + op.number);
        } else if (a >= DW_OP_reg0 && a <= DW_OP_reg31) {
            auto r = regs.get(a - DW_OP_reg0);
            if (!r) return make_error("CFI needs register " + std::to_string(a - DW_OP_reg0) + ", which is unknown");
            ok = stack.push(*r);
        } else if (is_binary(a)) {
            ok = stack.pop(y) && stack.pop(x);
            auto r = ok ? binary(a, x, y) : std::nullopt;
            if (!r) return op_error("invalid CFI arithmetic", a);
            ok = stack.push(*r);
        } else {
            switch (a) {
            case DW_OP_bregx: {
                auto r = regs.get(static_cast<unsigned>(op.number));
                if (!r) return make_error("CFI needs register " + std::to_string(op.number) + ", which is unknown");
                ok = stack.push(*r + op.number2);
                break;
            }
            case DW_OP_regx: {
                auto r = regs.get(static_cast<unsigned>(op.number));
                if (!r) return make_error("CFI needs register " + std::to_string(op.number) + ", which is unknown");
                ok = stack.push(*r);
                break;
            }
            case DW_OP_call_frame_cfa:
                if (!cfa) return make_error("CFI expression refers to the CFA while computing it");
                ok = stack.push(*cfa);
                break;
            case DW_OP_addr: case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u:
            case DW_OP_const8u: case DW_OP_constu: case DW_OP_const1s: case DW_OP_const2s:
            case DW_OP_const4s: case DW_OP_const8s: case DW_OP_consts:
                ok = stack.push(op.number);
                break;
            case DW_OP_plus_uconst:
                ok = stack.pop(x) && stack.push(x + op.number);
                break;
            case DW_OP_dup: ok = stack.pick(0, x) && stack.push(x); break;
            case DW_OP_over: ok = stack.pick(1, x) && stack.push(x); break;
            case DW_OP_pick: ok = stack.pick(op.number, x) && stack.push(x); break;
            case DW_OP_drop: ok = stack.pop(x); break;
            case DW_OP_swap: ok = stack.pop(x) && stack.pop(y) && stack.push(x) && stack.push(y); break;
            case DW_OP_neg: ok = stack.pop(x) && stack.push(~x + 1); break;
            case DW_OP_not: ok = stack.pop(x) && stack.push(~x); break;
            case DW_OP_abs:
                ok = stack.pop(x) && stack.push(static_cast<int64_t>(x) < 0 ? ~x + 1 : x);
                break;
            case DW_OP_deref: {
                ok = stack.pop(x);
                auto v = ok ? memory.read_u64(x) : std::nullopt;
                if (!v) return make_error("CFI expression reads unreadable memory");
                ok = stack.push(*v);
                break;
            }
            case DW_OP_nop: break;
            case DW_OP_stack_value:
                // Only meaningful as the last operation; the rule kind says
                // whether the result is a value or a location.
                if (i + 1 != expr.size()) return make_error("DW_OP_stack_value is not last in a CFI expression");
                break;
            default:
                return op_error("unsupported operation in CFI expression", a);
            }
        }
        if (!ok) return op_error("malformed CFI expression (stack)", a);
    }
    uint64_t result = 0;
    if (!stack.pop(result)) return make_error("empty CFI expression");
    return result;
}

const RegRule& CfiRow::rule(unsigned reg) const {
    static const RegRule kUndefined{};
    return reg < regs.size() ? regs[reg] : kUndefined;
}

Result<CfiStep> apply_cfi_row(const CfiRow& row, const Regs& callee, unsigned sp_reg, const Memory& memory) {
    if (row.cfa.empty()) return make_error("CFI does not define the CFA here");
    auto cfa = eval_dwarf_expr(row.cfa, callee, std::nullopt, memory);
    if (!cfa) return make_error("cannot compute the CFA: " + cfa.error().message);

    CfiStep step{Regs(callee.arch()), *cfa, false};
    // Registers past row.regs are undefined (CfiRow::rule): nothing to do.
    const unsigned nregs = static_cast<unsigned>(std::min<size_t>(row.regs.size(), kMaxDwarfRegs));
    for (unsigned reg = 0; reg < nregs; ++reg) {
        const RegRule& rule = row.regs[reg];
        switch (rule.kind) {
        case RegRule::Kind::undefined:
            break;
        case RegRule::Kind::same_value:
            if (auto v = callee.get(reg)) step.caller.set(reg, *v);
            break;
        case RegRule::Kind::location: {
            auto addr = eval_dwarf_expr(rule.expr, callee, *cfa, memory);
            auto v = addr ? memory.read_u64(*addr) : std::nullopt;
            if (v) {
                step.caller.set(reg, *v);
            } else if (reg == row.ra_column) {
                return make_error(addr ? "the return address slot is unreadable"
                                       : "cannot locate the return address: " + addr.error().message);
            }
            break;
        }
        case RegRule::Kind::value: {
            auto v = eval_dwarf_expr(rule.expr, callee, *cfa, memory);
            if (v) step.caller.set(reg, *v);
            else if (reg == row.ra_column) return make_error("cannot compute the return address: " + v.error().message);
            break;
        }
        }
    }
    // The stack pointer after the return is the CFA unless the CFI says
    // otherwise (the usual convention on every supported architecture).
    if (row.rule(sp_reg).kind == RegRule::Kind::undefined) step.caller.set(sp_reg, *cfa);
    step.return_address_undefined = row.rule(row.ra_column).kind == RegRule::Kind::undefined;
    return step;
}

}  // namespace lpsafe

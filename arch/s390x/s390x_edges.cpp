// How control leaves an s390x function: one pass over its instructions,
// each as long as its first byte says. Direct calls are brasl/bras, tail
// calls jg/j (brcl/brc) to outside the function, indirect ones basr and
// `br %rN` (N != 14; `br %r14` is the return). An instruction capstone 4
// does not know (besides svc and the bas family, which the encoding
// names) ends the pass as an indirect edge: what follows cannot be vouched for.
#include <dwarf.h>

#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "s390x_code.h"
#include "s390x_insn.h"
#include "s390x_regs.h"

namespace lpsafe::s390x {
namespace {

constexpr uint64_t kMaxFunction = 256 * 1024;

std::vector<Insn> decode(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, bool& complete) {
    std::vector<Insn> out;
    complete = false;
    if (fn_size == 0 || fn_size > kMaxFunction || fn_start % 2 != 0) return out;
    std::vector<std::byte> code(fn_size);
    if (process.read_code(fn_start, code) != code.size()) return out;
    const auto* p = reinterpret_cast<const uint8_t*>(code.data());
    uint64_t at = 0;
    while (at < fn_size) {
        Insn i;
        i.addr = fn_start + at;
        i.length = length_of(p[at]);
        if (at + i.length > fn_size) return out;
        for (unsigned k = 0; k < i.length; ++k) i.b[k] = p[at + k];
        out.push_back(i);
        at += i.length;
    }
    complete = true;
    return out;
}

// CFA = r15 + 160 with r14 still the return address: the frame torn down,
// as before a tail call through a register.
bool at_entry_state(const ProcessImage& process, uint64_t addr) {
    const CfiLookup row = arch_common::cfi_row_at(process, addr);
    if (row.status != CfiLookup::Status::found || row.row.cfa.size() != 1) return false;
    const DwarfOp& op = row.row.cfa[0];
    const bool entry_cfa = (op.atom == DW_OP_breg0 + unsigned{r15} && op.number == kRegisterSaveArea) ||
                           (op.atom == DW_OP_bregx && op.number == r15 && op.number2 == kRegisterSaveArea);
    return entry_cfa && row.row.rule(r14).kind == RegRule::Kind::same_value;
}

bool decodes(const Insn& i) { return insn_id(i) != 0 || is_svc(i) || call_of(i).has_value(); }

}  // namespace

TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    TailCalls out;
    bool complete = false;
    for (const Insn& i : decode(process, fn_start, fn_size, complete)) {
        if (const auto to = jump_target(i)) {
            if (!arch_common::outside(*to, fn_start, fn_size)) continue;
            if (const auto resolved = through_plt(process, *to)) out.targets.push_back(*resolved);
        } else if (is_register_jump(i) && !out.unknown_target && at_entry_state(process, i.addr)) {
            out.unknown_target = true;
        }
    }
    return out;
}

Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    if (fn_size == 0 || fn_size > kMaxFunction) return make_error("function size unknown or too large to decode");
    bool complete = false;
    const std::vector<Insn> insns = decode(process, fn_start, fn_size, complete);
    if (!complete) return make_error("the function's code is not readable");
    CodeEdges out;
    auto indirect = [&](uint64_t at) {
        if (!out.indirect) out.indirect_at = at;
        out.indirect = true;
    };
    for (const Insn& i : insns) {
        if (!decodes(i)) {
            indirect(i.addr);
            break;
        }
        if (const auto call = call_of(i)) {
            if (call->target) out.calls.push_back(*call->target);
            else indirect(i.addr);
        } else if (const auto to = jump_target(i)) {
            if (arch_common::outside(*to, fn_start, fn_size)) out.jumps.push_back(*to);
        } else if (is_register_jump(i)) {
            indirect(i.addr);
        }
    }
    return out;
}

}  // namespace lpsafe::s390x

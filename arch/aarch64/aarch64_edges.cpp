// How control leaves an aarch64 function: its direct calls (`bl`), the
// direct branches that leave it (tail calls: `b`, b.cond, cbz/cbnz,
// tbz/tbnz to outside), and whether it calls or jumps through a register.
// Instructions are 4-byte words, so a linear pass over the function is
// exact as long as every word decodes (literal pools inside a function are
// not emitted by GCC for aarch64; an undecodable word ends the pass).
#include <dwarf.h>

#include <vector>

#include "aarch64_code.h"
#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "aarch64_insn.h"
#include "aarch64_regs.h"

namespace lpsafe::aarch64 {
namespace {

constexpr uint64_t kMaxFunction = 256 * 1024;

using arch_common::outside;
using arch_common::read_words;

// The direct target of a branch that is not a call, when `word` is one.
std::optional<uint64_t> jump_target(uint32_t word, uint64_t addr) {
    if (is_b(word)) return branch26_target(word, addr);
    return conditional_target(word, addr);
}

// Is the CFI row at `addr` the function's entry state, CFA = sp + 0 with
// the return address still in x30: its frame torn down, as before a tail
// call through a register?
bool at_entry_state(const ProcessImage& process, uint64_t addr) {
    const CfiLookup row = arch_common::cfi_row_at(process, addr);
    if (row.status != CfiLookup::Status::found || row.row.cfa.size() != 1) return false;
    const DwarfOp& op = row.row.cfa[0];
    const bool sp_plus_0 = (op.atom == DW_OP_breg31 && op.number == 0) ||
                           (op.atom == DW_OP_bregx && op.number == sp && op.number2 == 0);
    return sp_plus_0 && row.row.rule(x30).kind == RegRule::Kind::same_value;
}

}  // namespace

// As for x86_64 (x86_64_code.cpp): direct branches leaving the function go
// where they say (through the GOT slot when they land on a PLT stub); a
// `br xN` where the CFI shows the frame torn down is a tail call the code
// does not fix; inside a frame it is a jump table's and stays in the
// function. An unreadable function yields no targets: the caller of this
// (call_reaches_callee) then fails rather than passes.
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    TailCalls out;
    const std::vector<uint32_t> words = read_words(process, fn_start, fn_size);
    for (size_t i = 0; i < words.size(); ++i) {
        const uint64_t addr = fn_start + 4 * i;
        if (const auto to = jump_target(words[i], addr)) {
            if (!outside(*to, fn_start, fn_size)) continue;
            if (const auto resolved = through_plt(process, *to)) out.targets.push_back(*resolved);
        } else if (is_br(words[i]) && !out.unknown_target && at_entry_state(process, addr)) {
            out.unknown_target = true;
        }
    }
    return out;
}

// aarch64 has no call through a memory slot in one instruction (the
// address is loaded into a register first), so slot_calls stays empty and
// every `blr`/`br` is indirect.
Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    if (fn_size == 0 || fn_size > kMaxFunction) return make_error("function size unknown or too large to decode");
    const std::vector<uint32_t> words = read_words(process, fn_start, fn_size);
    if (words.size() * 4 != fn_size) return make_error("the function's code is not readable");
    CodeEdges out;
    for (size_t i = 0; i < words.size(); ++i) {
        const uint64_t addr = fn_start + 4 * i;
        const uint32_t w = words[i];
        if (insn_id(w, addr) == 0) {
            // Undecodable words end the pass; what follows cannot be vouched for.
            out.indirect = true;
            out.indirect_at = addr;
            break;
        }
        if (is_bl(w)) {
            out.calls.push_back(branch26_target(w, addr));
        } else if (const auto to = jump_target(w, addr)) {
            if (outside(*to, fn_start, fn_size)) out.jumps.push_back(*to);
        } else if (is_blr(w) || is_br(w)) {
            if (!out.indirect) out.indirect_at = addr;
            out.indirect = true;
        }
    }
    return out;
}

}  // namespace lpsafe::aarch64

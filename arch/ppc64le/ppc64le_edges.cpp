// How control leaves a ppc64le function: its direct calls (`bl`), the
// direct branches that leave it (tail calls: `b`, `bc` to outside), and
// whether it calls or jumps through CTR/LR. Instructions are 4-byte words,
// so a linear pass is exact while every word decodes (GCC puts no data in
// ppc64 functions but the traceback table after the last instruction,
// where an undecodable word ends the pass).
#include <dwarf.h>

#include <vector>

#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "ppc64le_code.h"
#include "ppc64le_insn.h"
#include "ppc64le_regs.h"

namespace lpsafe::ppc64le {
namespace {

constexpr uint64_t kMaxFunction = 256 * 1024;

using arch_common::outside;
using arch_common::read_words;

// The direct target of a branch that is not a call, when `word` is one.
std::optional<uint64_t> jump_target(uint32_t word, uint64_t addr) {
    if (is_i_branch(word) && !is_link(word)) return i_branch_target(word, addr);
    return conditional_target(word, addr);
}

// Is the CFI row at `addr` the function's entry state, CFA = r1 + 0 with
// the return address still in LR: its frame torn down, as before a tail
// call through CTR?
bool at_entry_state(const ProcessImage& process, uint64_t addr) {
    const CfiLookup row = arch_common::cfi_row_at(process, addr);
    if (row.status != CfiLookup::Status::found || row.row.cfa.size() != 1) return false;
    const DwarfOp& op = row.row.cfa[0];
    const bool sp_plus_0 = (op.atom == DW_OP_breg1 && op.number == 0) ||
                           (op.atom == DW_OP_bregx && op.number == r1 && op.number2 == 0);
    return sp_plus_0 && row.row.rule(lr).kind == RegRule::Kind::same_value;
}

}  // namespace

// As for aarch64 (aarch64_edges.cpp): direct branches leaving the function
// go where they say (through a PLT call stub's slot); a `bctr` where the
// CFI shows the frame torn down is a tail call the code does not fix;
// inside a frame it is a jump table's and stays in the function.
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    TailCalls out;
    const std::vector<uint32_t> words = read_words(process, fn_start, fn_size);
    for (size_t i = 0; i < words.size(); ++i) {
        const uint64_t addr = fn_start + 4 * i;
        if (const auto to = jump_target(words[i], addr)) {
            if (!outside(*to, fn_start, fn_size)) continue;
            if (const auto resolved = through_stub(process, *to, addr)) out.targets.push_back(*resolved);
        } else if (is_to_ctr(words[i]) && !is_link(words[i]) && !out.unknown_target && at_entry_state(process, addr)) {
            out.unknown_target = true;
        }
    }
    return out;
}

// ppc64 has no call through a memory slot in one instruction (the address
// is loaded into CTR first), so slot_calls stays empty, and every branch
// to CTR, and every call to LR, is indirect (`blr` is a return).
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
        if (is_i_branch(w) && is_link(w) && !is_absolute(w)) {
            out.calls.push_back(i_branch_target(w, addr));
        } else if (const auto to = jump_target(w, addr)) {
            if (outside(*to, fn_start, fn_size)) out.jumps.push_back(*to);
        } else if (is_to_ctr(w) || (is_to_lr(w) && is_link(w)) || (is_i_branch(w) && is_absolute(w))) {
            if (!out.indirect) out.indirect_at = addr;
            out.indirect = true;
        }
    }
    return out;
}

}  // namespace lpsafe::ppc64le

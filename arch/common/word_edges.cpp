#include "word_edges.h"

#include <dwarf.h>

#include <vector>

#include "arch_common.h"
#include "word_insn.h"

namespace lpsafe::arch_common {
namespace {
constexpr uint64_t kMaxFunction = 256 * 1024;
}

bool at_entry_state(const ProcessImage& process, uint64_t addr, unsigned sp_reg, unsigned ra_reg) {
    const CfiLookup row = cfi_row_at(process, addr);
    if (row.status != CfiLookup::Status::found || row.row.cfa.size() != 1) return false;
    const DwarfOp& op = row.row.cfa[0];
    const bool sp_plus_0 = (op.atom == DW_OP_breg0 + sp_reg && op.number == 0) ||
                           (op.atom == DW_OP_bregx && op.number == sp_reg && op.number2 == 0);
    return sp_plus_0 && row.row.rule(ra_reg).kind == RegRule::Kind::same_value;
}

TailCalls word_tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, const WordBranches& b) {
    TailCalls out;
    const std::vector<uint32_t> words = read_words(process, fn_start, fn_size);
    for (size_t i = 0; i < words.size(); ++i) {
        const uint64_t addr = fn_start + 4 * i;
        if (const auto to = b.jump_target(words[i], addr)) {
            if (!outside(*to, fn_start, fn_size)) continue;
            if (const auto resolved = b.resolve(process, *to, addr)) out.targets.push_back(*resolved);
        } else if (b.register_jump(words[i]) && !out.unknown_target && at_entry_state(process, addr, b.sp_reg, b.ra_reg)) {
            out.unknown_target = true;
        }
    }
    return out;
}

Result<CodeEdges> word_code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size,
                                  const WordBranches& b) {
    if (fn_size == 0 || fn_size > kMaxFunction) return make_error("function size unknown or too large to decode");
    const std::vector<uint32_t> words = read_words(process, fn_start, fn_size);
    if (words.size() * 4 != fn_size) return make_error("the function's code is not readable");
    CodeEdges out;
    for (size_t i = 0; i < words.size(); ++i) {
        const uint64_t addr = fn_start + 4 * i;
        const uint32_t w = words[i];
        if (b.insn_id(w, addr) == 0) {
            out.indirect = true;
            out.indirect_at = addr;
            break;
        }
        if (const auto call = b.call_target(w, addr)) {
            out.calls.push_back(*call);
        } else if (const auto to = b.jump_target(w, addr)) {
            if (outside(*to, fn_start, fn_size)) out.jumps.push_back(*to);
        } else if (b.register_call(w) || b.register_jump(w)) {
            if (!out.indirect) out.indirect_at = addr;
            out.indirect = true;
        }
    }
    return out;
}

}  // namespace lpsafe::arch_common

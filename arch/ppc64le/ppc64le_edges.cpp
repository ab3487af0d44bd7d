// How control leaves a ppc64le function: its direct calls (`bl`), the
// direct branches that leave it (tail calls: `b`, `bc` to outside), and
// whether it calls or jumps through CTR/LR (arch/common/word_edges.h). GCC
// puts no data inside ppc64 functions; the traceback table after the last
// instruction does not decode and ends the pass as an indirect edge.
#include "../common/word_edges.h"
#include "ppc64le_code.h"
#include "ppc64le_insn.h"
#include "ppc64le_regs.h"

namespace lpsafe::ppc64le {
namespace {

const arch_common::WordBranches kBranches = {
    .sp_reg = r1,
    .ra_reg = lr,
    .insn_id = insn_id,
    .call_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_i_branch(w) && is_link(w) && !is_absolute(w)) return i_branch_target(w, addr);
        return std::nullopt;
    },
    .jump_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_i_branch(w) && !is_link(w)) return i_branch_target(w, addr);
        return conditional_target(w, addr);
    },
    .register_jump = [](uint32_t w) { return is_to_ctr(w) && !is_link(w); },  // bctr; blr is a return
    // bctrl, bcctrl, bclrl, and bla (absolute: not position-independent).
    .register_call = [](uint32_t w) { return is_call(w) && !(is_i_branch(w) && !is_absolute(w)); },
    .resolve = through_stub,
};

}  // namespace

TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    return arch_common::word_tail_calls(process, fn_start, fn_size, kBranches);
}

Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    return arch_common::word_code_edges(process, fn_start, fn_size, kBranches);
}

}  // namespace lpsafe::ppc64le

// How control leaves an aarch64 function: its direct calls (`bl`), the
// direct branches that leave it (tail calls: `b`, b.cond, cbz/cbnz,
// tbz/tbnz to outside), and whether it calls or jumps through a register
// (arch/common/word_edges.h). GCC emits no literal pools inside aarch64
// functions, so the linear pass over words is exact.
#include "../common/word_edges.h"
#include "aarch64_code.h"
#include "aarch64_insn.h"
#include "aarch64_regs.h"

namespace lpsafe::aarch64 {
namespace {

const arch_common::WordBranches kBranches = {
    .sp_reg = sp,
    .ra_reg = x30,
    .insn_id = insn_id,
    .call_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_bl(w)) return branch26_target(w, addr);
        return std::nullopt;
    },
    .jump_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_b(w)) return branch26_target(w, addr);
        return conditional_target(w, addr);
    },
    .register_jump = is_br,
    .register_call = is_blr,
    .resolve = [](const ProcessImage& process, uint64_t target, uint64_t) { return through_plt(process, target); },
};

}  // namespace

TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    return arch_common::word_tail_calls(process, fn_start, fn_size, kBranches);
}

Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    return arch_common::word_code_edges(process, fn_start, fn_size, kBranches);
}

}  // namespace lpsafe::aarch64

// How control leaves an aarch64 function: its direct calls (`bl`), the
// direct branches that leave it (tail calls: `b`, b.cond, cbz/cbnz,
// tbz/tbnz to outside), and whether it calls or jumps through a register
// (arch/common/word_edges.h). GCC emits no literal pools inside aarch64
// functions, so the linear pass over words is exact.
#include <capstone/capstone.h>

#include "../common/word_edges.h"
#include "aarch64_code.h"
#include "aarch64_insn.h"
#include "aarch64_regs.h"

namespace lpsafe::aarch64 {
namespace {

const arch_common::WordBranches kBranches = {
    .sp_reg = sp,
    .ra_reg = x30,
    // Capstone 4 leaves ARMv8.3's authenticating branches undecoded; they
    // branch as blr / br / ret once the target is authenticated, so they
    // count as those rather than ending the pass as unknown words.
    .insn_id = [](uint32_t w, uint64_t addr) -> unsigned {
        const unsigned id = insn_id(w, addr);
        if (id != 0) return id;
        if (is_blra(w)) return ARM64_INS_BLR;
        if (is_bra(w)) return ARM64_INS_BR;
        if (is_reta(w)) return ARM64_INS_RET;
        return 0;
    },
    .call_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_bl(w)) return branch26_target(w, addr);
        return std::nullopt;
    },
    .jump_target = [](uint32_t w, uint64_t addr) -> std::optional<uint64_t> {
        if (is_b(w)) return branch26_target(w, addr);
        return conditional_target(w, addr);
    },
    .register_jump = [](uint32_t w) { return is_br(w) || is_bra(w); },
    .register_call = [](uint32_t w) { return is_blr(w) || is_blra(w); },
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

// The aarch64 frame-pointer walker. AAPCS64 frame records: x29 points at a
// 16-byte record {caller's x29, x30 (the return address)}. Where the record
// sits in the frame is the compiler's choice, and GCC 12 (Debian 12's, the
// cores' compiler) puts it at the *bottom* of the frame, locals and other
// callee-saved registers above it:
//     stp x29, x30, [sp, #-N]!   // N = whole frame
//     mov x29, sp                // CFI: CFA = x29 + N, x29 at CFA-N, x30 at CFA-N+8
// (gcc/config/aarch64/aarch64.cc, aarch64_layout_frame; GCC 14 moved the
// record to the top of the save area). So the record gives the caller's pc
// and x29 but not its sp: the CFA is x29 + N with N known only to the CFI.
// fp_step therefore reports fp + 16 as the lowest the caller's sp can be,
// marked inexact: the cross-check then requires the CFI's CFA at or above
// it, and a step taken without CFI leaves the caller's sp unknown.
#include "aarch64_frame_pointer.h"

#include <dwarf.h>

#include "aarch64_insn.h"
#include "aarch64_regs.h"
#include "../common/arch_common.h"

namespace lpsafe::aarch64 {

// AAPCS64 keeps sp 16-aligned, and x29 = sp + off with off a multiple of 16.
Result<FpStep> fp_step(const Memory& memory, uint64_t fp) {
    auto step = arch_common::frame_record_step(memory, fp, 16);
    if (step) step->cfa_exact = false;
    return step;
}

using arch_common::is_cfa_plus;

// CFA = x29 + N with x29 saved at CFA-N and x30 at CFA-N+8: the frame
// record is at x29, so an independent frame-pointer step applies and must
// reach the same caller.
bool cfi_row_is_fp_frame(const CfiRow& row) {
    if (row.cfa.size() != 1) return false;
    const DwarfOp& op = row.cfa[0];
    int64_t n = 0;
    if (op.atom == DW_OP_breg29) {
        n = static_cast<int64_t>(op.number);
    } else if (op.atom == DW_OP_bregx && op.number == x29) {
        n = static_cast<int64_t>(op.number2);
    } else {
        return false;
    }
    if (n < 16) return false;
    const RegRule& saved_fp = row.rule(x29);
    const RegRule& ret = row.rule(row.ra_column);
    return row.ra_column == x30 && saved_fp.kind == RegRule::Kind::location && is_cfa_plus(saved_fp.expr, -n) &&
           ret.kind == RegRule::Kind::location && is_cfa_plus(ret.expr, -n + 8);
}

namespace {

bool is_hint(uint32_t w) { return (w & 0xfffff01f) == 0xd503201f; }  // nop, bti, paciasp...
bool is_sub_sp_imm(uint32_t w) { return (w & 0xff8003ff) == 0xd10003ff; }
// stp x29, x30, [sp, #imm7*8]: pre-index (writes sp) or signed offset.
bool is_stp_frame_record(uint32_t w, bool& pre_index, int64_t& offset) {
    const bool pre = (w & 0xffc07fff) == 0xa9807bfd;
    const bool off = (w & 0xffc07fff) == 0xa9007bfd;
    if (!pre && !off) return false;
    pre_index = pre;
    const uint64_t imm7 = (w >> 15) & 0x7f;
    offset = (static_cast<int64_t>(imm7 ^ 0x40) - 0x40) * 8;
    return true;
}
// add x29, sp, #imm12 (mov x29, sp is imm12 = 0).
bool is_set_fp(uint32_t w, int64_t offset) {
    return (w & 0xffc003ff) == 0x910003fd && static_cast<int64_t>((w >> 10) & 0xfff) == offset;
}
bool is_branch(uint32_t w) {
    return is_b(w) || is_bl(w) || is_br(w) || is_blr(w) || (w & 0xfffffc1f) == 0xd65f0000 /* ret */ ||
           is_blra(w) || is_bra(w) || is_reta(w) ||
           conditional_target(w, 0).has_value();
}
// Could `w` change x29 or sp? Conservatively yes when its destination field
// (bits 0-4) names x29 or register 31 (sp in many forms), or it is a load
// or store with writeback (pre/post-index changes its base register).
bool may_touch_frame(uint32_t w) {
    const uint32_t rd = w & 0x1f;
    const bool pair_writeback = (w & 0x3a800000) == 0x28800000;
    const bool single_writeback = (w & 0x3b200400) == 0x38000400;
    return rd == 29 || rd == 31 || pair_writeback || single_writeback;
}

}  // namespace

// [hint] [sub sp, sp, #M] stp x29, x30, [sp, #off]{!} ... add x29, sp, #off:
// after it x29 points at the record {caller's x29, return address}. GCC
// schedules independent instructions between the stp and the mov (an
// adrp/add pair in the fixtures), so a few that leave x29 and sp alone and
// do not branch are allowed.
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc) {
    constexpr int kMaxBetween = 6;
    if (fn_size == 0) return RuleOutcome::cannot("the function's size is unknown");
    uint64_t addr = fn_start;
    const uint64_t end = fn_start + fn_size;
    auto next = [&]() -> std::optional<uint32_t> {
        if (addr >= end) return std::nullopt;
        auto w = read_insn(process, addr);
        addr += 4;
        return w;
    };
    auto w = next();
    if (!w) return RuleOutcome::cannot("the function's first instruction is not readable");
    if (is_hint(*w)) w = next();
    if (w && is_sub_sp_imm(*w)) w = next();
    bool pre = false;
    int64_t offset = 0;
    if (!w || !is_stp_frame_record(*w, pre, offset)) {
        return RuleOutcome::fail("the function does not begin by saving x29, x30 (stp x29, x30, [sp, ...])");
    }
    const int64_t fp_offset = pre ? 0 : offset;
    if (fp_offset < 0) return RuleOutcome::fail("the frame record is saved below sp");
    for (int i = 0; i <= kMaxBetween; ++i) {
        w = next();
        if (!w) break;
        if (is_set_fp(*w, fp_offset)) {
            if (pc < addr) return RuleOutcome::fail("pc lies inside the frame-pointer prologue");
            return RuleOutcome::pass();
        }
        if (is_branch(*w) || may_touch_frame(*w)) break;
    }
    return RuleOutcome::fail("no mov x29, sp (add x29, sp, #" + std::to_string(fp_offset) +
                             ") follows the frame-record store in the prologue");
}

}  // namespace lpsafe::aarch64

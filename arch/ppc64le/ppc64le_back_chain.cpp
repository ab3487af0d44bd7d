// The ppc64le frame-pointer walker is the ELFv2 back chain (ELFv2 ABI
// 2.2.2.1, "Stack Frame"): every frame begins with the caller's stack
// pointer at [r1], stored by the same `stdu r1,-N(r1)` that allocates the
// frame, so the chain is never half-built; a function saves its return
// address in its *caller's* frame, at caller_sp + 16 (the LR save doubleword).
// There is no separate frame-pointer register: the "fp" is r1 itself.
// The chain ends at a back chain of 0: glibc's _start ("clear the LR",
// `std r0,0(r1)` with r0 = 0, sysdeps/powerpc/powerpc64/start.S) and the
// child path of clone (`stdu r0,-FRAME_MIN_SIZE_PARM(r4)` with r0 = 0 on
// the new stack, sysdeps/unix/sysv/linux/powerpc/powerpc64/clone.S) store
// it; neither marks LR undefined in CFI (start.S has none, clone.S ends its
// FDE before the system call).
#include "ppc64le_back_chain.h"

#include <dwarf.h>

#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "ppc64le_insn.h"
#include "ppc64le_regs.h"

namespace lpsafe::ppc64le {

using arch_common::hex;

namespace {
constexpr uint64_t kLrSave = 16;  // ELFv2: LR save doubleword at back chain + 16
constexpr int64_t kMinFrame = 32;  // ELFv2: back chain, CR, LR and TOC save words
}  // namespace

// ELFv2 keeps r1 quadword aligned. The caller's sp is exact: it is the back
// chain itself.
Result<FpStep> fp_step(const Memory& memory, uint64_t sp) {
    if (sp % 16 != 0) return make_error("stack pointer " + hex(sp) + " is not 16-byte aligned");
    const auto caller_sp = memory.read_u64(sp);
    if (!caller_sp) return make_error("the back chain at " + hex(sp) + " is unreadable");
    if (*caller_sp == 0) return make_error("the back chain ends at " + hex(sp));
    const auto ret = memory.read_u64(*caller_sp + kLrSave);
    if (!ret) return make_error("the LR save slot above the back chain " + hex(*caller_sp) + " is unreadable");
    return FpStep{*ret, *caller_sp, *caller_sp};
}

// CFA = r1 + N with LR saved at CFA + 16: the frame is allocated (N at
// least the ABI minimum) and the back chain at r1 must lead to the CFA and
// the same return address.
bool cfi_row_is_fp_frame(const CfiRow& row) {
    if (row.cfa.size() != 1 || row.ra_column != lr) return false;
    const DwarfOp& op = row.cfa[0];
    int64_t n = 0;
    if (op.atom == DW_OP_breg1) {
        n = static_cast<int64_t>(op.number);
    } else if (op.atom == DW_OP_bregx && op.number == r1) {
        n = static_cast<int64_t>(op.number2);
    } else {
        return false;
    }
    const RegRule& ret = row.rule(lr);
    return n >= kMinFrame && ret.kind == RegRule::Kind::location && arch_common::is_cfa_plus(ret.expr, kLrSave);
}

namespace {

constexpr uint32_t kMflrR0 = 0x7c0802a6;
constexpr uint32_t kStdR0Lr = 0xf8010010;  // std r0,16(r1)
bool is_toc_setup(uint32_t w) { return (w & 0xffff0000) == 0x3c4c0000 || (w & 0xffff0000) == 0x38420000; }
bool is_stdu_r1(uint32_t w) { return (w & 0xffff8003) == 0xf8218001; }  // stdu r1,-N(r1)
bool is_branch(uint32_t w) {
    const uint32_t op = w >> 26;
    return op == 16 || op == 18 || (op == 19 && (is_to_ctr(w) || is_to_lr(w)));
}
// Could `w` change r0 (holding LR after mflr) or r1? Decided on the
// encoding's register fields, conservatively: where the destination field
// depends on the form, both RT and RA count.
bool writes_r0_or_r1(uint32_t w) {
    const uint32_t op = w >> 26, rt = (w >> 21) & 0x1f, ra = (w >> 16) & 0x1f;
    const bool store = (op >= 36 && op <= 39) || op == 44 || op == 45 || (op >= 52 && op <= 55) || op == 62;
    const bool update = op == 37 || op == 39 || op == 45 || op == 53 || op == 55 || (op == 62 && (w & 3) == 1);
    if (store) return update && ra <= 1;  // the stored register is a source
    if (op == 14 || op == 15) return rt <= 1;  // addi/addis (li/lis): RA 0 is the literal 0
    if (op >= 24 && op <= 29) return ra <= 1;  // ori ... andis.: RA is written
    if (op == 58) return rt <= 1 || ((w & 3) == 1 && ra <= 1);  // ld, ldu
    return rt <= 1 || ra <= 1;
}

}  // namespace

// [addis r2,r12; addi r2,r2] mflr r0 ... std r0,16(r1) ... stdu r1,-N(r1):
// after it the return address is in the caller's LR save slot and [r1] is
// the back chain. GCC schedules callee-saved register stores between them,
// so instructions that neither branch nor touch r0/r1 are allowed.
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc) {
    constexpr int kMaxPrologue = 24;
    if (fn_size == 0) return RuleOutcome::cannot("the function's size is unknown");
    bool mflr = false, saved = false;
    for (int i = 0; i < kMaxPrologue && 4u * i < fn_size; ++i) {
        const uint64_t addr = fn_start + 4u * i;
        const auto w = read_insn(process, addr);
        if (!w) return RuleOutcome::cannot("the function's prologue is not readable");
        if (i < 2 && is_toc_setup(*w)) continue;
        if (*w == kMflrR0 && !mflr) {
            mflr = true;
        } else if (*w == kStdR0Lr && mflr && !saved) {
            saved = true;
        } else if (is_stdu_r1(*w) && saved) {
            if (pc <= addr) return RuleOutcome::fail("pc lies inside the back-chain prologue");
            return RuleOutcome::pass();
        } else if (is_branch(*w) || writes_r0_or_r1(*w)) {
            break;
        }
    }
    return RuleOutcome::fail("the function does not begin with mflr r0; std r0,16(r1); stdu r1,-N(r1)");
}

bool back_chain_ends(const Memory& memory, uint64_t sp) {
    const auto chain = memory.read_u64(sp);
    return chain && *chain == 0;
}

RuleOutcome check_stack_end_marker(const Memory& memory, const Regs& outermost) {
    const auto sp = outermost.get(r1);
    if (!sp) return RuleOutcome::cannot("the outermost frame's r1 is unknown, so its back chain cannot be read");
    const auto chain = memory.read_u64(*sp);
    if (!chain) return RuleOutcome::cannot("the back chain at the outermost frame's r1 " + hex(*sp) + " is unreadable");
    if (*chain != 0) {
        return RuleOutcome::fail("the outermost frame's back chain is " + hex(*chain) +
                                 ", not the 0 glibc's _start and clone store (ELFv2 ABI, Stack Frame)");
    }
    return RuleOutcome::pass();
}

}  // namespace lpsafe::ppc64le

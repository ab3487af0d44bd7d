// eval_dwarf_expr and apply_cfi_row on hand-made expressions and rows.
// Expected values are worked out by hand from DWARF 5 section 2.5 (stack
// machine semantics) and the System V x86_64 psABI (DWARF register numbers:
// rbx 3, rbp 6, rsp 7, rip/return address 16).
#include <dwarf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "lpsafe/cfi.h"
#include "lpsafe/memory.h"

namespace lpsafe {
namespace {

constexpr unsigned kRbx = 3, kRbp = 6, kRsp = 7, kRip = 16;

// libdw delivers a negative offset of an "offset(N)" rule, or of
// DW_OP_plus_uconst, as its two's-complement wrap-around.
constexpr uint64_t neg(uint64_t v) { return ~v + 1; }

DwarfOp op(uint8_t atom, uint64_t number = 0, uint64_t number2 = 0) { return {atom, number, number2}; }

std::vector<std::byte> le64(std::initializer_list<uint64_t> words) {
    std::vector<std::byte> out;
    for (uint64_t w : words) {
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((w >> (8 * i)) & 0xff));
    }
    return out;
}

class EvalTest : public ::testing::Test {
protected:
    Result<uint64_t> eval(const DwarfExpr& e, std::optional<uint64_t> cfa = std::nullopt) {
        return eval_dwarf_expr(e, regs, cfa, memory);
    }
    uint64_t eval_ok(const DwarfExpr& e, std::optional<uint64_t> cfa = std::nullopt) {
        auto r = eval(e, cfa);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
        return r.ok() ? *r : 0xbad;
    }
    Regs regs{ArchId::x86_64};
    BufferMemory memory;
};

TEST_F(EvalTest, Literals) {
    EXPECT_EQ(eval_ok({op(DW_OP_lit0)}), 0u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit31)}), 31u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit7)}), 7u);
    EXPECT_EQ(eval_ok({op(DW_OP_const4u, 0x12345678)}), 0x12345678u);
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(5))}), neg(5));
}

TEST_F(EvalTest, BregAddsTheOffsetToTheRegister) {
    regs.set(kRsp, 0x7ffc0000);
    EXPECT_EQ(eval_ok({op(DW_OP_breg7, 8)}), 0x7ffc0008u);
    // A negative SLEB128 offset arrives wrapped around.
    EXPECT_EQ(eval_ok({op(DW_OP_breg7, neg(0x20))}), 0x7ffbffe0u);
    regs.set(kRbp, 0x1000);
    EXPECT_EQ(eval_ok({op(DW_OP_bregx, kRbp, 16)}), 0x1010u);
    EXPECT_EQ(eval_ok({op(DW_OP_bregx, kRbp, neg(16))}), 0xff0u);
    EXPECT_EQ(eval_ok({op(DW_OP_reg6)}), 0x1000u);
    EXPECT_EQ(eval_ok({op(DW_OP_regx, kRsp)}), 0x7ffc0000u);
}

TEST_F(EvalTest, PlusUconstWithWrappedNegativeOffset) {
    EXPECT_EQ(eval_ok({op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, neg(16))}, 0x7fff1010), 0x7fff1000u);
    EXPECT_EQ(eval_ok({op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, 24)}, 0x100), 0x118u);
}

TEST_F(EvalTest, CallFrameCfaNeedsACfa) {
    EXPECT_FALSE(eval({op(DW_OP_call_frame_cfa)}).ok());
    EXPECT_EQ(eval_ok({op(DW_OP_call_frame_cfa)}, 0x4242), 0x4242u);
}

TEST_F(EvalTest, DerefReadsEightBytes) {
    memory.add(0x2000, le64({0x1122334455667788, 0xdeadbeef}));
    regs.set(kRsp, 0x2000);
    EXPECT_EQ(eval_ok({op(DW_OP_breg7, 0), op(DW_OP_deref)}), 0x1122334455667788u);
    EXPECT_EQ(eval_ok({op(DW_OP_breg7, 8), op(DW_OP_deref)}), 0xdeadbeefu);
}

TEST_F(EvalTest, DerefOfUnreadableMemoryIsAnError) {
    memory.add(0x2000, le64({1}));
    regs.set(kRsp, 0x2000);
    EXPECT_FALSE(eval({op(DW_OP_breg7, 0x100), op(DW_OP_deref)}).ok());
    // Only 4 of the 8 bytes readable.
    EXPECT_FALSE(eval({op(DW_OP_breg7, 4), op(DW_OP_deref)}).ok());
}

TEST_F(EvalTest, Arithmetic) {
    // "a OP b" with b on top.
    EXPECT_EQ(eval_ok({op(DW_OP_lit20), op(DW_OP_lit7), op(DW_OP_plus)}), 27u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit20), op(DW_OP_lit7), op(DW_OP_minus)}), 13u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit7), op(DW_OP_lit20), op(DW_OP_minus)}), neg(13));
    EXPECT_EQ(eval_ok({op(DW_OP_lit6), op(DW_OP_lit7), op(DW_OP_mul)}), 42u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit20), op(DW_OP_lit6), op(DW_OP_div)}), 3u);
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(20)), op(DW_OP_lit6), op(DW_OP_div)}), neg(3));  // signed
    EXPECT_EQ(eval_ok({op(DW_OP_lit20), op(DW_OP_lit6), op(DW_OP_mod)}), 2u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit12), op(DW_OP_lit10), op(DW_OP_and)}), 8u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit12), op(DW_OP_lit10), op(DW_OP_or)}), 14u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit12), op(DW_OP_lit10), op(DW_OP_xor)}), 6u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit4), op(DW_OP_shl)}), 48u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit31), op(DW_OP_lit2), op(DW_OP_shr)}), 7u);
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(16)), op(DW_OP_lit2), op(DW_OP_shra)}), neg(4));
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(16)), op(DW_OP_lit2), op(DW_OP_shr)}), neg(16) >> 2);
    EXPECT_EQ(eval_ok({op(DW_OP_lit5), op(DW_OP_neg)}), neg(5));
    EXPECT_EQ(eval_ok({op(DW_OP_lit5), op(DW_OP_not)}), ~uint64_t{5});
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(9)), op(DW_OP_abs)}), 9u);
}

TEST_F(EvalTest, StackManipulation) {
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_dup), op(DW_OP_plus)}), 6u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit9), op(DW_OP_over)}), 3u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit9), op(DW_OP_lit1), op(DW_OP_pick, 2)}), 3u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit9), op(DW_OP_drop)}), 3u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit9), op(DW_OP_swap)}), 3u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_nop)}), 3u);
}

TEST_F(EvalTest, ComparisonsAreSigned) {
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit4), op(DW_OP_eq)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit5), op(DW_OP_eq)}), 0u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit5), op(DW_OP_ne)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit5), op(DW_OP_lt)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit5), op(DW_OP_lit4), op(DW_OP_lt)}), 0u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit5), op(DW_OP_lit4), op(DW_OP_gt)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit4), op(DW_OP_le)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit4), op(DW_OP_lit4), op(DW_OP_ge)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_lit3), op(DW_OP_lit4), op(DW_OP_ge)}), 0u);
    // -1 < 0 as signed values (it would be false unsigned).
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(1)), op(DW_OP_lit0), op(DW_OP_lt)}), 1u);
    EXPECT_EQ(eval_ok({op(DW_OP_consts, neg(1)), op(DW_OP_lit0), op(DW_OP_gt)}), 0u);
}

// The CFA of an x86_64 PLT entry (binutils elf_x86_64_eh_frame_plt):
// rsp + 8, plus 8 more once the entry has pushed its index, i.e. when
// (rip & 15) >= 11.
TEST_F(EvalTest, X86_64PltCfaExpression) {
    const DwarfExpr plt = {op(DW_OP_breg7, 8), op(DW_OP_breg16, 0), op(DW_OP_lit15), op(DW_OP_and),
                           op(DW_OP_lit11),   op(DW_OP_ge),         op(DW_OP_lit3),  op(DW_OP_shl),
                           op(DW_OP_plus)};
    regs.set(kRsp, 0x7ffe0000);
    const std::pair<uint64_t, uint64_t> cases[] = {
        {0x401020, 0x7ffe0008}, {0x40102a, 0x7ffe0008}, {0x40102b, 0x7ffe0010},
        {0x40102f, 0x7ffe0010}, {0x401030, 0x7ffe0008},
    };
    for (auto [rip, cfa] : cases) {
        regs.set(kRip, rip);
        EXPECT_EQ(eval_ok(plt), cfa) << "rip 0x" << std::hex << rip;
    }
}

TEST_F(EvalTest, UnknownRegisterIsAnError) {
    EXPECT_FALSE(eval({op(DW_OP_breg3, 0)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_bregx, kRbx, 8)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_reg3)}).ok());
    // A register number beyond any register file.
    EXPECT_FALSE(eval({op(DW_OP_bregx, 200, 0)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_regx, 1u << 20)}).ok());
    regs.set(kRbx, 1);
    EXPECT_TRUE(eval({op(DW_OP_breg3, 0)}).ok());
}

TEST_F(EvalTest, StackUnderflowIsAnError) {
    EXPECT_FALSE(eval({}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_plus)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_plus_uconst, 8)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_deref)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_drop)}).ok());  // nothing left
    EXPECT_FALSE(eval({op(DW_OP_dup)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_over)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_pick, 1)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_swap)}).ok());
}

TEST_F(EvalTest, StackOverflowIsAnError) {
    DwarfExpr deep(1000, op(DW_OP_lit1));
    EXPECT_FALSE(eval(deep).ok());
    // A modest depth still works: 10 pushes then 9 additions.
    DwarfExpr sum(10, op(DW_OP_lit1));
    sum.insert(sum.end(), 9, op(DW_OP_plus));
    EXPECT_EQ(eval_ok(sum), 10u);
}

TEST_F(EvalTest, DivisionByZeroIsAnError) {
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_lit0), op(DW_OP_div)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_lit0), op(DW_OP_mod)}).ok());
}

TEST_F(EvalTest, UnsupportedOperationsAreErrors) {
    regs.set(kRbp, 0x1000);
    EXPECT_FALSE(eval({op(DW_OP_fbreg, 8)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_lit1), op(DW_OP_piece, 8)}).ok());
    EXPECT_FALSE(eval({op(DW_OP_push_object_address)}).ok());
    EXPECT_FALSE(eval({op(0xff)}).ok());
}

// Control flow is not supported by the evaluator, so a loop cannot run at all:
// both a forward skip and a non-terminating backward branch are rejected.
TEST_F(EvalTest, SkipAndBraAreRejected) {
    auto loop = eval({op(DW_OP_lit1), op(DW_OP_skip, neg(3))});
    ASSERT_FALSE(loop.ok());
    EXPECT_NE(loop.error().message.find("unsupported"), std::string::npos) << loop.error().message;
    auto bra = eval({op(DW_OP_lit1), op(DW_OP_lit1), op(DW_OP_bra, neg(3))});
    ASSERT_FALSE(bra.ok());
    EXPECT_NE(bra.error().message.find("unsupported"), std::string::npos) << bra.error().message;
}

TEST_F(EvalTest, StackValueOnlyAsLastOperation) {
    EXPECT_EQ(eval_ok({op(DW_OP_lit9), op(DW_OP_stack_value)}), 9u);
    EXPECT_FALSE(eval({op(DW_OP_lit9), op(DW_OP_stack_value), op(DW_OP_lit1), op(DW_OP_plus)}).ok());
}

// ---- apply_cfi_row ---------------------------------------------------------

// The row GCC emits after `push %rbp; mov %rsp,%rbp`: CFA = rbp + 16,
// rbp saved at CFA-16, return address at CFA-8 (as libdw encodes "offset(N)":
// DW_OP_call_frame_cfa; DW_OP_plus_uconst N).
CfiRow fp_frame_row() {
    CfiRow row;
    row.ra_column = kRip;
    row.cfa = {op(DW_OP_bregx, kRbp, 16)};
    row.regs.resize(kRip + 1);
    row.regs[kRbp] = {RegRule::Kind::location, {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, neg(16))}};
    row.regs[kRip] = {RegRule::Kind::location, {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, neg(8))}};
    return row;
}

class ApplyRowTest : public ::testing::Test {
protected:
    void SetUp() override {
        callee.set(kRip, 0x401234);
        callee.set(kRsp, 0x7fff0fe0);
        callee.set(kRbp, 0x7fff1000);
        callee.set(0, 0xaaaa);    // rax: call-clobbered, no rule
        callee.set(kRbx, 0xbbbb);
        // [rbp] = caller's rbp, [rbp+8] = return address.
        stack.add(0x7fff1000, le64({0x7fff1100, 0x401500}));
    }
    Regs callee{ArchId::x86_64};
    BufferMemory stack;
};

TEST_F(ApplyRowTest, FramePointerFrame) {
    auto step = apply_cfi_row(fp_frame_row(), callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->cfa, 0x7fff1010u);
    EXPECT_FALSE(step->return_address_undefined);
    EXPECT_EQ(step->caller.get(kRip), 0x401500u);
    EXPECT_EQ(step->caller.get(kRbp), 0x7fff1100u);
    EXPECT_EQ(step->caller.get(kRsp), 0x7fff1010u);  // sp defaults to the CFA
    // No rule: the caller's value is not known.
    EXPECT_FALSE(step->caller.has(0));
    EXPECT_FALSE(step->caller.has(kRbx));
}

TEST_F(ApplyRowTest, UndefinedReturnAddressMarksTheOutermostFrame) {
    CfiRow row = fp_frame_row();
    row.regs[kRip] = {};
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_TRUE(step->return_address_undefined);
    EXPECT_FALSE(step->caller.has(kRip));
}

TEST_F(ApplyRowTest, ReturnAddressColumnBeyondTheRulesIsUndefined) {
    CfiRow row = fp_frame_row();
    row.regs.resize(kRbp + 1);  // no rule for column 16 at all
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_TRUE(step->return_address_undefined);
}

TEST_F(ApplyRowTest, UnreadableReturnAddressSlotIsAnError) {
    BufferMemory only_rbp;
    only_rbp.add(0x7fff1000, le64({0x7fff1100}));  // [rbp+8] missing
    EXPECT_FALSE(apply_cfi_row(fp_frame_row(), callee, kRsp, only_rbp).ok());
}

TEST_F(ApplyRowTest, UnreadableSavedRegisterOnlyInvalidatesThatRegister) {
    CfiRow row = fp_frame_row();
    row.regs[kRbx] = {RegRule::Kind::location, {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, neg(0x400))}};
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_FALSE(step->caller.has(kRbx));
    EXPECT_EQ(step->caller.get(kRip), 0x401500u);
}

TEST_F(ApplyRowTest, CfaNeedingAnUnknownRegisterIsAnError) {
    callee.clear(kRbp);
    EXPECT_FALSE(apply_cfi_row(fp_frame_row(), callee, kRsp, stack).ok());
}

TEST_F(ApplyRowTest, EmptyCfaRuleIsAnError) {
    CfiRow row = fp_frame_row();
    row.cfa.clear();
    EXPECT_FALSE(apply_cfi_row(row, callee, kRsp, stack).ok());
}

TEST_F(ApplyRowTest, SameValueKeepsTheCalleesValue) {
    CfiRow row = fp_frame_row();
    row.regs[kRbx] = {RegRule::Kind::same_value, {}};
    row.regs[12] = {RegRule::Kind::same_value, {}};  // r12: unknown in the callee
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->caller.get(kRbx), 0xbbbbu);
    EXPECT_FALSE(step->caller.has(12));
}

TEST_F(ApplyRowTest, ValueRuleAndExplicitSpRule) {
    CfiRow row = fp_frame_row();
    // rsp = CFA + 32 (a value rule), overriding the CFA default.
    row.regs[kRsp] = {RegRule::Kind::value, {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, 32)}};
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->caller.get(kRsp), 0x7fff1030u);
}

TEST_F(ApplyRowTest, SpSameValueIsNotReplacedByTheCfa) {
    CfiRow row = fp_frame_row();
    row.regs[kRsp] = {RegRule::Kind::same_value, {}};
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->caller.get(kRsp), 0x7fff0fe0u);
}

// At a function's first instruction: CFA = rsp + 8, return address at CFA-8.
TEST_F(ApplyRowTest, FunctionEntryRow) {
    CfiRow row;
    row.ra_column = kRip;
    row.cfa = {op(DW_OP_bregx, kRsp, 8)};
    row.regs.resize(kRip + 1);
    row.regs[kRip] = {RegRule::Kind::location, {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, neg(8))}};
    callee.set(kRsp, 0x7fff1008);  // [rsp] = 0x401500 (see SetUp)
    auto step = apply_cfi_row(row, callee, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->cfa, 0x7fff1010u);
    EXPECT_EQ(step->caller.get(kRip), 0x401500u);
    EXPECT_EQ(step->caller.get(kRsp), 0x7fff1010u);
    EXPECT_FALSE(step->caller.has(kRbp));  // no rule for rbp in this row
}

}  // namespace
}  // namespace lpsafe

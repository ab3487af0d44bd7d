// The s390x frame-pointer walker is the back chain (s390x ELF ABI
// Supplement, "Stack Frame"), kept only by code built with -mbackchain
// (GCC's default is without; the kernel builds with it): a function that
// allocates a frame stores its entry r15 (the caller's stack pointer) at
// 0(%r15) of the new frame. A function saves its registers, r14 among
// them, in the 160-byte register save area its *caller* allocated: r_n at
// caller_sp + 8 * n, so the return address lies at caller_sp + 112.
// There is no separate frame-pointer register: the "fp" is r15 itself.
// glibc ends the chain with 0: _start (`xc 0(8,%r15),0(%r15)`, "clear
// back-chain", sysdeps/s390/s390-64/start.S) and clone's child path (the
// same xc before `basr %r14,%r1`, sysdeps/unix/sysv/linux/s390/s390-64/
// clone.S); both also mark r14 undefined in CFI, which ends the walk.
#include "s390x_back_chain.h"

#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "s390x_insn.h"
#include "s390x_regs.h"

namespace lpsafe::s390x {

using arch_common::hex;

namespace {
constexpr uint64_t kR14Slot = 8 * r14;  // 112: r14 in the register save area
}  // namespace

// The ABI keeps r15 8-byte aligned. The caller's sp is exact: it is the
// back chain itself; the CFA is 160 above it.
Result<FpStep> fp_step(const Memory& memory, uint64_t sp) {
    if (sp % 8 != 0) return make_error("stack pointer " + hex(sp) + " is not 8-byte aligned");
    const auto caller_sp = memory.read_u64(sp);
    if (!caller_sp) return make_error("the back chain at " + hex(sp) + " is unreadable");
    if (*caller_sp == 0) return make_error("the back chain ends at " + hex(sp));
    const auto ret = memory.read_u64(*caller_sp + kR14Slot);
    if (!ret) return make_error("the r14 save slot above the back chain " + hex(*caller_sp) + " is unreadable");
    return FpStep{*ret, *caller_sp + kRegisterSaveArea, *caller_sp};
}

// CFI cannot say whether the code keeps a back chain (-mbackchain changes
// no CFI), so no row alone makes a back-chain step apply: only the
// function's prologue does (check_fp_prologue).
bool cfi_row_is_fp_frame(const CfiRow&) { return false; }

namespace {

bool is_branch(const Insn& i) { return call_of(i) || jump_target(i) || is_register_jump(i) || is_return(i); }

// Could `i` write r15 or `reg`? Decided on the R1 field, where almost every
// format puts its destination (RRE's is in the fourth byte); conservative:
// a store whose source is r15 also counts.
bool writes(const Insn& i, unsigned reg) {
    const unsigned r1 = i.b[0] == 0xb9 ? i.b[3] >> 4 : i.b[1] >> 4;
    return r1 == r15 || r1 == reg;
}

}  // namespace

// stmg %rA,%r15,8*A(%r15) (r14 among them) ... lgr %rX,%r15 ...
// aghi %r15,-N | lay %r15,-N(%r15) ... stg %rX,0(%r15): after the last
// the return address is in the caller's r14 slot and 0(%r15) is the back
// chain. GCC schedules other instructions between them (larl, lghi of
// arguments), so instructions that neither branch nor write r15/rX are
// allowed.
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc) {
    constexpr int kMaxPrologue = 16;
    if (fn_size == 0) return RuleOutcome::cannot("the function's size is unknown");
    enum { want_stmg, want_lgr, want_alloc, want_stg } state = want_stmg;
    unsigned x = 0;
    uint64_t addr = fn_start;
    for (int n = 0; n < kMaxPrologue && addr < fn_start + fn_size; ++n) {
        const auto i = read_insn(process, addr);
        if (!i) return RuleOutcome::cannot("the function's prologue is not readable");
        addr += i->length;
        const uint8_t* b = i->b.data();
        const unsigned r1 = b[1] >> 4, r3 = b[1] & 0xf;
        if (state == want_stmg && i->length == 6 && b[0] == 0xeb && b[5] == 0x24 && r3 == r15 && r1 <= r14 &&
            (b[2] >> 4) == r15 && ((b[2] & 0xf) << 8 | b[3]) == 8 * r1 && b[4] == 0) {
            state = want_lgr;
        } else if (state == want_lgr && i->length == 4 && b[0] == 0xb9 && b[1] == 0x04 && (b[3] & 0xf) == r15 &&
                   (b[3] >> 4) != r15) {
            x = b[3] >> 4;
            state = want_alloc;
        } else if (state == want_alloc && ((i->length == 4 && b[0] == 0xa7 && b[1] == 0xfb && (b[2] & 0x80) != 0) ||
                                           (i->length == 6 && b[0] == 0xe3 && b[1] == 0xf0 && (b[2] >> 4) == r15 &&
                                            b[5] == 0x71))) {
            state = want_stg;
        } else if (state == want_stg && i->length == 6 && b[0] == 0xe3 && b[1] == (x << 4) && b[2] == 0xf0 &&
                   b[3] == 0 && b[4] == 0 && b[5] == 0x24) {
            if (pc < addr) return RuleOutcome::fail("pc lies inside the back-chain prologue");
            return RuleOutcome::pass();
        } else if (is_branch(*i) || writes(*i, state == want_stmg ? unsigned{r14} : state == want_lgr ? unsigned{r15} : x)) {
            break;
        }
    }
    return RuleOutcome::fail(
        "the function does not begin with stmg ...,%r15; lgr %rX,%r15; aghi|lay %r15,-N; stg %rX,0(%r15) "
        "(no back chain: built without -mbackchain)");
}

RuleOutcome check_stack_end_marker(const Memory& memory, const Regs& outermost) {
    const auto sp = outermost.get(r15);
    if (!sp) return RuleOutcome::cannot("the outermost frame's r15 is unknown, so its back chain cannot be read");
    const auto chain = memory.read_u64(*sp);
    if (!chain) return RuleOutcome::cannot("the back chain at the outermost frame's r15 " + hex(*sp) + " is unreadable");
    if (*chain != 0) {
        return RuleOutcome::fail("the outermost frame's back chain is " + hex(*chain) +
                                 ", not the 0 glibc's _start and clone store (s390x ELF ABI, Stack Frame)");
    }
    return RuleOutcome::pass();
}

}  // namespace lpsafe::s390x

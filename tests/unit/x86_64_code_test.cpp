// The x86_64 instruction rules on hand-assembled code. Every byte sequence was
// checked with `objdump -D -b binary -mi386:x86-64`; the instruction is in the
// comment next to it.
#include <dwarf.h>
#include <gtest/gtest.h>

#include <memory>

#include "lpsafe/memory.h"
#include "lpsafe/process.h"
#include "x86_64/x86_64_code.h"
#include "x86_64/x86_64_frame_pointer.h"

namespace lpsafe::x86_64 {
namespace {

using Kind = RuleOutcome::Kind;
using Bytes = std::vector<uint8_t>;

constexpr unsigned kRbp = 6, kRsp = 7, kRip = 16;
constexpr uint64_t kCode = 0x401000;
// Every function below is placed after 16 bytes of int3 (cc) padding, so
// that backward decoding finds no stray call before a function.
constexpr size_t kPad = 16;

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::pass: return "pass";
    case Kind::fail: return "fail";
    case Kind::cannot_check: return "cannot_check";
    }
    return "?";
}

::testing::AssertionResult is(Kind want, const RuleOutcome& got) {
    if (got.kind == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected " << kind_name(want) << ", got " << kind_name(got.kind)
                                         << " (" << got.detail << ")";
}

std::vector<std::byte> to_bytes(const Bytes& b) {
    std::vector<std::byte> out;
    for (uint8_t v : b) out.push_back(static_cast<std::byte>(v));
    return out;
}

// A process whose only memory is `code` at kCode + kPad, surrounded by
// int3 padding from kCode to the end of `code` + kPad.
struct CodeImage {
    explicit CodeImage(const Bytes& code) {
        Bytes all(kPad, 0xcc);
        all.insert(all.end(), code.begin(), code.end());
        all.insert(all.end(), kPad, 0xcc);
        auto mem = std::make_shared<BufferMemory>();
        mem->add(kCode, to_bytes(all));
        process.memory = mem;
    }
    uint64_t at(size_t offset) const { return kCode + kPad + offset; }
    ProcessImage process;
};

// A process with `code` at exactly `addr` and nothing else readable.
ProcessImage bare(uint64_t addr, const Bytes& code) {
    ProcessImage p;
    auto mem = std::make_shared<BufferMemory>();
    mem->add(addr, to_bytes(code));
    p.memory = mem;
    return p;
}

Regs at_pc(uint64_t pc, std::optional<int64_t> syscall_nr) {
    Regs r(ArchId::x86_64);
    r.set(kRip, pc);
    r.syscall_nr = syscall_nr;
    return r;
}

// ---- check_parked -----------------------------------------------------------

const Bytes kPauseLike = {
    0xb8, 0x22, 0x00, 0x00, 0x00,  // 0: mov $0x22,%eax   (34 = pause)
    0x0f, 0x05,                    // 5: syscall
    0xc3,                          // 7: ret
};

TEST(CheckParked, AfterSyscallInsideSystemCall) {
    CodeImage img(kPauseLike);
    EXPECT_TRUE(is(Kind::pass, check_parked(img.process, at_pc(img.at(7), 34))));
}

TEST(CheckParked, AfterSyscallButNotInSystemCall) {
    CodeImage img(kPauseLike);
    // orig_rax = -1: the thread already returned to user space.
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(7), -1))));
}

TEST(CheckParked, UnknownSyscallNumberCannotBeChecked) {
    CodeImage img(kPauseLike);
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(img.process, at_pc(img.at(7), std::nullopt))));
}

TEST(CheckParked, PcAtTheSyscallItselfIsNotParked) {
    CodeImage img(kPauseLike);
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(5), 34))));
}

TEST(CheckParked, AfterACallIsNotParked) {
    CodeImage img({
        0xe8, 0x10, 0x00, 0x00, 0x00,  // 0: call +0x10
        0x90,                          // 5: nop
    });
    // In a system call per orig_rax, but the pc does not follow a syscall.
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(5), 34))));
}

TEST(CheckParked, RexWSyscallEndsInTheSameTwoBytes) {
    CodeImage img({
        0x48, 0x0f, 0x05,  // 0: rex.W syscall
        0x90,              // 3: nop
    });
    EXPECT_TRUE(is(Kind::pass, check_parked(img.process, at_pc(img.at(3), 34))));
}

// What the rule can tell: the two bytes before pc are a `syscall` (0f 05) and
// the kernel reports a system call in progress. What it cannot tell: where
// instruction boundaries lie before pc. In `b8 0f 05 00 00` (mov $0x50f,%eax)
// a pc 3 bytes in follows `0f 05`; a CPU that got to that pc did execute
// `0f 05` as a syscall (it jumped to offset 1), so only orig_rax says whether
// the thread is really inside the call.
TEST(CheckParked, TailOfALongerInstruction) {
    const Bytes mov_50f = {
        0xb8, 0x0f, 0x05, 0x00, 0x00,  // 0: mov $0x50f,%eax
        0xc3,                          // 5: ret
    };
    CodeImage img(mov_50f);
    // After the whole mov: the preceding bytes are 00 00.
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(5), 34))));
    // In the middle of it, right after the 0f 05 bytes.
    EXPECT_TRUE(is(Kind::pass, check_parked(img.process, at_pc(img.at(3), 34))));
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(3), -1))));
}

TEST(CheckParked, TwoByteInstructionsThatAreNotSyscall) {
    CodeImage img({
        0x0f, 0x34,  // 0: sysenter
        0x0f, 0x0b,  // 2: ud2
        0xcd, 0x80,  // 4: int $0x80
        0x90,        // 6: nop
    });
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(2), 34))));
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(4), 34))));
    EXPECT_TRUE(is(Kind::fail, check_parked(img.process, at_pc(img.at(6), 34))));
}

TEST(CheckParked, UnreadableCodeCannotBeChecked) {
    CodeImage img(kPauseLike);
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(img.process, at_pc(0x7f0000001000, 34))));
    // Only one byte before the pc is readable.
    ProcessImage one = bare(0x500000, {0x05, 0x90});
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(one, at_pc(0x500001, 34))));
    // No memory at all, and a pc too low to have two bytes before it.
    ProcessImage none;
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(none, at_pc(0x401000, 34))));
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(img.process, at_pc(1, 34))));
}

TEST(CheckParked, UnknownPcCannotBeChecked) {
    CodeImage img(kPauseLike);
    Regs r(ArchId::x86_64);
    r.syscall_nr = 34;
    EXPECT_TRUE(is(Kind::cannot_check, check_parked(img.process, r)));
}

// ---- check_call_before -------------------------------------------------------

struct CallForm {
    const char* name;
    Bytes bytes;
};

const CallForm kCallForms[] = {
    {"call rel32", {0xe8, 0x10, 0x00, 0x00, 0x00}},                   // call +0x10
    {"call *%rax", {0xff, 0xd0}},                                     // call *%rax
    {"call *(%rsp)", {0xff, 0x14, 0x24}},                             // call *(%rsp)
    {"call *0x8(%rax)", {0xff, 0x50, 0x08}},                          // call *0x8(%rax)
    {"call *0x1000(%rip)", {0xff, 0x15, 0x00, 0x10, 0x00, 0x00}},     // call *0x1000(%rip)
    {"call *%r11", {0x41, 0xff, 0xd3}},                               // call *%r11
    {"call *0x100(%rsp)", {0xff, 0x94, 0x24, 0x00, 0x01, 0x00, 0x00}},  // call *0x100(%rsp)
    {"notrack call *%rax", {0x3e, 0xff, 0xd0}},                       // notrack call *%rax
};

// Each call form at the end of a small function:
//   push %rbp (55); mov %rsp,%rbp (48 89 e5); <call>; pop %rbp (5d); ret (c3)
TEST(CheckCallBefore, EveryCallFormWithFunctionBounds) {
    for (const CallForm& form : kCallForms) {
        Bytes fn = {0x55, 0x48, 0x89, 0xe5};
        fn.insert(fn.end(), form.bytes.begin(), form.bytes.end());
        fn.insert(fn.end(), {0x5d, 0xc3});
        CodeImage img(fn);
        const uint64_t ret = img.at(4 + form.bytes.size());
        EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, ret, img.at(0), fn.size()))) << form.name;
    }
}

TEST(CheckCallBefore, EveryCallFormWithoutFunctionBounds) {
    for (const CallForm& form : kCallForms) {
        Bytes fn = {0x55, 0x48, 0x89, 0xe5};
        fn.insert(fn.end(), form.bytes.begin(), form.bytes.end());
        fn.insert(fn.end(), {0x5d, 0xc3});
        CodeImage img(fn);
        const uint64_t ret = img.at(4 + form.bytes.size());
        EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, ret, 0, 0))) << form.name;
    }
}

// Returns after an instruction that is not a call.
const Bytes kNoCalls = {
    0x55,                          // 0: push %rbp
    0x48, 0x89, 0xe5,              // 1: mov %rsp,%rbp
    0xeb, 0x05,                    // 4: jmp +5
    0xe9, 0x00, 0x01, 0x00, 0x00,  // 6: jmp +0x100
    0x5d,                          // 11: pop %rbp
    0xc3,                          // 12: ret
    0x90,                          // 13: nop
};

TEST(CheckCallBefore, AfterAJumpOrARetFails) {
    CodeImage img(kNoCalls);
    for (size_t end : {6u, 11u, 13u}) {  // after jmp short, jmp near, ret
        EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, img.at(end), img.at(0), kNoCalls.size())))
            << "bounded, ret at +" << end;
        EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, img.at(end), 0, 0))) << "unbounded, ret at +" << end;
    }
}

// A return address inside an instruction, with bytes that are a call when
// decoded from the return address backwards:
//   b8 ff d0 00 00   mov $0xd0ff,%eax   (its bytes 1-2 read as `call *%rax`)
const Bytes kHiddenCall = {
    0x55,                          // 0: push %rbp
    0x48, 0x89, 0xe5,              // 1: mov %rsp,%rbp
    0xb8, 0xff, 0xd0, 0x00, 0x00,  // 4: mov $0xd0ff,%eax
    0x5d,                          // 9: pop %rbp
    0xc3,                          // 10: ret
};

TEST(CheckCallBefore, ReturnAddressInsideAnInstructionFailsWithFunctionBounds) {
    CodeImage img(kHiddenCall);
    // Decoding from the function's start shows +7 is inside the mov.
    EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, img.at(7), img.at(0), kHiddenCall.size())));
}

// ---- check_lret_before: head_64.S's hand-pushed return address -----------
// The tail of secondary_startup_64_no_verify (6.1), as its bytes are:
//   68 5a 01 80 81        push $0xffffffff8180015a  (.Lafter_lret)
//   31 ed                 xor %ebp,%ebp
//   48 8b 05 00 10 00 00  mov 0x1000(%rip),%rax    (initial_code)
//   6a 10                 push $0x10               (__KERNEL_CS)
//   50                    push %rax
//   48 cb                 lretq
const Bytes kEntryTail = {0x68, 0x5a, 0x01, 0x80, 0x81, 0x31, 0xed, 0x48, 0x8b, 0x05, 0x00,
                          0x10, 0x00, 0x00, 0x6a, 0x10, 0x50, 0x48, 0xcb};

TEST(CheckLretBefore, PassesOnlyRightAfterTheLretq) {
    CodeImage img(kEntryTail);
    const uint64_t end = img.at(kEntryTail.size());
    EXPECT_TRUE(is(Kind::pass, check_lret_before(img.process, end, img.at(0), kEntryTail.size())));
    // Not a call either: the ordinary rule refuses the same address.
    EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, end, img.at(0), kEntryTail.size())));
    // After push %rax: not an lretq; inside the lretq: not an instruction end.
    EXPECT_TRUE(is(Kind::fail, check_lret_before(img.process, end - 2, img.at(0), kEntryTail.size())));
    EXPECT_TRUE(is(Kind::fail, check_lret_before(img.process, end - 1, img.at(0), kEntryTail.size())));
}

TEST(CheckLretBefore, NeedsTheFunctionBoundsAndItsCode) {
    CodeImage img(kEntryTail);
    const uint64_t end = img.at(kEntryTail.size());
    // No bounds: nothing proves where the instruction before begins.
    EXPECT_TRUE(is(Kind::cannot_check, check_lret_before(img.process, end, 0, 0)));
    // A call is not a far return.
    CodeImage call(Bytes{0x55, 0xe8, 0x10, 0x00, 0x00, 0x00, 0x5d, 0xc3});
    EXPECT_TRUE(is(Kind::fail, check_lret_before(call.process, call.at(6), call.at(0), 8)));
    // Unreadable code.
    ProcessImage none;
    none.memory = std::make_shared<BufferMemory>();
    EXPECT_TRUE(is(Kind::cannot_check, check_lret_before(none, 0x1000 + 19, 0x1000, 19)));
}

// The limit of backward decoding, kept as documentation: without the
// function's bounds, the rule sees `ff d0` before +7 and cannot know that it
// is the middle of a longer instruction.
TEST(CheckCallBefore, BackwardDecodingCannotSeeInstructionBoundaries) {
    CodeImage img(kHiddenCall);
    EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, img.at(7), 0, 0)));
}

TEST(CheckCallBefore, ReturnAddressInsideACallFails) {
    const Bytes fn = {
        0x55,                          // 0: push %rbp
        0x48, 0x89, 0xe5,              // 1: mov %rsp,%rbp
        0xe8, 0x10, 0x00, 0x00, 0x00,  // 4: call +0x10
        0x5d,                          // 9: pop %rbp
        0xc3,                          // 10: ret
    };
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, img.at(7), img.at(0), fn.size())));
    EXPECT_TRUE(is(Kind::fail, check_call_before(img.process, img.at(7), 0, 0)));
    EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, img.at(9), img.at(0), fn.size())));
}

// A function that ends in a call to a noreturn function (abort): its return
// address is the first byte after the function.
TEST(CheckCallBefore, CallToNoreturnAtTheFunctionsEnd) {
    const Bytes fn = {
        0x55,                          // 0: push %rbp
        0x48, 0x89, 0xe5,              // 1: mov %rsp,%rbp
        0xe8, 0x10, 0x00, 0x00, 0x00,  // 4: call abort
    };
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, img.at(fn.size()), img.at(0), fn.size())));
    // Even when nothing is readable after the function.
    ProcessImage tight = bare(0x500000, fn);
    EXPECT_TRUE(is(Kind::pass, check_call_before(tight, 0x500000 + fn.size(), 0x500000, fn.size())));
}

TEST(CheckCallBefore, ReturnAddressAtTheFunctionStartIsJudgedBackwards) {
    // ret == fn_start: the bytes before belong to the previous function, here
    // its final call.
    const Bytes two = {
        0xe8, 0x10, 0x00, 0x00, 0x00,  // 0: call (end of the previous function)
        0x55,                          // 5: push %rbp (start of the next one)
        0xc3,                          // 6: ret
    };
    CodeImage img(two);
    EXPECT_TRUE(is(Kind::pass, check_call_before(img.process, img.at(5), img.at(5), 2)));
}

TEST(CheckCallBefore, UnreadableCodeCannotBeChecked) {
    CodeImage img(kNoCalls);
    EXPECT_TRUE(is(Kind::cannot_check, check_call_before(img.process, 0x7f0000001000, 0, 0)));
    EXPECT_TRUE(is(Kind::cannot_check, check_call_before(img.process, 0x7f0000001000, 0x7f0000000f00, 0x200)));
}

// ---- check_fp_prologue ---------------------------------------------------------

TEST(CheckFpPrologue, PushMovPrologue) {
    const Bytes fn = {
        0x55,              // 0: push %rbp
        0x48, 0x89, 0xe5,  // 1: mov %rsp,%rbp
        0x90, 0x90,        // 4: nop; nop
        0x5d, 0xc3,        // 6: pop %rbp; ret
    };
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::pass, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(4))));
    EXPECT_TRUE(is(Kind::pass, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(5))));
}

TEST(CheckFpPrologue, Endbr64First) {
    const Bytes fn = {
        0xf3, 0x0f, 0x1e, 0xfa,  // 0: endbr64
        0x55,                    // 4: push %rbp
        0x48, 0x89, 0xe5,        // 5: mov %rsp,%rbp
        0x90,                    // 8: nop
        0x5d, 0xc3,              // 9: pop %rbp; ret
    };
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::pass, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(8))));
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(4))));
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(5))));
}

TEST(CheckFpPrologue, AlternateMovEncoding) {
    const Bytes fn = {
        0x55,              // 0: push %rbp
        0x48, 0x8b, 0xec,  // 1: mov %rsp,%rbp (8b form)
        0x90, 0x90,        // 4: nop; nop
        0x5d, 0xc3,        // 6: pop %rbp; ret
    };
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::pass, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(4))));
}

TEST(CheckFpPrologue, MissingPrologue) {
    const Bytes no_fp = {
        0x53,                    // 0: push %rbx
        0x48, 0x89, 0xfb,        // 1: mov %rdi,%rbx
        0x90, 0x90,              // 4: nop; nop
        0x5b, 0xc3,              // 6: pop %rbx; ret
    };
    CodeImage img(no_fp);
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img.process, img.at(0), no_fp.size(), img.at(4))));
    const Bytes push_only = {
        0x55,              // 0: push %rbp
        0x48, 0x89, 0xfd,  // 1: mov %rdi,%rbp
        0x90, 0x90,        // 4: nop; nop
        0x5d, 0xc3,        // 6: pop %rbp; ret
    };
    CodeImage img2(push_only);
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img2.process, img2.at(0), push_only.size(), img2.at(4))));
}

TEST(CheckFpPrologue, PcInsideThePrologue) {
    const Bytes fn = {0x55, 0x48, 0x89, 0xe5, 0x90, 0x90, 0x5d, 0xc3};  // as in PushMovPrologue
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(0))));  // before push
    EXPECT_TRUE(is(Kind::fail, check_fp_prologue(img.process, img.at(0), fn.size(), img.at(1))));  // before mov
}

TEST(CheckFpPrologue, UnknownSizeOrUnreadableCannotBeChecked) {
    const Bytes fn = {0x55, 0x48, 0x89, 0xe5, 0x90, 0x90, 0x5d, 0xc3};
    CodeImage img(fn);
    EXPECT_TRUE(is(Kind::cannot_check, check_fp_prologue(img.process, img.at(0), 0, img.at(4))));
    EXPECT_TRUE(is(Kind::cannot_check, check_fp_prologue(img.process, 0x7f0000001000, 8, 0x7f0000001004)));
}

// ---- fp_step and cfi_row_is_fp_frame ----------------------------------------------

std::vector<std::byte> le64(std::initializer_list<uint64_t> words) {
    std::vector<std::byte> out;
    for (uint64_t w : words) {
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((w >> (8 * i)) & 0xff));
    }
    return out;
}

TEST(FpStep, ReadsTheFrameRecord) {
    BufferMemory mem;
    mem.add(0x7fff1000, le64({0x7fff1100, 0x401500}));
    auto s = fp_step(mem, 0x7fff1000);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->caller_fp, 0x7fff1100u);
    EXPECT_EQ(s->pc, 0x401500u);
    EXPECT_EQ(s->cfa, 0x7fff1010u);
}

TEST(FpStep, Errors) {
    BufferMemory mem;
    mem.add(0x7fff1000, le64({0x7fff1100, 0x401500}));
    EXPECT_FALSE(fp_step(mem, 0).ok());
    EXPECT_FALSE(fp_step(mem, 0x7fff1004).ok());  // misaligned
    EXPECT_FALSE(fp_step(mem, 0x7fff1008).ok());  // return-address slot unreadable
    EXPECT_FALSE(fp_step(mem, 0x7fff2000).ok());  // nothing there
}

constexpr uint64_t neg(uint64_t v) { return ~v + 1; }

CfiRow fp_row() {
    CfiRow row;
    row.ra_column = kRip;
    row.cfa = {{DW_OP_bregx, kRbp, 16}};
    row.regs.resize(kRip + 1);
    row.regs[kRbp] = {RegRule::Kind::location, {{DW_OP_call_frame_cfa, 0, 0}, {DW_OP_plus_uconst, neg(16), 0}}};
    row.regs[kRip] = {RegRule::Kind::location, {{DW_OP_call_frame_cfa, 0, 0}, {DW_OP_plus_uconst, neg(8), 0}}};
    return row;
}

TEST(CfiRowIsFpFrame, FramePointerRow) {
    EXPECT_TRUE(cfi_row_is_fp_frame(fp_row()));
    CfiRow breg6 = fp_row();
    breg6.cfa = {{DW_OP_breg6, 16, 0}};
    EXPECT_TRUE(cfi_row_is_fp_frame(breg6));
}

TEST(CfiRowIsFpFrame, OtherRows) {
    CfiRow rsp_based = fp_row();
    rsp_based.cfa = {{DW_OP_bregx, kRsp, 16}};
    EXPECT_FALSE(cfi_row_is_fp_frame(rsp_based));

    CfiRow other_offset = fp_row();
    other_offset.cfa = {{DW_OP_bregx, kRbp, 24}};
    EXPECT_FALSE(cfi_row_is_fp_frame(other_offset));

    CfiRow rbp_elsewhere = fp_row();
    rbp_elsewhere.regs[kRbp].expr[1].number = neg(24);
    EXPECT_FALSE(cfi_row_is_fp_frame(rbp_elsewhere));

    CfiRow rbp_not_saved = fp_row();
    rbp_not_saved.regs[kRbp] = {RegRule::Kind::same_value, {}};
    EXPECT_FALSE(cfi_row_is_fp_frame(rbp_not_saved));

    CfiRow ra_value = fp_row();
    ra_value.regs[kRip].kind = RegRule::Kind::value;
    EXPECT_FALSE(cfi_row_is_fp_frame(ra_value));
}

}  // namespace
}  // namespace lpsafe::x86_64

// ---- call_target / tail_calls: where a call goes (the call-reaches-callee
// part of return-after-call, docs/verdict-rules.md) ----------------------------
namespace lpsafe::x86_64 {
namespace {

TEST(CallTarget, DirectCallRel32) {
    // call +0x10 (e8 10 00 00 00); the target is the return address + 0x10.
    CodeImage img({0xe8, 0x10, 0x00, 0x00, 0x00, 0x90});
    EXPECT_EQ(call_target(img.process, img.at(5)), img.at(5) + 0x10);
}

TEST(CallTarget, ThroughGotSlotReadFromMemory) {
    // call *0x20(%rip) (ff 15 20 00 00 00): the slot at ret + 0x20 holds the target.
    CodeImage img({0xff, 0x15, 0x20, 0x00, 0x00, 0x00, 0x90});
    auto mem = std::make_shared<BufferMemory>(*std::static_pointer_cast<const BufferMemory>(img.process.memory));
    const uint64_t slot = img.at(6) + 0x20;
    std::vector<std::byte> value(8);
    for (unsigned i = 0; i < 8; ++i) value[i] = std::byte((0x7f0000123450ull >> (8 * i)) & 0xff);
    mem->add(slot, value);
    img.process.memory = mem;
    EXPECT_EQ(call_target(img.process, img.at(6)), 0x7f0000123450ull);
}

TEST(CallTarget, PltStubIsFollowedThroughItsGotSlot) {
    // call +0 -> the next instruction is a PLT stub: endbr64; bnd jmp *0x40(%rip).
    CodeImage img({0xe8, 0x00, 0x00, 0x00, 0x00, 0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, 0x40, 0x00, 0x00, 0x00});
    auto mem = std::make_shared<BufferMemory>(*std::static_pointer_cast<const BufferMemory>(img.process.memory));
    std::vector<std::byte> value(8);
    for (unsigned i = 0; i < 8; ++i) value[i] = std::byte((0x7f00000abcd0ull >> (8 * i)) & 0xff);
    mem->add(img.at(16) + 0x40, value);
    img.process.memory = mem;
    EXPECT_EQ(call_target(img.process, img.at(5)), 0x7f00000abcd0ull);
}

TEST(CallTarget, RegisterCallHasNoFixedTarget) {
    CodeImage img({0xff, 0xd0, 0x90});  // call *%rax
    EXPECT_FALSE(call_target(img.process, img.at(2)).has_value());
}

TEST(TailCalls, JumpsLeavingTheFunctionOnly) {
    // jmp +2 (inside: eb 02); nop; nop; jmp +0x100 (e9 00 01 00 00, out); ret
    CodeImage img({0xeb, 0x02, 0x90, 0x90, 0xe9, 0x00, 0x01, 0x00, 0x00, 0xc3});
    const auto out = tail_calls(img.process, img.at(0), 10).targets;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], img.at(9) + 0x100);
}

TEST(TailCalls, JumpOntoAPltStubGoesThroughItsGotSlot) {
    // jmp +0 (e9 00 00 00 00) out of a 5-byte function onto the PLT stub
    // right after it: endbr64; bnd jmp *0x40(%rip). Its slot names the target.
    CodeImage img({0xe9, 0x00, 0x00, 0x00, 0x00, 0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, 0x40, 0x00, 0x00, 0x00});
    auto mem = std::make_shared<BufferMemory>(*std::static_pointer_cast<const BufferMemory>(img.process.memory));
    std::vector<std::byte> value(8);
    for (unsigned i = 0; i < 8; ++i) value[i] = std::byte((0x7f00000abcd0ull >> (8 * i)) & 0xff);
    mem->add(img.at(16) + 0x40, value);
    img.process.memory = mem;
    const TailCalls out = tail_calls(img.process, img.at(0), 5);
    ASSERT_EQ(out.targets.size(), 1u);
    EXPECT_EQ(out.targets[0], 0x7f00000abcd0ull);
    EXPECT_FALSE(out.unknown_target);
}

TEST(TailCalls, JumpThroughAGotSlotIsFollowed) {
    // jmp *0x20(%rip) (ff 25 20 00 00 00): -fno-plt's tail call.
    CodeImage img({0xff, 0x25, 0x20, 0x00, 0x00, 0x00});
    auto mem = std::make_shared<BufferMemory>(*std::static_pointer_cast<const BufferMemory>(img.process.memory));
    std::vector<std::byte> value(8);
    for (unsigned i = 0; i < 8; ++i) value[i] = std::byte((0x7f0000123450ull >> (8 * i)) & 0xff);
    mem->add(img.at(6) + 0x20, value);
    img.process.memory = mem;
    const TailCalls out = tail_calls(img.process, img.at(0), 6);
    ASSERT_EQ(out.targets.size(), 1u);
    EXPECT_EQ(out.targets[0], 0x7f0000123450ull);
}

TEST(TailCalls, UnreadableGotSlotGivesNoTarget) {
    // The same jump with no slot in memory: no target, and not "unknown"
    // either (that needs CFI showing the frame torn down).
    CodeImage img({0xff, 0x25, 0x00, 0x10, 0x00, 0x00});
    const TailCalls out = tail_calls(img.process, img.at(0), 6);
    EXPECT_TRUE(out.targets.empty());
    EXPECT_FALSE(out.unknown_target);
}

TEST(TailCalls, RegisterJumpWithoutCfiIsNotATailCall) {
    // jmp *%r9 (41 ff e1) in code no module describes: without a CFI row
    // showing the frame torn down it may be a switch table's jump.
    CodeImage img({0x41, 0xff, 0xe1});
    const TailCalls out = tail_calls(img.process, img.at(0), 3);
    EXPECT_TRUE(out.targets.empty());
    EXPECT_FALSE(out.unknown_target);
}

// ---- code_edges (kernel_elided.cpp's call graph of scheduler text) ----------

TEST(CodeEdges, DirectCallsLeavingJumpsAndSlotCallsAreTold) {
    // 0: call +0x100          e8 00 01 00 00    (target 0x105 past the start)
    // 5: call *0x200(%rip)    ff 15 00 02 00 00 (slot: 0xb + 0x200)
    // b: jne 0xf (inside)     75 02
    // d: jmp -0x20            eb e0             (target 0xf - 0x20)
    // f: ret                  c3
    CodeImage img({0xe8, 0x00, 0x01, 0x00, 0x00, 0xff, 0x15, 0x00, 0x02, 0x00, 0x00, 0x75, 0x02, 0xeb, 0xe0, 0xc3});
    const auto e = code_edges(img.process, img.at(0), 16);
    ASSERT_TRUE(e.ok()) << e.error().message;
    EXPECT_EQ(e->calls, std::vector<uint64_t>{img.at(0x105)});
    EXPECT_EQ(e->slot_calls, std::vector<uint64_t>{img.at(0xb) + 0x200});
    ASSERT_EQ(e->jumps.size(), 1u);  // the jne stays inside
    EXPECT_EQ(e->jumps[0], img.at(0xf) - 0x20);
    EXPECT_FALSE(e->indirect);
}

TEST(CodeEdges, RegisterCallsAndUnreadableCodeAreOpaque) {
    CodeImage img({0x90, 0xff, 0xd0, 0xc3});  // nop; call *%rax; ret
    const auto e = code_edges(img.process, img.at(0), 4);
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE(e->indirect);
    EXPECT_EQ(e->indirect_at, img.at(1));
    EXPECT_FALSE(code_edges(img.process, img.at(0), 0).ok());
    EXPECT_FALSE(code_edges(bare(0x1000, {0x90}), 0x1000, 64).ok());  // 1 of 64 bytes readable
}

}  // namespace
}  // namespace lpsafe::x86_64

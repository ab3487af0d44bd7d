// The aarch64 instruction rules on real instruction words: each word below
// was taken from Debian 12's cross glibc (libc6-arm64-cross 2.36) or the
// fixture program built with aarch64-linux-gnu-gcc 12, as
// `aarch64-linux-gnu-objdump -d` shows it (the instruction is in the comment).
// No pointer authentication: qemu's cortex-a72 model and bookworm's default
// flags have none.
#include <gtest/gtest.h>

#include <memory>

#include "aarch64/aarch64_code.h"
#include "aarch64/aarch64_frame_pointer.h"
#include "lpsafe/memory.h"
#include "lpsafe/process.h"

namespace lpsafe::aarch64 {
namespace {

using Kind = RuleOutcome::Kind;
using Words = std::vector<uint32_t>;

constexpr unsigned kPc = 32, kX29 = 29;
constexpr uint64_t kCode = 0x5502880000;

std::shared_ptr<BufferMemory> words_at(uint64_t addr, const Words& words) {
    std::vector<std::byte> bytes(words.size() * 4);
    std::memcpy(bytes.data(), words.data(), bytes.size());
    auto mem = std::make_shared<BufferMemory>();
    mem->add(addr, std::move(bytes));
    return mem;
}

ProcessImage image(const Words& words) {
    ProcessImage p;
    p.arch = ArchId::aarch64;
    p.memory = words_at(kCode, words);
    return p;
}

Regs at_pc(uint64_t pc) {
    Regs r(ArchId::aarch64);
    r.set(kPc, pc);
    return r;
}

// libc 0x27460: the tail of a syscall wrapper.
const Words kSyscallSite = {
    0xd28010e8,  // mov x8, #0x87
    0xb9001085,  // str w5, [x4, #16]
    0xf9001be6,  // str x6, [sp, #48]
    0xd4000001,  // svc #0x0
    0x9131c275,  // add x21, x19, #0xc70
    0xb94012a0,  // ldr w0, [x21, #16]
};
constexpr uint64_t kSvcAt = kCode + 12;

TEST(Aarch64Parked, PcJustAfterSvcPasses) {  // qemu-user's form, and a returned call's
    EXPECT_EQ(check_parked(image(kSyscallSite), at_pc(kSvcAt + 4)).kind, Kind::pass);
}

TEST(Aarch64Parked, PcAtSvcPasses) {  // the kernel's restart form (do_signal rewinds before get_signal)
    EXPECT_EQ(check_parked(image(kSyscallSite), at_pc(kSvcAt)).kind, Kind::pass);
}

TEST(Aarch64Parked, OtherPcsFail) {
    const ProcessImage p = image(kSyscallSite);
    EXPECT_EQ(check_parked(p, at_pc(kSvcAt - 4)).kind, Kind::fail);  // before the svc
    EXPECT_EQ(check_parked(p, at_pc(kSvcAt + 8)).kind, Kind::fail);  // one instruction too far
    EXPECT_EQ(check_parked(p, at_pc(kSvcAt + 2)).kind, Kind::fail);  // misaligned
}

TEST(Aarch64Parked, OnlySvcZeroCounts) {
    // svc #0x1 (d4000021): not a Linux system call.
    EXPECT_EQ(check_parked(image({0xd4000021, 0xd503201f}), at_pc(kCode + 4)).kind, Kind::fail);
}

TEST(Aarch64Parked, UnreadableCodeCannotBeChecked) {
    EXPECT_EQ(check_parked(image(kSyscallSite), at_pc(kCode + 0x1000)).kind, Kind::cannot_check);
    EXPECT_EQ(check_parked(image(kSyscallSite), Regs(ArchId::aarch64)).kind, Kind::cannot_check);
}

// ---- return-after-call --------------------------------------------------------

TEST(Aarch64CallBefore, BlAndBlrPass) {
    const ProcessImage p = image({
        0x94042b5b,  // bl 0x132500 (libc 0x27794)
        0x7100041f,  // cmp w0, #0x1
        0xd63f0060,  // blr x3 (libc 0x2777c)
        0x7100041f,  // cmp w0, #0x1
    });
    EXPECT_EQ(check_call_before(p, kCode + 4, 0, 0).kind, Kind::pass);
    EXPECT_EQ(check_call_before(p, kCode + 12, 0, 0).kind, Kind::pass);
}

TEST(Aarch64CallBefore, NotACallFails) {
    const ProcessImage p = image({
        0x17fffffe,  // b 0x277a8 (a branch, not a call)
        0x9131c275,  // add x21, x19, #0xc70
        0xd61f0220,  // br x17 (a jump through a register, not a call)
        0xd4000001,  // svc #0x0
        0x9131c275,  // add x21, x19, #0xc70
    });
    EXPECT_EQ(check_call_before(p, kCode + 4, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 8, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 12, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 16, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 6, 0, 0).kind, Kind::fail);  // misaligned return address
    EXPECT_EQ(check_call_before(p, kCode + 0x100, 0, 0).kind, Kind::cannot_check);
}

// ---- call targets, through the PLT -----------------------------------------------

// parked at 0x1020: pause@plt; at 0x17c8: bl 0x1020 <pause@plt>. The GOT
// slot (0x20010) is placed in memory as the dynamic linker filled it.
TEST(Aarch64CallTarget, BlFollowsThePltStubToItsGotSlot) {
    constexpr uint64_t kBase = 0x5500000000;
    auto mem = std::make_shared<BufferMemory>();
    auto add = [&](uint64_t addr, const Words& w) {
        std::vector<std::byte> b(w.size() * 4);
        std::memcpy(b.data(), w.data(), b.size());
        mem->add(addr, std::move(b));
    };
    add(kBase + 0x1020, {0xf00000f0, 0xf9400a11, 0x91004210, 0xd61f0220});  // adrp x16; ldr x17,[x16,#16]; add; br x17
    add(kBase + 0x17c8, {0x97fffe16});                                       // bl 1020 <pause@plt>
    add(kBase + 0x20010, {0x029387a0, 0x55});                                // the slot: 0x55029387a0
    ProcessImage p;
    p.arch = ArchId::aarch64;
    p.memory = mem;
    EXPECT_EQ(call_target(p, kBase + 0x17cc), std::optional<uint64_t>(0x55029387a0));
    // blr has no fixed target.
    EXPECT_EQ(call_target(image({0xd63f0060}), kCode + 4), std::nullopt);
}

TEST(Aarch64CallTarget, DirectBl) {
    // bl 0x132500 at libc 0x27794: +0x10ad6c.
    EXPECT_EQ(call_target(image({0x94042b5b}), kCode + 4), std::optional<uint64_t>(kCode + 0x132500 - 0x27794));
}

// ---- frame pointers --------------------------------------------------------------

// deep_recurse built with -fno-omit-frame-pointer, and smash_inner with an
// adrp/add pair scheduled between the stp and the mov.
TEST(Aarch64FramePointer, GccPrologues) {
    const Words deep = {0xa9be7bfd, 0x910003fd, 0x7100041f, 0x5400020c};  // stp x29,x30,[sp,#-32]!; mov x29,sp
    EXPECT_EQ(check_fp_prologue(image(deep), kCode, 16, kCode + 8).kind, Kind::pass);
    EXPECT_EQ(check_fp_prologue(image(deep), kCode, 16, kCode + 4).kind, Kind::fail);  // inside the prologue
    const Words smash = {0xa9bf7bfd, 0x90000001, 0x91250021, 0x910003fd, 0x528000a0};
    EXPECT_EQ(check_fp_prologue(image(smash), kCode, 20, kCode + 16).kind, Kind::pass);
    const Words leaf = {0xd28010e8, 0xd4000001};  // no frame record
    EXPECT_EQ(check_fp_prologue(image(leaf), kCode, 8, kCode + 4).kind, Kind::fail);
}

TEST(Aarch64FramePointer, StepReadsTheRecordAndBoundsTheCfa) {
    constexpr uint64_t kFp = 0x5502821300;
    auto mem = words_at(kFp, {0x02821340, 0x55, 0x00001b70, 0x55});  // {caller x29, x30}
    auto step = fp_step(*mem, kFp);
    ASSERT_TRUE(step);
    EXPECT_EQ(step->caller_fp, 0x5502821340u);
    EXPECT_EQ(step->pc, 0x5500001b70u);
    EXPECT_EQ(step->cfa, kFp + 16);
    EXPECT_FALSE(step->cfa_exact);  // the record sits at the bottom of the frame
    EXPECT_FALSE(fp_step(*mem, kFp + 8));  // not 16-aligned
    EXPECT_FALSE(fp_step(*mem, 0));
}

TEST(Aarch64EndMarker, X29ZeroAtTheOutermostFrame) {
    Regs r(ArchId::aarch64);
    EXPECT_EQ(check_stack_end_marker(BufferMemory{}, r).kind, Kind::cannot_check);
    r.set(kX29, 0);
    EXPECT_EQ(check_stack_end_marker(BufferMemory{}, r).kind, Kind::pass);
    r.set(kX29, 0x5502821340);
    EXPECT_EQ(check_stack_end_marker(BufferMemory{}, r).kind, Kind::fail);
}

}  // namespace
}  // namespace lpsafe::aarch64

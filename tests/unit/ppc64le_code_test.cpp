// The ppc64le instruction and back-chain rules on real instruction words:
// each word below was taken from Debian 12's cross glibc
// (libc6-ppc64el-cross 2.36) or the fixture program built with
// powerpc64le-linux-gnu-gcc 12, as `powerpc64le-linux-gnu-objdump -d` shows
// it (the instruction is in the comment).
#include <dwarf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "ppc64le/ppc64le_back_chain.h"
#include "ppc64le/ppc64le_code.h"
#include "ppc64le/ppc64le_regs.h"
#include "lpsafe/memory.h"
#include "lpsafe/process.h"

namespace lpsafe::ppc64le {
namespace {

using Kind = RuleOutcome::Kind;
using Words = std::vector<uint32_t>;

constexpr uint64_t kCode = 0x40020d0000;

void add_words(BufferMemory& mem, uint64_t addr, const std::vector<uint32_t>& words) {
    std::vector<std::byte> bytes(words.size() * 4);
    std::memcpy(bytes.data(), words.data(), bytes.size());
    mem.add(addr, std::move(bytes));
}

void add_u64(BufferMemory& mem, uint64_t addr, const std::vector<uint64_t>& values) {
    std::vector<std::byte> bytes(values.size() * 8);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    mem.add(addr, std::move(bytes));
}

ProcessImage image(const Words& words) {
    auto mem = std::make_shared<BufferMemory>();
    add_words(*mem, kCode, words);
    ProcessImage p;
    p.arch = ArchId::ppc64le;
    p.memory = mem;
    return p;
}

Regs at_pc(uint64_t pc) {
    Regs r(ArchId::ppc64le);
    r.set(ppc64le::pc, pc);
    return r;
}

// ---- top: parked after sc -------------------------------------------------------

// libc 0x1090e0: pause's system call.
const Words kPauseSc = {
    0xe92d8f98,  // ld r9,-28776(r13)   (hwcap2)
    0x7c7e1b78,  // mr r30,r3
    0x75290010,  // andis. r9,r9,16     (PPC_FEATURE2_SCV?)
    0x40820054,  // bne 0x109140        (the scv path)
    0x44000002,  // sc
    0x7c000026,  // mfcr r0
    0x74001000,  // andis. r0,r0,4096
};
constexpr uint64_t kScAt = kCode + 16;

TEST(Ppc64leParked, PcJustAfterScPasses) {  // qemu-user's form and the kernel's (restart after get_signal)
    EXPECT_EQ(check_parked(image(kPauseSc), at_pc(kScAt + 4)).kind, Kind::pass);
}

TEST(Ppc64leParked, OtherPcsFail) {
    const ProcessImage p = image(kPauseSc);
    EXPECT_EQ(check_parked(p, at_pc(kScAt)).kind, Kind::fail);      // at the sc: not ppc64's form
    EXPECT_EQ(check_parked(p, at_pc(kScAt + 8)).kind, Kind::fail);  // one instruction too far
    EXPECT_EQ(check_parked(p, at_pc(kScAt + 2)).kind, Kind::fail);  // misaligned
}

TEST(Ppc64leParked, AfterScvZeroPasses) {
    // libc 0x153ed0, __clone's scv path.
    const ProcessImage p = image({0x7d2802a6 /* mflr r9 */, 0xf9210010 /* std r9,16(r1) */, 0x44000001 /* scv 0 */,
                                  0xe9210010 /* ld r9,16(r1) */});
    EXPECT_EQ(check_parked(p, at_pc(kCode + 12)).kind, Kind::pass);
    EXPECT_EQ(check_parked(p, at_pc(kCode + 8)).kind, Kind::fail);
}

TEST(Ppc64leParked, UnreadableCodeCannotBeChecked) {
    EXPECT_EQ(check_parked(image(kPauseSc), at_pc(kCode + 0x1000)).kind, Kind::cannot_check);
    EXPECT_EQ(check_parked(image(kPauseSc), Regs(ArchId::ppc64le)).kind, Kind::cannot_check);
}

// ---- return-after-call --------------------------------------------------------

TEST(Ppc64leCallBefore, BlAndBctrlPass) {
    const ProcessImage p = image({
        0xf821ffd1,  // stdu r1,-48(r1)       parked 0x1b44 (pause_inner)
        0x4bffff81,  // bl 0x1ac8 <mark_ready+0x8>
        0x60000000,  // nop
        0x4bfff701,  // bl 0x1280 <plt_call.pause>   parked 0x1b80
        0xe8410018,  // ld r2,24(r1)          the TOC restore the return address points at
        0x7fe3fb78,  // mr r3,r31             libc 0x153f08 (__clone)
        0x4e800421,  // bctrl
        0xe8410018,  // ld r2,24(r1)
    });
    EXPECT_EQ(check_call_before(p, kCode + 8, 0, 0).kind, Kind::pass);
    EXPECT_EQ(check_call_before(p, kCode + 16, 0, 0).kind, Kind::pass);
    EXPECT_EQ(check_call_before(p, kCode + 28, 0, 0).kind, Kind::pass);
}

TEST(Ppc64leCallBefore, NotACallFails) {
    const ProcessImage p = image({
        0x60420000,  // ori r2,r2,0   the padding before spin_outer (parked 0x21bc): smash's return address
        0x3c4c0002,  // addis r2,r12,2: spin_outer, where the smashed slot points
        0x48000018,  // b 0x1b80      a branch, not a call
        0x60000000,  // nop
        0x4e800420,  // bctr          a jump through CTR (PLT stub tail)
        0x60000000,  // nop
        0x44000002,  // sc
        0x60000000,  // nop
        0x429f0005,  // bcl 20,31,.+4 reads the pc; never returned to
        0x7c0802a6,  // mflr r0
    });
    EXPECT_EQ(check_call_before(p, kCode + 4, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 12, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 20, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 28, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 36, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(p, kCode + 6, 0, 0).kind, Kind::fail);  // misaligned
    EXPECT_EQ(check_call_before(p, kCode + 0x100, 0, 0).kind, Kind::cannot_check);
}

TEST(Ppc64leCallTarget, OnlyBlFixesATarget) {
    // bctrl goes where CTR says.
    EXPECT_EQ(call_target(image({0x4e800421}), kCode + 4), std::nullopt);
    // bl into code no module describes and that is no PLT call stub: the
    // rule does not guess what linker code it is.
    EXPECT_EQ(call_target(image({0x48000009, 0x60000000, 0x60000000}), kCode + 4), std::nullopt);
}

// ---- the back chain ---------------------------------------------------------------

TEST(Ppc64leBackChain, StepReadsTheChainAndTheCallersLrSave) {
    constexpr uint64_t kSp = 0x4002346e30, kCaller = 0x4002346e60;
    auto mem = std::make_shared<BufferMemory>();
    add_u64(*mem, kSp, {kCaller, 0, 0, 0, 0, 0});
    add_u64(*mem, kCaller, {0x4002346e90, 0, 0x4000001c18, 0});  // back chain, CR save, LR save
    const auto step = fp_step(*mem, kSp);
    ASSERT_TRUE(step);
    EXPECT_EQ(step->pc, 0x4000001c18u);
    EXPECT_EQ(step->cfa, kCaller);
    EXPECT_EQ(step->caller_fp, kCaller);
    EXPECT_TRUE(step->cfa_exact);
    EXPECT_FALSE(fp_step(*mem, kSp + 8));  // not 16-aligned
    EXPECT_FALSE(back_chain_ends(*mem, kSp));
    add_u64(*mem, 0x4002347000, {0, 0});  // clone's child frame: back chain 0
    EXPECT_TRUE(back_chain_ends(*mem, 0x4002347000));
    EXPECT_FALSE(fp_step(*mem, 0x4002347000));
}

TEST(Ppc64leBackChain, GccPrologues) {
    const Words pause_inner = {0x3c4c0002, 0x384263d0, 0x7c0802a6, 0x38600000,  // addis; addi; mflr r0; li r3,0
                               0xf8010010, 0xf821ffd1, 0x4bffff81, 0x60000000};  // std r0,16(r1); stdu; bl; nop
    EXPECT_EQ(check_fp_prologue(image(pause_inner), kCode, 32, kCode + 28).kind, Kind::pass);
    EXPECT_EQ(check_fp_prologue(image(pause_inner), kCode, 32, kCode + 20).kind, Kind::fail);  // at the stdu
    const Words leaf = {0x3c4c0002, 0x38425d40, 0x4e800020};  // a leaf: no mflr, no frame
    EXPECT_EQ(check_fp_prologue(image(leaf), kCode, 12, kCode + 8).kind, Kind::fail);
}

TEST(Ppc64leBackChain, CfiRowWithLrAtCfaPlus16IsABackChainFrame) {
    CfiRow row;
    row.ra_column = lr;
    row.cfa = {{DW_OP_breg1, 48, 0}};
    row.regs.resize(lr + 1);
    row.regs[lr] = {RegRule::Kind::location, {{DW_OP_call_frame_cfa, 0, 0}, {DW_OP_plus_uconst, 16, 0}}};
    EXPECT_TRUE(cfi_row_is_fp_frame(row));
    row.regs[lr] = {RegRule::Kind::value, {{DW_OP_breg0, 0, 0}}};  // LR still in r0 (after mflr)
    EXPECT_FALSE(cfi_row_is_fp_frame(row));
}

TEST(Ppc64leEndMarker, BackChainZeroAtTheOutermostFrame) {
    BufferMemory mem;
    add_u64(mem, 0x4002347000, {0, 0});
    add_u64(mem, 0x4002346e60, {0x4002347000, 0});
    Regs r(ArchId::ppc64le);
    EXPECT_EQ(check_stack_end_marker(mem, r).kind, Kind::cannot_check);
    r.set(r1, 0x4002347000);
    EXPECT_EQ(check_stack_end_marker(mem, r).kind, Kind::pass);
    r.set(r1, 0x4002346e60);
    EXPECT_EQ(check_stack_end_marker(mem, r).kind, Kind::fail);
}

// ---- NT_PRSTATUS ------------------------------------------------------------------

TEST(Ppc64lePrstatus, ElfGregsetOrder) {
    std::vector<std::byte> note(504);
    const int32_t tid = 7402;
    std::memcpy(note.data() + 32, &tid, sizeof tid);
    auto put = [&](size_t word, uint64_t v) { std::memcpy(note.data() + 112 + 8 * word, &v, sizeof v); };
    put(1, 0x4002346e30);    // r1
    put(13, 0x40023688f0);   // r13
    put(32, 0x40021d90f4);   // nip
    put(36, 0x4000001bc4);   // link
    const auto t = parse_prstatus(note);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->tid, 7402);
    EXPECT_EQ(t->regs.get(pc), std::optional<uint64_t>(0x40021d90f4));
    EXPECT_EQ(t->regs.get(r1), std::optional<uint64_t>(0x4002346e30));
    EXPECT_EQ(t->regs.get(lr), std::optional<uint64_t>(0x4000001bc4));
    EXPECT_EQ(t->regs.thread_pointer, std::optional<uint64_t>(0x40023688f0));
    EXPECT_FALSE(parse_prstatus(std::span(note).first(500)));
}

}  // namespace
}  // namespace lpsafe::ppc64le

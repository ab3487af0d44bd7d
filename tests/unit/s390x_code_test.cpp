// The s390x instruction and back-chain rules on real instruction bytes:
// each sequence below was taken from Debian 12's cross glibc
// (libc6-s390x-cross 2.36) or the fixture program built with
// s390x-linux-gnu-gcc 12, as `s390x-linux-gnu-objdump -d` shows it (the
// instruction is in the comment). No module covers these bytes, so the
// rules run without function bounds: every length that fits must agree.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/process.h"
#include "s390x/s390x_back_chain.h"
#include "s390x/s390x_code.h"
#include "s390x/s390x_insn.h"
#include "s390x/s390x_regs.h"

namespace lpsafe::s390x {
namespace {

using Kind = RuleOutcome::Kind;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kCode = 0x4002100000;

ProcessImage image(const Bytes& bytes) {
    auto mem = std::make_shared<BufferMemory>();
    std::vector<std::byte> b(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) b[i] = std::byte{bytes[i]};
    mem->add(kCode, std::move(b));
    mem->set_big_endian(true);
    ProcessImage p;
    p.arch = ArchId::s390x;
    p.memory = mem;
    return p;
}

Regs at_pc(uint64_t pc) {
    Regs r(ArchId::s390x);
    r.set(pswa, pc);
    return r;
}

// libc 0xd00c0: pause's second system call.
const Bytes kPause = {
    0xc0, 0xe5, 0xff, 0xfd, 0xdb, 0xd4,  // brasl %r14,__libc_alloca_cutoff+0x40
    0xb9, 0x04, 0x00, 0x32,              // lgr %r3,%r2
    0x0a, 0x1d,                          // svc 29 (pause)
    0xa7, 0x19, 0xf0, 0x00,              // lghi %r1,-4096
};
constexpr uint64_t kSvcEnd = kCode + 12;

TEST(S390xParked, PcJustAfterSvcPasses) {  // qemu-user's form and the kernel's (restart after get_signal)
    EXPECT_EQ(check_parked(image(kPause), at_pc(kSvcEnd)).kind, Kind::pass);
}

TEST(S390xParked, PcAtTheSvcFails) {  // s390 never shows the rewound form in a core
    EXPECT_EQ(check_parked(image(kPause), at_pc(kSvcEnd - 2)).kind, Kind::fail);
}

TEST(S390xParked, PcAfterTheNextInstructionFails) {
    EXPECT_EQ(check_parked(image(kPause), at_pc(kSvcEnd + 4)).kind, Kind::fail);
}

TEST(S390xParked, OddPcFails) { EXPECT_EQ(check_parked(image(kPause), at_pc(kSvcEnd + 1)).kind, Kind::fail); }

TEST(S390xParked, UnreadableCodeCannotBeChecked) {
    EXPECT_EQ(check_parked(image(kPause), at_pc(kCode + 0x10000)).kind, Kind::cannot_check);
}

// After the brasl: 6-byte call, r14 linked, capstone agrees.
TEST(S390xCallBefore, BraslPasses) {
    EXPECT_EQ(check_call_before(image(kPause), kCode + 6, 0, 0).kind, Kind::pass);
}

// After `lgr` and after `svc`: not calls.
TEST(S390xCallBefore, NonCallsFail) {
    EXPECT_EQ(check_call_before(image(kPause), kCode + 10, 0, 0).kind, Kind::fail);
    EXPECT_EQ(check_call_before(image(kPause), kSvcEnd, 0, 0).kind, Kind::fail);
}

// libc 0x10749e: __clone's child path, `basr %r14,%r1` (2 bytes) after an
// `xc` (6 bytes): the 6 bytes before the return address read as another
// instruction (f000 f000 0de1 is no call), so without bounds the lengths
// disagree and the rule cannot vouch for it.
const Bytes kCloneChild = {
    0xb9, 0x04, 0x00, 0x20,              // lgr %r2,%r0
    0xa7, 0xfb, 0xff, 0x60,              // aghi %r15,-160
    0xd7, 0x07, 0xf0, 0x00, 0xf0, 0x00,  // xc 0(8,%r15),0(%r15)
    0x0d, 0xe1,                          // basr %r14,%r1
    0x0a, 0x01,                          // svc 1 (exit)
};

TEST(S390xCallBefore, BasrWithoutBoundsIsAmbiguous) {
    EXPECT_EQ(check_call_before(image(kCloneChild), kCode + 16, 0, 0).kind, Kind::cannot_check);
}

// bras %r14 (4 bytes) and basr linking r13 / basr %r14,%r0 (no branch).
TEST(S390xCallBefore, BrasPassesOtherLinksFail) {
    // bras %r14,.+0x8008: its last two bytes (40 04) cannot start a
    // 2-byte instruction, so the 4-byte reading is the only one.
    const Bytes bras = {0x07, 0x07, 0xa7, 0xe5, 0x40, 0x04};
    EXPECT_EQ(check_call_before(image(bras), kCode + 6, 0, 0).kind, Kind::pass);
    const Bytes bras13 = {0x07, 0x07, 0xa7, 0xd5, 0x40, 0x04};  // bras %r13 (jumps over a literal pool)
    EXPECT_EQ(check_call_before(image(bras13), kCode + 6, 0, 0).kind, Kind::fail);
    const Bytes basr0 = {0x07, 0x07, 0x07, 0x07, 0x0d, 0xe0};  // basr %r14,%r0: loads the address only
    EXPECT_EQ(check_call_before(image(basr0), kCode + 6, 0, 0).kind, Kind::fail);
}

// bas %r14,0(%r1): a call by its encoding that capstone 4 cannot decode
// (its last two bytes also read as `lpr %r0,%r0`, which is no call).
TEST(S390xCallBefore, BasCannotBeConfirmed) {
    const Bytes bas = {0x07, 0x07, 0x4d, 0xe0, 0x10, 0x00};
    EXPECT_EQ(check_call_before(image(bas), kCode + 6, 0, 0).kind, Kind::cannot_check);
}

TEST(S390xInsn, LengthsFromTheFirstByte) {
    EXPECT_EQ(length_of(0x0a), 2u);  // svc
    EXPECT_EQ(length_of(0xa7), 4u);  // RI
    EXPECT_EQ(length_of(0x4d), 4u);  // RX
    EXPECT_EQ(length_of(0xc0), 6u);  // RIL
}

// The back chain: [sp] = caller's r15, r14 at caller_sp + 112, CFA 160 above.
TEST(S390xBackChain, StepReadsTheBigEndianChain) {
    auto mem = std::make_shared<BufferMemory>();
    mem->set_big_endian(true);
    constexpr uint64_t kSp = 0x40022b1e00, kCaller = 0x40022b1ea0, kRet = 0x4000001e3c;
    std::vector<std::byte> frame(0x200);
    auto put = [&](uint64_t at, uint64_t v) {
        for (int i = 0; i < 8; ++i) frame[at - kSp + i] = std::byte(static_cast<uint8_t>(v >> (56 - 8 * i)));
    };
    put(kSp, kCaller);
    put(kCaller + 112, kRet);
    mem->add(kSp, frame);
    const auto step = fp_step(*mem, kSp);
    ASSERT_TRUE(step) << step.error().message;
    EXPECT_EQ(step->pc, kRet);
    EXPECT_EQ(step->caller_fp, kCaller);
    EXPECT_EQ(step->cfa, kCaller + 160);
    put(kSp, 0);
    auto ended = std::make_shared<BufferMemory>();
    ended->set_big_endian(true);
    ended->add(kSp, frame);
    EXPECT_FALSE(fp_step(*ended, kSp));
    Regs outermost(ArchId::s390x);
    outermost.set(r15, kSp);
    EXPECT_EQ(check_stack_end_marker(*ended, outermost).kind, Kind::pass);
    EXPECT_EQ(check_stack_end_marker(*mem, outermost).kind, Kind::fail);
}

// A real -mbackchain prologue (parked's smash_inner) and a dist one.
TEST(S390xBackChain, PrologueRecognised) {
    const Bytes backchain = {
        0xc0, 0x30, 0x00, 0x00, 0x00, 0x00,  // larl %r3,spin_outer
        0xa7, 0x29, 0x00, 0x05,              // lghi %r2,5
        0xeb, 0xef, 0xf0, 0x70, 0x00, 0x24,  // stmg %r14,%r15,112(%r15)
        0xb9, 0x04, 0x00, 0xef,              // lgr %r14,%r15
        0xe3, 0xf0, 0xff, 0x60, 0xff, 0x71,  // lay %r15,-160(%r15)
        0xe3, 0xe0, 0xf0, 0x00, 0x00, 0x24,  // stg %r14,0(%r15)
        0x07, 0xfe,                          // br %r14
    };
    EXPECT_EQ(check_fp_prologue(image(backchain), kCode, backchain.size(), kCode + 32).kind, Kind::pass);
    EXPECT_EQ(check_fp_prologue(image(backchain), kCode, backchain.size(), kCode + 26).kind, Kind::fail);
    const Bytes dist = {
        0xc0, 0x30, 0x00, 0x00, 0x00, 0x00,  // larl %r3,spin_outer
        0xa7, 0x29, 0x00, 0x05,              // lghi %r2,5
        0xeb, 0xef, 0xf0, 0x70, 0x00, 0x24,  // stmg %r14,%r15,112(%r15)
        0xe3, 0xf0, 0xff, 0x60, 0xff, 0x71,  // lay %r15,-160(%r15)
        0x07, 0xfe,                          // br %r14
    };
    EXPECT_EQ(check_fp_prologue(image(dist), kCode, dist.size(), kCode + 22).kind, Kind::fail);
}

// NT_PRFPREG as the s390x kernel writes it (struct s390_fp_regs: fpc, pad,
// fprs[16] in f0..f15 order, big-endian): each f<n> lands on the ABI's
// DWARF number, the even registers first (f0 16, f2 17, ..., f1 20, ...).
TEST(S390xFpRegs, EachFprLandsOnItsDwarfNumber) {
    std::vector<std::byte> note(kFpRegsBytes);
    for (unsigned n = 0; n < 16; ++n) {
        const uint64_t v = 0x1111000000000000ull * (n % 15 + 1) + n;
        for (unsigned b = 0; b < 8; ++b) note[8 + 8 * n + b] = static_cast<std::byte>(v >> (56 - 8 * b));
    }
    Regs regs;
    ASSERT_TRUE(add_fp_regs(note, regs).ok());
    const unsigned expected_dwarf[16] = {16, 20, 17, 21, 18, 22, 19, 23, 24, 28, 25, 29, 26, 30, 27, 31};
    for (unsigned n = 0; n < 16; ++n) {
        EXPECT_EQ(fpr_dwarf(n), expected_dwarf[n]) << "f" << n;
        EXPECT_EQ(regs.get(expected_dwarf[n]), 0x1111000000000000ull * (n % 15 + 1) + n) << "f" << n;
    }
    EXPECT_FALSE(regs.get(r11).has_value());  // no GPR comes from this note
}

// A note of another size is not s390_fp_regs: an error naming both sizes,
// never registers read from the wrong offsets.
TEST(S390xFpRegs, ANoteOfAnotherSizeIsRefused) {
    for (size_t size : {size_t{0}, size_t{8}, kFpRegsBytes - 8, kFpRegsBytes + 8, size_t{520}}) {
        std::vector<std::byte> note(size);
        Regs regs;
        const Status st = add_fp_regs(note, regs);
        ASSERT_FALSE(st.ok()) << size;
        EXPECT_NE(st.error().message.find(std::to_string(size) + " bytes, expected 136"), std::string::npos)
            << st.error().message;
        EXPECT_FALSE(regs.get(f0).has_value());
    }
}

}  // namespace
}  // namespace lpsafe::s390x

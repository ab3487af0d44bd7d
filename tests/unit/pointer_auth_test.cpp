// aarch64 pointer authentication: stripping, which masks may be trusted,
// the mask derived without a note, the NT_ARM_PAC_MASK note, the PAC
// instructions in the call-before rule, and the mask in snapshots. Masks
// and words are the real ones: 0x7f000000000000 is what Debian's 6.1 arm64
// kernel wrote (fixtures/arm64-guest/recorded-pac), the return addresses
// are those of that core, and the instruction words are binutils 2.40's
// encodings (`aarch64-linux-gnu-as -march=armv8.3-a`) and parked's code
// built with -mbranch-protection=standard.
#include <capstone/capstone.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "aarch64/aarch64_code.h"
#include "aarch64/aarch64_frame_pointer.h"
#include "aarch64/aarch64_insn.h"
#include "lpsafe/arch.h"
#include "lpsafe/memory.h"
#include "lpsafe/pointer_auth.h"
#include "readers/core/core_notes.h"
#include "readers/core/pac_mask.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe {
namespace {

constexpr uint64_t kKernelMask = 0x007f000000000000;  // GENMASK_ULL(54, 48)

PointerAuthMask kernel_mask() { return {PointerAuthMask::Source::core_note, kKernelMask, kKernelMask}; }

// The arm64 guest's parked: code at 0xaaaac0d1xxxx, libc and stacks just
// below 2^48.
std::vector<Mapping> guest_mappings() {
    return {{0xaaaac0d10000, 0xaaaac0d12000, 0, "/opt/parked/parked", true, false, true, true},
            {0xfffffffdf000, 0x1000000000000, 0, "", true, true, false, true}};
}

// ---- stripping -------------------------------------------------------------------

TEST(PacStrip, TheKernelsMaskStripsASignedReturnAddress) {
    // main's saved x30 in the PAC core, signed (0x60 in bits 54..48), and
    // what it stands for: main_wait's caller, main+0x1c.
    EXPECT_EQ(strip_pac(kernel_mask(), 0x0060aaaac0d1141c), 0x0000aaaac0d1141cu);
    // An unsigned address (libc's frames are not signed) is unchanged.
    EXPECT_EQ(strip_pac(kernel_mask(), 0x0000ffffb8188a18), 0x0000ffffb8188a18u);
    // Bits outside the mask stay: bit 55 (the VA range select) and the tag byte.
    EXPECT_EQ(strip_pac(kernel_mask(), 0x0080aaaac0d1141c), 0x0080aaaac0d1141cu);
    EXPECT_EQ(strip_pac(kernel_mask(), 0x1200aaaac0d1141c), 0x1200aaaac0d1141cu);
    // Without a mask nothing is stripped.
    EXPECT_EQ(strip_pac(PointerAuthMask{}, 0x0060aaaac0d1141c), 0x0060aaaac0d1141cu);
}

TEST(PacStrip, LooksSignedOnlyOnAarch64AboveTheMappings) {
    ProcessImage p;
    p.arch = ArchId::aarch64;
    p.mappings = guest_mappings();
    EXPECT_TRUE(looks_pac_signed(p, 0x0060aaaac0d1141c));
    EXPECT_FALSE(looks_pac_signed(p, 0x0000aaaac0d1141c));
    EXPECT_FALSE(looks_pac_signed(p, 0x0080aaaac0d1141c));  // bit 55: no PAC there
    p.arch = ArchId::x86_64;
    EXPECT_FALSE(looks_pac_signed(p, 0x0060aaaac0d1141c));
}

// ---- which masks stripping may use --------------------------------------------

TEST(PacMaskCheck, TheKernelsMaskPasses) {
    EXPECT_TRUE(check_pac_mask(kernel_mask(), guest_mappings()));
    EXPECT_TRUE(check_pac_mask(PointerAuthMask{}, guest_mappings()));
}

TEST(PacMaskCheck, MasksThatCouldMoveAnAddressAreRefused) {
    auto with = [](uint64_t insn) { return PointerAuthMask{PointerAuthMask::Source::core_note, kKernelMask, insn}; };
    EXPECT_FALSE(check_pac_mask(with(0x0055000000000000), guest_mappings()));  // not one run
    EXPECT_FALSE(check_pac_mask(with(0x00ff000000000000), guest_mappings()));  // bit 55
    EXPECT_FALSE(check_pac_mask(with(0xff7f000000000000), guest_mappings()));  // the tag byte
    EXPECT_FALSE(check_pac_mask(with(0x007f800000000000), guest_mappings()));  // bit 47: the guest's addresses use it
    EXPECT_FALSE(check_pac_mask(with(0x0000000000000ffc), {}));                // code address bits
    // The data mask is held to the same rule.
    EXPECT_FALSE(check_pac_mask({PointerAuthMask::Source::core_note, 0xffff, kKernelMask}, guest_mappings()));
    // A mapping above 2^48 (52-bit VA) makes 54..48 address bits.
    auto high = guest_mappings();
    high.push_back({0x8000000000000, 0x8000000001000, 0, "", true, true, false, true});
    EXPECT_FALSE(check_pac_mask(kernel_mask(), high));
}

// ---- no note: the mask derived from AT_HWCAP and the mappings -------------------

TEST(PacMaskDerived, NoPacaNoMask) {
    // AT_HWCAP of qemu-user's cortex-a72 (no PACA, bit 30).
    EXPECT_EQ(derive_pac_mask(0x7ff, guest_mappings()).source, PointerAuthMask::Source::none);
}

TEST(PacMaskDerived, FromTheHighestMapping) {
    // qemu-user's max cpu: AT_HWCAP 0xecfffffb (PACA and PACG), the guest
    // placed below 2^39: bits 54..39. The kernel guest's layout: 54..48.
    const std::vector<Mapping> qemu = {{0x5500000000, 0x5500002000, 0, "parked", true, false, true, true},
                                       {0x5502800000, 0x5502a00000, 0, "libc.so.6", true, false, true, true}};
    const PointerAuthMask m = derive_pac_mask(0xecfffffb, qemu);
    EXPECT_EQ(m.source, PointerAuthMask::Source::derived);
    EXPECT_EQ(m.insn_mask, 0x007fff8000000000u);
    EXPECT_EQ(m.data_mask, m.insn_mask);
    EXPECT_TRUE(check_pac_mask(m, qemu));
    // qemu-user signed into 54..48 (its 48-bit guest VA): inside the derived mask.
    EXPECT_EQ(strip_pac(m, 0x006f005500001854), 0x5500001854u);
    EXPECT_EQ(derive_pac_mask(kHwcapPaca, guest_mappings()).insn_mask, kKernelMask);
    // Tiny address spaces still leave the VA bits no Linux configuration lacks.
    EXPECT_EQ(derive_pac_mask(kHwcapPaca, {}).insn_mask, kWidestPacField);
}

// ---- the note --------------------------------------------------------------------

std::vector<std::byte> note(const char* name, uint32_t type, std::span<const uint64_t> words) {
    const uint32_t namesz = static_cast<uint32_t>(std::strlen(name) + 1);
    const uint32_t descsz = static_cast<uint32_t>(words.size() * 8);
    std::vector<std::byte> out(12 + ((namesz + 3) & ~3u) + descsz);
    std::memcpy(out.data(), &namesz, 4);
    std::memcpy(out.data() + 4, &descsz, 4);
    std::memcpy(out.data() + 8, &type, 4);
    std::memcpy(out.data() + 12, name, namesz);
    std::memcpy(out.data() + 12 + ((namesz + 3) & ~3u), words.data(), descsz);
    return out;
}

// A 392-byte aarch64 NT_PRSTATUS with pr_pid `tid` (at 32) and sp/pc set.
std::vector<std::byte> prstatus(uint32_t tid) {
    std::vector<uint64_t> w(392 / 8);
    std::memcpy(reinterpret_cast<std::byte*>(w.data()) + 32, &tid, 4);
    w[112 / 8 + 31] = 0xfffffffff000;  // sp
    w[112 / 8 + 32] = 0xaaaac0d11000;  // pc
    return note("CORE", NT_PRSTATUS, w);
}

TEST(PacMaskNote, BelongsToTheThreadBeforeIt) {
    const uint64_t mask[2] = {0x0001000000000000, kKernelMask};  // data_mask first, insn_mask second
    std::vector<std::byte> seg;
    for (const auto& part : {prstatus(90), note("LINUX", NT_ARM_PAC_MASK, mask), prstatus(92)})
        seg.insert(seg.end(), part.begin(), part.end());
    readers::CoreNotes out;
    ASSERT_TRUE(readers::decode_core_notes(seg, 4, arch_of(ArchId::aarch64), out));
    ASSERT_EQ(out.threads.size(), 2u);
    EXPECT_EQ(out.threads[0].pac.source, PointerAuthMask::Source::core_note);
    EXPECT_EQ(out.threads[0].pac.data_mask, 0x0001000000000000u);
    EXPECT_EQ(out.threads[0].pac.insn_mask, kKernelMask);
    EXPECT_EQ(out.threads[1].pac.source, PointerAuthMask::Source::none);
}

TEST(PacMaskNote, MalformedNotesAreErrors) {
    const uint64_t mask[2] = {kKernelMask, kKernelMask};
    readers::CoreNotes out;
    // Before any thread.
    EXPECT_FALSE(readers::decode_core_notes(note("LINUX", NT_ARM_PAC_MASK, mask), 4, arch_of(ArchId::aarch64), out));
    // Not 16 bytes.
    std::vector<std::byte> seg = prstatus(90);
    const auto short_note = note("LINUX", NT_ARM_PAC_MASK, std::span(mask, 1));
    seg.insert(seg.end(), short_note.begin(), short_note.end());
    EXPECT_FALSE(readers::decode_core_notes(seg, 4, arch_of(ArchId::aarch64), out));
}

// ---- the PAC instructions and the call-before rule -------------------------------

using Words = std::vector<uint32_t>;
constexpr uint64_t kCode = 0xaaaac0d11000;

ProcessImage image(const Words& words) {
    std::vector<std::byte> bytes(words.size() * 4);
    std::memcpy(bytes.data(), words.data(), bytes.size());
    auto mem = std::make_shared<BufferMemory>();
    mem->add(kCode, std::move(bytes));
    ProcessImage p;
    p.arch = ArchId::aarch64;
    p.memory = mem;
    return p;
}

TEST(PacInstructions, CapstoneFourDecodesNoneOfTheAuthenticatingBranches) {
    // If a later capstone names them, the encoding checks below become a
    // second opinion instead of the only one; this pins the version's gap.
    for (uint32_t w : {0xd63f081fu, 0xd73f0a20u, 0xd61f081fu, 0xd65f0bffu}) EXPECT_EQ(aarch64::insn_id(w, kCode), 0u);
    // paciasp / autiasp are hints.
    EXPECT_EQ(aarch64::insn_id(0xd503233f, kCode), static_cast<unsigned>(ARM64_INS_HINT));
    EXPECT_EQ(aarch64::insn_id(0xd50323bf, kCode), static_cast<unsigned>(ARM64_INS_HINT));
}

TEST(PacInstructions, EncodingsAreRecognised) {
    using namespace aarch64;
    for (uint32_t w : {0xd63f081fu /* blraaz x0 */, 0xd63f0c1fu /* blrabz x0 */, 0xd73f0a20u /* blraa x17, x0 */,
                       0xd73f0e20u /* blrab x17, x0 */, 0xd73f087fu /* blraa x3, sp */}) {
        EXPECT_TRUE(is_blra(w)) << std::hex << w;
        EXPECT_FALSE(is_bra(w) || is_reta(w) || is_blr(w)) << std::hex << w;
    }
    for (uint32_t w : {0xd61f081fu /* braaz x0 */, 0xd71f0a20u /* braa x17, x0 */}) {
        EXPECT_TRUE(is_bra(w)) << std::hex << w;
        EXPECT_FALSE(is_blra(w)) << std::hex << w;
    }
    EXPECT_TRUE(is_reta(0xd65f0bff));  // retaa
    EXPECT_TRUE(is_reta(0xd65f0fff));  // retab
    EXPECT_FALSE(is_blra(0xd63f0220));  // blr x17
    EXPECT_FALSE(is_blra(0xd63f0800));  // blraaz with Rm != 11111: unallocated
    EXPECT_FALSE(is_reta(0xd69f0bff));  // eretaa: not a return from a call
}

TEST(PacInstructions, AuthenticatingCallsPassCallBefore) {
    const ProcessImage p = image({
        0xd63f081f,  // blraaz x0
        0xa8c17bfd,  // ldp x29, x30, [sp], #16
        0xd73f0e20,  // blrab x17, x0
        0xd503201f,  // nop
        0xd503233f,  // paciasp: signs x30, not a call
        0xd503201f,
        0xd50323bf,  // autiasp
        0xd503201f,
        0xd65f0bff,  // retaa: a return
        0xd503201f,
        0xd61f081f,  // braaz x0: a jump
        0xd503201f,
        0x00000000,  // udf #0: capstone 4 decodes nothing here
        0xd503201f,
    });
    using Kind = RuleOutcome::Kind;
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 4, 0, 0).kind, Kind::pass);
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 12, 0, 0).kind, Kind::pass);
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 20, 0, 0).kind, Kind::fail);
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 28, 0, 0).kind, Kind::fail);
    // retaa and braaz: capstone decodes neither, the encoding says: not a call.
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 36, 0, 0).kind, Kind::fail);
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 44, 0, 0).kind, Kind::fail);
    // A word nothing decodes might be a call of an extension capstone 4 lacks.
    EXPECT_EQ(aarch64::check_call_before(p, kCode + 52, 0, 0).kind, Kind::cannot_check);
}

TEST(PacInstructions, CodeEdgesCountAuthenticatingCallsAsIndirect) {
    // blraaz in a function: an indirect call, found at its address.
    const ProcessImage p = image({0xd503233f, 0xa9bf7bfd, 0x910003fd, 0xd63f081f, 0xa8c17bfd, 0xd50323bf, 0xd65f03c0});
    auto edges = aarch64::code_edges(p, kCode, 7 * 4);
    ASSERT_TRUE(edges) << edges.error().message;
    EXPECT_TRUE(edges->indirect);
    EXPECT_EQ(edges->indirect_at, kCode + 12);
    // retaa ends a function without making it indirect.
    const ProcessImage q = image({0xd503233f, 0xa9bf7bfd, 0x910003fd, 0xa8c17bfd, 0xd65f0bff});
    auto plain = aarch64::code_edges(q, kCode, 5 * 4);
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_FALSE(plain->indirect);
}

TEST(PacInstructions, PaciaspPrologueIsAFramePointerPrologue) {
    // parked's pause_outer built with -mbranch-protection=standard.
    const ProcessImage p = image({0xd503233f, 0xa9bf7bfd, 0x910003fd, 0x97ffffec, 0xa8c17bfd, 0xd50323bf, 0xd65f03c0});
    EXPECT_EQ(aarch64::check_fp_prologue(p, kCode, 7 * 4, kCode + 16).kind, RuleOutcome::Kind::pass);
}

// ---- snapshots ---------------------------------------------------------------------

using readers::snapshot::SnapshotData;
using readers::snapshot::ThreadRecord;

SnapshotData aarch64_snapshot() {
    SnapshotData d;
    d.arch = ArchId::aarch64;
    d.pid = 86;
    d.mappings = guest_mappings();
    for (int tid : {86, 90}) {
        ThreadRecord t;
        t.state.tid = tid;
        t.state.regs = Regs(ArchId::aarch64);
        t.state.regs.set(31, 0xfffffffff000);
        d.threads.push_back(t);
    }
    d.threads[0].state.pac = kernel_mask();
    return d;
}

TEST(PacSnapshot, MaskRoundTripsPerThread) {
    const SnapshotData d = aarch64_snapshot();
    for (bool compress : {true, false}) {
        auto back = readers::snapshot::decode(readers::snapshot::encode(d, {compress}));
        ASSERT_TRUE(back) << back.error().message;
        ASSERT_EQ(back->threads.size(), 2u);
        EXPECT_EQ(back->threads[0].state.pac, kernel_mask());
        EXPECT_EQ(back->threads[1].state.pac, PointerAuthMask{});
    }
}

// The record after a thread that is not its own is malformed.
TEST(PacSnapshot, MaskOfAnotherThreadIsRefused) {
    SnapshotData d = aarch64_snapshot();
    auto bytes = readers::snapshot::encode(d, {false});
    // The pointer_auth payload starts with the tid (86): make it 90's.
    const uint16_t type = 6;
    bool patched = false;
    for (size_t i = 24; i + 12 < bytes.size() && !patched; ++i) {
        uint16_t t = 0;
        uint32_t len = 0, tid = 0;
        std::memcpy(&t, &bytes[i], 2);
        std::memcpy(&len, &bytes[i + 4], 4);
        std::memcpy(&tid, &bytes[i + 8], 4);
        if (t == type && len == 21 && tid == 86) {
            const uint32_t other = 90;
            std::memcpy(&bytes[i + 8], &other, 4);
            patched = true;
        }
    }
    ASSERT_TRUE(patched);
    auto back = readers::snapshot::decode(bytes, {false});
    ASSERT_FALSE(back);
    EXPECT_NE(back.error().message.find("pointer_auth"), std::string::npos) << back.error().message;
}

// Snapshots written before 1.2 (fixtures/snapshots/format-1.1, kept as an
// older lpsafe recorded them) still load, every thread without a mask.
TEST(PacSnapshot, OldSnapshotsStillLoad) {
    const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
    if (fixtures == nullptr) GTEST_SKIP() << "run through meson test";
    for (const char* name : {"fp.snap", "nocfi.snap"}) {
        SCOPED_TRACE(name);
        std::ifstream in(std::string(fixtures) + "/snapshots/format-1.1/" + name, std::ios::binary);
        const std::vector<char> raw{std::istreambuf_iterator<char>(in), {}};
        ASSERT_GT(raw.size(), 24u);
        uint16_t minor = 0;
        std::memcpy(&minor, raw.data() + 10, 2);
        EXPECT_EQ(minor, 1);
        auto d = readers::snapshot::decode(std::as_bytes(std::span(raw)));
        ASSERT_TRUE(d) << d.error().message;
        ASSERT_FALSE(d->threads.empty());
        for (const ThreadRecord& t : d->threads) EXPECT_EQ(t.state.pac.source, PointerAuthMask::Source::none);
    }
}

}  // namespace
}  // namespace lpsafe

// aarch64 pointer authentication end to end, on real cores of parked.c
// built with -mbranch-protection=standard, whose own functions sign the
// return addresses they save (paciasp ... autiasp):
//  - written by Debian's 6.1 arm64 kernel on qemu's `-cpu max` (FEAT_PAuth),
//    with NT_ARM_PAC_MASK (fixtures/arm64-guest/recorded-pac, made by
//    make-arm64-fixtures.sh --pac);
//  - written by qemu-user on its max cpu, with no mask note at all
//    (fixtures/make-foreign-cores.sh, aarch64-pac).
// Each is judged against the unsigned core of the same program from the
// same writer (recorded/, aarch64-host): the same verdicts and frames.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "fixture_util.h"
#include "foreign_core.h"
#include "lpsafe/analyze.h"
#include "lpsafe/pointer_auth.h"
#include "lpsafe/unwind.h"
#include "readers/core/core_file.h"
#include "stack_expect.h"

namespace lpsafe::e2e {
namespace {

// ptrauth_user_pac_mask() of Debian's 6.1 arm64 kernel: GENMASK_ULL(54,
// vabits_actual) with 48-bit user VAs (CONFIG_ARM64_VA_BITS_48).
constexpr uint64_t kKernelMask = 0x007f000000000000;

std::string fixtures() { return std::getenv("LPSAFE_SOURCE_FIXTURES"); }

bool parked_role(const std::string& role) {
    return std::find(kParkedRoles.begin(), kParkedRoles.end(), role) != kParkedRoles.end();
}

std::vector<std::string> names(const TaskVerdict& t) {
    std::vector<std::string> out;
    for (const Frame& f : t.frames) out.push_back(f.function);
    return out;
}

// A core of parked.c with its roles and expectations, read as the CLI does.
Status load(ForeignCore& core, const std::string& path, const std::string& exe, const std::string& roles) {
    auto p = readers::read_core(path, {exe, ""});
    if (!p) return p.error();
    core.arch = "aarch64";
    core.process = std::move(*p);
    core.roles = read_roles(roles);
    core.expect = read_expectations(fixtures() + "/programs/parked.expect");
    return Ok{};
}

std::map<std::string, TaskVerdict> by_role(ForeignCore& core) {
    std::map<std::string, TaskVerdict> out;
    for (TaskVerdict& t : core.check("parked:spin_outer").tasks) out[core.roles.at(t.tid)] = std::move(t);
    return out;
}

// The signed and the unsigned core of one program get the same verdict for
// every role; every reliable stack has the same frames (by function), and
// the unreliable ones fail for the same reason at the same frame.
void expect_same_as_unsigned(ForeignCore& pac, ForeignCore& plain) {
    auto a = by_role(pac);
    auto b = by_role(plain);
    ASSERT_EQ(a.size(), 9u);
    ASSERT_EQ(b.size(), 9u);
    int compared = 0;
    for (const auto& [role, signed_stack] : a) {
        SCOPED_TRACE(role);
        const TaskVerdict& unsigned_stack = b.at(role);
        EXPECT_EQ(signed_stack.verdict, unsigned_stack.verdict) << dump(signed_stack) << dump(unsigned_stack);
        if (parked_role(role) || role == "deep") {
            EXPECT_EQ(names(signed_stack), names(unsigned_stack)) << dump(signed_stack) << dump(unsigned_stack);
            EXPECT_EQ(signed_stack.end.kind, unsigned_stack.end.kind);
            ++compared;
        }
    }
    EXPECT_EQ(compared, 7);
    // spin never parks; smash's saved return address (written unsigned
    // by the program itself) follows no call, signed core or not.
    for (auto* set : {&a, &b}) {
        EXPECT_TRUE(has_finding(set->at("spin"), Check::top, 0)) << dump(set->at("spin"));
        EXPECT_TRUE(has_finding(set->at("smash"), Check::return_after_call, 2)) << dump(set->at("smash"));
    }
}

// Proof that the core really holds signed return addresses: every parked
// thread's walk fails without the mask, with the "cannot strip PAC" reason,
// and reaches the end of its stack with it.
void expect_signed_without_mask_unreliable(const ForeignCore& core) {
    int parked = 0;
    for (const ThreadState& t : core.process.threads) {
        if (!parked_role(core.roles.at(t.tid))) continue;
        SCOPED_TRACE(core.roles.at(t.tid));
        ++parked;
        EXPECT_EQ(unwind_thread(core.process, t).end.kind, StackEnd::Kind::outermost);
        ThreadState bare = t;
        bare.pac = {};
        const UnwoundStack u = unwind_thread(core.process, bare);
        EXPECT_EQ(u.end.kind, StackEnd::Kind::failed);
        EXPECT_NE(u.end.detail.find("cannot strip PAC"), std::string::npos) << u.end.detail;
    }
    EXPECT_EQ(parked, 6);
}

class Arm64PacKernelCore : public testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
        if (!std::filesystem::exists("/usr/aarch64-linux-gnu/lib/libc.so.6"))
            GTEST_SKIP() << "libc6-arm64-cross is not installed (the cores' NT_FILE names its files)";
        const std::string pac = fixtures() + "/arm64-guest/recorded-pac";
        const std::string plain = fixtures() + "/arm64-guest/recorded";
        auto st = load(pac_, pac + "/core.kernel", pac + "/parked", pac + "/roles-core.txt");
        ASSERT_TRUE(st) << st.error().message;
        st = load(plain_, plain + "/core.kernel", plain + "/parked", plain + "/roles-core.txt");
        ASSERT_TRUE(st) << st.error().message;
        pac_.variant = "kernel-pac";
        plain_.variant = "kernel";
    }
    ForeignCore pac_, plain_;
};

// Every thread carries the note the kernel wrote; the cortex-a72 guest's
// core (no FEAT_PAuth, so no note) carries none.
TEST_F(Arm64PacKernelCore, EveryThreadHasTheKernelsMask) {
    ASSERT_EQ(pac_.process.threads.size(), 9u);
    for (const ThreadState& t : pac_.process.threads) {
        EXPECT_EQ(t.pac.source, PointerAuthMask::Source::core_note);
        EXPECT_EQ(t.pac.insn_mask, kKernelMask);
        EXPECT_EQ(t.pac.data_mask, kKernelMask);
    }
    for (const ThreadState& t : plain_.process.threads) EXPECT_EQ(t.pac.source, PointerAuthMask::Source::none);
}

TEST_F(Arm64PacKernelCore, ReturnAddressesAreSigned) { expect_signed_without_mask_unreliable(pac_); }

TEST_F(Arm64PacKernelCore, SameVerdictsAndFramesAsTheUnsignedCore) { expect_same_as_unsigned(pac_, plain_); }

TEST_F(Arm64PacKernelCore, ParkedThreadsSafeOthersUnreliable) {
    expect_untouched_verdicts(pac_.check("parked:spin_outer"), pac_.roles, pac_.expect, false);
}

TEST_F(Arm64PacKernelCore, PatchingTheSleepingFunctionBlocks) { expect_sleeping_function_blocks(pac_); }

// The mask travels in the snapshot (format 1.2's pointer_auth record), so
// the replay strips as the core did: the same report, byte for byte.
TEST_F(Arm64PacKernelCore, SnapshotReplaysWithTheMask) {
    const std::string pac = fixtures() + "/arm64-guest/recorded-pac";
    const std::string snap = testing::TempDir() + "pac-kernel.snap";
    const std::string core = " --core " + pac + "/core.kernel --exe " + pac + "/parked";
    const CommandResult rec = run_command(lpsafe_bin() + " record" + core + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    const std::string check = " check --json --func parked:pause_inner";
    const CommandResult a = run_command(lpsafe_bin() + check + core);
    const CommandResult b = run_command(lpsafe_bin() + check + " --snapshot " + snap);
    EXPECT_EQ(a.exit_status, b.exit_status);
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out.find("\"blocked\""), std::string::npos);
}

// qemu-user's core of the same signed program has no NT_ARM_PAC_MASK, but
// its AT_HWCAP says HWCAP_PACA: the mask is derived from the mappings.
class Arm64PacQemuCore : public testing::Test {
protected:
    void SetUp() override {
        const char* d = std::getenv("LPSAFE_FOREIGN_CORES");
        if (d == nullptr || std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
        for (auto [core, variant] : {std::pair{&pac_, "pac"}, std::pair{&plain_, "host"}}) {
            const std::string dir = std::string(d) + "/aarch64-" + variant;
            auto st = load(*core, dir + "/core.qemu", dir + "/parked", dir + "/roles.txt");
            ASSERT_TRUE(st) << st.error().message;
            core->variant = variant;
        }
    }
    ForeignCore pac_, plain_;
};

// qemu places the guest below 2^39 (its highest mapping here), and signs
// into bits 54..48 (its 48-bit guest VA): the derived mask, 54..39, holds
// that field, and bits 47..39 are 0 in every address of the process.
TEST_F(Arm64PacQemuCore, MaskIsDerivedFromHwcapAndTheMappings) {
    uint64_t top = 0;
    for (const Mapping& m : pac_.process.mappings) top = std::max(top, m.end - 1);
    const unsigned bits = static_cast<unsigned>(std::bit_width(top));
    EXPECT_LE(bits, 48u);
    for (const ThreadState& t : pac_.process.threads) {
        EXPECT_EQ(t.pac.source, PointerAuthMask::Source::derived);
        EXPECT_EQ(t.pac.insn_mask, kWidestPacField & ~((uint64_t{1} << bits) - 1));
        EXPECT_EQ(t.pac.insn_mask & kKernelMask, kKernelMask);  // qemu-user's field, 54..48
    }
    // qemu-user on cortex-a72: no HWCAP_PACA, so nothing is derived.
    for (const ThreadState& t : plain_.process.threads) EXPECT_EQ(t.pac.source, PointerAuthMask::Source::none);
}

TEST_F(Arm64PacQemuCore, ReturnAddressesAreSigned) { expect_signed_without_mask_unreliable(pac_); }

TEST_F(Arm64PacQemuCore, SameVerdictsAndFramesAsTheUnsignedCore) { expect_same_as_unsigned(pac_, plain_); }

// Frame 0 whose return address is still in x30 (a leaf; also any function
// between its paciasp and the save, or between the reload and autiasp):
// x30 is stripped like a saved one. No signed program parks in a leaf, so
// the real leaf core (leaf_park.c in glibc's syscall(), aarch64-leaf) gets
// a signed x30 the way paciasp would leave it, with the kernel's mask:
// the same frames; without the mask the walk fails.
TEST(Arm64PacLeaf, SignedLinkRegisterAtFrameZeroIsStripped) {
    if (std::getenv("LPSAFE_FOREIGN_CORES") == nullptr) GTEST_SKIP() << "run through meson test";
    LeafCore core;
    auto st = core.load("aarch64", "/usr/aarch64-linux-gnu");
    ASSERT_TRUE(st) << st.error().message;
    const ResolvedPatchSet unrelated = core.patch("leaf_park:leaf_thread");
    constexpr unsigned kX30 = 30;
    for (const ThreadState& t : core.process.threads) {
        SCOPED_TRACE(core.roles.at(t.tid));
        const TaskVerdict plain = check_thread(core.process, t, unrelated);
        ASSERT_NE(plain.verdict, VerdictKind::unreliable) << dump(plain);
        ThreadState signed_lr = t;
        signed_lr.regs.set(kX30, *t.regs.get(kX30) | 0x002a000000000000);
        signed_lr.pac = {PointerAuthMask::Source::core_note, kKernelMask, kKernelMask};
        ASSERT_TRUE(check_pac_mask(signed_lr.pac, core.process.mappings));
        const TaskVerdict stripped = check_thread(core.process, signed_lr, unrelated);
        EXPECT_EQ(stripped.verdict, plain.verdict) << dump(stripped);
        ASSERT_EQ(stripped.frames.size(), plain.frames.size()) << dump(stripped);
        for (size_t i = 0; i < plain.frames.size(); ++i) EXPECT_EQ(stripped.frames[i].pc, plain.frames[i].pc) << i;
        EXPECT_EQ(stripped.frames[1].pc, *t.regs.get(kX30));
        signed_lr.pac = {};
        EXPECT_EQ(check_thread(core.process, signed_lr, unrelated).verdict, VerdictKind::unreliable);
    }
}

}  // namespace
}  // namespace lpsafe::e2e

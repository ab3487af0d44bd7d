// Mutation soundness on the real aarch64, ppc64le and s390x cores
// (fixtures/make-foreign-cores.sh).
// Where x86_64's test (mutation_test.cpp) knows the return address sits at
// CFA-8, an aarch64 function stores its frame record wherever its CFI says,
// usually at the bottom of its frame. So every word of a reliable stack
// between sp and the outermost frame that holds one of the stack's return
// addresses or a stack address (a saved x29) is corrupted in turn, and so
// are the registers frame 0 reads its caller from (x30, x29: leaf_park.c
// parks in a leaf, whose caller comes from x30); the stack is
// also cut short at each frame. A mutant must come out unreliable, or
// reliable with exactly the original frames. ppc64le is mutated the same
// way: its LR save slots and back chains are the words holding return
// addresses and stack addresses, LR (and r1's back chain) frame 0's.
// On the signed aarch64 cores (pointer authentication: the kernel-written
// one with NT_ARM_PAC_MASK, qemu-user's with a derived mask) a saved return
// address is recognised once stripped, and two more kinds of lie are told:
// its PAC bits altered (PAC is no reliability signal here, so the stack
// must come out exactly the same) and bits set just outside the mask (those
// are not stripped, so the stack must come out unreliable).
// s390x the same again on its big-endian cores: the r14 slots of the
// register save areas and (with -mbackchain) the back chains, r14 and r11
// (GCC's frame pointer) for frame 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>

#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "lpsafe/pointer_auth.h"
#include "overlay_memory.h"
#include "readers/core/core_file.h"

namespace lpsafe::e2e {
namespace {

// What differs per architecture: where the cores are, the stack pointer,
// and the registers frame 0 may take its caller from.
struct Target {
    const char* arch;
    const char* sysroot;
    unsigned sp;
    std::vector<unsigned> frame0_regs;  // the link register first
};
const Target kAarch64{"aarch64", "/usr/aarch64-linux-gnu", 31, {30, 29}};  // sp; x30, x29
const Target kPpc64le{"ppc64le", "/usr/powerpc64le-linux-gnu", 1, {65}};  // r1; LR
const Target kS390x{"s390x", "/usr/s390x-linux-gnu", 15, {14, 11}};  // r15; r14, r11

enum Result3 { kUnreliable, kSameFrames, kOtherFrames };

bool is_reliable(const TaskVerdict& v) { return v.verdict == VerdictKind::safe || v.verdict == VerdictKind::blocked; }

bool frames_equal(const std::vector<Frame>& a, const std::vector<Frame>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i].pc != b[i].pc || a[i].sp != b[i].sp) return false;
    return true;
}

// A return site after `blr`/`bctrl`/`basr` (clone's child path,
// __libc_start_call_main) has no call target to tie it to its callee. The
// thread-start rule refutes such a swap where lpsafe finds how the code
// builds addresses (aarch64: adrp/add, adr; Arch::check_address_taken).
// ppc64le's TOC-relative addresses are not indexed: there start_thread's
// return site replaced by __libc_start_call_main's stays trusted with one
// glibc frame misnamed. Counted apart; only ppc64le may have any.
constexpr const char* kIndirectSite = "ra_indirect_call_site";
// Signed return addresses: what each kind of lie must come out as.
constexpr const char* kPacAltered = "ra_pac_bits_altered";        // the same frames
// Unreliable, where the walk reads the word (a stale return address left
// deeper in the stack is not read, and changes nothing).
constexpr const char* kBeyondMask = "ra_bits_beyond_the_pac_mask";

class ForeignCoreMutation : public testing::Test {
protected:
    void SetUp() override {
        const char* d = std::getenv("LPSAFE_FOREIGN_CORES");
        if (d == nullptr) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
        dir_ = d;
    }

    Result3 judge(const ProcessImage& p, const ThreadState& t, const TaskVerdict& original, const std::string& kind) {
        const TaskVerdict v = check_thread(p, t, patch_);
        const Result3 r = !is_reliable(v) ? kUnreliable : frames_equal(v.frames, original.frames) ? kSameFrames : kOtherFrames;
        ++counts_[kind][r];
        ++mutants_;
        if (r == kOtherFrames && kind != kIndirectSite) ADD_FAILURE() << "soundness: " << kind << " on tid " << t.tid;
        if (kind == kPacAltered && r != kSameFrames) ADD_FAILURE() << "an altered PAC changed the stack of tid " << t.tid;
        return r;
    }

    // Wrong values for a word or register that held `value`.
    std::vector<std::pair<std::string, uint64_t>> lies(const ProcessImage& p, uint64_t value, bool ra, uint64_t sp) {
        std::vector<std::pair<std::string, uint64_t>> out;
        const std::string k = ra ? "ra_" : "fp_";
        for (int64_t d : {-8, -4, -2, -1, 1, 2, 4, 8}) out.emplace_back(k + "off_by_bytes", value + d);
        for (uint64_t site : sites_) {
            const bool indirect = ra && !arch_of(p.arch).call_target(p, site);
            out.emplace_back(indirect ? kIndirectSite : k + "other_return_site", site);
        }
        out.emplace_back(k + "stack_address", sp);
        out.emplace_back(k + "stack_address", sp + 0x100);
        out.emplace_back(k + "zero", 0);
        return out;
    }

    // For a saved return address under a PAC mask: its PAC bits changed in
    // four ways, and the bit just above and the bit just below the mask
    // flipped.
    static std::vector<std::pair<std::string, uint64_t>> pac_lies(uint64_t value, uint64_t mask) {
        if (mask == 0) return {};
        const uint64_t low = mask & (~mask + 1), high = uint64_t{1} << (63 - std::countl_zero(mask));
        return {{kPacAltered, value ^ low},      {kPacAltered, value ^ high}, {kPacAltered, value & ~mask},
                {kPacAltered, value | mask},     {kBeyondMask, value ^ high << 1}, {kBeyondMask, value ^ low >> 1}};
    }

    void mutate_core(const Target& target, const std::string& variant, const std::string& exe,
                     const std::string& unrelated) {
        const std::string d = dir_ + "/" + target.arch + "-" + variant;
        mutate_core(target, d + "/core.qemu", d + "/" + exe, target.sysroot, unrelated);
    }
    void mutate_core(const Target& target, const std::string& core, const std::string& exe, const std::string& sysroot,
                     const std::string& unrelated);
    void report(const char* arch);

    std::string dir_;
    ResolvedPatchSet patch_;
    std::set<uint64_t> sites_;
    std::map<std::string, std::array<int, 3>> counts_;
    int mutants_ = 0;
    int threads_ = 0;
};

void ForeignCoreMutation::mutate_core(const Target& target, const std::string& core, const std::string& exe,
                                      const std::string& sysroot, const std::string& unrelated) {
    auto process = readers::read_core(core, {exe, sysroot});
    ASSERT_TRUE(process) << process.error().message;
    PatchSet set;
    ASSERT_TRUE(set.add_spec(unrelated));
    auto resolved = resolve_patch_set(set, process->modules);
    ASSERT_TRUE(resolved);
    patch_ = *resolved;
    // Every thread's verdict before any mutation, and every return site seen.
    std::vector<TaskVerdict> before(process->threads.size());
    std::transform(process->threads.begin(), process->threads.end(), before.begin(),
                   [&](const ThreadState& t) { return check_thread(*process, t, patch_); });
    for (const TaskVerdict& v : before)
        for (const Frame& f : v.frames)
            if (f.pc_is_return_address) sites_.insert(f.pc);
    ProcessImage mutated = *process;
    auto overlay = std::make_shared<OverlayMemory>(process->memory);
    mutated.memory = overlay;
    size_t index = 0;
    for (const ThreadState& t : process->threads) {
        const TaskVerdict& original = before[index++];
        if (!is_reliable(original)) continue;
        ++threads_;
        const uint64_t sp = *t.regs.get(target.sp);
        const Mapping* stack = process->mapping_at(sp);
        ASSERT_NE(stack, nullptr);
        std::set<uint64_t> pcs;
        for (const Frame& f : original.frames) pcs.insert(f.pc);
        // Stack words: saved return addresses and saved frame pointers.
        const uint64_t top = original.frames.back().sp + 0x200;
        for (uint64_t at = sp; at < top && at < stack->end; at += 8) {
            const auto v = process->memory->read_u64(at);
            if (!v) break;
            const bool ra = pcs.count(strip_pac(t.pac, *v)) != 0;
            if (!ra && !stack->contains(*v)) continue;
            auto told = lies(*process, *v, ra, sp);
            bool read_by_walk = false;
            if (ra && t.pac.insn_mask != 0) {
                const auto more = pac_lies(*v, t.pac.insn_mask);
                told.insert(told.end(), more.begin(), more.end());
                overlay->reset();
                overlay->patch_u64(at, 0);
                read_by_walk = !is_reliable(check_thread(mutated, t, patch_));
            }
            for (const auto& [kind, lie] : told) {
                if (lie == *v) continue;
                overlay->reset();
                overlay->patch_u64(at, lie);
                const Result3 r = judge(mutated, t, original, kind);
                if (kind == kBeyondMask && read_by_walk && r != kUnreliable)
                    ADD_FAILURE() << "bits beyond the PAC mask were taken on tid " << t.tid << " at " << std::hex << at;
            }
        }
        // Frame 0's registers: the link register and the frame pointer.
        overlay->reset();
        for (unsigned reg : target.frame0_regs) {
            const uint64_t held = t.regs.get_or(reg, 0);
            for (const auto& [kind, lie] : lies(*process, held, reg == target.frame0_regs.front(), sp)) {
                if (lie == held) continue;
                ThreadState changed = t;
                changed.regs.set(reg, lie);
                judge(mutated, changed, original, "reg_" + kind);
            }
        }
        // Cut short at and around each frame's CFA.
        for (const Frame& f : original.frames) {
            for (uint64_t cut : {f.cfa - 16, f.cfa - 8, f.cfa}) {
                if (f.cfa == 0 || cut <= sp || cut >= stack->end) continue;
                overlay->reset();
                overlay->hide(cut, stack->end);
                judge(mutated, t, original, "truncate");
            }
        }
    }
}

void ForeignCoreMutation::report(const char* arch) {
    int other = 0, unreliable = 0, same = 0;
    std::printf("%s mutation soundness: %d reliable threads, %d mutants\n", arch, threads_, mutants_);
    for (const auto& [kind, c] : counts_) {
        std::printf("  %-28s unreliable %5d  same %5d  other %d\n", kind.c_str(), c[kUnreliable], c[kSameFrames], c[kOtherFrames]);
        unreliable += c[kUnreliable];
        same += c[kSameFrames];
        other += c[kOtherFrames];
    }
    std::printf("  total: %d unreliable, %d same frames, %d other frames\n", unreliable, same, other);
    RecordProperty("mutants", mutants_);
    EXPECT_GT(unreliable, 0);
    const int indirect = counts_.count(kIndirectSite) ? counts_[kIndirectSite][kOtherFrames] : 0;
    EXPECT_EQ(other, std::string_view(arch) == "ppc64le" ? indirect : 0);
}

TEST_F(ForeignCoreMutation, NoMutantIsJudgedReliableWithOtherFrames) {
    for (const char* v : {"dist", "fp"}) mutate_core(kAarch64, v, "parked", "parked:spin_outer");
    // Frame 0 in a leaf: its caller comes from x30 (leaf_park.c).
    mutate_core(kAarch64, "leaf", "leaf_park", "leaf_park:leaf_thread");
    EXPECT_EQ(threads_, 14);  // the six parked threads of each parked core, both of leaf_park's
    report("aarch64");
}

// Signed stacks (pointer authentication): the kernel-written core with its
// NT_ARM_PAC_MASK, and qemu-user's core with a mask derived from AT_HWCAP.
TEST_F(ForeignCoreMutation, NoSignedAarch64MutantIsJudgedReliableWithOtherFrames) {
    const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
    if (fixtures == nullptr) GTEST_SKIP() << "LPSAFE_SOURCE_FIXTURES is not set (run through meson test)";
    const std::string kernel = std::string(fixtures) + "/arm64-guest/recorded-pac";
    mutate_core(kAarch64, kernel + "/core.kernel", kernel + "/parked", "", "parked:spin_outer");
    mutate_core(kAarch64, dir_ + "/aarch64-pac/core.qemu", dir_ + "/aarch64-pac/parked", "", "parked:spin_outer");
    EXPECT_EQ(threads_, 12);  // the six parked threads of each core
    for (const char* kind : {kPacAltered, kBeyondMask}) EXPECT_GT(counts_[kind][kSameFrames] + counts_[kind][kUnreliable], 12);
    report("aarch64 (PAC)");
}

TEST_F(ForeignCoreMutation, NoPpc64leMutantIsJudgedReliableWithOtherFrames) {
    for (const char* v : {"dist", "fp"}) mutate_core(kPpc64le, v, "parked", "parked:spin_outer");
    // Frame 0 in a leaf: its caller comes from LR (leaf_park.c).
    mutate_core(kPpc64le, "leaf", "leaf_park", "leaf_park:leaf_thread");
    EXPECT_EQ(threads_, 14);  // the six parked threads of each parked core, both of leaf_park's
    report("ppc64le");
}

TEST_F(ForeignCoreMutation, NoS390xMutantIsJudgedReliableWithOtherFrames) {
    for (const char* v : {"dist", "backchain"}) mutate_core(kS390x, v, "parked", "parked:spin_outer");
    // Frame 0 in a leaf: its caller comes from r14 (leaf_park.c).
    mutate_core(kS390x, "leaf", "leaf_park", "leaf_park:leaf_thread");
    EXPECT_EQ(threads_, 14);  // the six parked threads of each parked core, both of leaf_park's
    report("s390x");
}

}  // namespace
}  // namespace lpsafe::e2e

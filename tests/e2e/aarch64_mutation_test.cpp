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
// s390x the same again on its big-endian cores: the r14 slots of the
// register save areas and (with -mbackchain) the back chains, r14 and r11
// (GCC's frame pointer) for frame 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <set>

#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
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

// A return site after `blr` (clone's child path, __libc_start_call_main)
// has no call target to tie it to its callee: a saved x30 replaced by one
// that leads on to a real end cannot be refuted. Counted apart, as on x86_64.
constexpr const char* kIndirectSite = "ra_indirect_call_site";

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

    void mutate_core(const Target& target, const std::string& variant, const std::string& exe,
                     const std::string& unrelated);
    void report(const char* arch);

    std::string dir_;
    ResolvedPatchSet patch_;
    std::set<uint64_t> sites_;
    std::map<std::string, std::array<int, 3>> counts_;
    int mutants_ = 0;
    int threads_ = 0;
};

void ForeignCoreMutation::mutate_core(const Target& target, const std::string& variant, const std::string& exe,
                                  const std::string& unrelated) {
    const std::string d = dir_ + "/" + target.arch + "-" + variant;
    auto process = readers::read_core(d + "/core.qemu", {d + "/" + exe, target.sysroot});
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
            const bool ra = pcs.count(*v) != 0;
            if (!ra && !stack->contains(*v)) continue;
            for (const auto& [kind, lie] : lies(*process, *v, ra, sp)) {
                if (lie == *v) continue;
                overlay->reset();
                overlay->patch_u64(at, lie);
                judge(mutated, t, original, kind);
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
    EXPECT_EQ(other, indirect);
}

TEST_F(ForeignCoreMutation, NoMutantIsJudgedReliableWithOtherFrames) {
    for (const char* v : {"dist", "fp"}) mutate_core(kAarch64, v, "parked", "parked:spin_outer");
    // Frame 0 in a leaf: its caller comes from x30 (leaf_park.c).
    mutate_core(kAarch64, "leaf", "leaf_park", "leaf_park:leaf_thread");
    EXPECT_EQ(threads_, 14);  // the six parked threads of each parked core, both of leaf_park's
    report("aarch64");
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

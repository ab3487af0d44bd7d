// Malformed snapshots, through the library: a snapshot of a real core cut
// at many points and with bytes flipped (fixed seed). With the checksum on,
// every one is an error. With it off (as the fuzz target reads) and the
// records uncompressed (so that the damage reaches the record parser and the
// rebuilt ELF images, not just zlib), each must still be an error or give,
// for every trusted (safe/blocked) thread, the very frames of the whole
// snapshot; anything else is a soundness bug.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "fixture_util.h"
#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"
#include "readers/snapshot/snapshot_reader.h"
#include "readers/snapshot/snapshot_writer.h"

namespace lpsafe::e2e {
namespace {

struct FrameKey {
    uint64_t pc, sp, cfa;
    UnwindMethod method;
    bool operator==(const FrameKey&) const = default;
};

using Stacks = std::map<int, std::vector<FrameKey>>;

struct Outcome {
    int errors = 0, trusted_same = 0, unreliable = 0, trusted_different = 0;
};

class MalformedSnapshot : public testing::Test {
protected:
    void SetUp() override {
        if (fixtures_dir().empty()) GTEST_SKIP() << "run through meson test";
        const std::string d = fixtures_dir() + "/fp";
        auto process = readers::read_core(d + "/core.gcore", {d + "/parked", ""});
        ASSERT_TRUE(process.ok()) << process.error().message;
        auto packed = readers::record_snapshot(*process);
        ASSERT_TRUE(packed.ok()) << packed.error().message;
        packed_ = std::move(*packed);
        readers::RecordOptions uncompressed;
        uncompressed.compress = false;
        auto bytes = readers::record_snapshot(*process, uncompressed);
        ASSERT_TRUE(bytes.ok()) << bytes.error().message;
        snapshot_ = std::move(*bytes);
        ASSERT_TRUE(patch_.add_spec("parked:pause_inner").ok());
        auto replay = readers::read_snapshot_bytes(snapshot_);
        ASSERT_TRUE(replay.ok()) << replay.error().message;
        auto report = check_process(*replay, patch_);
        ASSERT_TRUE(report.ok());
        for (const TaskVerdict& t : report->tasks) original_[t.tid] = keys(t);
    }

    static std::vector<FrameKey> keys(const TaskVerdict& t) {
        std::vector<FrameKey> k;
        for (const Frame& f : t.frames) k.push_back({f.pc, f.sp, f.cfa, f.method});
        return k;
    }

    // `must_match`: a trusted thread must have exactly its original frames.
    // True for truncation (bytes only go missing). Not for a flipped byte with
    // the checksum off: a flipped register or saved word can describe another
    // self-consistent process (the indirect-call-site limit of
    // verdict-rules.md), so those are counted and printed; the checksum,
    // asserted separately, is what catches every flip.
    void judge(std::span<const std::byte> bytes, Outcome& out, bool must_match = true) {
        auto replay = readers::read_snapshot_bytes(bytes, {.verify_checksum = false});
        if (!replay.ok()) {
            EXPECT_FALSE(replay.error().message.empty());
            ++out.errors;
            return;
        }
        auto report = check_process(*replay, patch_);
        if (!report.ok()) {
            ++out.errors;
            return;
        }
        for (const TaskVerdict& t : report->tasks) {
            if (t.verdict != VerdictKind::safe && t.verdict != VerdictKind::blocked) {
                ++out.unreliable;
                continue;
            }
            const auto it = original_.find(t.tid);
            const bool same = it != original_.end() && it->second == keys(t);
            ++(same ? out.trusted_same : out.trusted_different);
            if (must_match) {
                EXPECT_TRUE(same) << "tid " << t.tid << " trusted with different frames";
            }
        }
    }

    std::vector<std::byte> snapshot_;  // uncompressed
    std::vector<std::byte> packed_;    // as `lpsafe record` writes it
    PatchSet patch_;
    Stacks original_;
};

TEST_F(MalformedSnapshot, TruncatedAnywhereIsAnErrorOrTheSameStacks) {
    Outcome checked, unchecked;
    std::vector<size_t> cuts = {0, 1, 7, 8, 12, 23, 24, 25, 30};
    for (size_t i = 1; i < 97; ++i) cuts.push_back(snapshot_.size() * i / 97);
    cuts.push_back(snapshot_.size() - 1);
    for (size_t cut : cuts) {
        const auto packed = std::span(packed_).first(cut * packed_.size() / snapshot_.size());
        auto strict = readers::read_snapshot_bytes(packed);
        EXPECT_FALSE(strict.ok()) << "cut at " << packed.size();
        checked.errors += !strict.ok();
        judge(packed, unchecked);
        judge(std::span(snapshot_).first(cut), unchecked);
    }
    std::cout << "[ outcomes ] " << 2 * cuts.size() << " truncations: " << unchecked.errors << " errors, "
              << unchecked.unreliable << " unreliable threads, " << unchecked.trusted_same
              << " trusted threads with the original frames, " << unchecked.trusted_different << " different\n";
    EXPECT_EQ(checked.errors, static_cast<int>(cuts.size()));
    EXPECT_EQ(unchecked.trusted_different, 0);
}

TEST_F(MalformedSnapshot, FlippedBytesAreAnErrorOrTheSameStacks) {
    std::mt19937_64 rng(20261125);
    Outcome unchecked;
    int strict_errors = 0;
    constexpr int kFlips = 400;
    for (int i = 0; i < kFlips; ++i) {
        const uint64_t r = rng();
        std::vector<std::byte> packed = packed_;
        packed[r % packed.size()] ^= static_cast<std::byte>(1 + (r >> 32) % 255);
        strict_errors += !readers::read_snapshot_bytes(packed).ok();
        std::vector<std::byte> mutant = snapshot_;
        mutant[r % mutant.size()] ^= static_cast<std::byte>(1 + (r >> 32) % 255);
        judge(mutant, unchecked, false);
    }
    std::cout << "[ outcomes ] " << kFlips << " flipped bytes: " << unchecked.errors << " errors, " << unchecked.unreliable
              << " unreliable threads, " << unchecked.trusted_same << " trusted threads with the original frames, "
              << unchecked.trusted_different << " different\n";
    EXPECT_EQ(strict_errors, kFlips) << "the checksum must catch every flipped byte";
    // The header too: a flipped minor version or flag is corruption, not a
    // newer format (the CRC covers every byte but its own field).
    for (size_t at = 0; at < 24; ++at) {
        std::vector<std::byte> packed = packed_;
        packed[at] ^= std::byte{0x01};
        EXPECT_FALSE(readers::read_snapshot_bytes(packed).ok()) << "header byte " << at;
    }
    RecordProperty("unchecked_trusted_different", unchecked.trusted_different);
}

}  // namespace
}  // namespace lpsafe::e2e

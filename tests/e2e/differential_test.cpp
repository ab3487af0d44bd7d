// Differential checks on every fixture core: lpsafe's frames against two
// independent unwinders, libunwind (through lpsafe's ProcessImage, src/
// second_opinion) and elfutils' eu-stack (its own core reader). Where
// lpsafe's walk reached the real end of the stack, the peers must find the
// same frames; where it refused to go on, they must agree up to that point.
// Every disagreement has a stated cause, and the counts are printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "fixture_util.h"
#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"
#include "second_opinion/compare.h"

namespace lpsafe::e2e {
namespace {

struct Counts {
    int outermost = 0;          // threads whose lpsafe walk reached the real end
    int libunwind_exact = 0;    // ... and libunwind found the same pcs and sps
    int libunwind_same_pcs = 0; // ... the same pcs
    int libunwind_until_guess = 0;  // ... the same pcs up to its first guessed frame
    int eu_stack_same_pcs = 0;  // ... eu-stack found the same pcs
    int stopped = 0;            // threads lpsafe refused to finish
    int stopped_prefix = 0;     // ... where libunwind agrees on every frame lpsafe found
};

std::vector<uint64_t> pcs(const std::vector<Frame>& frames) {
    std::vector<uint64_t> out;
    for (const Frame& f : frames) out.push_back(f.pc);
    return out;
}

std::vector<uint64_t> pcs(const second_opinion::PeerStack& peer) {
    std::vector<uint64_t> out;
    for (const auto& f : peer.frames) out.push_back(f.pc);
    return out;
}

// libunwind finds CFI only through .eh_frame_hdr. `static` has none (gcc
// does not pass --eh-frame-hdr for -static): libunwind has no CFI at all and
// falls back to guesses that end early ("outermost" after one frame) or
// wander. `nocfi` and `debugframe` have no .eh_frame for the program's own
// functions: libunwind walks them by frame pointer (UNW_X86_64_FRAME_GUESSED),
// finding the right pc but not the CFA; its next CFI step in libc starts from
// that wrong CFA and reads the wrong slots (a stack canary as return address,
// or an early "end"). So there it must agree up to and including the first
// frame it guessed, and no further.
bool libunwind_has_all_cfi(const CoreCase& c) {
    return c.variant != "static" && c.variant != "nocfi" && c.variant != "debugframe";
}

class Differential : public testing::TestWithParam<CoreCase> {
protected:
    void SetUp() override {
        if (fixtures_dir().empty()) GTEST_SKIP() << "LPSAFE_FIXTURES is not set (run through meson test)";
        if (!file_exists(GetParam().core())) GTEST_SKIP() << "no such fixture core here: " << GetParam().core();
    }
};

TEST_P(Differential, PeersAgreeWhereLpsafeReachedTheEnd) {
    const CoreCase& c = GetParam();
    auto process = readers::read_core(c.core(), {c.exe(), ""});
    ASSERT_TRUE(process.ok()) << process.error().message;
    auto report = check_process(*process, PatchSet{});
    ASSERT_TRUE(report.ok());
    const auto peers = second_opinion::compare_with_libunwind(*process, *report, 128);
    ASSERT_EQ(peers.size(), report->tasks.size());
    const bool have_eu_stack = run_command("command -v eu-stack").exit_status == 0;
    const auto eu = have_eu_stack ? eu_stack_pcs(c.core(), c.exe()) : decltype(eu_stack_pcs("", "")){};

    Counts n;
    for (size_t i = 0; i < peers.size(); ++i) {
        const TaskVerdict& t = report->tasks[i];
        const auto& peer = peers[i];
        const std::string who = c.variant + "/" + c.kind + " tid " + std::to_string(t.tid) + ": " + peer.detail;
        if (t.end.kind != StackEnd::Kind::outermost) {
            // lpsafe stopped (smashed return address, no CFI for the spinning
            // frame, depth limit): the peers go on or stop, but up to where
            // lpsafe stopped, the frames are the same.
            ++n.stopped;
            const auto theirs = pcs(peer.peer);
            const auto ours = pcs(t.frames);
            const bool prefix = theirs.size() >= ours.size() && std::equal(ours.begin(), ours.end(), theirs.begin());
            n.stopped_prefix += prefix;
            if (libunwind_has_all_cfi(c)) {
                EXPECT_TRUE(prefix) << who;
            }
            continue;
        }
        ++n.outermost;
        n.libunwind_exact += peer.agree;
        const bool same_pcs = pcs(peer.peer) == pcs(t.frames);
        n.libunwind_same_pcs += same_pcs;
        if (libunwind_has_all_cfi(c)) {
            EXPECT_TRUE(peer.agree) << who;
        } else if (c.variant != "static") {
            // peer.matching: the first frame whose pc or sp differs.
            const auto theirs = pcs(peer.peer);
            const auto ours = pcs(t.frames);
            const size_t k = peer.matching;
            const bool until_guess = k >= 2 && k < ours.size() && k < theirs.size() && ours[k] == theirs[k];
            n.libunwind_until_guess += same_pcs || until_guess;
            EXPECT_TRUE(same_pcs || until_guess) << who;
        }
        if (have_eu_stack) {
            const bool eu_same = eu.count(t.tid) && std::vector<uint64_t>(eu.at(t.tid).begin(), eu.at(t.tid).end()) == pcs(t.frames);
            n.eu_stack_same_pcs += eu_same;
            EXPECT_TRUE(eu_same) << c.variant << "/" << c.kind << " tid " << t.tid << ": eu-stack differs";
        }
    }
    std::printf("differential %s/%s: lpsafe reached the end in %d threads: libunwind same frames %d, same pcs %d, "
                "same up to its first guessed frame %d; eu-stack same pcs %d%s. lpsafe stopped in %d: libunwind "
                "agrees up to there in %d\n",
                c.variant.c_str(), c.kind.c_str(), n.outermost, n.libunwind_exact, n.libunwind_same_pcs,
                n.libunwind_until_guess,
                n.eu_stack_same_pcs, have_eu_stack ? "" : " (eu-stack not installed)", n.stopped, n.stopped_prefix);
    // Six parked threads reach the end in every variant (spin too, where its
    // frame has CFI): a comparison of nothing would prove nothing.
    EXPECT_GE(n.outermost, 6);
}

// The command: `stack --cross-check` reports libunwind's opinion per thread
// (JSON and text), and changes neither the frames nor the exit status.
TEST(CrossCheckCommand, ReportsWhereLibunwindGoesOnPastTheSmashedFrame) {
    if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    const CoreCase c{"fp", "gcore"};
    const std::string base = lpsafe_bin() + " stack --core " + c.core() + " --exe " + c.exe();
    const CommandResult plain = run_command(base + " --json");
    const CommandResult with = run_command(base + " --json --cross-check");
    ASSERT_EQ(with.exit_status, plain.exit_status) << with.err;
    const auto j = nlohmann::json::parse(with.out);
    EXPECT_EQ(j["tasks"], nlohmann::json::parse(plain.out)["tasks"]);
    const auto& cc = j["cross_check"];
    ASSERT_EQ(cc["threads"].size(), j["tasks"].size());
    EXPECT_EQ(cc["peer"], "libunwind");
    const auto roles = read_roles(c.roles());
    for (const auto& t : cc["threads"]) {
        const std::string role = roles.at(t["tid"].get<int>());
        // smash: lpsafe refuses the overwritten return address; libunwind,
        // like eu-stack, resynchronises through the frame pointer chain.
        EXPECT_EQ(t["agree"].get<bool>(), role != "smash") << role << ": " << t["detail"];
        if (role == "smash") {
            EXPECT_EQ(t["matching_frames"], 3);
            EXPECT_EQ(t["peer_end"], "outermost");
            EXPECT_NE(t["detail"].get<std::string>().find("lpsafe stops after 3 frames"), std::string::npos);
        }
    }
    EXPECT_EQ(cc["agree"], 8);
    const CommandResult text = run_command(base + " --cross-check");
    EXPECT_NE(text.out.find("cross-check with libunwind: 8 of 9 threads agree"), std::string::npos) << text.out;
}

std::string name(const testing::TestParamInfo<CoreCase>& info) { return info.param.variant + "_" + info.param.kind; }

INSTANTIATE_TEST_SUITE_P(Cores, Differential, testing::ValuesIn(all_core_cases()), name);

}  // namespace
}  // namespace lpsafe::e2e

// find_patched_frames, decide and exit_status (verdict.h, analyze.h).
// check_thread/check_process are covered by the e2e tests.
#include <gtest/gtest.h>

#include "lpsafe/analyze.h"
#include "lpsafe/verdict.h"

namespace lpsafe {
namespace {

Frame at(uint64_t pc, bool ret_addr) {
    Frame f;
    f.pc = pc;
    f.pc_is_return_address = ret_addr;
    return f;
}

// pause at [0x1000, 0x1080), worker at [0x2000, 0x2100).
ResolvedPatchSet patch() {
    ResolvedPatchSet p;
    p.ranges = {{0x1000, 0x1080, "libc.so.6", "pause", {}}, {0x2000, 0x2100, "prog", "worker", {}}};
    return p;
}

std::vector<int> frame_indexes(const std::vector<BlockedBy>& b) {
    std::vector<int> out;
    for (const auto& x : b) out.push_back(x.frame);
    return out;
}

TEST(FindPatchedFrames, ExactPcOfFrameZero) {
    EXPECT_EQ(frame_indexes(find_patched_frames({at(0x1000, false)}, patch())), (std::vector<int>{0}));
    EXPECT_EQ(frame_indexes(find_patched_frames({at(0x107f, false)}, patch())), (std::vector<int>{0}));
    // One past the end, as an exact pc, is the next function.
    EXPECT_TRUE(find_patched_frames({at(0x1080, false)}, patch()).empty());
    EXPECT_TRUE(find_patched_frames({at(0xfff, false)}, patch()).empty());
}

TEST(FindPatchedFrames, ReturnAddressJustPastTheEndIsStillInTheFunction) {
    // A call to a noreturn function as the last instruction of pause leaves a
    // return address of exactly pause's end; the caller is pause.
    const auto b = find_patched_frames({at(0x5000, false), at(0x1080, true)}, patch());
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].frame, 1);
    EXPECT_EQ(b[0].function, "pause");
    EXPECT_EQ(b[0].object, "libc.so.6");
}

TEST(FindPatchedFrames, ReturnAddressAtTheStartIsTheFunctionBefore) {
    // A return address equal to worker's first byte follows a call that ended
    // the function before it; the frame is not in worker.
    EXPECT_TRUE(find_patched_frames({at(0x5000, false), at(0x2000, true)}, patch()).empty());
    EXPECT_EQ(frame_indexes(find_patched_frames({at(0x5000, false), at(0x2001, true)}, patch())),
              (std::vector<int>{1}));
}

TEST(FindPatchedFrames, EveryFrameInOrder) {
    const std::vector<Frame> frames = {
        at(0x1040, false),  // pause
        at(0x3000, true),   // elsewhere
        at(0x2050, true),   // worker
        at(0x2050, true),   // worker again (recursion)
    };
    const auto b = find_patched_frames(frames, patch());
    EXPECT_EQ(frame_indexes(b), (std::vector<int>{0, 2, 3}));
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b[0].function, "pause");
    EXPECT_EQ(b[1].function, "worker");
}

TEST(FindPatchedFrames, NothingToFind) {
    EXPECT_TRUE(find_patched_frames({}, patch()).empty());
    EXPECT_TRUE(find_patched_frames({at(0x1040, false)}, ResolvedPatchSet{}).empty());
}

TEST(Decide, SafeBlockedUnreliable) {
    const std::vector<Finding> none;
    const std::vector<Finding> one = {{Check::bottom, 3, "stopped early"}};
    const std::vector<BlockedBy> blocked = {{1, "libc.so.6", "pause"}};
    EXPECT_EQ(decide(none, {}), VerdictKind::safe);
    EXPECT_EQ(decide(none, blocked), VerdictKind::blocked);
    EXPECT_EQ(decide(one, {}), VerdictKind::unreliable);
    // An untrustworthy stack cannot prove a task blocked or safe.
    EXPECT_EQ(decide(one, blocked), VerdictKind::unreliable);
}

TEST(Decide, AnyFindingMakesItUnreliable) {
    for (Check c : {Check::top, Check::bottom, Check::return_after_call, Check::stack_bounds, Check::sp_monotonic,
                    Check::repeated_frame, Check::executable, Check::module, Check::unwind, Check::cross_check,
                    Check::signal_frame, Check::elided}) {
        EXPECT_EQ(decide({{c, 0, ""}}, {}), VerdictKind::unreliable) << check_name(c);
    }
}

TEST(ExitStatus, Convention) {
    EXPECT_EQ(exit_status({}), 0);
    EXPECT_EQ(exit_status({.safe = 5}), 0);
    EXPECT_EQ(exit_status({.safe = 5, .blocked = 1}), 1);
    EXPECT_EQ(exit_status({.safe = 5, .blocked = 0, .unreliable = 2}), 2);
    // Blocked wins: the patch certainly cannot be applied now.
    EXPECT_EQ(exit_status({.safe = 0, .blocked = 1, .unreliable = 3}), 1);
}

TEST(Names, StableSpellings) {
    EXPECT_EQ(verdict_name(VerdictKind::safe), "safe");
    EXPECT_EQ(verdict_name(VerdictKind::blocked), "blocked");
    EXPECT_EQ(verdict_name(VerdictKind::unreliable), "unreliable");
}

}  // namespace
}  // namespace lpsafe

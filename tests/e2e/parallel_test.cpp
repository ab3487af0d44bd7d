// check_process with several workers and per-worker SiteCaches must give
// exactly what one worker gives, and what the uncached public per-thread
// functions give: the caches and the parallelism are invisible in results.
#include <gtest/gtest.h>

#include "fixture_util.h"
#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"

namespace lpsafe::e2e {
namespace {

std::string describe(const TaskVerdict& t) {
    std::string s = std::to_string(t.tid) + " " + std::string(verdict_name(t.verdict)) + " end=" + t.end.detail + "\n";
    for (const Frame& f : t.frames) {
        s += std::to_string(f.pc) + " " + std::to_string(f.sp) + " " + std::to_string(f.cfa) + " " +
             std::string(method_name(f.method)) + " " + (f.pc_is_return_address ? "r" : "-") +
             (f.signal_frame ? "s" : "-") + (f.cross_checked ? "x" : "-") + " " + f.object + " " + f.function + "+" +
             std::to_string(f.offset) + "\n";
    }
    for (const Finding& f : t.findings) s += std::string(check_name(f.check)) + "@" + std::to_string(f.frame) + " " + f.detail + "\n";
    for (const BlockedBy& b : t.blocked_by) s += "blocked@" + std::to_string(b.frame) + " " + b.object + ":" + b.function + "\n";
    return s;
}

class Parallel : public testing::TestWithParam<const char*> {};

TEST_P(Parallel, WorkersAndCachesDoNotChangeResults) {
    const std::string dir = fixtures_dir() + "/" + GetParam();
    if (fixtures_dir().empty()) GTEST_SKIP() << "run through meson test";
    auto process = readers::read_core(dir + "/core.gcore", {dir + "/parked", ""});
    ASSERT_TRUE(process.ok()) << process.error().message;
    PatchSet patch;
    ASSERT_TRUE(patch.add_spec("parked:pause_outer").ok());

    CheckOptions one;
    one.workers = 1;
    auto serial = check_process(*process, patch, one);
    ASSERT_TRUE(serial.ok());
    ASSERT_EQ(serial->tasks.size(), process->threads.size());
    int compared = 0;
    for (unsigned workers : {2u, 4u, 64u}) {
        CheckOptions many;
        many.workers = workers;
        auto parallel = check_process(*process, patch, many);
        ASSERT_TRUE(parallel.ok());
        ASSERT_EQ(parallel->tasks.size(), serial->tasks.size());
        for (size_t i = 0; i < serial->tasks.size(); ++i) {
            EXPECT_EQ(describe(parallel->tasks[i]), describe(serial->tasks[i])) << workers << " workers, thread " << i;
            ++compared;
        }
        EXPECT_EQ(parallel->summary.blocked, serial->summary.blocked);
        EXPECT_EQ(parallel->summary.unreliable, serial->summary.unreliable);
    }
    // Each thread on its own, through the public functions that keep no
    // cache between calls.
    for (size_t i = 0; i < process->threads.size(); ++i) {
        const TaskVerdict alone = check_thread(*process, process->threads[i], serial->patch, one);
        EXPECT_EQ(describe(alone), describe(serial->tasks[i])) << "thread " << i;
    }
    EXPECT_EQ(compared, 3 * static_cast<int>(process->threads.size()));
}

INSTANTIATE_TEST_SUITE_P(Cores, Parallel, testing::Values("fp", "nofp", "nog", "static", "nocfi", "debugframe"));

}  // namespace
}  // namespace lpsafe::e2e

// `lpsafe record --pid` then `check|stack --snapshot` must replay what
// `check|stack --pid` says of the same live process (issue 4): the fixture
// program parked.c runs from a temporary copy, is checked live, recorded,
// and its binary is deleted before the replay, so the snapshot alone must
// carry everything. Two captures of a live process differ in stop times,
// and a runnable thread (state R: parked.c's spinner) in where it was
// stopped; everything else must be identical.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "live_program.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Removes what differs between two captures of one live process.
json comparable(json j) {
    for (json& t : j["tasks"]) {
        t.erase("stop_ns");
        if (t["state"] == "R") t = {{"tid", t["tid"]}, {"comm", t["comm"]}, {"state", "R"}, {"verdict", t["verdict"]}};
    }
    j["summary"].erase("stop_ns_total");
    j["summary"].erase("stop_ns_max");
    return j;
}

json run_json(const std::string& args) {
    const CommandResult r = run_command(lpsafe_bin() + " " + args + " --json");
    EXPECT_NE(r.exit_status, 3) << args << ": " << r.err;
    return r.exit_status == 3 ? json{} : json::parse(r.out);
}

TEST(LiveReplay, RecordedPidReplaysTheLiveCheckWithTheBinaryDeleted) {
    if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    const fs::path dir = fs::temp_directory_path() / ("lpsafe-replay-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path exe = dir / "parked";
    fs::copy_file(fixtures_dir() + "/fp/parked", exe);
    {
        LiveProgram program({exe.string(), (dir / "roles").string()});
        ASSERT_TRUE(program.ok()) << program.error();
        const std::string pid = std::to_string(program.pid());
        const std::string patch = " --func parked:pause_inner --func parked:pipe_inner";
        const json live_check = run_json("check --pid " + pid + patch);
        const json live_stack = run_json("stack --pid " + pid);
        const std::string snapshot = (dir / "parked.lps").string();
        const CommandResult rec = run_command(lpsafe_bin() + " record --pid " + pid + " -o " + snapshot);
        ASSERT_EQ(rec.exit_status, 0) << rec.err;
        fs::remove(exe);
        ASSERT_FALSE(fs::exists(exe));
        const json replay_check = run_json("check --snapshot " + snapshot + patch);
        const json replay_stack = run_json("stack --snapshot " + snapshot);
        ASSERT_EQ(live_check["tasks"].size(), 9u);
        EXPECT_EQ(live_check["summary"]["blocked"], 2) << live_check["summary"].dump();
        EXPECT_EQ(comparable(replay_check), comparable(live_check));
        EXPECT_EQ(comparable(replay_stack), comparable(live_stack));
        // Frames carry real content: the pause thread's chain is in both.
        EXPECT_NE(replay_check.dump().find("\"pause_inner\""), std::string::npos);
        EXPECT_EQ(stopped_or_traced_threads(program.pid()), "");
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace lpsafe::e2e

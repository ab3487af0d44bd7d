// debuginfod: a real local server (elfutils' debuginfod scanning the debug
// files of fixtures/make-dbgsym.sh) names the stripped program's static
// functions; a server that is down, one that returns garbage and one that
// returns another build's debug file cost names only, never a verdict.
// docs/symbols.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "dbgsym_case.h"
#include "fixture_util.h"
#include "loopback_http.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kOwnObjects{"dbgsym_prog", "libdbgsym.so"};

class Debuginfod : public PrivateNetworkSuite {
protected:
    void SetUp() override {
        const DbgsymCase& c = dbgsym_case();
        if (c.fixtures.empty()) GTEST_SKIP() << c.error;
        ASSERT_TRUE(c.error.empty()) << c.error;
        std::istringstream ids(read_file(c.dir("build-ids.txt")));
        for (std::string file, id; ids >> file >> id;) ids_[file] = id;
        ASSERT_EQ(ids_.size(), 2u);
    }

    // lpsafe with DEBUGINFOD_URLS at `port`, a fresh cache, and no local debug files.
    JsonRun run(const std::string& args, int port, const TempDir& tmp, const std::string& cache) {
        const DbgsymCase& c = dbgsym_case();
        return run_lpsafe(args + " --core " + c.core + " --debug-dir " + c.dir("nowhere"),
                          "DEBUGINFOD_URLS=http://127.0.0.1:" + std::to_string(port) +
                              " DEBUGINFOD_CACHE_PATH=" + (tmp / cache) + " DEBUGINFOD_TIMEOUT=5");
    }

    // What a run without any debug file says: the baseline a failing server must equal.
    JsonRun without_debug_files(const std::string& args) {
        const DbgsymCase& c = dbgsym_case();
        return run_lpsafe(args + " --core " + c.core + " --debug-dir " + c.dir("nowhere"), "DEBUGINFOD_URLS=");
    }

    std::map<std::string, std::string> ids_;
};

// Exported, so .dynsym names it with or without debug files.
const std::string kPatch = " --func libdbgsym.so:dbgsym_lib_park";

TEST_F(Debuginfod, LocalServerNamesTheStaticFunctions) {
    const DbgsymCase& c = dbgsym_case();
    TempDir tmp("debuginfod");
    DebuginfodServer server(c.dir("files"), tmp.path());
    ASSERT_TRUE(server.wait_indexed(ids_.at("libdbgsym.so"), 20)) << server.log();
    ASSERT_TRUE(server.wait_indexed(ids_.at("dbgsym_prog"), 5)) << server.log();

    const JsonRun r = run("stack", server.port(), tmp, "cache");
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const JsonRun local = run_lpsafe("stack --core " + c.core + " --debug-dir " + c.dir("debug"), "DEBUGINFOD_URLS=");
    EXPECT_EQ(frame_names(r.out, kOwnObjects), frame_names(local.out, kOwnObjects));
    EXPECT_EQ(frame_names(r.out, {"libdbgsym.so"}).at(c.tid_of.at("lib")),
              (std::vector<std::string>{"libdbgsym.so:lib_static_inner", "libdbgsym.so:lib_static_outer",
                                        "libdbgsym.so:dbgsym_lib_park"}));
    // Downloaded into the cache the test named, by build-id.
    EXPECT_TRUE(fs::exists(tmp / ("cache/" + ids_.at("libdbgsym.so") + "/debuginfo")));

    const JsonRun check = run("check --func libdbgsym.so:lib_static_inner", server.port(), tmp, "cache");
    EXPECT_EQ(check.exit_status, 1) << check.err;
    EXPECT_EQ(verdicts(check.out).at(c.tid_of.at("lib")), "blocked");
    EXPECT_EQ(verdicts(check.out).at(c.tid_of.at("exe")), "safe");
}

TEST_F(Debuginfod, ServerDownCostsNamesOnly) {
    const DbgsymCase& c = dbgsym_case();
    TempDir tmp("debuginfod-down");
    const int port = closed_port();
    const JsonRun stack = run("stack", port, tmp, "cache");
    ASSERT_EQ(stack.exit_status, 0) << stack.err;
    EXPECT_EQ(frame_names(stack.out, kOwnObjects), frame_names(without_debug_files("stack").out, kOwnObjects));
    const JsonRun check = run("check" + kPatch, port, tmp, "cache");
    const JsonRun base = without_debug_files("check" + kPatch);
    EXPECT_EQ(base.exit_status, 1) << base.err;
    EXPECT_EQ(check.exit_status, base.exit_status) << check.err;
    EXPECT_EQ(verdicts(check.out), verdicts(base.out));
    EXPECT_EQ(verdicts(check.out).at(c.tid_of.at("lib")), "blocked");
}

TEST_F(Debuginfod, GarbageFromTheServerIsRefusedWithANote) {
    TempDir tmp("debuginfod-junk");
    ServedBytes junk(std::string(4096, 'x'));
    ASSERT_GT(junk.port(), 0);
    const JsonRun check = run("check" + kPatch, junk.port(), tmp, "cache");
    const JsonRun base = without_debug_files("check" + kPatch);
    EXPECT_GT(junk.requests(), 0);
    EXPECT_EQ(base.exit_status, 1) << base.err;
    EXPECT_EQ(check.exit_status, base.exit_status) << check.err;
    EXPECT_EQ(verdicts(check.out), verdicts(base.out));
    EXPECT_EQ(verdicts(check.out).size(), 3u);
    EXPECT_EQ(frame_names(check.out, kOwnObjects), frame_names(base.out, kOwnObjects));
    EXPECT_NE(check.err.find("debuginfod download"), std::string::npos) << check.err;
    EXPECT_NE(check.err.find("not an ELF file"), std::string::npos) << check.err;
}

TEST_F(Debuginfod, AnotherBuildsDebugFileFromTheServerIsRefused) {
    const DbgsymCase& c = dbgsym_case();
    TempDir tmp("debuginfod-other");
    ServedBytes other(read_file(c.dir("other/libdbgsym.so.debug")));
    ASSERT_GT(other.port(), 0);
    const JsonRun check = run("check" + kPatch, other.port(), tmp, "cache");
    const JsonRun base = without_debug_files("check" + kPatch);
    EXPECT_EQ(base.exit_status, 1) << base.err;
    EXPECT_EQ(check.exit_status, base.exit_status) << check.err;
    EXPECT_EQ(verdicts(check.out), verdicts(base.out));
    EXPECT_EQ(verdicts(check.out).size(), 3u);
    EXPECT_EQ(frame_names(check.out, kOwnObjects), frame_names(base.out, kOwnObjects));
    EXPECT_NE(check.err.find("differs from the module's " + ids_.at("libdbgsym.so")), std::string::npos)
        << check.err;
}

}  // namespace
}  // namespace lpsafe::e2e

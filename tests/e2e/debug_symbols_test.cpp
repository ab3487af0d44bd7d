// Symbols for stripped modules from separate debug files (Debian's -dbgsym
// build-id layout, .gnu_debuglink) and MiniDebugInfo, on a gcore of
// fixtures/programs/dbgsym_prog.c (stripped, made by fixtures/make-dbgsym.sh):
// the names of the program's and its library's frames must be eu-stack's
// with the same debug files, --func must resolve static functions through
// them, a debug file that does not match costs names only, and a snapshot
// keeps the names without the debug files. docs/symbols.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "dbgsym_case.h"
#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kOwnObjects{"dbgsym_prog", "libdbgsym.so"};

#define NEED_CASE()                                                        \
    const DbgsymCase& c = dbgsym_case();                                   \
    if (c.fixtures.empty()) GTEST_SKIP() << c.error;                       \
    ASSERT_TRUE(c.error.empty()) << c.error

// Every frame of lpsafe's `stack` in the program's own modules, with the
// name eu-stack gives the same pc; returns how many were compared.
int expect_names_match_eu_stack(const json& stack, const std::string& core, const std::string& debuginfo_path) {
    const auto eu = eu_stack_names(core, debuginfo_path);
    int compared = 0;
    for (const json& t : stack["tasks"]) {
        const int tid = t["tid"].get<int>();
        for (const json& f : t["frames"]) {
            const std::string object = f.value("object", "");
            if (object != "dbgsym_prog" && object != "libdbgsym.so") continue;
            const auto pc = std::stoull(f["pc"].get<std::string>(), nullptr, 16);
            const bool has = eu.count(tid) && eu.at(tid).count(pc);
            EXPECT_TRUE(has) << "eu-stack has no frame at " << f["pc"];
            if (!has) continue;
            EXPECT_EQ(f.value("function", ""), eu.at(tid).at(pc)) << "tid " << tid << " pc " << f["pc"];
            ++compared;
        }
    }
    return compared;
}

const std::vector<std::string> kExeChain{"dbgsym_prog:exe_static_inner", "dbgsym_prog:exe_static_outer",
                                         "dbgsym_prog:exe_thread"};
const std::vector<std::string> kLibChain{"libdbgsym.so:lib_static_inner", "libdbgsym.so:lib_static_outer",
                                         "libdbgsym.so:dbgsym_lib_park", "dbgsym_prog:lib_thread"};

std::string core_args(const DbgsymCase& c, const std::string& debug_dir) {
    return "--core " + c.core + " --debug-dir " + debug_dir;
}

TEST(DebugSymbols, StrippedModulesHaveNoStaticNamesWithoutDebugFiles) {
    NEED_CASE();
    const JsonRun r = run_lpsafe("stack " + core_args(c, c.dir("nowhere")));
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto names = frame_names(r.out, kOwnObjects);
    // Only the exported dbgsym_lib_park is in .dynsym.
    EXPECT_EQ(names.at(c.tid_of.at("exe")),
              (std::vector<std::string>{"dbgsym_prog:", "dbgsym_prog:", "dbgsym_prog:"}));
    EXPECT_EQ(names.at(c.tid_of.at("lib")),
              (std::vector<std::string>{"libdbgsym.so:", "libdbgsym.so:", "libdbgsym.so:dbgsym_lib_park",
                                        "dbgsym_prog:"}));
    const JsonRun check = run_lpsafe("check " + core_args(c, c.dir("nowhere")) + " --func dbgsym_prog:exe_static_inner");
    EXPECT_EQ(check.exit_status, 3);
    EXPECT_NE(check.err.find("exe_static_inner not found in dbgsym_prog"), std::string::npos) << check.err;
}

TEST(DebugSymbols, BuildIdDebugDirNamesStaticFunctionsAsEuStackDoes) {
    NEED_CASE();
    const JsonRun r = run_lpsafe("stack " + core_args(c, c.dir("debug")));
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto names = frame_names(r.out, kOwnObjects);
    EXPECT_EQ(names.at(c.tid_of.at("exe")), kExeChain);
    EXPECT_EQ(names.at(c.tid_of.at("lib")), kLibChain);
    EXPECT_EQ(names.at(c.tid_of.at("main")), (std::vector<std::string>{"dbgsym_prog:main", "dbgsym_prog:_start"}));
    EXPECT_EQ(expect_names_match_eu_stack(r.out, c.core, c.dir("debug")), 9);
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(DebugSymbols, FuncNamesAStaticFunctionThroughTheDebugFile) {
    NEED_CASE();
    const auto& t = c.tid_of;
    const JsonRun exe = run_lpsafe("check " + core_args(c, c.dir("debug")) + " --func dbgsym_prog:exe_static_inner");
    EXPECT_EQ(exe.exit_status, 1) << exe.err;
    EXPECT_EQ(verdicts(exe.out),
              (std::map<int, std::string>{{t.at("exe"), "blocked"}, {t.at("lib"), "safe"}, {t.at("main"), "safe"}}));
    const JsonRun lib = run_lpsafe("check " + core_args(c, c.dir("debug")) + " --func libdbgsym.so:lib_static_outer");
    EXPECT_EQ(lib.exit_status, 1) << lib.err;
    EXPECT_EQ(verdicts(lib.out),
              (std::map<int, std::string>{{t.at("exe"), "safe"}, {t.at("lib"), "blocked"}, {t.at("main"), "safe"}}));
    ASSERT_EQ(lib.out["patch"]["functions"].size(), 1u);
    EXPECT_EQ(lib.out["patch"]["functions"][0]["function"], "lib_static_outer");
}

// A sysroot that mirrors / through symlinks, except that its
// usr/lib/debug is the fixture's build-id tree: without --debug-dir, the
// debug root is <sysroot>/usr/lib/debug.
TEST(DebugSymbols, SysrootsUsrLibDebugIsTheDefaultRoot) {
    NEED_CASE();
    TempDir sysroot("dbgsym-sysroot");
    const fs::path root(sysroot.path());
    for (const auto& e : fs::directory_iterator("/"))
        if (e.path().filename() != "usr") fs::create_directory_symlink(e.path(), root / e.path().filename());
    fs::create_directories(root / "usr/lib");
    for (const auto& e : fs::directory_iterator("/usr"))
        if (e.path().filename() != "lib") fs::create_directory_symlink(e.path(), root / "usr" / e.path().filename());
    for (const auto& e : fs::directory_iterator("/usr/lib"))
        if (e.path().filename() != "debug") fs::create_symlink(e.path(), root / "usr/lib" / e.path().filename());
    fs::create_directory_symlink(fs::canonical(c.dir("debug")), root / "usr/lib/debug");

    const JsonRun r = run_lpsafe("stack --core " + c.core + " --sysroot " + sysroot.path());
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto names = frame_names(r.out, kOwnObjects);
    EXPECT_EQ(names.at(c.tid_of.at("exe")), kExeChain);
    EXPECT_EQ(names.at(c.tid_of.at("lib")), kLibChain);
}

TEST(DebugSymbols, LiveProcessGetsTheSameNamesAndVerdicts) {
    NEED_CASE();
    const std::string live = "--pid " + std::to_string(c.pid) + " --debug-dir " + c.dir("debug");
    const JsonRun stack = run_lpsafe("stack " + live);
    ASSERT_EQ(stack.exit_status, 0) << stack.err;
    EXPECT_EQ(frame_names(stack.out, kOwnObjects), frame_names(run_lpsafe("stack " + core_args(c, c.dir("debug"))).out, kOwnObjects));
    const std::string patch = " --func dbgsym_prog:exe_static_inner";
    const JsonRun check = run_lpsafe("check " + live + patch);
    EXPECT_EQ(check.exit_status, 1) << check.err;
    EXPECT_EQ(verdicts(check.out), verdicts(run_lpsafe("check " + core_args(c, c.dir("debug")) + patch).out));
}

TEST(DebugSymbols, DebuglinkUnderADebugRootIsFollowedWithItsCrcChecked) {
    NEED_CASE();
    const JsonRun r = run_lpsafe("stack " + core_args(c, c.dir("linkroot")));
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto names = frame_names(r.out, kOwnObjects);
    EXPECT_EQ(names.at(c.tid_of.at("exe")), kExeChain);
    EXPECT_EQ(names.at(c.tid_of.at("lib")), kLibChain);

    // Another build's debug file under the library's debuglink name: its
    // CRC differs, so it is refused with a note and costs the names only.
    TempDir root("dbgsym-crc");
    const std::string bin_dir = fs::canonical(c.dir("bin")).string();
    fs::create_directories(root.path() + bin_dir);
    fs::copy_file(c.dir("other/libdbgsym.so.debug"), root.path() + bin_dir + "/libdbgsym.so.debug");
    const JsonRun wrong = run_lpsafe("stack " + core_args(c, root.path()));
    ASSERT_EQ(wrong.exit_status, 0) << wrong.err;
    EXPECT_EQ(frame_names(wrong.out, {"libdbgsym.so"}).at(c.tid_of.at("lib")),
              (std::vector<std::string>{"libdbgsym.so:", "libdbgsym.so:", "libdbgsym.so:dbgsym_lib_park"}));
    EXPECT_NE(wrong.err.find("CRC-32 differs"), std::string::npos) << wrong.err;
}

TEST(DebugSymbols, DebugFileWithAnotherBuildIdIsRefused) {
    NEED_CASE();
    // The other build's debug file where the library's build-id says.
    const JsonRun good = run_lpsafe("stack " + core_args(c, c.dir("debug")));
    ASSERT_EQ(good.exit_status, 0);
    std::string lib_id;
    std::istringstream ids(read_file(c.dir("build-ids.txt")));
    for (std::string file, id; ids >> file >> id;)
        if (file == "libdbgsym.so") lib_id = id;
    ASSERT_EQ(lib_id.size(), 40u);
    TempDir root("dbgsym-wrong-id");
    fs::create_directories(root / (".build-id/" + lib_id.substr(0, 2)));
    fs::copy_file(c.dir("other/libdbgsym.so.debug"), root / (".build-id/" + lib_id.substr(0, 2) + "/" + lib_id.substr(2) + ".debug"));
    const std::string patch = " --func libdbgsym.so:dbgsym_lib_park";
    const JsonRun wrong = run_lpsafe("check " + core_args(c, root.path()) + patch);
    const JsonRun right = run_lpsafe("check " + core_args(c, c.dir("debug")) + patch);
    EXPECT_EQ(wrong.exit_status, right.exit_status);
    EXPECT_EQ(verdicts(wrong.out), verdicts(right.out));
    EXPECT_EQ(frame_names(wrong.out, {"libdbgsym.so"}).at(c.tid_of.at("lib")),
              (std::vector<std::string>{"libdbgsym.so:", "libdbgsym.so:", "libdbgsym.so:dbgsym_lib_park"}));
    EXPECT_NE(wrong.err.find("differs from the module's " + lib_id), std::string::npos) << wrong.err;
}

TEST(DebugSymbols, MiniDebugInfoNamesTheExecutablesStaticFunctions) {
    NEED_CASE();
    // --exe: the same executable with .gnu_debugdata added (same build-id).
    const std::string args = "--core " + c.core + " --exe " + c.dir("mini/dbgsym_prog") + " --debug-dir " + c.dir("nowhere");
    const JsonRun r = run_lpsafe("stack " + args);
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto names = frame_names(r.out, kOwnObjects);
    EXPECT_EQ(names.at(c.tid_of.at("exe")), kExeChain);
    // The library has no MiniDebugInfo: its static functions stay unnamed.
    EXPECT_EQ(names.at(c.tid_of.at("lib")),
              (std::vector<std::string>{"libdbgsym.so:", "libdbgsym.so:", "libdbgsym.so:dbgsym_lib_park",
                                        "dbgsym_prog:lib_thread"}));
    const JsonRun check = run_lpsafe("check " + args + " --func dbgsym_prog:exe_static_outer");
    EXPECT_EQ(check.exit_status, 1) << check.err;
    EXPECT_EQ(verdicts(check.out).at(c.tid_of.at("exe")), "blocked");
    EXPECT_EQ(verdicts(check.out).at(c.tid_of.at("lib")), "safe");
}

TEST(DebugSymbols, SnapshotKeepsTheNamesWithoutTheDebugFiles) {
    NEED_CASE();
    TempDir tmp("dbgsym-snapshot");
    fs::copy(c.dir("debug"), tmp / "debug", fs::copy_options::recursive);
    const std::string snapshot = tmp / "prog.lps";
    const CommandResult rec =
        run_command(lpsafe_bin() + " record " + core_args(c, tmp / "debug") + " -o " + snapshot);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    const JsonRun from_core = run_lpsafe("stack " + core_args(c, tmp / "debug"));
    fs::remove_all(tmp / "debug");
    const JsonRun replay = run_lpsafe("stack --snapshot " + snapshot);
    ASSERT_EQ(replay.exit_status, 0) << replay.err;
    EXPECT_EQ(frame_names(replay.out, kOwnObjects), frame_names(from_core.out, kOwnObjects));
    EXPECT_EQ(frame_names(replay.out, kOwnObjects).at(c.tid_of.at("exe")), kExeChain);
    const std::string patch = " --func dbgsym_prog:exe_static_inner";
    EXPECT_EQ(verdicts(run_lpsafe("check --snapshot " + snapshot + patch).out),
              verdicts(run_lpsafe("check " + core_args(c, c.dir("debug")) + patch).out));
}

}  // namespace
}  // namespace lpsafe::e2e

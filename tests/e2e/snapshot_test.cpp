// Snapshots (docs/snapshot-format.md): every fixture core recorded and
// replayed gives exactly the core's frames and verdicts; a static binary's
// snapshot replays after the binary and its core are deleted, without
// opening any file; malformed snapshots give an error or an unreliable
// verdict, never a trusted stack that differs from the original.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixture_util.h"
#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"
#include "readers/snapshot/snapshot_reader.h"
#include "readers/snapshot/snapshot_writer.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;

struct Case {
    std::string name;  // variant, or variant-kernel
    std::string core;
    std::string exe;  // empty: the path in the core
};

std::vector<Case> cases() {
    const std::string d = fixtures_dir();
    std::vector<Case> out;
    for (const char* v : {"fp", "nofp", "nog", "static", "nocfi", "debugframe"})
        out.push_back({v, d + "/" + v + "/core.gcore", d + "/" + v + "/parked"});
    for (const char* v : {"fp", "nofp"})
        out.push_back({std::string(v) + "-kernel", d + "/" + v + "/core.kernel", d + "/" + v + "/parked"});
    out.push_back({"sleep", d + "/sleep/core.gcore", ""});
    return out;
}

std::string input_args(const Case& c) { return " --core " + c.core + (c.exe.empty() ? "" : " --exe " + c.exe); }

// Per test process: builds of other checkouts on the same machine run this
// test at the same time.
std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / ("lpsafe-snap-" + name + "." + std::to_string(getpid()))).string();
}

// The patch sets compared: one per kind of outcome (a parked chain blocked,
// a library function at the top, nothing on any stack).
const std::vector<std::string> kChecks = {"--func libc.so.6:pause", "--func parked:sleep_outer",
                                          "--func parked:spin_outer --func libc.so.6:epoll_wait"};

class SnapshotReplay : public testing::TestWithParam<Case> {
protected:
    void SetUp() override {
        if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
        if (!file_exists(GetParam().core)) {
            ASSERT_NE(GetParam().name.find("kernel"), std::string::npos) << "missing " << GetParam().core;
            GTEST_SKIP() << "no kernel-written core on this machine";
        }
    }
};

// The same command on the core and on its snapshot: byte-identical JSON
// (frames with pc, sp, cfa, method, symbol, cross_checked; findings;
// verdicts; the resolved patch) and the same exit status.
TEST_P(SnapshotReplay, StackAndCheckJsonEqualTheCore) {
    const Case& c = GetParam();
    const std::string snap = temp_path(c.name);
    const auto rec = run_command(lpsafe_bin() + " record" + input_args(c) + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    std::cout << "[ size     ] " << c.name << ": " << fs::file_size(snap) << " bytes; " << rec.out;
    std::vector<std::string> commands = {"stack --json"};
    if (c.name != "sleep")
        for (const auto& f : kChecks) commands.push_back("check --json " + f);
    for (const std::string& cmd : commands) {
        SCOPED_TRACE(cmd);
        const auto from_core = run_command(lpsafe_bin() + " " + cmd + input_args(c));
        const auto from_snap = run_command(lpsafe_bin() + " " + cmd + " --snapshot " + snap);
        EXPECT_EQ(from_snap.exit_status, from_core.exit_status) << from_snap.err;
        EXPECT_EQ(from_snap.out, from_core.out);
        EXPECT_FALSE(from_core.out.empty());
    }
    // A replayed snapshot records again to the same stacks (its rebuilt
    // images serve as well as files do).
    const std::string again = snap + ".again";
    ASSERT_EQ(run_command(lpsafe_bin() + " record --snapshot " + snap + " -o " + again).exit_status, 0);
    EXPECT_EQ(run_command(lpsafe_bin() + " stack --json --snapshot " + again).out,
              run_command(lpsafe_bin() + " stack --json --snapshot " + snap).out);
    fs::remove(again);
    fs::remove(snap);
}

INSTANTIATE_TEST_SUITE_P(Cores, SnapshotReplay, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& i) {
                             std::string n = i.param.name;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

class SnapshotCommand : public testing::Test {
protected:
    void SetUp() override {
        if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    }
};

// The headline: record a static binary's core, delete binary and core, and
// replay with an empty environment. Under strace, the replay opens nothing
// but the snapshot (and the command's own shared libraries).
TEST_F(SnapshotCommand, StaticBinaryReplaysAfterBinaryAndCoreAreDeleted) {
    const std::string dir = temp_path("static-dir");
    fs::create_directories(dir);
    fs::copy_file(fixtures_dir() + "/static/parked", dir + "/parked", fs::copy_options::overwrite_existing);
    fs::copy_file(fixtures_dir() + "/static/core.gcore", dir + "/core", fs::copy_options::overwrite_existing);
    const std::string args = " --core " + dir + "/core --exe " + dir + "/parked";
    const std::string check = " --json --func parked:pause_inner";
    const auto stack_core = run_command(lpsafe_bin() + " stack --json" + args);
    const auto check_core = run_command(lpsafe_bin() + " check" + check + args);
    ASSERT_EQ(check_core.exit_status, 1) << check_core.err;
    const std::string snap = temp_path("static.snap");
    ASSERT_EQ(run_command(lpsafe_bin() + " record" + args + " -o " + snap).exit_status, 0);
    fs::remove_all(dir);

    const std::string empty_env = "env -i ";
    const auto stack_snap = run_command(empty_env + lpsafe_bin() + " stack --json --snapshot " + snap);
    const auto check_snap = run_command(empty_env + lpsafe_bin() + " check" + check + " --snapshot " + snap);
    EXPECT_EQ(stack_snap.exit_status, stack_core.exit_status);
    EXPECT_EQ(stack_snap.out, stack_core.out);
    EXPECT_EQ(check_snap.exit_status, 1) << check_snap.err;
    EXPECT_EQ(check_snap.out, check_core.out);

    if (run_command("command -v strace").exit_status == 0) {
        const std::string trace = temp_path("static.strace");
        const auto traced = run_command("strace -f -e trace=open,openat,openat2,stat,newfstatat,access -o " + trace +
                                        " " + lpsafe_bin() + " stack --snapshot " + snap);
        const std::string log = read_file(trace);
        if (traced.exit_status != stack_core.exit_status || log.empty()) {
            // A container may forbid ptrace; the replay above still ran
            // without the files.
            std::cout << "[ note     ] strace cannot trace here: " << traced.err << "\n";
        } else {
            EXPECT_NE(log.find(snap), std::string::npos) << log;
            EXPECT_EQ(log.find(dir), std::string::npos) << "the replay looked for the deleted files:\n" << log;
            EXPECT_EQ(log.find("parked"), std::string::npos) << "the replay looked for the binary:\n" << log;
        }
        fs::remove(trace);
    }
    fs::remove(snap);
}

// Modules that could not be used in the source (wrong executable, files
// missing) stay unusable on replay, with the same findings.
TEST_F(SnapshotCommand, UnusableModulesKeepTheirStatus) {
    const std::string empty = temp_path("empty-sysroot");
    fs::create_directories(empty);
    const std::string core = " --core " + fixtures_dir() + "/fp/core.gcore";
    for (const std::string& input : {core + " --exe " + fixtures_dir() + "/nofp/parked", core + " --sysroot " + empty}) {
        SCOPED_TRACE(input);
        const std::string snap = temp_path("unusable.snap");
        ASSERT_EQ(run_command(lpsafe_bin() + " record" + input + " -o " + snap).exit_status, 0);
        const std::string check = " check --json --func libc.so.6:pause";
        const auto from_core = run_command(lpsafe_bin() + check + input);
        const auto from_snap = run_command(lpsafe_bin() + check + " --snapshot " + snap);
        EXPECT_EQ(from_core.exit_status, 2) << from_core.err;
        EXPECT_EQ(from_snap.exit_status, 2) << from_snap.err;
        EXPECT_EQ(from_snap.out, from_core.out);
        fs::remove(snap);
    }
    fs::remove_all(empty);
}

TEST_F(SnapshotCommand, BadFilesAreClearErrors) {
    const std::string f = temp_path("bad");
    const auto stack = [&](const std::string& content) {
        std::ofstream(f, std::ios::binary) << content;
        return run_command(lpsafe_bin() + " stack --snapshot " + f);
    };
    auto r = stack("");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("too short"), std::string::npos) << r.err;
    r = stack("ELF\x7f not a snapshot at all");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("bad magic"), std::string::npos) << r.err;
    // A kernel capture is the kernel's snapshot: it goes to the kernel
    // reader, which refuses this broken one.
    r = stack(std::string("LPSKCAP\n", 8) + std::string(40, '\0'));
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("capture format version 0"), std::string::npos) << r.err;
    r = stack(std::string("LPSAFEU\x1a\x02\x00\x00\x00", 12) + std::string(40, '\0'));
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("version 2.0 is not supported"), std::string::npos) << r.err;
    fs::remove(f);
    const auto both = run_command(lpsafe_bin() + " stack --snapshot " + lpsafe_bin() + " --core " + lpsafe_bin());
    EXPECT_EQ(both.exit_status, 3);
}

// The committed snapshots (fixtures/snapshots/make-snapshots.sh) replay to
// the JSON their cores gave when they were recorded: a regression test that
// needs none of the original binaries or cores.
TEST_F(SnapshotCommand, CommittedSnapshotsReplayAsRecorded) {
    const char* dir = std::getenv("LPSAFE_SNAPSHOTS");
    if (dir == nullptr) GTEST_SKIP() << "LPSAFE_SNAPSHOTS is not set";
    std::istringstream cases(read_file(std::string(dir) + "/cases.txt"));
    std::string line;
    int replayed = 0;
    while (std::getline(cases, line)) {
        std::istringstream words(line);
        std::string name, core, options, patch;
        if (line.empty() || line[0] == '#' || !(words >> name >> core >> options >> patch)) continue;
        SCOPED_TRACE(name);
        const std::string base = std::string(dir) + "/" + name;
        std::istringstream status(read_file(base + ".status"));
        std::string word;
        int stack_exit = -1, check_exit = -1;
        status >> word >> stack_exit >> word >> check_exit;
        const auto stack = run_command("env -i " + lpsafe_bin() + " stack --snapshot " + base + ".snap");
        EXPECT_EQ(stack.exit_status, stack_exit) << stack.err;
        const auto check = run_command("env -i " + lpsafe_bin() + " check --json --func " + patch + " --snapshot " + base + ".snap");
        EXPECT_EQ(check.exit_status, check_exit) << check.err;
        EXPECT_EQ(check.out, read_file(base + ".check.json"));
        ++replayed;
    }
    EXPECT_EQ(replayed, 4);
}

// A snapshot recorded before the thread-start rule checked the function
// clone3 entered (format 1.1, fixtures/snapshots/format-1.1) holds no lea
// site that takes start_thread's address: its glibc threads cannot be shown
// complete and are refused, never trusted on the old evidence.
TEST_F(SnapshotCommand, OlderSnapshotWithoutTheThreadStartEvidenceFailsClosed) {
    const char* dir = std::getenv("LPSAFE_SNAPSHOTS");
    if (dir == nullptr) GTEST_SKIP() << "LPSAFE_SNAPSHOTS is not set";
    const auto check = run_command("env -i " + lpsafe_bin() + " check --json --func parked:pause_inner --snapshot " +
                                   std::string(dir) + "/format-1.1/fp.snap");
    EXPECT_EQ(check.exit_status, 2) << check.err;
    const auto doc = nlohmann::json::parse(check.out);
    int refused = 0;
    for (const auto& t : doc["tasks"]) {
        EXPECT_NE(t["verdict"], "blocked") << t.dump();
        for (const auto& f : t.value("failed_checks", nlohmann::json::array()))
            refused += f["detail"].get<std::string>().find("entered a function no pointer reaches") != std::string::npos;
    }
    EXPECT_EQ(refused, 6);  // the five parked threads and spin: walked to clone3
    EXPECT_EQ(doc["summary"]["safe"], 1);  // main: its _start has a fixed callee
}

}  // namespace
}  // namespace lpsafe::e2e

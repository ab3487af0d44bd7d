// A distribution's own debug file: Debian's libc6-dbg installs the detached
// debug file of libc.so.6 under /usr/lib/debug/.build-id, the layout every
// -dbgsym package uses. The installed libc is stripped to .dynsym, which
// names none of the local functions at the bottom of every thread
// (start_thread, clone3's thread start, __libc_start_call_main). With the
// package, lpsafe names them as eu-stack does with the same file, --func
// can patch one, and a local debuginfod serving that one file gives the
// same names. Names never change a verdict. docs/symbols.md.
//
// The core is dbgsym_case()'s (fixtures/make-dbgsym.sh's program, linked
// against the machine's libc); scripts/install-deps.sh installs libc6-dbg,
// so a machine without it fails here rather than skipping.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "dbgsym_case.h"
#include "fixture_util.h"
#include "loopback_http.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kLibc{"libc.so.6"};

std::string without_version(const std::string& name) { return name.substr(0, name.find('@')); }

class DistributionDebugFile : public PrivateNetworkSuite {
protected:
    void SetUp() override {
        const DbgsymCase& c = dbgsym_case();
        if (c.fixtures.empty()) GTEST_SKIP() << c.error;
        ASSERT_TRUE(c.error.empty()) << c.error;
        // The build-id of the libc the core names, as elfutils reads it.
        const CommandResult modules = run_command("eu-unstrip -n --core " + c.core);
        ASSERT_EQ(modules.exit_status, 0) << modules.err;
        std::istringstream lines(modules.out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream fields(line);
            std::string range, id, file, debug, name;
            fields >> range >> id >> file >> debug >> name;
            if (name == "libc.so.6") libc_id_ = id.substr(0, id.find('@'));
        }
        ASSERT_EQ(libc_id_.size(), 40u) << modules.out;
        debug_file_ = "/usr/lib/debug/.build-id/" + libc_id_.substr(0, 2) + "/" + libc_id_.substr(2) + ".debug";
        ASSERT_TRUE(fs::exists(debug_file_)) << debug_file_ << " is missing: libc6-dbg is not installed, or is not "
                                             << "the running libc6's version (scripts/install-deps.sh installs it)";
        // Every function symbol of the debug file, by name without its
        // version: which names are aliases of one function.
        const CommandResult syms = run_command("readelf -sW " + debug_file_);
        ASSERT_EQ(syms.exit_status, 0) << syms.err;
        std::istringstream table(syms.out);
        for (std::string line; std::getline(table, line);) {
            std::istringstream f(line);
            std::string num, value, size, type, bind, vis, ndx, name;
            if (!(f >> num >> value >> size >> type >> bind >> vis >> ndx >> name) || type != "FUNC") continue;
            starts_[without_version(name)].insert(std::stoull(value, nullptr, 16));
        }
        ASSERT_GT(starts_.size(), 1000u);
    }

    // One function by both names: equal, or aliases at one address in the
    // debug file (lpsafe shows the shortest public alias, eu-stack the
    // first in the table, with its symbol version).
    bool same_function(const std::string& ours, const std::string& eu) const {
        const std::string theirs = without_version(eu);
        if (ours == theirs) return true;
        const auto a = starts_.find(ours), b = starts_.find(theirs);
        if (a == starts_.end() || b == starts_.end()) return false;
        for (uint64_t start : a->second)
            if (b->second.count(start)) return true;
        return false;
    }

    // Every libc frame of `stack` named as eu-stack names its pc; how many.
    int expect_libc_names_match(const json& stack, const EuStackNames& eu) const {
        int compared = 0;
        for (const json& t : stack["tasks"]) {
            const int tid = t["tid"].get<int>();
            for (const json& f : t["frames"]) {
                if (f.value("object", "") != "libc.so.6") continue;
                const auto pc = std::stoull(f["pc"].get<std::string>(), nullptr, 16);
                const bool has = eu.count(tid) && eu.at(tid).count(pc);
                EXPECT_TRUE(has) << "eu-stack has no frame at " << f["pc"];
                if (!has) continue;
                EXPECT_TRUE(same_function(f.value("function", ""), eu.at(tid).at(pc)))
                    << "tid " << tid << " pc " << f["pc"] << ": lpsafe " << f.value("function", "") << ", eu-stack "
                    << eu.at(tid).at(pc);
                ++compared;
            }
        }
        return compared;
    }

    std::string libc_id_;
    std::string debug_file_;
    std::map<std::string, std::set<uint64_t>> starts_;
};

TEST_F(DistributionDebugFile, Libc6DbgNamesLibcsLocalFunctionsAsEuStackDoes) {
    const DbgsymCase& c = dbgsym_case();
    const JsonRun with = run_lpsafe("stack --core " + c.core);  // the default root, /usr/lib/debug
    const JsonRun without = run_lpsafe("stack --core " + c.core + " --debug-dir " + c.dir("nowhere"));
    ASSERT_EQ(with.exit_status, 0) << with.err;
    ASSERT_EQ(without.exit_status, 0) << without.err;
    const auto named = frame_names(with.out, kLibc), bare = frame_names(without.out, kLibc);
    const std::vector<std::string> thread_bottom{"libc.so.6:pause", "libc.so.6:start_thread", "libc.so.6:clone3"};
    EXPECT_EQ(named.at(c.tid_of.at("exe")), thread_bottom);
    EXPECT_EQ(named.at(c.tid_of.at("lib")), thread_bottom);
    EXPECT_EQ(named.at(c.tid_of.at("main")),
              (std::vector<std::string>{"libc.so.6:pause", "libc.so.6:__libc_start_call_main",
                                        "libc.so.6:__libc_start_main"}));
    // Stripped to .dynsym, the same libc names only its exports.
    EXPECT_EQ(bare.at(c.tid_of.at("exe")), (std::vector<std::string>{"libc.so.6:pause", "libc.so.6:", "libc.so.6:"}));
    EXPECT_EQ(bare.at(c.tid_of.at("main")),
              (std::vector<std::string>{"libc.so.6:pause", "libc.so.6:", "libc.so.6:__libc_start_main"}));
    EXPECT_EQ(expect_libc_names_match(with.out, eu_stack_names(c.core, "/usr/lib/debug")), 9);

    const std::string patch = " --func libdbgsym.so:dbgsym_lib_park";
    const JsonRun check_with = run_lpsafe("check --core " + c.core + patch);
    const JsonRun check_without = run_lpsafe("check --core " + c.core + " --debug-dir " + c.dir("nowhere") + patch);
    EXPECT_EQ(check_with.exit_status, 1) << check_with.err;
    EXPECT_EQ(verdicts(check_with.out), verdicts(check_without.out));
}

// start_thread is local to libc: only the debug file can name it for --func.
TEST_F(DistributionDebugFile, FuncPatchesALocalLibcFunctionThroughLibc6Dbg) {
    const DbgsymCase& c = dbgsym_case();
    const JsonRun check = run_lpsafe("check --core " + c.core + " --func libc.so.6:start_thread");
    EXPECT_EQ(check.exit_status, 1) << check.err;
    EXPECT_EQ(verdicts(check.out), (std::map<int, std::string>{{c.tid_of.at("exe"), "blocked"},
                                                               {c.tid_of.at("lib"), "blocked"},
                                                               {c.tid_of.at("main"), "safe"}}));
    for (const json& t : check.out["tasks"]) {
        if (t["verdict"] != "blocked") continue;
        ASSERT_EQ(t["blocked_by"].size(), 1u) << t.dump();
        EXPECT_EQ(t["blocked_by"][0]["function"], "start_thread") << t.dump();
    }
    const JsonRun bare = run_lpsafe("check --core " + c.core + " --debug-dir " + c.dir("nowhere") +
                                    " --func libc.so.6:start_thread");
    EXPECT_EQ(bare.exit_status, 3);
    EXPECT_NE(bare.err.find("start_thread not found in libc.so.6"), std::string::npos) << bare.err;
}

// A local debuginfod serving the distribution's debug file, and nothing on
// disk: the same names as the installed package gives, and as eu-stack
// gives through the same server.
TEST_F(DistributionDebugFile, LocalDebuginfodServesLibcsDebugFile) {
    const DbgsymCase& c = dbgsym_case();
    TempDir tmp("debuginfod-libc");
    fs::create_directories(tmp / "files");
    fs::copy_file(debug_file_, tmp / "files/libc.so.6.debug");
    DebuginfodServer server(tmp / "files", tmp.path());
    ASSERT_TRUE(server.wait_indexed(libc_id_, 60)) << server.log();
    const std::string urls = "DEBUGINFOD_URLS=http://127.0.0.1:" + std::to_string(server.port()) + " DEBUGINFOD_TIMEOUT=10";

    const JsonRun served = run_lpsafe("stack --core " + c.core + " --debug-dir " + c.dir("nowhere"),
                                      urls + " DEBUGINFOD_CACHE_PATH=" + (tmp / "cache"));
    ASSERT_EQ(served.exit_status, 0) << served.err;
    const JsonRun installed = run_lpsafe("stack --core " + c.core);
    EXPECT_EQ(frame_names(served.out, kLibc), frame_names(installed.out, kLibc));
    EXPECT_EQ(frame_names(served.out, kLibc).at(c.tid_of.at("exe")),
              (std::vector<std::string>{"libc.so.6:pause", "libc.so.6:start_thread", "libc.so.6:clone3"}));
    EXPECT_TRUE(fs::exists(tmp / ("cache/" + libc_id_ + "/debuginfo")));
    EXPECT_EQ(expect_libc_names_match(served.out, eu_stack_names(c.core, c.dir("nowhere"),
                                                                 urls + " DEBUGINFOD_CACHE_PATH=" + (tmp / "eu-cache"))),
              9);
}

}  // namespace
}  // namespace lpsafe::e2e

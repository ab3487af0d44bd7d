// oracle_compare on one scenario recorded by a real oracle run
// (fixtures/kernel-guest/recorded/pipe_read: two pipe readers the kernel
// refused and lpsafe called blocked), as recorded and with lpsafe's side or
// the kernel's side changed: the comparator must pass the recording and catch
// every way lpsafe's report could be wrong, so the qemu test cannot pass by a
// comparator that looks at nothing. Runs without qemu or root.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "comparator_run.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using lpsafe::test::read_file;
using lpsafe::test::TempDir;
using lpsafe::test::write_file;

using lpsafe::test::edit_report_tasks;
using lpsafe::test::run_comparator;
using Outcome = lpsafe::test::ComparatorOutcome;

class OracleCompare : public ::testing::Test {
protected:
    // The recording to judge, copied to RESULTS/pipe_read (its scenario name).
    virtual std::string recording() const { return "pipe_read"; }

    void SetUp() override {
        const char* recorded = std::getenv("LPSAFE_ORACLE_RECORDED");
        ASSERT_NE(recorded, nullptr) << "LPSAFE_ORACLE_RECORDED is not set";
        fs::copy(fs::path(recorded) / recording(), dir() / "pipe_read", fs::copy_options::recursive);
        // scenario.txt holds the scenarios.txt line the guest ran.
        write_file(dir() / "scenarios.txt", read_file(dir() / "pipe_read/scenario.txt"));
        for (const std::string& line : lines("parked.txt")) parked_.insert(std::stoi(line.substr(line.find(' ') + 1)));
        ASSERT_EQ(parked_.size(), 2u);
    }

    fs::path dir() const { return tmp_.path(); }
    fs::path file(const std::string& name) const { return dir() / "pipe_read" / name; }

    std::vector<std::string> lines(const std::string& name) const {
        std::vector<std::string> out;
        std::istringstream in(read_file(file(name)));
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }

    // Rewrites lpsafe's report of the run before insmod.
    void edit_before(const std::function<void(nlohmann::json&)>& edit) { edit_report_tasks(file("before.json"), edit); }

    // Replaces the value of TID in a per-task file ("PID TID VALUE" lines).
    void set_task_value(const std::string& name, int tid, const std::string& value) {
        std::string out;
        for (const std::string& line : lines(name)) {
            std::istringstream in(line);
            int pid = 0, t = 0;
            in >> pid >> t;
            out += t == tid ? std::to_string(pid) + " " + std::to_string(t) + " " + value + "\n" : line + "\n";
        }
        write_file(file(name), out);
    }

    Outcome compare() const { return run_comparator("LPSAFE_ORACLE_COMPARE", dir()); }

    // The comparator named both parked pipe readers as false safes, and
    // counted them `when` ("before insmod", "during insmod").
    void expect_parked_false_safe(const Outcome& r, const std::string& when) const {
        for (int tid : parked_) {
            EXPECT_NE(r.out.find("FALSE-SAFE " + std::to_string(tid) + " pk-pipe: kernel: sleeping on function pipe_read"),
                      std::string::npos)
                << r.out;
        }
        EXPECT_NE(r.out.find("pipe_read: 2 FALSE-SAFE task(s) " + when), std::string::npos) << r.out;
    }

    std::set<int> parked_;

private:
    TempDir tmp_;
};

TEST_F(OracleCompare, PassesTheRecordedRun) {
    const Outcome r = compare();
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("oracle: PASS"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("    FALSE-SAFE "), std::string::npos) << r.out;  // no task listed as one
}

TEST_F(OracleCompare, ParkedTasksCalledSafeAreFalseSafe) {
    edit_before([&](nlohmann::json& tasks) {
        for (auto& t : tasks) {
            if (!parked_.contains(t["tid"].get<int>())) continue;
            t["verdict"] = "safe";
            t["blocked_by"] = nlohmann::json::array();
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    expect_parked_false_safe(r, "before insmod");
}

TEST_F(OracleCompare, ARefusedTaskLpsafeDoesNotListIsMissed) {
    const int gone = *parked_.begin();
    edit_before([&](nlohmann::json& tasks) {
        for (size_t i = 0; i < tasks.size(); ++i) {
            if (tasks[i]["tid"].get<int>() == gone) tasks.erase(i--);
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("MISSED " + std::to_string(gone) + " pk-pipe"), std::string::npos) << r.out;
}

TEST_F(OracleCompare, ATaskThatRanInBetweenIsNotCompared) {
    // One parked task "ran" after lpsafe read it (its schedstat changed), and
    // lpsafe's verdict on it is wrong: it is left out, not counted as a false
    // safe; the other parked task still shows the scenario worked.
    const int ran = *parked_.begin();
    set_task_value("schedstat.1", ran, "1 2 3");
    edit_before([&](nlohmann::json& tasks) {
        for (auto& t : tasks) {
            if (t["tid"].get<int>() == ran) t["verdict"] = "safe";
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("FALSE-SAFE " + std::to_string(ran)), std::string::npos) << r.out;
}

TEST_F(OracleCompare, AnLpsafeErrorFails) {
    write_file(file("during.rc"), "3\n");
    write_file(file("during.json"), "");
    write_file(file("during.err"), "lpsafe: error: something\n");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("pipe_read: lpsafe during insmod: exit 3 (lpsafe: error: something)"), std::string::npos)
        << r.out;
}

TEST_F(OracleCompare, ACrashFails) {
    write_file(file("before.rc"), "139\n");  // the guest shell's status for SIGSEGV
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("lpsafe before insmod: signal 11"), std::string::npos) << r.out;
}

TEST_F(OracleCompare, PatchStateDisagreeingWithTheKernelsMessagesFails) {
    set_task_value("patch_state.1", *parked_.begin(), "1");  // "switched", yet a refusal was printed
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("the kernel's messages and patch_state disagree"), std::string::npos) << r.out;
}

TEST_F(OracleCompare, AScenarioWhoseParkedTasksWereNotRefusedFails) {
    // Without the kernel's refusal lines the scenario measured nothing.
    std::string dmesg;
    for (const std::string& line : lines("dmesg.1")) {
        if (line.find("klp_try_switch_task") == std::string::npos) dmesg += line + "\n";
    }
    write_file(file("dmesg.1"), dmesg);
    for (int tid : parked_) set_task_value("patch_state.1", tid, "1");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("did not measure what it should (parked-refused)"), std::string::npos) << r.out;
}

TEST_F(OracleCompare, AScenarioWithoutResultsFails) {
    fs::remove_all(dir() / "pipe_read");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("pipe_read: no results from the guest"), std::string::npos) << r.out;
}

// The same scenario recorded with lpsafe at 42c6e54 (main 34b07ba merged):
// during the transition lpsafe took the loaded lpo_pipe_read itself for the
// patch below, judged its new function instead of the original pipe_read,
// and called both readers safe while the kernel kept refusing them. The
// comparator must report exactly those two, and only in that run.
class OracleCompareDuringFalseSafe : public OracleCompare {
protected:
    std::string recording() const override { return "pipe_read_during"; }
};

TEST_F(OracleCompareDuringFalseSafe, ReportsTheRealFalseSafeOfTheRunDuringTheTransition) {
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    expect_parked_false_safe(r, "during insmod");
    EXPECT_EQ(r.out.find("FALSE-SAFE task(s) before"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("FALSE-SAFE task(s) image"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("oracle: FAIL (1 problem(s), 2 false safe)"), std::string::npos) << r.out;
}

}  // namespace

// crash_compare on the real kdump recorded by an oracle run
// (fixtures/kernel-guest/recorded/kdump: the guest parked the do_nanosleep
// scenario's three sleepers, panicked through sysrq-c from its own shell,
// and its crash kernel wrote makedumpfile's ELF and LZO dumps, which lpsafe
// judged on the host), as recorded and with one side changed: the
// comparator must pass the recording and catch every way lpsafe's report of
// a dump could be wrong or missing, so the qemu test cannot pass by a
// comparator that looks at nothing. Runs without qemu or root.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
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

class CrashCompare : public ::testing::Test {
protected:
    void SetUp() override {
        const char* recorded = std::getenv("LPSAFE_ORACLE_RECORDED");
        ASSERT_NE(recorded, nullptr) << "LPSAFE_ORACLE_RECORDED is not set";
        fs::copy(fs::path(recorded) / "kdump", dir(), fs::copy_options::recursive);
        write_file(dir() / "scenarios.txt", read_file(dir() / "do_nanosleep/scenario.txt"));
        std::istringstream parked(read_file(dir() / "crash/parked.txt"));
        for (std::string line; std::getline(parked, line);) parked_.insert(std::stoi(line.substr(line.find(' ') + 1)));
        ASSERT_EQ(parked_.size(), 3u);
        crasher_ = std::stoi(read_file(dir() / "crash/crasher.txt"));
    }

    fs::path dir() const { return tmp_.path(); }

    // Rewrites lpsafe's report of one dump form ("elf", "lzo").
    void edit(const std::string& form, const std::function<void(nlohmann::json&)>& e) {
        edit_report_tasks(dir() / "crash" / (form + ".json"), e);
    }

    Outcome compare() const { return run_comparator("LPSAFE_CRASH_COMPARE", dir()); }

    std::set<int> parked_;
    int crasher_ = 0;

private:
    TempDir tmp_;
};

TEST_F(CrashCompare, PassesTheRecordedDumps) {
    const Outcome r = compare();
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("kdump: PASS"), std::string::npos) << r.out;
    // Both forms were judged, every parked task blocked in do_nanosleep.
    for (int tid : parked_) {
        EXPECT_NE(r.out.find("parked " + std::to_string(tid)), std::string::npos) << r.out;
    }
    EXPECT_NE(r.out.find("elf "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("lzo "), std::string::npos) << r.out;
}

TEST_F(CrashCompare, AParkedTaskCalledSafeFails) {
    const int tid = *parked_.begin();
    edit("lzo", [&](nlohmann::json& tasks) {
        for (auto& t : tasks) {
            if (t["tid"].get<int>() != tid) continue;
            t["verdict"] = "safe";
            t["blocked_by"] = nlohmann::json::array();
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL lzo: the kernel found"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("kdump: FAIL elf"), std::string::npos) << r.out;
}

TEST_F(CrashCompare, ABlockedWalkThatDoesNotStartInScheduleFails) {
    edit("elf", [&](nlohmann::json& tasks) {
        for (auto& t : tasks) {
            if (parked_.contains(t["tid"].get<int>())) t["frames"].erase(0);  // drop __schedule
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL elf: the kernel found"), std::string::npos) << r.out;
}

TEST_F(CrashCompare, TheCrashingTaskCalledSafeFails) {
    edit("elf", [&](nlohmann::json& tasks) {
        for (auto& t : tasks) {
            if (t["tid"].get<int>() == crasher_) t["verdict"] = "safe";
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL elf: the task that panicked the kernel is " + std::to_string(crasher_)),
              std::string::npos)
        << r.out;
}

TEST_F(CrashCompare, ATaskMissingFromTheReportFails) {
    edit("elf", [&](nlohmann::json& tasks) {
        for (size_t i = 0; i < tasks.size(); ++i) {
            if (tasks[i]["tid"].get<int>() == 1) tasks.erase(i--);  // init
        }
    });
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL elf: task 1 init (alive just before the panic) is not in lpsafe's report"),
              std::string::npos)
        << r.out;
}

TEST_F(CrashCompare, AMissingDumpFails) {
    write_file(dir() / "crash/makedumpfile-lzo.rc", "1\n");
    write_file(dir() / "crash/sizes.txt", "BUILD/oracle/crash/vmcore.elf 152512372\n");
    fs::remove(dir() / "crash/lzo.rc");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL lzo: makedumpfile exit 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL lzo: no dump file"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL lzo: lpsafe did not check the dump"), std::string::npos) << r.out;
}

TEST_F(CrashCompare, NoCrashRecordFails) {
    fs::remove_all(dir() / "crash");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("the guest sent no crash record"), std::string::npos) << r.out;
}

TEST_F(CrashCompare, AnLpsafeErrorFails) {
    write_file(dir() / "crash/elf.rc", "3\n");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("kdump: FAIL elf: lpsafe exit 3"), std::string::npos) << r.out;
}

TEST_F(CrashCompare, WithoutTheKernelsDecisionItFails) {
    fs::remove_all(dir() / "do_nanosleep");
    const Outcome r = compare();
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("no results of the do_nanosleep scenario"), std::string::npos) << r.out;
}

}  // namespace

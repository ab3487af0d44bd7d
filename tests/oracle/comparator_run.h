// What the comparator tests share: running a comparator (oracle_compare,
// crash_compare) on a copy of a recorded run, as run-oracle.sh does, and
// rewriting one of lpsafe's reports in that copy to see it caught.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace lpsafe::test {

struct ComparatorOutcome {
    int status = -1;   // the comparator's exit status; -1 when it did not exit
    std::string out;   // its stdout and stderr
};

// Runs the comparator named by the environment variable `exe_variable` on
// DIR/scenarios.txt and DIR.
ComparatorOutcome run_comparator(const char* exe_variable, const std::filesystem::path& dir);

// Rewrites the "tasks" array of the lpsafe JSON report at `report`.
void edit_report_tasks(const std::filesystem::path& report, const std::function<void(nlohmann::json&)>& edit);

}  // namespace lpsafe::test

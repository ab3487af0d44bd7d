#include "comparator_run.h"

#include <sys/wait.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "test_support.h"

namespace lpsafe::test {

ComparatorOutcome run_comparator(const char* exe_variable, const std::filesystem::path& dir) {
    const char* exe = std::getenv(exe_variable);
    EXPECT_NE(exe, nullptr) << exe_variable << " is not set";
    if (exe == nullptr) return {};
    const std::filesystem::path out = dir / "out.txt";
    const int status = std::system(
        (std::string(exe) + " " + (dir / "scenarios.txt").string() + " " + dir.string() + " >" + out.string() + " 2>&1")
            .c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out)};
}

void edit_report_tasks(const std::filesystem::path& report, const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(read_file(report));
    edit(j["tasks"]);
    write_file(report, j.dump(2));
}

}  // namespace lpsafe::test

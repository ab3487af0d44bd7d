#include "dbgsym_case.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "fixture_util.h"
#include "live_program.h"

namespace lpsafe::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

DbgsymCase make_case() {
    DbgsymCase c;
    const char* dir = std::getenv("LPSAFE_DBGSYM");
    if (dir == nullptr || *dir == '\0' || lpsafe_bin().empty()) {
        c.error = "run through meson test (LPSAFE_DBGSYM, LPSAFE_BIN)";
        return c;
    }
    c.fixtures = dir;
    const std::string work = c.dir("core");
    fs::remove_all(work);
    fs::create_directories(work);
    // Killed by its destructor at exit (and by its own alarm after 60 s).
    static LiveProgram program({c.dir("bin/dbgsym_prog"), work + "/roles"});
    if (!program.ok()) {
        c.error = "dbgsym_prog did not park: " + program.error();
        return c;
    }
    c.pid = program.pid();
    for (const auto& [tid, role] : program.roles()) c.tid_of[role] = tid;
    const std::string prefix = work + "/core";
    const CommandResult g = run_command("gcore -o " + prefix + " " + std::to_string(program.pid()));
    c.core = prefix + "." + std::to_string(program.pid());
    if (g.exit_status != 0 || !file_exists(c.core)) c.error = "gcore failed: " + g.err;
    return c;
}

}  // namespace

const DbgsymCase& dbgsym_case() {
    static const DbgsymCase c = make_case();
    return c;
}

JsonRun run_lpsafe(const std::string& args, const std::string& env) {
    const CommandResult r = run_command(env + (env.empty() ? "" : " ") + lpsafe_bin() + " " + args + " --json");
    JsonRun out;
    out.exit_status = r.exit_status;
    out.err = r.err;
    out.out = json::parse(r.out, nullptr, false);
    if (out.out.is_discarded()) out.out = nullptr;
    return out;
}

std::map<int, std::vector<std::string>> frame_names(const json& stack, const std::vector<std::string>& objects) {
    std::map<int, std::vector<std::string>> out;
    if (!stack.is_object() || !stack.contains("tasks")) return out;
    for (const json& t : stack["tasks"]) {
        auto& names = out[t["tid"].get<int>()];
        for (const json& f : t["frames"]) {
            const std::string object = f.value("object", "");
            for (const std::string& o : objects)
                if (object == o) names.push_back(object + ":" + f.value("function", ""));
        }
    }
    return out;
}

EuStackNames eu_stack_names(const std::string& core, const std::string& debuginfo_path, const std::string& env) {
    const EuStack eu = eu_stack("--core " + core + " --debuginfo-path=" + debuginfo_path, env);
    EXPECT_EQ(eu.exit_status, 0) << eu.err;
    EuStackNames out;
    for (const auto& [tid, frames] : eu.threads)
        for (const EuStackFrame& f : frames) out[tid][f.pc] = f.function;
    return out;
}

std::map<int, std::string> verdicts(const json& check) {
    std::map<int, std::string> out;
    if (!check.is_object() || !check.contains("tasks")) return out;
    for (const json& t : check["tasks"]) out[t["tid"].get<int>()] = t.value("verdict", "");
    return out;
}

TempDir::TempDir(const std::string& tag) {
    path_ = (fs::temp_directory_path() / ("lpsafe-" + tag + "-" + std::to_string(getpid()))).string();
    fs::remove_all(path_);
    fs::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

}  // namespace lpsafe::e2e

// The one core the debug-symbol tests read: fixtures/make-dbgsym.sh's
// stripped dbgsym_prog and libdbgsym.so, run live until every thread parks
// and taken with gcore; the process stays parked for the --pid tests and is
// killed when the test process exits. Made once per test process.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lpsafe::e2e {

struct DbgsymCase {
    std::string fixtures;  // $LPSAFE_DBGSYM: make-dbgsym.sh's OUTDIR
    std::string core;
    std::map<std::string, int> tid_of;  // role (exe, lib, main) -> tid
    int pid = -1;                       // the program, still running (killed at exit)
    std::string error;                  // why the case could not be made
    std::string dir(const std::string& sub) const { return fixtures + "/" + sub; }
};

// Skips nothing: a case that cannot be made has `error` set.
const DbgsymCase& dbgsym_case();

// `lpsafe ARGS --json` with `env` (VAR=value ...) in front; exit status,
// parsed output (null when not JSON) and standard error.
struct JsonRun {
    int exit_status = -1;
    nlohmann::json out;
    std::string err;
};
JsonRun run_lpsafe(const std::string& args, const std::string& env = "");

// The frame names per tid of a `stack --json` output, "object:function"
// (function empty when no symbol covers the pc), only frames in `objects`.
std::map<int, std::vector<std::string>> frame_names(const nlohmann::json& stack,
                                                    const std::vector<std::string>& objects);

// eu-stack's function name per tid and pc (empty when it has none) for
// `core`, looking for debug files under `debuginfo_path`, with `env`
// (VAR=value ...) in front (DEBUGINFOD_URLS for the debuginfod tests).
using EuStackNames = std::map<int, std::map<unsigned long long, std::string>>;
EuStackNames eu_stack_names(const std::string& core, const std::string& debuginfo_path, const std::string& env = "");

// Each thread's verdict in a `check --json` output, by tid.
std::map<int, std::string> verdicts(const nlohmann::json& check);

// A directory removed with everything in it at the end of the scope.
class TempDir {
public:
    explicit TempDir(const std::string& tag);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace lpsafe::e2e

// Helpers for end-to-end tests: fixture locations, roles, the hand-written
// expectations (fixtures/programs/parked.expect), running commands.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lpsafe::e2e {

std::string fixtures_dir();  // $LPSAFE_FIXTURES
std::string lpsafe_bin();    // $LPSAFE_BIN

// One core made by fixtures/make-cores.sh.
struct CoreCase {
    std::string variant;
    std::string kind;  // gcore | kernel
    std::string dir() const { return fixtures_dir() + "/" + variant; }
    std::string core() const { return dir() + "/core." + kind; }
    std::string exe() const { return dir() + "/parked"; }
    std::string roles() const { return dir() + (kind == "gcore" ? "/roles.txt" : "/roles.kernel.txt"); }
};
// Every core make-cores.sh writes (kernel cores may be missing: check).
std::vector<CoreCase> all_core_cases();

std::string read_file(const std::string& path);
bool file_exists(const std::string& path);

// roles.txt: "<tid> <role>" per line.
std::map<int, std::string> read_roles(const std::string& path);

struct Expectation {
    std::string syscall;
    std::vector<std::string> chain;  // the program's own functions, innermost first
};
// parked.expect: role lines only ('@' facts and comments skipped).
std::map<std::string, Expectation> read_expectations(const std::string& path);

struct CommandResult {
    int exit_status = -1;
    std::string out;
    std::string err;
};
CommandResult run_command(const std::string& command);

// What `ENV eu-stack ARGS` (ARGS: --core CORE ...) prints per thread: each
// frame's pc and function name (empty when it has none).
struct EuStackFrame {
    unsigned long long pc = 0;
    std::string function;
};
struct EuStack {
    int exit_status = -1;
    std::string err;
    std::map<int, std::vector<EuStackFrame>> threads;
};
EuStack eu_stack(const std::string& args, const std::string& env = "");

// eu-stack's frames: tid -> pcs, from `eu-stack --core CORE -e EXE`.
std::map<int, std::vector<unsigned long long>> eu_stack_pcs(const std::string& core, const std::string& exe);

}  // namespace lpsafe::e2e

#include "fixture_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace lpsafe::e2e {

std::string fixtures_dir() {
    const char* d = std::getenv("LPSAFE_FIXTURES");
    return d != nullptr ? d : "";
}

std::string lpsafe_bin() {
    const char* b = std::getenv("LPSAFE_BIN");
    return b != nullptr ? b : "";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<CoreCase> all_core_cases() {
    std::vector<CoreCase> cases;
    for (const char* v : {"fp", "nofp", "nog", "static", "nocfi", "debugframe"}) cases.push_back({v, "gcore"});
    // make-cores.sh asks the kernel for cores of these two variants only.
    for (const char* v : {"fp", "nofp"}) cases.push_back({v, "kernel"});
    return cases;
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

std::map<int, std::string> read_roles(const std::string& path) {
    std::map<int, std::string> roles;
    std::istringstream in(read_file(path));
    int tid = 0;
    std::string role;
    while (in >> tid >> role) roles[tid] = role;
    return roles;
}

std::map<std::string, Expectation> read_expectations(const std::string& path) {
    std::map<std::string, Expectation> out;
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line[0] == '@') continue;
        std::istringstream words(line);
        std::string role;
        Expectation e;
        if (!(words >> role >> e.syscall)) continue;
        std::string fn;
        while (words >> fn) e.chain.push_back(fn);
        out[role] = e;
    }
    return out;
}

CommandResult run_command(const std::string& command) {
    const auto dir = std::filesystem::temp_directory_path();
    const std::string out = (dir / ("lpsafe-e2e-out." + std::to_string(getpid()))).string();
    const std::string err = (dir / ("lpsafe-e2e-err." + std::to_string(getpid()))).string();
    const int status = std::system((command + " >" + out + " 2>" + err).c_str());
    CommandResult r;
    r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    std::filesystem::remove(out);
    std::filesystem::remove(err);
    return r;
}

EuStack eu_stack(const std::string& args, const std::string& env) {
    const CommandResult r = run_command(env + (env.empty() ? "" : " ") + "eu-stack " + args);
    EuStack out{r.exit_status, r.err, {}};
    std::istringstream in(r.out);
    std::string line;
    int tid = -1;
    const std::regex tid_re(R"(^TID (\d+):)");
    const std::regex frame_re(R"(^#\d+\s+0x([0-9a-f]+)\s*(\S*))");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, tid_re)) {
            tid = std::stoi(m[1]);
            out.threads[tid];
        } else if (tid >= 0 && std::regex_search(line, m, frame_re)) {
            out.threads[tid].push_back({std::stoull(m[1], nullptr, 16), m[2]});
        }
    }
    return out;
}

std::map<int, std::vector<unsigned long long>> eu_stack_pcs(const std::string& core, const std::string& exe) {
    std::map<int, std::vector<unsigned long long>> out;
    for (const auto& [tid, frames] : eu_stack("--core " + core + " -e " + exe).threads) {
        auto& pcs = out[tid];
        for (const EuStackFrame& f : frames) pcs.push_back(f.pc);
    }
    return out;
}

}  // namespace lpsafe::e2e

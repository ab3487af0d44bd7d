#include "oracle_inputs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace lpsafe::oracle {
namespace {

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back(line);
    }
    return out;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

int number_in(const std::optional<std::string>& text, int otherwise) {
    if (!text) return otherwise;
    try {
        return std::stoi(*text);
    } catch (...) {
        return otherwise;
    }
}

// guest-init.sh's per_task: "PID TID VALUE..." lines, keyed by tid.
std::map<int, std::string> per_task(const std::optional<std::string>& text) {
    std::map<int, std::string> out;
    if (!text) return out;
    for (const std::string& line : lines_of(*text)) {
        std::istringstream in(line);
        int pid = 0, tid = 0;
        if (!(in >> pid >> tid)) continue;
        std::string rest;
        std::getline(in, rest);
        out[tid] = trimmed(rest.empty() ? rest : rest.substr(1));
    }
    return out;
}

std::map<int, int> patch_states(const std::optional<std::string>& text) {
    std::map<int, int> out;
    for (const auto& [tid, value] : per_task(text)) {
        try {
            out[tid] = std::stoi(value);
        } catch (...) {
        }
    }
    return out;
}

// "klp_try_switch_task: COMM:PID is sleeping on function F" and the other
// pr_debug forms of klp_try_switch_task() (kernel/livepatch/transition.c, 6.1).
std::optional<std::pair<int, KernelRefusal>> parse_refusal(const std::string& line) {
    static const std::string tag = "klp_try_switch_task: ";
    const auto at = line.find(tag);
    if (at == std::string::npos) return std::nullopt;
    std::string rest = line.substr(at + tag.size());
    KernelRefusal r;
    std::string who;
    struct Form {
        const char* text;
        const char* reason;
    };
    for (const Form& f : {Form{" is sleeping on function ", "sleeping"},
                          Form{" has an unreliable stack", "unreliable stack"}, Form{" is running", "running"}}) {
        const auto p = rest.find(f.text);
        if (p == std::string::npos) continue;
        who = rest.substr(0, p);
        r.reason = f.reason;
        if (r.reason == "sleeping") r.function = trimmed(rest.substr(p + std::string(f.text).size()));
        break;
    }
    if (r.reason.empty()) {  // "Unknown error code (%d) when trying to switch %s:%d"
        static const std::string unknown = "when trying to switch ";
        const auto p = rest.find(unknown);
        if (p == std::string::npos) return std::nullopt;
        who = trimmed(rest.substr(p + unknown.size()));
        r.reason = "error";
    }
    const auto colon = who.rfind(':');  // comm may hold ':' (kworker/0:1)
    if (colon == std::string::npos) return std::nullopt;
    r.comm = who.substr(0, colon);
    try {
        return std::pair{std::stoi(who.substr(colon + 1)), r};
    } catch (...) {
        return std::nullopt;
    }
}

// The lines between the two markers guest-init.sh writes to /dev/kmsg around
// the action: klp_enable_patch() (insmod) and __klp_disable_patch() (the write
// to "enabled") run the first klp_try_complete_transition() before they
// return, and the next round is scheduled a second later, so these are the
// kernel's first decisions. A tid seen twice (a second round, if the action
// was that slow) keeps its first decision.
void read_first_round(const std::optional<std::string>& dmesg, ScenarioRecord& s) {
    if (!dmesg) return;
    const std::string start = "lpsafe-oracle: start " + s.spec.name;
    const std::string stop = "lpsafe-oracle: returned " + s.spec.name;
    bool inside = false;
    for (const std::string& line : lines_of(*dmesg)) {
        if (line.ends_with(stop)) {
            s.first_round_found = inside;
            return;
        }
        if (line.ends_with(start)) {
            inside = true;
            continue;
        }
        if (!inside) continue;
        auto r = parse_refusal(line);
        if (!r) continue;
        if (r->first == 0) s.idle_refused.emplace(r->second.comm, r->second);
        else s.refused.emplace(r->first, r->second);
    }
}

LpsafeTask task_from(const nlohmann::json& t) {
    LpsafeTask task;
    task.pid = t.value("pid", 0);
    task.tid = t.value("tid", 0);
    task.comm = t.value("comm", "");
    task.verdict = t.value("verdict", "");
    task.reason = t.value("reason", "");
    if (t.contains("forecast")) task.forecast = t["forecast"].value("kind", "");
    for (const auto& b : t.value("blocked_by", nlohmann::json::array()))
        task.blocked_by.push_back(b.value("function", ""));
    for (const auto& f : t.value("failed_checks", nlohmann::json::array())) {
        task.findings.push_back(f.value("check", "") + ": " + f.value("detail", ""));
    }
    for (const auto& f : t.value("frames", nlohmann::json::array())) {
        const std::string fn = f.value("function", "");
        task.frames.push_back(fn.empty() ? f.value("pc", "?") : fn + "+" + std::to_string(f.value("offset", 0)));
    }
    return task;
}

LpsafeRun read_run(const std::string& dir, const std::string& tag) {
    LpsafeRun run;
    const auto status = slurp(dir + "/" + tag + ".rc");
    run.present = status.has_value();
    run.exit_status = number_in(status, -1);
    run.error = trimmed(slurp(dir + "/" + tag + ".err").value_or(""));
    run.seconds = trimmed(slurp(dir + "/" + tag + ".seconds").value_or(""));
    const auto text = slurp(dir + "/" + tag + ".json");
    if (!text || text->empty()) {
        run.json_error = "no JSON output";
        return run;
    }
    try {
        const auto j = nlohmann::json::parse(*text);
        for (const auto& t : j.at("tasks")) {
            LpsafeTask task = task_from(t);
            if (task.pid == 0 && task.tid == 0) run.idle[task.comm] = std::move(task);
            else run.tasks[task.tid] = std::move(task);
        }
    } catch (const std::exception& e) {
        run.json_error = std::string("bad JSON: ") + e.what();
    }
    return run;
}

}  // namespace

std::vector<ScenarioSpec> read_scenarios(const std::string& path) {
    std::vector<ScenarioSpec> out;
    for (const std::string& line : lines_of(slurp(path).value_or(""))) {
        std::istringstream in(line);
        ScenarioSpec s;
        if (!(in >> s.name) || s.name.starts_with("#")) continue;
        in >> s.action >> s.patch >> s.parkers >> s.expect >> s.end;
        out.push_back(s);
    }
    return out;
}

ScenarioRecord read_scenario(const std::string& results_dir, const ScenarioSpec& spec) {
    ScenarioRecord s;
    s.spec = spec;
    const std::string dir = results_dir + "/" + spec.name;
    s.present = std::filesystem::exists(dir + "/end.txt");
    if (!std::filesystem::exists(dir)) return s;
    s.action_status = number_in(slurp(dir + "/act.rc"), -1);
    s.action_output = trimmed(slurp(dir + "/act.out").value_or(""));
    read_first_round(slurp(dir + "/dmesg.1"), s);
    s.transition_after_action = trimmed(slurp(dir + "/transition.1").value_or(""));
    for (int i = 0; i < 3; ++i) s.schedstat[i] = per_task(slurp(dir + "/schedstat." + std::to_string(i)));
    for (int i = 0; i < 2; ++i) s.patch_state[i] = patch_states(slurp(dir + "/patch_state." + std::to_string(i + 1)));
    for (const auto& [tid, comm] : per_task(slurp(dir + "/parked.txt"))) s.parked[tid] = comm;
    s.before = read_run(dir, "before");
    s.image = read_run(dir, "image");
    s.memory = read_run(dir, "memory");
    s.vmcore = read_run(dir, "vmcore");
    s.dump = read_run(dir, "dump");
    s.physdump = read_run(dir, "physdump");
    s.kdump = read_run(dir, "kdump");
    s.during = read_run(dir, "during");
    s.end = trimmed(slurp(dir + "/end.txt").value_or(""));
    return s;
}

CrashRecord read_crash(const std::string& results_dir, const std::vector<std::string>& forms) {
    CrashRecord c;
    const std::string dir = results_dir + "/crash";
    c.present = std::filesystem::exists(dir + "/tasks.txt");
    c.kexec_status = number_in(slurp(dir + "/kexec.rc"), -1);
    c.kexec_error = trimmed(slurp(dir + "/kexec.err").value_or(""));
    c.crasher_pid = number_in(slurp(dir + "/crasher.txt"), 0);
    c.parked = per_task(slurp(dir + "/parked.txt"));
    c.tasks = per_task(slurp(dir + "/tasks.txt"));
    c.parkers = trimmed(slurp(dir + "/parkers.txt").value_or(""));
    c.unflatten_error = trimmed(slurp(dir + "/unflatten.err").value_or(""));
    // sizes.txt: "PATH/vmcore.FORM BYTES" per rebuilt file.
    std::map<std::string, long long> sizes;
    for (const std::string& line : lines_of(slurp(dir + "/sizes.txt").value_or(""))) {
        std::istringstream in(line);
        std::string path;
        long long bytes = 0;
        if (in >> path >> bytes) sizes[path.substr(path.rfind('.') + 1)] = bytes;
    }
    for (const std::string& form : forms) {
        CrashRecord::Form f;
        f.makedumpfile_status = number_in(slurp(dir + "/makedumpfile-" + form + ".rc"), -1);
        f.makedumpfile_seconds = trimmed(slurp(dir + "/makedumpfile-" + form + ".seconds").value_or(""));
        f.makedumpfile_log = trimmed(slurp(dir + "/makedumpfile-" + form + ".log").value_or(""));
        f.bytes = sizes.contains(form) ? sizes[form] : 0;
        f.check = read_run(dir, form);
        c.forms[form] = std::move(f);
    }
    return c;
}

int read_guest_cpus(const std::string& results_dir) {
    return number_in(slurp(results_dir + "/system/cpus.txt"), 0);
}

}  // namespace lpsafe::oracle

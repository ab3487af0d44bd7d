// crash_compare SCENARIOS.txt RESULTS_DIR
//
// Judges lpsafe's checks of the oracle guest's real kdump (fixtures/
// kernel-guest: guest-init.sh parks the do_nanosleep scenario's tasks again,
// loads a crash kernel and panics through sysrq-c; crash-init.sh writes
// /proc/vmcore with makedumpfile in its ELF and compressed (LZO) forms;
// run-oracle.sh runs `lpsafe check --kernel --func vmlinux:do_nanosleep
// --vmcore FILE` on each). Exits 1 unless, for every form:
//
//   - the dump exists and lpsafe judged it (exit 0, 1, 2 or 4, JSON read);
//   - every thread the guest listed just before the panic is in the report
//     with a verdict (safe, blocked, unreliable, running); only a kworker
//     may have gone in between (idle workers exit on their own);
//   - every parked task has the kernel's own decision from the do_nanosleep
//     scenario (a parked task of the same name there): refused as "sleeping
//     on function F" -> blocked, F among what blocks it and among its frames,
//     its walk starting in __schedule (the literal top rule); switched ->
//     safe;
//   - the task that panicked the kernel (running on its CPU when it died)
//     is running or unreliable, never safe nor blocked.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "oracle_inputs.h"

namespace lpsafe::oracle {
namespace {

const std::vector<std::string> kForms = {"elf", "lzo"};
const char* const kReferenceScenario = "do_nanosleep";

bool judged(const std::string& verdict) {
    return verdict == "safe" || verdict == "blocked" || verdict == "unreliable" || verdict == "running";
}

bool has(const std::vector<std::string>& items, const std::string& want) {
    for (const std::string& i : items)
        if (i == want) return true;
    return false;
}

bool has_frame(const std::vector<std::string>& frames, const std::string& function) {
    for (const std::string& f : frames)
        if (f.starts_with(function + "+")) return true;
    return false;
}

std::string frames_text(const std::vector<std::string>& frames) {
    std::string out;
    for (size_t i = 0; i < frames.size() && i < 8; ++i) out += (i ? " < " : "") + frames[i];
    return out;
}

// The kernel's first decision on a parked task named COMM in the reference
// scenario (known: it parked one): switched, or refused, sleeping on
// `function` ("?" for a refusal of another kind).
struct Expectation {
    bool known = false;
    bool refused = false;
    std::string function;  // for "sleeping on function F"
};

Expectation expectation_for(const ScenarioRecord& ref, const std::string& comm) {
    Expectation e;
    for (const auto& [tid, parked_comm] : ref.parked) {
        if (parked_comm != comm || !ref.patch_state[0].contains(tid)) continue;
        e.known = true;
        const auto r = ref.refused.find(tid);
        if (r == ref.refused.end()) return e;
        e.refused = true;
        e.function = r->second.reason == "sleeping" ? r->second.function : "?";
        return e;
    }
    return e;
}

int compare(const std::string& scenarios_path, const std::string& results) {
    std::vector<std::string> failures;
    const CrashRecord crash = read_crash(results, kForms);
    ScenarioRecord ref;
    for (const ScenarioSpec& spec : read_scenarios(scenarios_path)) {
        if (spec.name == kReferenceScenario) ref = read_scenario(results, spec);
    }
    std::printf("\nthe real kdump: sysrq-c, crash kernel, makedumpfile -d 31; lpsafe check --vmcore on the host\n");
    if (!ref.present) failures.push_back(fmt::format("no results of the {} scenario to compare with", kReferenceScenario));
    if (!crash.present) failures.push_back("the guest sent no crash record (crash_dump in guest-init.sh did not run)");
    else if (crash.kexec_status != 0)
        failures.push_back(fmt::format("lpo-kexec could not load the crash kernel (exit {}): {}", crash.kexec_status,
                                       crash.kexec_error));
    if (crash.present && crash.parked.empty()) failures.push_back("no task was parked for the crash dump");
    if (crash.present && crash.crasher_pid == 0) failures.push_back("the crasher's pid is unknown");
    if (!crash.unflatten_error.empty()) failures.push_back("rebuilding the dumps failed: " + crash.unflatten_error);

    std::printf("%-5s %12s %8s %-9s %6s %6s %7s %10s %7s %7s  %s\n", "form", "bytes", "written", "lpsafe", "tasks",
                "safe", "blocked", "unreliable", "running", "time", "crasher");
    for (const std::string& form : kForms) {
        const CrashRecord::Form& f = crash.forms.at(form);
        if (f.makedumpfile_status != 0) {
            failures.push_back(fmt::format("{}: makedumpfile exit {} in the crash kernel: {}", form,
                                           f.makedumpfile_status, f.makedumpfile_log.substr(0, 300)));
        }
        if (f.bytes == 0) failures.push_back(fmt::format("{}: no dump file", form));
        const LpsafeRun& run = f.check;
        if (!run.present) {
            failures.push_back(fmt::format("{}: lpsafe did not check the dump", form));
            continue;
        }
        const bool status_ok = run.exit_status == 0 || run.exit_status == 1 || run.exit_status == 2 ||
                               run.exit_status == 4;
        if (!status_ok || !run.json_error.empty()) {
            failures.push_back(fmt::format("{}: lpsafe exit {}{}: {}", form, run.exit_status,
                                           run.json_error.empty() ? "" : " (" + run.json_error + ")",
                                           run.error.substr(0, 300)));
            continue;
        }
        int counts[4] = {};  // safe, blocked, unreliable, running
        std::vector<std::string> notes;
        for (const auto& [tid, t] : run.tasks) {
            if (!judged(t.verdict)) {
                failures.push_back(fmt::format("{}: task {} {} has no verdict ({}: {})", form, tid, t.comm, t.verdict,
                                               t.reason));
                continue;
            }
            ++counts[t.verdict == "safe" ? 0 : t.verdict == "blocked" ? 1 : t.verdict == "unreliable" ? 2 : 3];
        }
        for (const auto& [comm, t] : run.idle) {
            if (judged(t.verdict)) ++counts[t.verdict == "safe" ? 0 : t.verdict == "blocked" ? 1 : t.verdict == "unreliable" ? 2 : 3];
            notes.push_back(fmt::format("idle {}: {}", comm, t.verdict));
        }
        // Every thread of the guest just before the panic.
        for (const auto& [tid, comm] : crash.tasks) {
            if (run.tasks.contains(tid)) continue;
            if (comm.starts_with("kworker")) {
                notes.push_back(fmt::format("gone before the panic: {} {}", tid, comm));
                continue;
            }
            failures.push_back(fmt::format("{}: task {} {} (alive just before the panic) is not in lpsafe's report",
                                           form, tid, comm));
        }
        // The parked tasks, against the kernel's decision in the reference scenario.
        for (const auto& [tid, comm] : crash.parked) {
            const auto it = run.tasks.find(tid);
            if (it == run.tasks.end()) continue;  // reported above
            const LpsafeTask& t = it->second;
            const Expectation e = expectation_for(ref, comm);
            const std::string seen = fmt::format("{} {}: {}{} [{}]", tid, comm, t.verdict,
                                                 t.blocked_by.empty() ? "" : " by " + t.blocked_by.front(),
                                                 frames_text(t.frames));
            notes.push_back("parked " + seen);
            if (!e.known) {
                failures.push_back(fmt::format("{}: no decision of the kernel on a parked {} in {}", form, comm,
                                               kReferenceScenario));
            } else if (!e.refused) {
                if (t.verdict != "safe")
                    failures.push_back(fmt::format("{}: the kernel switched {}, lpsafe: {}", form, comm, seen));
            } else if (t.verdict != "blocked" || !has(t.blocked_by, e.function) || !has_frame(t.frames, e.function) ||
                       t.frames.empty() || !t.frames.front().starts_with("__schedule+")) {
                failures.push_back(fmt::format("{}: the kernel found {} sleeping on {}, lpsafe: {}", form, comm,
                                               e.function, seen));
            }
        }
        // The task that panicked the kernel.
        std::string crasher = "not listed";
        if (const auto it = run.tasks.find(crash.crasher_pid); it != run.tasks.end()) {
            crasher = fmt::format("{} {}: {}{}", it->first, it->second.comm, it->second.verdict,
                                  it->second.reason.empty() ? "" : " (" + it->second.reason + ")");
            if (it->second.verdict != "running" && it->second.verdict != "unreliable")
                failures.push_back(fmt::format("{}: the task that panicked the kernel is {}", form, crasher));
        } else {
            failures.push_back(fmt::format("{}: the task that panicked the kernel ({}) is not listed", form,
                                           crash.crasher_pid));
        }
        std::printf("%-5s %12lld %7ss exit %-4d %6zu %6d %7d %10d %7d %6ss  %s\n", form.c_str(), f.bytes,
                    f.makedumpfile_seconds.empty() ? "?" : f.makedumpfile_seconds.c_str(), run.exit_status,
                    run.tasks.size() + run.idle.size(), counts[0], counts[1], counts[2], counts[3],
                    run.seconds.empty() ? "?" : run.seconds.c_str(), crasher.c_str());
        for (const std::string& n : notes) std::printf("    %s\n", n.c_str());
    }
    if (failures.empty()) {
        std::printf("kdump: PASS (%zu forms, every task judged, the parked tasks as the kernel decided)\n",
                    kForms.size());
        return 0;
    }
    for (const std::string& f : failures) std::printf("kdump: FAIL %s\n", f.c_str());
    return 1;
}

}  // namespace
}  // namespace lpsafe::oracle

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: crash_compare SCENARIOS.txt RESULTS_DIR\n");
        return 2;
    }
    return lpsafe::oracle::compare(argv[1], argv[2]);
}

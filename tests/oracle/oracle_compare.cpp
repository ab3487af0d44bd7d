// oracle_compare SCENARIOS.txt RESULTS_DIR
//
// Compares lpsafe's per-task verdicts with the decisions of a real kernel
// (fixtures/kernel-guest/run-oracle.sh boots Debian's kernel under qemu and
// records both; oracle_inputs.h says what). For every scenario and every
// lpsafe run (before the action, insmod or disable; before it with
// --vmlinux, "image"; with the image from kernel memory, /proc/kcore walked
// with ORC, "memory"; the same memory read as a dump, kallsyms and KASLR
// from its VMCOREINFO, "vmcore"; a QEMU dump-guest-memory dump judged on the
// host, "dump" (some scenarios); and during the transition it starts) it prints a row:
//
//   both-safe     lpsafe safe, the kernel switched the task
//   both-refused  lpsafe blocked/unreliable/other, the kernel refused it
//   conservative  lpsafe blocked/unreliable/other, the kernel switched it
//   FALSE-SAFE    lpsafe safe, the kernel refused it: a wrong promise
//   (MISSED       the kernel refused a task lpsafe does not list: fails too)
//
// The kernel's decision is its first one (taken inside the action). A task is
// only compared when it did not run between lpsafe's reading of its stack and
// that decision (its schedstat is unchanged), as a task that ran may have
// moved, or switched on its way back to user space. Exits 1 on any false
// safe, on an lpsafe run that failed (exit 3, a crash) and when a scenario did
// not measure what it is meant to (its parked tasks were not refused, ...).
#include <algorithm>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "oracle_inputs.h"

namespace lpsafe::oracle {
namespace {

struct Row {
    int compared = 0, both_safe = 0, false_safe = 0;
    int refused[3] = {};       // lpsafe blocked / unreliable / other
    int conservative[3] = {};  // the same, kernel switched
    int ran = 0, own = 0, gone = 0;
    int inconsistent = 0;  // kernel message and patch_state disagree
    int missed = 0;        // refused by the kernel, not listed by lpsafe
    // The kernel found the task sleeping on a patched function, lpsafe did
    // not call it blocked (only a failure in the run with the image).
    int unblocked_sleeping = 0;
    std::vector<std::string> false_safe_notes, conservative_notes, other_notes;
    std::vector<std::string> ran_names;  // not compared: ran in between
};

int kind_index(const std::string& verdict) {
    if (verdict == "blocked") return 0;
    if (verdict == "unreliable") return 1;
    return 2;
}

// Did the task stay off the CPU from the first schedstat reading to reading N?
bool stayed_asleep(const ScenarioRecord& s, int tid, int last) {
    const auto first = s.schedstat[0].find(tid);
    if (first == s.schedstat[0].end()) return false;
    for (int i = 1; i <= last; ++i) {
        const auto it = s.schedstat[i].find(tid);
        if (it == s.schedstat[i].end() || it->second != first->second) return false;
    }
    return true;
}

std::string joined(const std::vector<std::string>& items, size_t max, const char* sep) {
    std::string out;
    for (size_t i = 0; i < items.size() && i < max; ++i) out += (i ? sep : "") + items[i];
    if (items.size() > max) out += sep + std::string("...");
    return out;
}

std::string kernel_said(const KernelRefusal& r) {
    return r.reason == "sleeping" ? "sleeping on function " + r.function : r.reason;
}

std::string lpsafe_said(const LpsafeTask& t) {
    std::string out = t.verdict;
    if (!t.blocked_by.empty()) out += " by " + joined(t.blocked_by, 3, ",");
    if (!t.findings.empty()) out += " (" + t.findings.front() + ")";
    if (!t.reason.empty()) out += " (" + t.reason + ")";
    return out;
}

// One lpsafe run against the kernel's first decision. LAST is the schedstat
// reading that closes the window: 1 (after the action) for the runs before it,
// 2 (after the run) for the run during the transition.
Row judge(const ScenarioRecord& s, const LpsafeRun& run, int last) {
    Row row;
    for (const auto& [tid, t] : run.tasks) {
        if (t.verdict == "running" && t.reason.starts_with("lpsafe's own")) {
            ++row.own;
            continue;
        }
        const auto state = s.patch_state[0].find(tid);
        if (t.verdict == "gone" || state == s.patch_state[0].end()) {
            ++row.gone;
            continue;
        }
        if (!stayed_asleep(s, tid, last)) {
            ++row.ran;
            row.ran_names.push_back(t.comm);
            continue;
        }
        ++row.compared;
        const auto refusal = s.refused.find(tid);
        const bool refused = refusal != s.refused.end();
        // A refused task keeps its old state (0, unpatched, when patching; 1
        // when unpatching); a switched one has the target state, or -1 once
        // the whole transition is over (kernel/livepatch/transition.c).
        const int old_state = s.spec.action == "disable" ? 1 : 0;
        if (refused != (state->second == old_state)) {
            ++row.inconsistent;
            row.other_notes.push_back(fmt::format("oracle inconsistent: {} {} {} but patch_state {}", tid, t.comm,
                                                  refused ? "refused" : "not refused", state->second));
        }
        const std::string who = fmt::format("{} {}", tid, t.comm);
        if (t.verdict == "safe") {
            if (!refused) {
                ++row.both_safe;
            } else {
                ++row.false_safe;
                row.false_safe_notes.push_back(fmt::format("FALSE-SAFE {}: kernel: {}; lpsafe frames: {}", who,
                                                           kernel_said(refusal->second), joined(t.frames, 8, " < ")));
            }
            continue;
        }
        if (refused) {
            ++row.refused[kind_index(t.verdict)];
            const KernelRefusal& r = refusal->second;
            if (r.reason == "sleeping" && t.verdict != "blocked") {
                ++row.unblocked_sleeping;
                row.other_notes.push_back(fmt::format("not blocked {}: kernel: {}; lpsafe: {}", who, kernel_said(r),
                                                      lpsafe_said(t)));
            }
            // Informational: the kernel prints the patched function's
            // old_name even when the range it matched is a previous patch's
            // new function (prev->new_func), which lpsafe names instead.
            if (t.verdict == "blocked" && r.reason == "sleeping" &&
                std::find(t.blocked_by.begin(), t.blocked_by.end(), r.function) == t.blocked_by.end()) {
                row.other_notes.push_back(
                    fmt::format("named differently {}: kernel: {}; lpsafe: {}", who, kernel_said(r), lpsafe_said(t)));
            }
        } else {
            ++row.conservative[kind_index(t.verdict)];
            row.conservative_notes.push_back(fmt::format("conservative {}: lpsafe {}", who, lpsafe_said(t)));
        }
    }
    // A task lpsafe does not list at all is a silent promise: its exit status
    // says nothing of it. Every task the kernel refused that was there (and
    // asleep) all along must be in lpsafe's report.
    for (const auto& [tid, r] : s.refused) {
        if (run.tasks.contains(tid) || !stayed_asleep(s, tid, last)) continue;
        ++row.missed;
        row.false_safe_notes.push_back(
            fmt::format("MISSED {} {}: kernel: {}; lpsafe does not list it", tid, r.comm, kernel_said(r)));
    }
    return row;
}

// The forecast against what the kernel then did: a transition that had to
// be forced was held by tasks lpsafe must call `never`; one that completed
// by itself had none (docs/verdict-rules.md, "Forecast").
std::string forecast_failure(const ScenarioRecord& s, const LpsafeRun& run) {
    int blocked = 0, never = 0;
    for (const auto& [tid, t] : run.tasks) {
        if (t.verdict != "blocked") continue;
        ++blocked;
        never += t.forecast == "never" ? 1 : 0;
    }
    if (s.end.starts_with("forced") && blocked > 0 && never == 0) {
        return "the transition had to be forced, but lpsafe forecast no task that never switches";
    }
    if (s.end.starts_with("completed") && never > 0) {
        return fmt::format("the transition completed by itself, but lpsafe forecast {} task(s) that never switch", never);
    }
    return {};
}

// Did the scenario measure what it is meant to (scenarios.txt, EXPECT)?
std::string expectation_failure(const ScenarioRecord& s) {
    const std::string& expect = s.spec.expect;
    if (expect == "kworker-refused") {
        for (const auto& [tid, r] : s.refused) {
            if (r.comm.starts_with("kworker")) return {};
        }
        return "the kernel refused no kworker";
    }
    int compared = 0;
    for (const auto& [tid, comm] : s.parked) {
        if (!stayed_asleep(s, tid, 1) || !s.patch_state[0].contains(tid)) continue;
        ++compared;
        const bool refused = s.refused.contains(tid);
        if (expect == "parked-refused" && !refused)
            return fmt::format("the kernel switched parked task {} {}", tid, comm);
        if (expect == "parked-switched" && refused)
            return fmt::format("the kernel refused parked task {} {}", tid, comm);
    }
    if (compared == 0) return "no parked task stayed asleep to be compared";
    return {};
}

// Idle tasks (runs from kernel memory only): one per online CPU, and the
// one off its CPU (the reading CPU's, in the guest) judged reliable — no
// scenario patches the idle path, so an unreliable or blocked idle task is
// a wrong bottom or top rule. The kernel's refusals of idle tasks are
// printed, not compared: an idle task has no schedstat to prove it stayed
// off its CPU. Adds to `judged` the idle tasks whose stacks were judged.
std::string idle_failure(const ScenarioRecord& s, const LpsafeRun& run, int cpus, int& judged) {
    std::string line;
    std::string failure;
    for (const auto& [comm, t] : run.idle) {
        line += fmt::format(" {} {}{};", comm, t.verdict, t.frames.empty() ? "" : " (" + joined(t.frames, 3, " < ") + ")");
        if (t.verdict == "safe") ++judged;
        if (t.verdict != "safe" && t.verdict != "running" && failure.empty())
            failure = fmt::format("idle task {} judged {}", comm, lpsafe_said(t));
    }
    for (const auto& [comm, r] : s.idle_refused) line += fmt::format(" kernel: {} {};", comm, kernel_said(r));
    std::printf("    idle tasks:%s\n", line.c_str());
    if (!failure.empty()) return failure;
    if (cpus > 0 && run.idle.size() != static_cast<size_t>(cpus))
        return fmt::format("{} idle task(s) listed for {} online CPUs", run.idle.size(), cpus);
    return {};
}

std::string status_text(const LpsafeRun& run) {
    return run.exit_status > 128 ? fmt::format("signal {}", run.exit_status - 128)
                                 : fmt::format("exit {}", run.exit_status);
}

bool status_ok(const LpsafeRun& run) {
    return run.exit_status == 0 || run.exit_status == 1 || run.exit_status == 2 || run.exit_status == 4;
}

void print_row(const ScenarioRecord& s, const char* tag, const LpsafeRun& run, const Row& r) {
    std::printf(
        "%s\n",
        fmt::format("{:<14} {:<8} {:<9} {:>8} {:>9} {:>3} ({}/{}/{}) {:>3} ({}/{}/{}) {:>10}   {:<11} {:>6}", s.spec.name,
                    tag, status_text(run), r.compared, r.both_safe, r.refused[0] + r.refused[1] + r.refused[2],
                    r.refused[0], r.refused[1], r.refused[2], r.conservative[0] + r.conservative[1] + r.conservative[2],
                    r.conservative[0], r.conservative[1], r.conservative[2], r.false_safe,
                    fmt::format("{}/{}/{}", r.ran, r.own, r.gone), run.seconds.empty() ? "-" : run.seconds + "s")
            .c_str());
}

void print_notes(const Row& r) {
    const auto print = [](const std::vector<std::string>& notes, size_t max) {
        for (size_t i = 0; i < notes.size() && i < max; ++i) std::printf("    %s\n", notes[i].c_str());
        if (notes.size() > max) std::printf("    ... and %zu more\n", notes.size() - max);
    };
    print(r.false_safe_notes, 50);
    print(r.other_notes, 10);
    print(r.conservative_notes, 6);
    if (!r.ran_names.empty()) std::printf("    ran in between: %s\n", joined(r.ran_names, 12, ", ").c_str());
}

int compare(const std::string& scenarios_path, const std::string& results) {
    const auto specs = read_scenarios(scenarios_path);
    if (specs.empty()) {
        std::fprintf(stderr, "oracle_compare: no scenarios in %s\n", scenarios_path.c_str());
        return 1;
    }
    std::vector<std::string> failures;
    int false_safe_total = 0;
    const int cpus = read_guest_cpus(results);
    int idle_judged = 0, memory_runs = 0;
    std::printf(
        "lpsafe against the kernel's first decision, per task (not compared: tasks that ran in between,\n"
        "lpsafe's own, gone). Columns in parentheses: lpsafe blocked/unreliable/other. time: the run's\n"
        "wall time in the guest (TCG, two CPUs).\n\n");
    std::printf("%-14s %-8s %-9s %8s %9s %-13s %-13s %10s   %-11s %6s\n", "scenario", "run", "lpsafe", "compared",
                "both-safe", "both-refused", "conservative", "FALSE-SAFE", "ran/own/gone", "time");
    for (const ScenarioSpec& spec : specs) {
        const ScenarioRecord s = read_scenario(results, spec);
        if (!s.present) {
            failures.push_back(spec.name + ": no results from the guest");
            continue;
        }
        if (s.action_status != 0) {
            failures.push_back(fmt::format("{}: {} {} failed ({}): {}", spec.name, spec.action, spec.patch,
                                           s.action_status, s.action_output));
            continue;
        }
        if (!s.first_round_found)
            failures.push_back(spec.name + ": the markers around " + spec.action + " are missing from dmesg");
        for (const auto& [tag, run, last] : {std::tuple{"before", &s.before, 1}, std::tuple{"image", &s.image, 1},
                                             std::tuple{"memory", &s.memory, 1}, std::tuple{"vmcore", &s.vmcore, 1},
                                             std::tuple{"dump", &s.dump, 1}, std::tuple{"physdump", &s.physdump, 1},
                                             std::tuple{"kdump", &s.kdump, 1},
                                             std::tuple{"during", &s.during, 2}}) {
            const bool with_image = std::string(tag) != "before" && std::string(tag) != "during";
            const bool from_memory = with_image && std::string(tag) != "image";
            if (!run->present && with_image) continue;  // the guest had no vmlinux
            if (!status_ok(*run)) {
                std::printf("%-14s %-8s %-9s   lpsafe failed: %s\n", spec.name.c_str(), tag, status_text(*run).c_str(),
                            run->error.substr(0, 160).c_str());
                failures.push_back(fmt::format("{}: lpsafe {} {}: {} ({})", spec.name, tag, spec.action,
                                               status_text(*run), run->error.substr(0, 160)));
                continue;
            }
            if (!run->json_error.empty()) {
                failures.push_back(fmt::format("{}: lpsafe {} {}: {}", spec.name, tag, spec.action, run->json_error));
                continue;
            }
            const Row r = judge(s, *run, last);
            print_row(s, tag, *run, r);
            print_notes(r);
            if (from_memory) {
                ++memory_runs;
                if (const std::string why = idle_failure(s, *run, cpus, idle_judged); !why.empty())
                    failures.push_back(fmt::format("{}: {}: {}", spec.name, tag, why));
            }
            false_safe_total += r.false_safe;
            if (r.false_safe) {
                failures.push_back(
                    fmt::format("{}: {} FALSE-SAFE task(s) {} {}", spec.name, r.false_safe, tag, spec.action));
            }
            if (r.missed) {
                failures.push_back(
                    fmt::format("{}: {} task(s) refused by the kernel missing from lpsafe's report {} {}", spec.name,
                                r.missed, tag, spec.action));
            }
            // With the image lpsafe sees what /proc hides (inferred scheduler
            // frames) and checks every return address: it must name every
            // task the kernel found on a patched function, not just doubt it.
            if (const std::string why = forecast_failure(s, *run); std::string(tag) == "before" && !why.empty()) {
                failures.push_back(fmt::format("{}: forecast: {}", spec.name, why));
            }
            if (with_image && r.unblocked_sleeping) {
                failures.push_back(fmt::format("{}: {} task(s) the kernel found sleeping on a patched function are "
                                               "not blocked with the kernel image ({})",
                                               spec.name, r.unblocked_sleeping, tag));
            }
            if (r.inconsistent) {
                failures.push_back(fmt::format("{}: {} task(s) where the kernel's messages and patch_state disagree",
                                               spec.name, r.inconsistent));
            }
        }
        if (const std::string why = expectation_failure(s); !why.empty()) {
            failures.push_back(
                fmt::format("{}: the scenario did not measure what it should ({}): {}", spec.name, spec.expect, why));
        }
        std::printf("    kernel refused %zu task(s) in its first round; transition ended: %s\n", s.refused.size(),
                    s.end.c_str());
    }
    std::printf("\n%d idle task(s) judged off their CPU, over %d CPU(s)\n", idle_judged, cpus);
    // The guest says how many CPUs it had (recordings of older runs do not).
    if (cpus > 0 && memory_runs > 0 && idle_judged == 0) failures.push_back("no idle task was judged off its CPU: the idle rules went untested");
    if (failures.empty()) {
        std::printf("oracle: PASS (no false safe in %zu scenarios)\n", specs.size());
        return 0;
    }
    for (const std::string& f : failures) std::printf("oracle: FAIL %s\n", f.c_str());
    std::printf("oracle: FAIL (%zu problem(s), %d false safe)\n", failures.size(), false_safe_total);
    return 1;
}

}  // namespace
}  // namespace lpsafe::oracle

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: oracle_compare SCENARIOS.txt RESULTS_DIR\n");
        return 2;
    }
    return lpsafe::oracle::compare(argv[1], argv[2]);
}

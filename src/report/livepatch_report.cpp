// Loaded livepatches and per-task patch_state, as the kernel shows them: a
// patch in transition (<patch>/transition = 1, kernel/livepatch/core.c
// transition_show()) is waiting for the tasks whose patch_state is not yet
// the target (fs/proc/base.c proc_pid_patch_state(); kpatch's
// show_stalled_processes lists exactly those).
#include "report/livepatch_report.h"

#include <fmt/format.h>

#include <map>

namespace lpsafe::report {
namespace {

std::string patch_line(const readers::LoadedPatch& p) {
    std::string out = fmt::format("  {}: {}{}", p.name, p.enabled ? "enabled" : "disabled",
                                  p.transition ? ", in transition" : "");
    if (p.replace) out += fmt::format(", replace {}", *p.replace ? 1 : 0);
    if (p.stack_order) out += fmt::format(", stack_order {}", *p.stack_order);
    out += "\n";
    for (const readers::LivepatchObject& o : p.objects) {
        out += fmt::format("    {}{}:", o.name, o.patched ? (*o.patched ? " (patched)" : " (not patched)") : "");
        for (const readers::LivepatchFunc& f : o.funcs) out += fmt::format(" {},{}", f.name, f.sympos);
        out += "\n";
    }
    return out;
}

}  // namespace

std::string render_livepatch_text(const readers::LivepatchStatus& status,
                                  const std::vector<readers::TaskPatchState>& states, const ProcessReport& report) {
    if (!status.available) return {};
    std::string out = fmt::format("\nlivepatch: {} patch{} loaded{}\n", status.patches.size(),
                                  status.patches.size() == 1 ? "" : "es",
                                  status.in_transition() ? ", a transition is in progress" : "");
    for (const readers::LoadedPatch& p : status.patches) out += patch_line(p);
    std::map<std::pair<int, int>, const TaskVerdict*> tasks;
    for (const TaskVerdict& t : report.tasks) tasks[{t.pid, t.tid}] = &t;
    std::map<std::string, std::vector<const readers::TaskPatchState*>> by_state;
    for (const readers::TaskPatchState& s : states) by_state[patch_state_label(s)].push_back(&s);
    for (const auto& [name, list] : by_state) {
        out += fmt::format("\npatch_state {} ({} task{}):\n", name, list.size(), list.size() == 1 ? "" : "s");
        // Outside a transition every task is idle (-1): one line, not the whole system.
        if (name == "idle" && !status.in_transition()) {
            out += "  no transition in progress\n";
            continue;
        }
        for (const readers::TaskPatchState* s : list) {
            const auto it = tasks.find({s->pid, s->tid});
            const std::string comm = it == tasks.end() ? "" : it->second->comm;
            const std::string verdict = it == tasks.end() ? "" : std::string(verdict_name(it->second->verdict));
            out += fmt::format("  {:>8} {:>8}  {:<16} {}{}\n", s->pid, s->tid, comm, verdict,
                               s->state ? "" : "  (" + s->unreadable + ")");
        }
    }
    return out;
}

}  // namespace lpsafe::report

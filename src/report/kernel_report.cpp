// The operator's view of a kernel check: blocked tasks grouped by the
// function that blocks them (what must return before the transition can
// finish), then the tasks that cannot be judged, then what was not checked.
#include <fmt/format.h>

#include <map>

#include "report/report.h"

namespace lpsafe::report {
namespace {

std::string task_line(const TaskVerdict& t, std::string_view why) {
    return fmt::format("  {:>8} {:>8}  {:<16} {:<2} {}\n", t.pid, t.tid, t.comm, t.state, why);
}

std::string frame_at(const TaskVerdict& t, int i) {
    if (i < 0 || static_cast<size_t>(i) >= t.frames.size()) return "";
    const Frame& f = t.frames[static_cast<size_t>(i)];
    return fmt::format("#{} {}+{:#x}", i, f.function, f.offset);
}

void render_blocked(std::string& out, const ProcessReport& r) {
    std::map<std::string, std::vector<const TaskVerdict*>> by_function;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict != VerdictKind::blocked) continue;
        const BlockedBy& b = t.blocked_by.front();
        by_function[b.object + ":" + b.function].push_back(&t);
    }
    std::vector<const TaskVerdict*> never;
    for (const auto& [function, tasks] : by_function) {
        out += fmt::format("\nblocked by {} ({} task{}):\n", function, tasks.size(), tasks.size() == 1 ? "" : "s");
        for (const TaskVerdict* t : tasks) {
            std::string where = frame_at(*t, t->blocked_by.front().frame);
            if (!t->frames.empty()) where += "  (sleeping in " + t->frames.front().function + ")";
            if (t->forecast) where += fmt::format("\n{:>38}{}: {}", "", forecast_name(t->forecast->kind), t->forecast->why);
            out += task_line(*t, where);
            if (t->forecast && t->forecast->kind == Forecast::Kind::never) never.push_back(t);
        }
    }
    if (!never.empty()) {
        out += fmt::format("\nthis transition will not complete until these {} task{} leave{} the patched code:\n",
                           never.size(), never.size() == 1 ? "" : "s", never.size() == 1 ? "s" : "");
        for (const TaskVerdict* t : never) out += task_line(*t, t->blocked_by.front().function);
    }
}

void render_kind(std::string& out, const ProcessReport& r, VerdictKind kind, std::string_view title) {
    size_t n = 0;
    for (const TaskVerdict& t : r.tasks) n += t.verdict == kind ? 1 : 0;
    if (n == 0) return;
    out += fmt::format("\n{} ({} task{}):\n", title, n, n == 1 ? "" : "s");
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict != kind) continue;
        std::string why = t.reason;
        if (why.empty() && !t.findings.empty()) {
            const Finding& f = t.findings.front();
            why = fmt::format("{}{}: {}", check_name(f.check), f.frame >= 0 ? " at " + frame_at(t, f.frame) : "",
                              f.detail);
        }
        out += task_line(t, why);
    }
}

}  // namespace

std::string render_kernel_text(const ProcessReport& r) {
    std::string out;
    const Summary& s = r.summary;
    out += fmt::format("{} tasks: {} safe, {} blocked, {} unreliable, {} running, {} gone, {} unreadable\n",
                       r.tasks.size(), s.safe, s.blocked, s.unreliable, s.running, s.gone, s.unreadable);
    for (const PatchedRange& p : r.patch.ranges) {
        out += fmt::format("patched: {}:{} [{:#x}, {:#x}){}\n", p.object, p.function, p.start, p.end,
                           p.stands_for.empty() ? "" : " — " + p.stands_for);
    }
    for (const auto& n : r.patch.not_loaded) out += fmt::format("note: {} is not loaded\n", n);
    render_blocked(out, r);
    render_kind(out, r, VerdictKind::unreliable, "unreliable: these stacks cannot be trusted");
    render_kind(out, r, VerdictKind::unreadable, "unreadable: the check is incomplete");
    render_kind(out, r, VerdictKind::running, "running: not judged while runnable (the kernel switches them at their next switch point)");
    std::map<std::string, size_t> skipped;
    for (const TaskVerdict& t : r.tasks) {
        for (const SkippedCheck& x : t.skipped) ++skipped[fmt::format("{}: {}", check_name(x.check), x.reason)];
    }
    for (const auto& [what, n] : skipped) out += fmt::format("\nskipped in {} verdicts: {}\n", n, what);
    return out;
}

}  // namespace lpsafe::report

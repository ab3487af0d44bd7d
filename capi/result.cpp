// Reading a result: summary, JSON, notes, processes, tasks and their frames.
// Every accessor checks its handle and index; strings point into the result.
#include "handles.h"

using lpsafe::capi::fail;
using lpsafe::capi::guarded;
using lpsafe::capi::missing;

namespace {

// Explicit, so that no C++ verdict can map to SAFE but VerdictKind::safe;
// anything unknown is UNRELIABLE.
lpsafe_verdict to_c(lpsafe::VerdictKind v) {
    switch (v) {
    case lpsafe::VerdictKind::safe:
        return LPSAFE_VERDICT_SAFE;
    case lpsafe::VerdictKind::blocked:
        return LPSAFE_VERDICT_BLOCKED;
    case lpsafe::VerdictKind::unreliable:
        return LPSAFE_VERDICT_UNRELIABLE;
    case lpsafe::VerdictKind::running:
        return LPSAFE_VERDICT_RUNNING;
    case lpsafe::VerdictKind::gone:
        return LPSAFE_VERDICT_GONE;
    case lpsafe::VerdictKind::unreadable:
        return LPSAFE_VERDICT_UNREADABLE;
    }
    return LPSAFE_VERDICT_UNRELIABLE;
}

// The string_views of the engine's name tables are views of literals.
const char* c_str(std::string_view literal) { return literal.data(); }

// The index-th element of `items`, or LPSAFE_ERR_RANGE.
template <typename T>
lpsafe_status at(const std::vector<T>& items, size_t index, const char* what, const T*& out) {
    if (index >= items.size()) {
        return fail(LPSAFE_ERR_RANGE, std::string(what) + " index " + std::to_string(index) + " out of range (" +
                                          std::to_string(items.size()) + ")");
    }
    out = &items[index];
    return LPSAFE_OK;
}

// The index-th item of a handle's list (`items` picks the list), converted
// for C, with every pointer and the index checked.
template <typename Handle, typename Items, typename Out, typename Convert>
lpsafe_status item(const Handle* handle, const char* handle_name, Items&& items, size_t index, const char* what,
                   Out* out, Convert&& convert) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(handle, handle_name, st) || missing(out, "out", st)) return st;
        const auto& list = items(*handle);
        const typename std::decay_t<decltype(list)>::value_type* it = nullptr;
        if (st = at(list, index, what, it); st != LPSAFE_OK) return st;
        *out = convert(*it);
        return LPSAFE_OK;
    });
}

}  // namespace

namespace lpsafe::capi {

void index_result(lpsafe_result& r) {
    r.processes.reserve(r.reports.size());
    for (const ProcessReport& report : r.reports) {
        lpsafe_process p;
        p.report = &report;
        for (const TaskVerdict& t : report.tasks) p.tasks.push_back(lpsafe_task{&t});
        r.processes.push_back(std::move(p));
    }
}

}  // namespace lpsafe::capi

extern "C" {

LPSAFE_API const char* lpsafe_verdict_name(lpsafe_verdict verdict) {
    switch (verdict) {
    case LPSAFE_VERDICT_SAFE:
        return "safe";
    case LPSAFE_VERDICT_BLOCKED:
        return "blocked";
    case LPSAFE_VERDICT_UNRELIABLE:
        return "unreliable";
    case LPSAFE_VERDICT_RUNNING:
        return "running";
    case LPSAFE_VERDICT_GONE:
        return "gone";
    case LPSAFE_VERDICT_UNREADABLE:
        return "unreadable";
    case LPSAFE_VERDICT_MAX_ENUM:
        break;
    }
    return "unknown";
}

LPSAFE_API lpsafe_status lpsafe_result_summary(const lpsafe_result* result, lpsafe_summary* out) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(result, "result", st) || missing(out, "out", st)) return st;
    const lpsafe::Summary& s = result->summary;
    *out = lpsafe_summary{s.safe, s.blocked, s.unreliable, s.running, s.gone, s.unreadable, lpsafe::exit_status(s)};
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_result_json(const lpsafe_result* result, const char** json) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(result, "result", st) || missing(json, "json", st)) return st;
        std::call_once(result->json_once,
                       [&] {
                           lpsafe::report::JsonOut out(result->json);
                           lpsafe::report::write_json(out, result->reports, result->mode);
                       });
        *json = result->json.c_str();
        return LPSAFE_OK;
    });
}

LPSAFE_API lpsafe_status lpsafe_result_note_count(const lpsafe_result* result, size_t* count) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(result, "result", st) || missing(count, "count", st)) return st;
    *count = result->notes.size();
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_result_note(const lpsafe_result* result, size_t index, const char** note) {
    return item(
        result, "result", [](const lpsafe_result& r) -> const auto& { return r.notes; }, index, "note", note,
        [](const std::string& n) { return n.c_str(); });
}

LPSAFE_API lpsafe_status lpsafe_result_process_count(const lpsafe_result* result, size_t* count) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(result, "result", st) || missing(count, "count", st)) return st;
    *count = result->processes.size();
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_result_process(const lpsafe_result* result, size_t index, const lpsafe_process** out) {
    return item(
        result, "result", [](const lpsafe_result& r) -> const auto& { return r.processes; }, index, "process", out,
        [](const lpsafe_process& p) { return &p; });
}

LPSAFE_API lpsafe_status lpsafe_process_info_get(const lpsafe_process* process, lpsafe_process_info* out) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(process, "process", st) || missing(out, "out", st)) return st;
    *out = lpsafe_process_info{process->report->pid, process->report->comm.c_str(), process->tasks.size()};
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_process_task(const lpsafe_process* process, size_t index, const lpsafe_task** out) {
    return item(
        process, "process", [](const lpsafe_process& p) -> const auto& { return p.tasks; }, index, "task", out,
        [](const lpsafe_task& t) { return &t; });
}

LPSAFE_API lpsafe_status lpsafe_task_info_get(const lpsafe_task* task, lpsafe_task_info* out) {
    lpsafe_status st = LPSAFE_OK;
    if (missing(task, "task", st) || missing(out, "out", st)) return st;
    const lpsafe::TaskVerdict& t = *task->verdict;
    // Reliable as the JSON says it: read and judged, with no finding.
    const int reliable = t.findings.empty() && t.reason.empty() ? 1 : 0;
    *out = lpsafe_task_info{t.pid,
                            t.tid,
                            t.comm.c_str(),
                            t.state.c_str(),
                            to_c(t.verdict),
                            t.reason.c_str(),
                            t.end.detail.c_str(),
                            reliable,
                            t.frames.size(),
                            t.blocked_by.size(),
                            t.findings.size(),
                            t.skipped.size()};
    return LPSAFE_OK;
}

LPSAFE_API lpsafe_status lpsafe_task_blocked_by(const lpsafe_task* task, size_t index, lpsafe_blocked_by* out) {
    return item(
        task, "task", [](const lpsafe_task& t) -> const auto& { return t.verdict->blocked_by; }, index, "blocked_by",
        out,
        [](const lpsafe::BlockedBy& b) {
            return lpsafe_blocked_by{b.frame, b.object.c_str(), b.function.c_str()};
        });
}

LPSAFE_API lpsafe_status lpsafe_task_finding(const lpsafe_task* task, size_t index, lpsafe_finding* out) {
    return item(
        task, "task", [](const lpsafe_task& t) -> const auto& { return t.verdict->findings; }, index, "finding", out,
        [](const lpsafe::Finding& f) {
            return lpsafe_finding{c_str(lpsafe::check_name(f.check)), f.frame, f.detail.c_str()};
        });
}

LPSAFE_API lpsafe_status lpsafe_task_skipped(const lpsafe_task* task, size_t index, lpsafe_skipped_check* out) {
    return item(
        task, "task", [](const lpsafe_task& t) -> const auto& { return t.verdict->skipped; }, index, "skipped check",
        out,
        [](const lpsafe::SkippedCheck& s) {
            return lpsafe_skipped_check{c_str(lpsafe::check_name(s.check)), s.reason.c_str()};
        });
}

LPSAFE_API lpsafe_status lpsafe_task_frame(const lpsafe_task* task, size_t index, lpsafe_frame* out) {
    return item(
        task, "task", [](const lpsafe_task& t) -> const auto& { return t.verdict->frames; }, index, "frame", out,
        [](const lpsafe::Frame& f) {
            return lpsafe_frame{f.pc,
                                f.sp,
                                f.cfa,
                                f.object.c_str(),
                                f.function.c_str(),
                                f.offset,
                                c_str(lpsafe::method_name(f.method)),
                                f.cross_checked ? 1 : 0};
        });
}

LPSAFE_API void lpsafe_result_free(lpsafe_result* result) { delete result; }

}  // extern "C"

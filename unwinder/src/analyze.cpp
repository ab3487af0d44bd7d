#include "lpsafe/analyze.h"

namespace lpsafe {

TaskVerdict check_thread(const ProcessImage& process, const ThreadState& thread, const ResolvedPatchSet& patch,
                         const CheckOptions& options) {
    TaskVerdict v;
    v.pid = process.pid;
    v.tid = thread.tid;
    v.comm = thread.comm.empty() ? process.comm : thread.comm;
    v.state = thread.state;
    v.stop_ns = thread.stop_ns;
    if (thread.status != CaptureStatus::captured) {
        v.verdict = thread.status == CaptureStatus::gone ? VerdictKind::gone : VerdictKind::unreadable;
        v.reason = thread.status_reason;
        return v;
    }
    UnwoundStack stack = unwind_thread(process, thread, options.unwind);
    v.findings = check_all(process, thread, stack);
    v.blocked_by = find_patched_frames(stack.frames, patch);
    v.verdict = decide(v.findings, v.blocked_by);
    v.frames = std::move(stack.frames);
    v.end = std::move(stack.end);
    return v;
}

Result<ProcessReport> check_process(const ProcessImage& process, const PatchSet& patch, const CheckOptions& options) {
    auto resolved = resolve_patch_set(patch, process.modules);
    if (!resolved) return resolved.error();
    ProcessReport report;
    report.pid = process.pid;
    report.comm = process.comm;
    report.patch = std::move(*resolved);
    for (const ThreadState& t : process.threads) {
        TaskVerdict v = check_thread(process, t, report.patch, options);
        report.summary.add(v.verdict);
        report.tasks.push_back(std::move(v));
    }
    return report;
}

void Summary::add(VerdictKind kind) {
    switch (kind) {
    case VerdictKind::safe: ++safe; break;
    case VerdictKind::blocked: ++blocked; break;
    case VerdictKind::unreliable: ++unreliable; break;
    case VerdictKind::running: ++running; break;
    case VerdictKind::gone: ++gone; break;
    case VerdictKind::unreadable: ++unreadable; break;
    }
}

Summary& Summary::operator+=(const Summary& o) {
    safe += o.safe;
    blocked += o.blocked;
    unreliable += o.unreliable;
    running += o.running;
    gone += o.gone;
    unreadable += o.unreadable;
    return *this;
}

int exit_status(const Summary& summary) {
    if (summary.blocked > 0) return 1;
    if (summary.unreliable > 0 || summary.running > 0) return 2;
    if (summary.unreadable > 0) return 4;
    return 0;
}

}  // namespace lpsafe

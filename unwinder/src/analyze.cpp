#include "lpsafe/analyze.h"

namespace lpsafe {

TaskVerdict check_thread(const ProcessImage& process, const ThreadState& thread, const ResolvedPatchSet& patch,
                         const CheckOptions& options) {
    UnwoundStack stack = unwind_thread(process, thread, options.unwind);
    TaskVerdict v;
    v.pid = process.pid;
    v.tid = thread.tid;
    v.comm = process.comm;
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
        switch (v.verdict) {
        case VerdictKind::safe: ++report.summary.safe; break;
        case VerdictKind::blocked: ++report.summary.blocked; break;
        case VerdictKind::unreliable: ++report.summary.unreliable; break;
        }
        report.tasks.push_back(std::move(v));
    }
    return report;
}

int exit_status(const Summary& summary) {
    if (summary.blocked > 0) return 1;
    if (summary.unreliable > 0) return 2;
    return 0;
}

}  // namespace lpsafe

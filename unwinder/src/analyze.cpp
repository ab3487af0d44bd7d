#include "lpsafe/analyze.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "site_cache.h"

namespace lpsafe {
namespace {

TaskVerdict check_one(SiteCache& cache, const ThreadState& thread, const ResolvedPatchSet& patch,
                      const CheckOptions& options) {
    const ProcessImage& process = cache.process();
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
    UnwoundStack stack = unwind_thread(cache, thread, options.unwind);
    v.findings = check_all(cache, thread, stack);
    v.blocked_by = find_patched_frames(stack.frames, patch);
    v.verdict = decide(v.findings, v.blocked_by);
    v.frames = std::move(stack.frames);
    v.end = std::move(stack.end);
    return v;
}

// A worker costs a thread start (tens of microseconds) and its own SiteCache
// (every return site decoded once more); below this many threads each, one
// worker is faster.
constexpr size_t kMinThreadsPerWorker = 32;

// CheckOptions::workers: 0 picks one per CPU, fewer for small processes; an
// explicit number is taken as given, up to one per thread.
unsigned worker_count(size_t threads, unsigned requested) {
    const size_t most = std::max<size_t>(threads, 1);
    if (requested != 0) return static_cast<unsigned>(std::min<size_t>(requested, most));
    const size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::clamp<size_t>(threads / kMinThreadsPerWorker, 1, cpus));
}

// Checks every thread into tasks[i] (thread order, so the output does not
// depend on scheduling). Workers take small chunks from a shared counter so
// that one deep stack does not leave the others idle; each has its own
// SiteCache, so nothing is shared but the read-only image.
void check_all_threads(const ProcessImage& process, const ResolvedPatchSet& patch, const CheckOptions& options,
                       std::vector<TaskVerdict>& tasks) {
    const size_t n = process.threads.size();
    tasks.resize(n);
    constexpr size_t kChunk = 8;
    std::atomic<size_t> next{0};
    auto work = [&] {
        SiteCache cache(process);
        for (size_t begin; (begin = next.fetch_add(kChunk)) < n;) {
            for (size_t i = begin; i < std::min(n, begin + kChunk); ++i) {
                tasks[i] = check_one(cache, process.threads[i], patch, options);
            }
        }
    };
    const unsigned workers = worker_count(n, options.workers);
    std::vector<std::exception_ptr> errors(workers);
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < workers; ++w) {
        pool.emplace_back([&, w] {
            try {
                work();
            } catch (...) {
                errors[w] = std::current_exception();
            }
        });
    }
    try {
        work();
    } catch (...) {
        errors[0] = std::current_exception();
    }
    for (std::thread& t : pool) t.join();
    for (const std::exception_ptr& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

}  // namespace

TaskVerdict check_thread(const ProcessImage& process, const ThreadState& thread, const ResolvedPatchSet& patch,
                         const CheckOptions& options) {
    SiteCache cache(process);
    return check_one(cache, thread, patch, options);
}

Result<ProcessReport> check_process(const ProcessImage& process, const PatchSet& patch, const CheckOptions& options) {
    auto resolved = resolve_patch_set(patch, process.modules);
    if (!resolved) return resolved.error();
    ProcessReport report;
    report.pid = process.pid;
    report.comm = process.comm;
    report.patch = std::move(*resolved);
    check_all_threads(process, report.patch, options, report.tasks);
    for (const TaskVerdict& v : report.tasks) report.summary.add(v.verdict);
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

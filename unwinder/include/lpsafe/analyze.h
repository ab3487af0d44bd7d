// The library's front door: everything the lpsafe command does, a patch tool
// can do in-process through this header.
#pragma once

#include <vector>

#include "lpsafe/checks.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "lpsafe/unwind.h"
#include "lpsafe/verdict.h"

namespace lpsafe {

struct CheckOptions {
    UnwindOptions unwind;
    // check_process: threads checked in parallel by this many workers, at
    // most one per thread (0: one per CPU, fewer for small processes). The
    // result is the same for any value.
    unsigned workers = 0;
};

struct Summary {
    int safe = 0;
    int blocked = 0;
    int unreliable = 0;
    int running = 0;
    int gone = 0;
    int unreadable = 0;

    void add(VerdictKind kind);
    Summary& operator+=(const Summary& other);
};

struct ProcessReport {
    int pid = 0;
    std::string comm;
    std::vector<TaskVerdict> tasks;
    ResolvedPatchSet patch;
    Summary summary;
};

// Unwinds and checks one thread and decides its verdict against `patch`.
TaskVerdict check_thread(const ProcessImage& process, const ThreadState& thread, const ResolvedPatchSet& patch,
                         const CheckOptions& options = {});

// Every thread of the process. Fails only when the patch set cannot be resolved.
Result<ProcessReport> check_process(const ProcessImage& process, const PatchSet& patch,
                                    const CheckOptions& options = {});

// The exit status convention of the lpsafe command: 0 all safe, 1 some task
// blocked, 2 none blocked but some unreliable or running, 4 none of those but
// some task unreadable (the check is incomplete). Tasks that are gone do not
// change it. 3 is reserved for errors.
int exit_status(const Summary& summary);

}  // namespace lpsafe

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
};

struct Summary {
    int safe = 0;
    int blocked = 0;
    int unreliable = 0;
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
// blocked, 2 none blocked but some unreliable.
int exit_status(const Summary& summary);

}  // namespace lpsafe

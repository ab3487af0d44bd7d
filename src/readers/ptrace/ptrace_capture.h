// Live processes as a ProcessImage, like a core but taken through ptrace:
// each thread is stopped only while its registers and stack are copied
// (ptrace_thread.h), then the rest (maps, auxv, modules, code) is read while
// the process runs. The engine then checks the image exactly as a core.
#pragma once

#include <vector>

#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "readers/modules/module_loader.h"
#include "readers/ptrace/ptrace_thread.h"

namespace lpsafe::readers {

struct LiveOptions {
    CaptureLimits limits;
    ModuleSearch search;  // sysroot for the files the process maps (usually empty)
};

// Fails when the process does not exist, is lpsafe itself or a kernel
// thread, or exits before its threads could be listed. Otherwise every
// thread is in the image: captured, gone (exited during the capture) or
// unreadable (ptrace refused, naming why). The task list is re-read until
// no new thread appears. A process that exits during the capture yields
// all threads gone.
//
// The calling thread becomes each thread's tracer for a moment and waits for
// its stop through SIGCHLD (blocked in this thread meanwhile). A program
// with other threads should block SIGCHLD in them, or a stop notice may go
// to one of them and the wait falls back to polling every 2 ms.
Result<ProcessImage> capture_process(int pid, const LiveOptions& options = {});

// --all-user: every process but lpsafe itself and kernel threads, by pid.
// Whether the caller may trace each one shows only when it is captured.
std::vector<int> user_processes();

// Whether any thread of the image was captured (false when ptrace was
// refused for all of them, or all exited).
bool any_captured(const ProcessImage& image);

}  // namespace lpsafe::readers

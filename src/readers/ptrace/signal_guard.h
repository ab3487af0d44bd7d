// Keeps lpsafe from dying while a thread of another process is stopped by
// it. While a guard lives, SIGINT, SIGTERM and SIGHUP are blocked (pending,
// not lost) and so is SIGCHLD, which wait_for_stop() takes synchronously.
// The destructor restores the previous mask, so a signal that arrived during
// the capture of a thread is delivered right after that thread was detached:
// with the default action lpsafe then dies of it, leaving nothing stopped.
//
// Even a SIGKILL cannot leave a tracee stopped: when a tracer exits the
// kernel detaches every tracee and drops their pending ptrace traps
// (kernel/ptrace.c exit_ptrace() -> __ptrace_unlink()); the guard makes the
// detach orderly and the exit status the signal's.
#pragma once

#include <signal.h>

#include <chrono>

namespace lpsafe::readers {

class CaptureSignalGuard {
public:
    CaptureSignalGuard();
    ~CaptureSignalGuard();
    CaptureSignalGuard(const CaptureSignalGuard&) = delete;
    CaptureSignalGuard& operator=(const CaptureSignalGuard&) = delete;

private:
    sigset_t old_;
};

struct WaitOutcome {
    enum class Kind { status, timeout, not_traced };
    Kind kind = Kind::timeout;
    int status = 0;  // waitpid status when kind == status
};

// Waits for a wait status of the traced thread `tid` (a ptrace stop or its
// exit) for at most `timeout`. Must run under a guard.
// A tracer is sent SIGCHLD when a tracee stops (kernel/signal.c
// do_notify_parent_cldstop()), so the wait sleeps in sigtimedwait() and
// polls waitpid() in short slices only in case SIGCHLD is ignored.
WaitOutcome wait_for_stop(int tid, std::chrono::nanoseconds timeout);

}  // namespace lpsafe::readers

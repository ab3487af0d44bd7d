#include "readers/ptrace/signal_guard.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace lpsafe::readers {
namespace {

sigset_t guarded_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
    return set;
}

sigset_t child_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    return set;
}

}  // namespace

CaptureSignalGuard::CaptureSignalGuard() {
    const sigset_t set = guarded_signals();
    sigprocmask(SIG_BLOCK, &set, &old_);
}

CaptureSignalGuard::~CaptureSignalGuard() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

WaitOutcome wait_for_stop(int tid, std::chrono::nanoseconds timeout) {
    using Clock = std::chrono::steady_clock;
    // Short slices bound the wait when SIGCHLD is ignored and never sent.
    constexpr std::chrono::nanoseconds kSlice = std::chrono::milliseconds(2);
    const sigset_t chld = child_signal();
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
        if (r == tid) return {WaitOutcome::Kind::status, status};
        if (r < 0 && errno != EINTR) return {WaitOutcome::Kind::not_traced, 0};
        const auto left = deadline - Clock::now();
        if (left <= std::chrono::nanoseconds::zero()) return {WaitOutcome::Kind::timeout, 0};
        const auto slice = std::min(left, kSlice);
        const timespec ts{0, static_cast<long>(slice.count())};
        sigtimedwait(&chld, nullptr, &ts);
    }
}

}  // namespace lpsafe::readers

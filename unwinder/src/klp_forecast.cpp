// How a task that blocks a livepatch transition will (or will not) switch,
// as the kernel drives it (kernel/livepatch/transition.c):
// - every second klp_try_complete_transition() re-checks each task;
// - after 15 tries (SIGNALS_TIMEOUT) klp_send_signals() wakes kthreads in
//   TASK_INTERRUPTIBLE (wake_up_state) and sends user tasks a fake signal
//   (set_notify_signal), which ends an interruptible wait; the task then
//   switches in klp_update_patch_state() on its way back to user space;
// - nothing wakes TASK_UNINTERRUPTIBLE / TASK_IDLE waits or stopped tasks,
//   and a kthread never returns to user space: it switches only when a
//   later stack check no longer finds the function.
#include <fmt/format.h>

#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

// The kthread() trampoline calls a kernel thread's function
// (kernel/kthread.c); below it is the architecture's ret_from_fork.
std::optional<size_t> kthread_main_frame(const TaskVerdict& t) {
    for (size_t i = t.frames.size(); i-- > 1;) {
        if (t.frames[i].function == "kthread" && t.frames[i].object == "vmlinux") return i - 1;
    }
    return std::nullopt;
}

}  // namespace

Forecast forecast_kernel_task(const TaskVerdict& t) {
    const std::string fn = t.blocked_by.empty() ? std::string("the patched function") : t.blocked_by.front().function;
    const bool interruptible = t.state == "S";
    if (const auto main = kthread_main_frame(t)) {
        for (const BlockedBy& b : t.blocked_by) {
            if (b.frame >= 0 && static_cast<size_t>(b.frame) == *main) {
                return {Forecast::Kind::never,
                        fmt::format("kthread parked in its main function {}, which never returns: the transition will "
                                    "not complete until the patch is reverted or forced",
                                    b.function)};
            }
        }
        return {Forecast::Kind::waits,
                fmt::format("kthread: switches only once it has left {}{}", fn,
                            interruptible ? " (the kernel wakes it after 15 s)" : " (no signal wakes it in this state)")};
    }
    if (interruptible) {
        return {Forecast::Kind::converges,
                "user task in interruptible sleep: the kernel's fake signal after 15 s ends the wait and it switches "
                "on its way back to user space"};
    }
    if (t.state == "T" || t.state == "t") {
        return {Forecast::Kind::waits, "stopped: switches only when it is continued and returns to user space"};
    }
    return {Forecast::Kind::waits,
            fmt::format("state {}: no signal ends this wait; switches when it returns to user space after leaving {}",
                        t.state, fn)};
}

}  // namespace lpsafe

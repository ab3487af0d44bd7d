#include "readers/ptrace/ptrace_thread.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "lpsafe/pointer_auth.h"
#include "readers/core/pac_mask.h"
#include "readers/ptrace/signal_guard.h"

namespace lpsafe::readers {
namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Large enough for any architecture's user_regs_struct.
constexpr size_t kMaxRegset = 1024;

struct Stopped {
    std::array<std::byte, kMaxRegset> regset{};
    size_t regset_size = 0;
    int regset_errno = 0;
    uint64_t stack_addr = 0;
    size_t stack_size = 0;
    std::string stack_problem;
    bool sp_outside_maps = false;
    // aarch64: struct user_pac_mask when the kernel has address
    // authentication (the regset fails with EINVAL otherwise).
    std::array<std::byte, 16> pac{};
    size_t pac_size = 0;
};

// Runs while the thread is stopped: registers, then the stack from below
// sp (red zone) up to the end of the mapping holding sp, at most the limit.
// No allocation, no /proc read: only the two system calls.
void read_stopped(int tid, const Arch& arch, const std::vector<Mapping>& maps, const CaptureLimits& limits,
                  CaptureScratch& scratch, Stopped& out) {
    iovec regs_iov{out.regset.data(), std::min(arch.user_regs_size, out.regset.size())};
    if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &regs_iov) != 0) {
        out.regset_errno = errno;
        return;
    }
    out.regset_size = regs_iov.iov_len;
#if defined(__aarch64__)
    // The PAC mask (arch/arm64/kernel/ptrace.c, pac_mask_get): the same
    // struct the kernel writes as NT_ARM_PAC_MASK into cores.
    iovec pac_iov{out.pac.data(), out.pac.size()};
    if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_ARM_PAC_MASK), &pac_iov) == 0) out.pac_size = pac_iov.iov_len;
#endif
    auto regs = arch.parse_user_regs(std::span(out.regset.data(), out.regset_size));
    if (!regs) return;  // reported by the caller, after the detach
    const auto sp = regs->get(arch.sp_reg);
    auto it = std::upper_bound(maps.begin(), maps.end(), sp.value_or(0),
                               [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (!sp || it == maps.begin() || !std::prev(it)->contains(*sp)) {
        out.stack_problem = "its stack pointer lies in no mapping of the process";
        out.sp_outside_maps = true;
        return;
    }
    const Mapping& stack = *std::prev(it);
    const uint64_t lo = std::max(stack.start, *sp >= arch.red_zone ? *sp - arch.red_zone : 0);
    // The limit counts from lo, so the copy always fits the scratch buffer.
    const uint64_t hi = std::min<uint64_t>(stack.end, lo + std::min(limits.max_stack_bytes, scratch.size()));
    iovec local{scratch.data(), static_cast<size_t>(hi - lo)};
    iovec remote{reinterpret_cast<void*>(lo), static_cast<size_t>(hi - lo)};
    const ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
        out.stack_problem = std::string("its stack could not be read: ") + std::strerror(errno);
        return;
    }
    out.stack_addr = lo;
    out.stack_size = static_cast<size_t>(n);
}

// Detaches a stopped tracee. A stop for a signal that was about to be
// delivered must hand the signal back on detach, or the process would lose
// it. Interrupt and group stops (PTRACE_EVENT_STOP) carry nothing to
// re-inject (ptrace(2), "Group-stop").
void detach(int tid, int status) {
    const int sig = WIFSTOPPED(status) && (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<intptr_t>(sig)));
}

ThreadCapture gone(ThreadCapture c, std::string why) {
    c.thread.status = CaptureStatus::gone;
    c.thread.status_reason = std::move(why);
    return c;
}

ThreadCapture unreadable(ThreadCapture c, std::string why) {
    c.thread.status = CaptureStatus::unreadable;
    c.thread.status_reason = std::move(why);
    return c;
}

// After the detach: turn what was read into the thread's state.
ThreadCapture finish(ThreadCapture c, const Arch& arch, const std::vector<Mapping>& maps, const Stopped& s,
                     const CaptureScratch& scratch) {
    if (s.regset_errno == ESRCH) return gone(std::move(c), "exited while stopped");
    if (s.regset_errno != 0)
        return unreadable(std::move(c), std::string("PTRACE_GETREGSET failed: ") + std::strerror(s.regset_errno));
    auto regs = arch.parse_user_regs(std::span(s.regset.data(), s.regset_size));
    if (!regs) return unreadable(std::move(c), regs.error().message + " (not a 64-bit process?)");
    c.thread.regs = std::move(*regs);
    if (s.pac_size != 0) {
        auto pac = parse_pac_mask(std::span(s.pac.data(), s.pac_size), PointerAuthMask::Source::ptrace);
        if (pac) {
            if (auto st = check_pac_mask(*pac, maps); !st) return unreadable(std::move(c), st.error().message);
            c.thread.pac = *pac;
        } else {
            return unreadable(std::move(c), pac.error().message);
        }
    }
    c.sp_outside_maps = s.sp_outside_maps;
    if (!s.stack_problem.empty()) return unreadable(std::move(c), s.stack_problem);
    c.stack.addr = s.stack_addr;
    c.stack.bytes.assign(scratch.data(), scratch.data() + s.stack_size);
    return c;
}

}  // namespace

ThreadCapture capture_thread(int pid, int tid, const TaskInfo& info, const Arch& arch,
                             const std::vector<Mapping>& maps, const CaptureLimits& limits,
                             CaptureScratch& scratch) {
    ThreadCapture c;
    c.thread.tid = tid;
    c.thread.comm = info.comm;
    c.thread.state = std::string(1, info.state);
    c.thread.regs = Regs(arch.id);
    CaptureSignalGuard guard;  // from before the seize until after the detach
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        const int err = errno;
        if (err == ESRCH) return gone(std::move(c), "exited before it could be stopped");
        return unreadable(std::move(c), explain_ptrace_refusal(pid, tid, err));
    }
    const uint64_t start = now_ns();
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
        const int err = errno;
        ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
        if (err == ESRCH) return gone(std::move(c), "exited before it could be stopped");
        return unreadable(std::move(c), std::string("PTRACE_INTERRUPT failed: ") + std::strerror(err));
    }
    const WaitOutcome w = wait_for_stop(tid, limits.stop_timeout);
    if (w.kind == WaitOutcome::Kind::timeout) {
        c.left_seized = true;
        return unreadable(std::move(c), "did not stop within " + std::to_string(limits.stop_timeout.count()) +
                                            " ms (state " + c.thread.state + ")");
    }
    if (w.kind == WaitOutcome::Kind::not_traced || !WIFSTOPPED(w.status))
        return gone(std::move(c), "exited while being stopped");
    Stopped s;
    read_stopped(tid, arch, maps, limits, scratch, s);
    detach(tid, w.status);
    c.thread.stop_ns = now_ns() - start;
    return finish(std::move(c), arch, maps, s, scratch);
}

bool finish_detach(int tid, std::chrono::milliseconds timeout) {
    CaptureSignalGuard guard;
    const WaitOutcome w = wait_for_stop(tid, timeout);
    if (w.kind == WaitOutcome::Kind::timeout) return false;
    if (w.kind == WaitOutcome::Kind::status && WIFSTOPPED(w.status)) detach(tid, w.status);
    return true;
}

std::string explain_ptrace_refusal(int pid, int tid, int err) {
    const std::string what = "ptrace refused (" + std::string(std::strerror(err)) + "): ";
    if (err != EPERM && err != EACCES) return what + "PTRACE_SEIZE of thread " + std::to_string(tid) + " failed";
    if (auto info = read_task_info(pid, tid); info && info->tracer_pid != 0) {
        auto tracer = read_task_info(info->tracer_pid, info->tracer_pid);
        return what + "already traced by pid " + std::to_string(info->tracer_pid) +
               (tracer ? " (" + tracer->comm + ")" : std::string()) + "; a thread has at most one tracer";
    }
    if (auto scope = yama_ptrace_scope(); scope && *scope > 0) {
        static const char* const rule[] = {"", "only descendants may be traced without CAP_SYS_PTRACE",
                                           "only processes with CAP_SYS_PTRACE may trace",
                                           "no process may trace (until reboot)"};
        return what + "Yama kernel.yama.ptrace_scope=" + std::to_string(*scope) + ": " + rule[std::min(*scope, 3)];
    }
    if (!has_cap_sys_ptrace())
        return what + "lpsafe lacks CAP_SYS_PTRACE and the process belongs to another user or is not dumpable";
    return what + "denied by a security module or the process is not dumpable";
}

}  // namespace lpsafe::readers

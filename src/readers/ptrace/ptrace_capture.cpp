#include "readers/ptrace/ptrace_capture.h"

#include <elf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "lpsafe/arch.h"
#include "readers/ptrace/live_memory.h"
#include "readers/modules/proc_files.h"
#include "readers/modules/thread_start.h"

namespace lpsafe::readers {
namespace {

// A thread list that still changes after this many re-reads is a process
// creating threads as fast as they are captured; the rest is unreadable.
constexpr int kMaxListRounds = 8;

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#else
#error "live capture: add this host's ELF machine"
#endif

// Fd that closes itself unless released.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
    int release() { return std::exchange(fd, -1); }
};

Result<std::vector<Mapping>> read_maps(int pid) {
    auto text = read_proc_file("/proc/" + std::to_string(pid) + "/maps");
    if (!text) return text.error();
    return parse_maps(*text);
}

struct Captured {
    std::vector<ThreadState> threads;
    std::vector<StackCopy> stacks;
    std::vector<int> left_seized;
};

// One thread: /proc facts first (while it runs), then the short stop.
void capture_one(int pid, int tid, const Arch& arch, std::vector<Mapping>& maps, const CaptureLimits& limits,
                 CaptureScratch& scratch, Captured& out) {
    auto info = read_task_info(pid, tid);
    ThreadCapture c;
    if (!info) {
        c.thread.tid = tid;
        c.thread.status = CaptureStatus::gone;
        c.thread.status_reason = "exited before it could be stopped";
    } else if (info->state == 'Z' || info->state == 'X') {
        c.thread.tid = tid;
        c.thread.comm = info->comm;
        c.thread.state = std::string(1, info->state);
        c.thread.status = CaptureStatus::gone;
        c.thread.status_reason = "exited (zombie)";
    } else {
        c = capture_thread(pid, tid, *info, arch, maps, limits, scratch);
        // A thread created after the map was read may run on a stack the
        // map does not show yet: read it again and retry once.
        if (c.sp_outside_maps) {
            if (auto fresh = read_maps(pid)) {
                maps = std::move(*fresh);
                c = capture_thread(pid, tid, *info, arch, maps, limits, scratch);
            }
        }
    }
    if (c.left_seized) out.left_seized.push_back(tid);
    if (!c.stack.bytes.empty()) out.stacks.push_back(std::move(c.stack));
    out.threads.push_back(std::move(c.thread));
}

// Every thread, re-listing /proc/<pid>/task until a pass finds none new.
Result<Captured> capture_threads(int pid, const Arch& arch, std::vector<Mapping>& maps, const CaptureLimits& limits) {
    CaptureScratch scratch(limits.max_stack_bytes);
    Captured out;
    std::set<int> seen;
    for (int round = 0;; ++round) {
        auto tasks = list_tasks(pid);
        if (!tasks || tasks->empty()) {  // gone, or exiting (no thread left)
            if (round == 0) return make_error("process " + std::to_string(pid) + " exited before it could be read");
            break;
        }
        std::vector<int> fresh;
        for (int tid : *tasks) {
            if (seen.insert(tid).second) fresh.push_back(tid);
        }
        if (fresh.empty()) break;
        for (int tid : fresh) {
            if (round < kMaxListRounds) {
                capture_one(pid, tid, arch, maps, limits, scratch, out);
                continue;
            }
            ThreadState t;
            t.tid = tid;
            t.status = CaptureStatus::unreadable;
            t.status_reason = "created during the capture, and the thread list did not settle";
            out.threads.push_back(std::move(t));
        }
    }
    for (int tid : out.left_seized) finish_detach(tid, limits.stop_timeout);
    return out;
}

void mark_all_gone(ProcessImage& image, const std::string& why) {
    for (ThreadState& t : image.threads) {
        if (t.status == CaptureStatus::unreadable) continue;
        t.status = CaptureStatus::gone;
        t.status_reason = why;
    }
}

// GOT slots that are still writable (lazy binding, no RELRO) are never read
// live as other writable memory is not (live_memory.h); without them a call
// through a PLT stub has no known target, and the call-target rule of
// return-after-call could not run where a core lets it run. They are copied
// here, after the threads ran on. That copy is what the threads saw: ld.so
// writes a lazy slot once, from its PLT stub to the resolved function, and
// before that function runs (_dl_runtime_resolve -> _dl_fixup writes the
// slot, then jumps to the function). A slot a stopped thread called through
// already held its final value at the stop, and still holds it. A core
// shows the same: the slot at dump time, not at call time. A slot still
// unresolved means a thread inside ld.so's resolver, unreliable either way.
// (A program that rewrites its own GOT, such as a PLT hooking library, is
// seen at copy time; a core sees it at dump time.) docs/verdict-rules.md.
void copy_got_slots(LiveMemory& memory, const ModuleMap& modules, const std::vector<Mapping>& maps) {
    for (const Module& m : modules.modules()) {
        if (!m.image || !m.status.usable()) continue;
        for (const auto& [start, end] : m.image->got_ranges()) {
            // .got.plt usually straddles the end of PT_GNU_RELRO: its first
            // slots are read-only (read live), the rest writable (copied).
            const uint64_t lo = start + m.bias, hi = end + m.bias;
            for (const Mapping& x : maps) {
                if (!x.writable || !x.readable || x.end <= lo || hi <= x.start) continue;
                const uint64_t from = std::max(lo, x.start), to = std::min(hi, x.end);
                memory.copy_now(from, to - from);
            }
        }
    }
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

Result<ProcessImage> capture_process(int pid, const LiveOptions& options) {
    if (pid == getpid()) return make_error("pid " + std::to_string(pid) + " is lpsafe itself");
    // The pidfd pins the identity of the process: reads confirmed against it
    // never come from another process that reused the pid.
    Fd pidfd{static_cast<int>(syscall(SYS_pidfd_open, pid, 0))};
    if (pidfd.fd < 0) {
        const int err = errno;
        // pidfd_open(2) takes thread-group leaders only (EINVAL, or ENOENT
        // on newer kernels), though /proc answers for any thread id.
        const bool known = access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
        if ((err == EINVAL || err == ENOENT) && known)
            return make_error(std::to_string(pid) + " is a thread id, not a process id; give the process's pid");
        if (err == ESRCH || err == EINVAL || err == ENOENT)
            return make_error("no process with pid " + std::to_string(pid));
        return make_error("pidfd_open(" + std::to_string(pid) + "): " + std::strerror(err));
    }
    if (!pidfd_alive(pidfd.fd))
        return make_error("process " + std::to_string(pid) + " has exited (a zombie its parent has not reaped)");
    auto leader = read_task_info(pid, pid);
    if (!leader) return make_error("no process with pid " + std::to_string(pid));
    if (is_kernel_thread(*leader)) return make_error("pid " + std::to_string(pid) + " is a kernel thread");
    const Arch* arch = arch_for_elf_machine(kHostMachine);
    if (arch == nullptr) return make_error("live capture is not supported on this architecture");

    ProcessImage image;
    image.arch = arch->id;
    image.pid = pid;
    auto comm = read_proc_file("/proc/" + std::to_string(pid) + "/comm");
    image.comm = comm ? trim(*comm) : leader->comm;
    // Unreadable maps (ptrace access refused) leave the map empty: the
    // seize is refused too, and says why.
    auto maps = read_maps(pid);
    std::vector<Mapping> mappings = maps ? std::move(*maps) : std::vector<Mapping>{};
    auto captured = capture_threads(pid, *arch, mappings, options.limits);
    if (!captured) return captured.error();
    image.threads = std::move(captured->threads);
    if (!pidfd_alive(pidfd.fd)) {
        mark_all_gone(image, "the process exited during the capture");
        return image;
    }
    auto auxv = read_auxv(pid);
    image.mappings = std::move(mappings);
    auto memory = std::make_shared<LiveMemory>(pid, pidfd.release(), image.mappings, std::move(captured->stacks));
    image.modules = load_modules(image.mappings, *memory, auxv ? *auxv : Auxv{}, options.search);
    copy_got_slots(*memory, image.modules, image.mappings);
    image.memory = std::move(memory);
    learn_thread_starts(image);
    return image;
}

std::vector<int> user_processes() {
    std::vector<int> out;
    for (int pid : list_processes()) {
        if (pid == getpid()) continue;
        auto info = read_task_info(pid, pid);
        if (!info || is_kernel_thread(*info)) continue;
        out.push_back(pid);
    }
    return out;
}

bool any_captured(const ProcessImage& image) {
    return std::any_of(image.threads.begin(), image.threads.end(),
                       [](const ThreadState& t) { return t.status == CaptureStatus::captured; });
}

}  // namespace lpsafe::readers

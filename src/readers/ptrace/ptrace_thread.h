// One thread of a live process, held still for as short a time as possible:
// PTRACE_SEIZE, PTRACE_INTERRUPT, wait for the stop, PTRACE_GETREGSET, copy
// the stack with process_vm_readv, PTRACE_DETACH. Everything else (reading
// /proc, allocating, parsing) happens while the thread runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lpsafe/arch.h"
#include "lpsafe/process.h"
#include "readers/modules/proc_files.h"

namespace lpsafe::readers {

struct CaptureLimits {
    // Stack bytes copied above sp. A deeper stack is cut there: its walk
    // cannot reach the bottom, so the thread is unreliable, never safe.
    size_t max_stack_bytes = size_t{1} << 20;
    // How long a thread may take to stop (a task in uninterruptible sleep
    // stops only when it leaves it); then it is unreadable.
    std::chrono::milliseconds stop_timeout{500};
};

// The bytes of a thread's stack as they were while it was stopped.
struct StackCopy {
    uint64_t addr = 0;
    std::vector<std::byte> bytes;
};

struct ThreadCapture {
    ThreadState thread;
    StackCopy stack;  // empty unless captured
    // The thread never stopped within the timeout, so it could not be
    // detached (the kernel refuses PTRACE_DETACH of a running tracee): the
    // caller must detach it once it stops (see finish_detach()).
    bool left_seized = false;
    // Its sp lay in no mapping of `maps`: a map read before the thread made
    // its stack is stale; the caller may re-read it and retry.
    bool sp_outside_maps = false;
};

// Reusable work space: one buffer of max_stack_bytes, so the copy taken
// while the thread is stopped never allocates or faults in fresh pages.
class CaptureScratch {
public:
    // Touched once here, so no page fault lands in a thread's stop time.
    explicit CaptureScratch(size_t size) : buf_(new std::byte[size]()), size_(size) {}
    std::byte* data() const { return buf_.get(); }
    size_t size() const { return size_; }

private:
    std::unique_ptr<std::byte[]> buf_;
    size_t size_;
};

// `maps` is the process's memory map: the thread's stack is the mapping
// holding its sp. `info` was read from /proc just before.
ThreadCapture capture_thread(int pid, int tid, const TaskInfo& info, const Arch& arch,
                             const std::vector<Mapping>& maps, const CaptureLimits& limits,
                             CaptureScratch& scratch);

// For threads left seized: waits up to `timeout` for the pending stop and
// detaches. Returns false when the thread is still seized (it stays so until
// it stops or lpsafe exits; the kernel then detaches it).
bool finish_detach(int tid, std::chrono::milliseconds timeout);

// Why PTRACE_SEIZE of `tid` failed with `err`, naming the cause: another
// tracer, Yama's ptrace_scope, missing CAP_SYS_PTRACE.
std::string explain_ptrace_refusal(int pid, int tid, int err);

}  // namespace lpsafe::readers

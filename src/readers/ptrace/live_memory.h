// The memory of a live process as lpsafe uses it after the capture: each
// thread's stack as copied while it was stopped, and for the rest only
// mappings the process cannot write (code, read-only data, ELF headers),
// read live with process_vm_readv.
//
// Why live reads are acceptable there: the rules need code bytes (is the
// thread after a syscall, is a return address after a call) and ELF headers
// (build-ids). Those mappings are not writable, so their bytes are the ones
// the threads ran when they were stopped unless the process remaps or
// mprotects its own code (JIT, or a live patch applied concurrently, which
// is what this check must precede). Writable memory is never read live: a
// stack or heap byte read after the detach may already have changed, so
// anything outside the copies reads as missing and the walk fails closed.
#pragma once

#include <cstdint>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/process.h"
#include "readers/ptrace/ptrace_thread.h"

namespace lpsafe::readers {

class LiveMemory final : public Memory {
public:
    // Takes ownership of `pidfd` (a pidfd of `pid`): every live read is
    // confirmed against it, so a pid reused by another process after the
    // target exited never serves bytes.
    LiveMemory(int pid, int pidfd, const std::vector<Mapping>& maps, std::vector<StackCopy> stacks);
    ~LiveMemory() override;
    LiveMemory(const LiveMemory&) = delete;
    LiveMemory& operator=(const LiveMemory&) = delete;

    size_t read(uint64_t addr, std::span<std::byte> out) const override;

    // Copies [addr, addr + size) now, from any readable mapping (writable
    // ones too), and serves later reads of it from the copy. For the GOT
    // slots of lazily bound modules (copy_got_slots, ptrace_capture.cpp).
    void copy_now(uint64_t addr, uint64_t size);

private:
    size_t read_copy(uint64_t addr, std::span<std::byte> out) const;
    size_t read_live(uint64_t addr, std::span<std::byte> out) const;

    int pid_;
    int pidfd_;
    std::vector<Mapping> live_;       // readable, not writable; sorted
    std::vector<StackCopy> stacks_;   // sorted by addr
};

// Whether the process behind `pidfd` has not exited yet.
bool pidfd_alive(int pidfd);

}  // namespace lpsafe::readers

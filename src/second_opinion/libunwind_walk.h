// A second opinion on a thread's frames from an independent unwinder:
// libunwind (nongnu, 1.6), driven through its remote API with accessors over
// a lpsafe::ProcessImage, so it reads exactly the memory, registers and
// module files lpsafe read, whatever the input (core, live process, snapshot).
// Diagnostic only: the verdict never depends on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lpsafe/process.h"

namespace lpsafe::second_opinion {

struct PeerFrame {
    uint64_t pc = 0;  // exact for frame 0, else a return address (as lpsafe's Frame::pc)
    uint64_t sp = 0;  // the stack pointer in this frame (the callee's CFA)
};

struct PeerStack {
    enum class End {
        outermost,    // unw_step returned 0: libunwind believes the stack ended
        error,        // unw_step (or unw_init_remote) failed
        depth_limit,  // max_frames reached
    };
    std::vector<PeerFrame> frames;
    End end = End::error;
    std::string detail;  // libunwind's error text for `error`
};

// Unwinds `thread` with libunwind. Finds unwind tables through each
// module's .eh_frame_hdr (PT_GNU_EH_FRAME); libunwind's x86_64 heuristics
// (frame pointer, PLT) apply where it finds none. .debug_frame is not used:
// the Debian build offers no remote lookup for it.
PeerStack libunwind_walk(const ProcessImage& process, const ThreadState& thread, unsigned max_frames);

}  // namespace lpsafe::second_opinion

// The unwind loop: look the pc up, apply the rule, next. It records how the
// walk ended and every fact it met on the way; it judges nothing.
#pragma once

#include <string>
#include <vector>

#include "lpsafe/finding.h"
#include "lpsafe/frame.h"
#include "lpsafe/process.h"
#include "lpsafe/regs.h"

namespace lpsafe {

struct UnwindOptions {
    unsigned max_frames = 128;
    bool cross_check = true;  // compare CFI with frame-pointer steps where both apply
};

struct StackEnd {
    enum class Kind {
        outermost,     // the CFI marks the return address undefined: a real end
        failed,        // the walk could not go on (details in findings)
        depth_limit,   // max_frames reached
    };
    Kind kind = Kind::failed;
    std::string detail;
};

struct UnwoundStack {
    std::vector<Frame> frames;
    StackEnd end;
    // When the end is `outermost`: that frame's registers, for the
    // architecture's end-of-stack mark (Arch::check_stack_end_marker); where
    // ppc64's walk ends on a return address of 0, those of the initial frame
    // above it (the one whose back chain is 0).
    Regs outermost_regs;
    std::vector<Finding> findings;  // unwind, cross_check, sp, loop facts
};

UnwoundStack unwind_thread(const ProcessImage& process, const ThreadState& thread,
                           const UnwindOptions& options = {});

}  // namespace lpsafe

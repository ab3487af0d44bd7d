// Findings: facts about a stack that make it untrustworthy. A check that
// cannot run is a finding of its own, so a verdict is never safe by omission.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lpsafe {

enum class Check {
    top,                 // the walk does not start at a parking point
    bottom,              // the walk does not end at the real end of the stack
    return_after_call,   // a return address is not preceded by a call instruction
    stack_bounds,        // a frame's stack pointer lies outside the thread's stack
    sp_monotonic,        // the stack pointer did not strictly increase
    repeated_frame,      // the same (pc, sp) twice: a loop
    executable,          // a pc outside executable memory
    module,              // a frame lies in a module that cannot be verified
    unwind,              // the unwinder could not take a step
    cross_check,         // two unwinders disagree on a step
    signal_frame,        // the walk crossed a signal (exception) boundary
    elided,              // a patched function may be in frames the source never shows
};
std::string_view check_name(Check check);

struct Finding {
    Check check;
    int frame = -1;  // index into the frame list; -1 when it concerns the whole stack
    std::string detail;
};

}  // namespace lpsafe

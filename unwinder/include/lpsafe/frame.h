// A frame with provenance: where it is, how the unwinder found it, and what
// the address means. Symbolization is data too, so reports never re-read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lpsafe {

// `listed`: the frame was not unwound by lpsafe but listed by the kernel's own
// unwinder (/proc/<pid>/task/<tid>/stack); lpsafe only checks it.
// `inferred`: a frame the listing hides (scheduler text) that the kernel
// image proves is on the stack: the listed caller's call goes straight to it
// and it cannot have left by a tail call (docs/verdict-rules.md, "elided").
enum class UnwindMethod { initial, cfi, fp, listed, inferred, orc };
std::string_view method_name(UnwindMethod method);

struct Frame {
    uint64_t pc = 0;    // exact pc for frame 0 and after a signal frame, else a return address
    uint64_t sp = 0;    // stack pointer in this frame (the callee's CFA)
    uint64_t cfa = 0;   // this frame's CFA, 0 when the walk stopped here
    UnwindMethod method = UnwindMethod::initial;
    bool pc_is_return_address = false;
    bool signal_frame = false;  // the CFI marks this frame as a signal trampoline
    // The step from this frame to its caller was taken by CFI and confirmed
    // by an independent frame-pointer step.
    bool cross_checked = false;

    // Symbolization of lookup_address().
    std::string object;    // module file name, empty when none
    std::string function;  // empty when no symbol covers the address
    uint64_t offset = 0;   // from the function start (of pc, not lookup_address)

    // The address that lies inside the calling function: a return address may
    // point just past the end of a function that ends in a call to a noreturn
    // function (kernel/kallsyms.c sprint_backtrace looks up address - 1 too).
    uint64_t lookup_address() const { return pc_is_return_address ? pc - 1 : pc; }
};

}  // namespace lpsafe

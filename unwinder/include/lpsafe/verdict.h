// Verdicts: safe, blocked (which function, which frame) or unreliable (which
// check failed, where). Mirrors klp_check_stack(): an unreliable stack is
// reported as unreliable before patched functions are looked for, yet the
// functions found are still listed so an operator sees them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/finding.h"
#include "lpsafe/frame.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/unwind.h"

namespace lpsafe {

// safe/blocked/unreliable are judgements of a stack that was read. The
// others say why there is no judgement: `running` (a task on a CPU has no
// stable stack; the kernel's klp_check_and_switch_task() refuses it too),
// `gone` (exited or its pid was reused while being read; it can no longer
// block a patch, but its data is never mixed with another task's) and
// `unreadable` (permission or I/O error: the check is incomplete).
enum class VerdictKind { safe, blocked, unreliable, running, gone, unreadable };
std::string_view verdict_name(VerdictKind kind);

// A check that did not run (e.g. return-after-call on a /proc stack without a
// kernel image). Listed in every verdict it affects; --strict turns each into
// a finding, so the verdict becomes unreliable.
struct SkippedCheck {
    Check check;
    std::string reason;
};

struct BlockedBy {
    int frame = 0;
    std::string object;
    std::string function;
};

// Whether the kernel can move a blocked task on by itself
// (kernel/livepatch/transition.c klp_send_signals(), every 15 s of a stalled
// transition): `converges` it will, `waits` only once the task's own wait
// ends or it is continued, `never` not while the patch is enabled (a kthread
// parked in its patched main function).
struct Forecast {
    enum class Kind { converges, waits, never };
    Kind kind = Kind::waits;
    std::string why;
};
std::string_view forecast_name(Forecast::Kind kind);

struct TaskVerdict {
    int pid = 0;
    int tid = 0;
    std::string comm;
    std::string state;   // scheduler state letter ("S", "D", "R", ...) when the input has it
    VerdictKind verdict = VerdictKind::unreliable;
    std::string reason;  // why running/gone/unreadable; empty otherwise
    std::vector<BlockedBy> blocked_by;
    std::vector<Finding> findings;
    std::vector<Frame> frames;
    StackEnd end;
    std::vector<SkippedCheck> skipped;
    // Kernel checks: for a blocked task, how (whether) it will switch.
    std::optional<Forecast> forecast;
    // Live capture only: how long the thread was stopped to copy its state.
    uint64_t stop_ns = 0;
};

// Frames whose address lies in a patched range.
std::vector<BlockedBy> find_patched_frames(const std::vector<Frame>& frames, const ResolvedPatchSet& patch);

VerdictKind decide(const std::vector<Finding>& findings, const std::vector<BlockedBy>& blocked_by);

}  // namespace lpsafe

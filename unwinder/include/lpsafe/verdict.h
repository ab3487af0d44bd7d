// Verdicts: safe, blocked (which function, which frame) or unreliable (which
// check failed, where). Mirrors klp_check_stack(): an unreliable stack is
// reported as unreliable before patched functions are looked for, yet the
// functions found are still listed so an operator sees them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/finding.h"
#include "lpsafe/frame.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/unwind.h"

namespace lpsafe {

enum class VerdictKind { safe, blocked, unreliable };
std::string_view verdict_name(VerdictKind kind);

struct BlockedBy {
    int frame = 0;
    std::string object;
    std::string function;
};

struct TaskVerdict {
    int pid = 0;
    int tid = 0;
    std::string comm;
    VerdictKind verdict = VerdictKind::unreliable;
    std::vector<BlockedBy> blocked_by;
    std::vector<Finding> findings;
    std::vector<Frame> frames;
    StackEnd end;
};

// Frames whose address lies in a patched range.
std::vector<BlockedBy> find_patched_frames(const std::vector<Frame>& frames, const ResolvedPatchSet& patch);

VerdictKind decide(const std::vector<Finding>& findings, const std::vector<BlockedBy>& blocked_by);

}  // namespace lpsafe

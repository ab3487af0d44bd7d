#include "lpsafe/verdict.h"

namespace lpsafe {

std::vector<BlockedBy> find_patched_frames(const std::vector<Frame>& frames, const ResolvedPatchSet& patch) {
    std::vector<BlockedBy> out;
    for (size_t i = 0; i < frames.size(); ++i) {
        const uint64_t addr = frames[i].lookup_address();
        for (const PatchedRange& r : patch.ranges) {
            // klp_check_stack_func(): address >= func_addr && address < func_addr + func_size
            if (addr >= r.start && addr < r.end) {
                out.push_back({static_cast<int>(i), r.object, r.function});
                break;
            }
        }
    }
    return out;
}

VerdictKind decide(const std::vector<Finding>& findings, const std::vector<BlockedBy>& blocked_by) {
    // klp_check_stack() returns -EINVAL for an unreliable walk before it looks
    // at a single function: a stack that cannot be trusted cannot clear a
    // task, and the functions seen on it are shown but not relied on.
    if (!findings.empty()) return VerdictKind::unreliable;
    if (!blocked_by.empty()) return VerdictKind::blocked;
    return VerdictKind::safe;
}

}  // namespace lpsafe

// Frames /proc/<pid>/stack never lists for another task: scheduler and lock
// text (kernel/stacktrace.c stack_trace_consume_entry_nosched() drops every
// in_sched_functions() address). A patched function there can be on a
// sleeping task's stack without appearing in its listing, while the kernel's
// reliable walker sees it (docs/verdict-rules.md, "elided").
//
// Without the kernel image nothing bounds those hidden frames: every
// sleeping task may hold such a function. With the image, the call before
// each listed return address names its callee, and the direct calls and
// jumps of scheduler code bound the chain of hidden frames between two
// listed entries (the hidden chain runs through scheduler text only: any
// other function on it would have been listed).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lpsafe/arch.h"
#include "lpsafe/finding.h"
#include "lpsafe/frame.h"
#include "lpsafe/kallsyms.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/patch_set.h"

namespace lpsafe {

class ElidedFrames {
public:
    // `image` may be null or mismatched: then no hidden frame is bounded.
    ElidedFrames(const Kallsyms& kallsyms, const KernelImage* image, const Arch& arch, const ResolvedPatchSet& patch);

    // Does any patched range lie in text the listing elides?
    bool relevant() const { return !elided_patch_.empty(); }

    struct Judgement {
        // Hidden frames the image proves are there, each to go before the
        // listed frame of the index given.
        std::vector<std::pair<size_t, Frame>> proven;
        // A patched function that may hide on this stack (Check::elided).
        std::vector<Finding> findings;
    };
    // One listing: its frames and the kallsyms symbol of each (null where
    // the entry did not resolve).
    Judgement judge(const std::vector<Frame>& frames, const std::vector<const KernelSymbol*>& symbols) const;

private:
    // Which scheduler functions a hidden chain can hold: a set of function
    // start addresses, or unbounded (and why).
    struct Reach {
        std::unordered_set<uint64_t> functions;
        bool bounded = true;
        std::string why;
        void unbound(std::string reason);
    };

    // Where a branch lands, as far as hidden frames are concerned.
    enum class Target { elided, indirect_thunk, return_thunk, other, unknown };
    Target classify(uint64_t addr) const;
    bool opaque(const CodeEdges& edges) const;

    bool usable_image() const;
    bool is_elided(const KernelSymbol& s) const;
    Result<CodeEdges> edges_of(const KernelSymbol& s) const;
    std::optional<uint64_t> callee_at(const KernelSymbol* caller, const Frame& frame) const;
    void reach_forward(uint64_t start, bool at_top, Reach& reach) const;
    void reach_backward(const KernelSymbol& callee, Reach& reach) const;
    void close_backward(std::vector<uint64_t> work, std::unordered_set<uint64_t>& into) const;
    std::optional<Frame> proven_frame(uint64_t target) const;
    void build_graph();

    const Kallsyms& kallsyms_;
    const KernelImage* image_;
    const Arch& arch_;
    std::vector<PatchedRange> elided_patch_;
    // Scheduler functions by start address: their edges, computed once.
    std::unordered_map<uint64_t, Result<CodeEdges>> sched_edges_;
    // Callers by callee start (within scheduler text), and the scheduler
    // functions that branch indirectly (callers of anything) with all their
    // callers: what any gap with an unknown call target may hold.
    std::unordered_map<uint64_t, std::vector<uint64_t>> callers_;
    std::unordered_set<uint64_t> wildcard_reach_;
};

}  // namespace lpsafe

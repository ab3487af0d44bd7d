#include "kernel_elided.h"

#include <algorithm>
#include <span>

#include <fmt/format.h>

namespace lpsafe {
namespace {

// A hidden chain longer than this many distinct functions is not bounded in
// any useful sense; stop and fail closed.
constexpr size_t kMaxReach = 512;

// The top of every sleeping task: __switch_to_asm's inactive_task_frame
// returns into __schedule (arch/x86/kernel/unwind_orc.c __unwind_start), and
// nothing __schedule calls is still running when the task sleeps (the
// scheduler never sleeps inside itself), so a hidden chain at the top ends
// there and nothing can sit between two listed entries below it.
constexpr std::string_view kSwitchPoint = "__schedule";

// The function's own name among the aliases at its address: the first
// scheduler function shares it with the linker's __sched_text_start.
std::string function_name_at(const Kallsyms& kallsyms, uint64_t addr) {
    const KernelSymbol* first = kallsyms.at(addr);
    const auto& all = kallsyms.symbols();
    for (size_t i = static_cast<size_t>(first - all.data()); i < all.size() && all[i].addr == addr; ++i) {
        const std::string_view n = all[i].name;
        const bool section_bound = n.starts_with("__") && (n.ends_with("_start") || n.ends_with("_end"));
        if (all[i].is_text() && !section_bound) return std::string(n);
    }
    return std::string(first->name);
}

std::string where(const KernelSymbol& s, uint64_t addr) { return fmt::format("{}+{:#x}", s.name, addr - s.addr); }

}  // namespace

void ElidedFrames::Reach::unbound(std::string reason) {
    if (bounded) why = std::move(reason);
    bounded = false;
}

ElidedFrames::ElidedFrames(const Kallsyms& kallsyms, const KernelImage* image, const Arch& arch,
                           const ResolvedPatchSet& patch)
    : kallsyms_(kallsyms), image_(image), arch_(arch) {
    for (const PatchedRange& r : patch.ranges) {
        // Only vmlinux's ranges are filtered: in_sched_functions() knows no
        // module sections, so module __sched code is always listed.
        if (r.object == "vmlinux" && kallsyms.in_sched_functions(r.start)) elided_patch_.push_back(r);
    }
    if (relevant() && usable_image()) build_graph();
}

bool ElidedFrames::usable_image() const {
    return image_ != nullptr && image_->has_vmlinux() && image_->mismatch.empty() && arch_.code_edges != nullptr &&
           arch_.call_target != nullptr;
}

bool ElidedFrames::is_elided(const KernelSymbol& s) const {
    return s.module.empty() && kallsyms_.in_sched_functions(s.addr);
}

namespace {

bool named_with_prefix(std::string_view name, std::span<const std::string_view> (*list)()) {
    if (list == nullptr) return false;
    for (std::string_view prefix : list()) {
        if (name.starts_with(prefix)) return true;
    }
    return false;
}

}  // namespace

// Can a call or jump of this function go where its code does not say, onto
// a sleeping task's stack? A call through a slot of a paravirt table goes to
// code that never schedules (Arch::kernel_paravirt_tables); any other
// indirect branch may.
bool ElidedFrames::opaque(const CodeEdges& edges) const {
    if (edges.indirect) return true;
    return std::any_of(edges.slot_calls.begin(), edges.slot_calls.end(), [this](uint64_t slot) {
        const KernelSymbol* table = kallsyms_.at(slot);
        if (table == nullptr || !table->module.empty() || arch_.kernel_paravirt_tables == nullptr) return true;
        const auto tables = arch_.kernel_paravirt_tables();
        return std::find(tables.begin(), tables.end(), table->name) == tables.end();
    });
}

ElidedFrames::Target ElidedFrames::classify(uint64_t addr) const {
    const KernelSymbol* s = kallsyms_.at(addr);
    if (s == nullptr || !s->is_text()) return Target::unknown;
    if (named_with_prefix(s->name, arch_.kernel_indirect_thunks)) return Target::indirect_thunk;
    if (named_with_prefix(s->name, arch_.kernel_return_thunks)) return Target::return_thunk;
    return is_elided(*s) ? Target::elided : Target::other;
}

Result<CodeEdges> ElidedFrames::edges_of(const KernelSymbol& s) const {
    if (auto it = sched_edges_.find(s.addr); it != sched_edges_.end()) return it->second;
    if (!s.module.empty()) return make_error(fmt::format("{} is in module {}, whose code is not read", s.name, s.module));
    return arch_.code_edges(image_->process, s.addr, s.size);
}

void ElidedFrames::build_graph() {
    std::vector<uint64_t> wildcard_callers;
    for (const KernelSymbol& s : kallsyms_.symbols()) {
        if (!s.is_text() || !is_elided(s) || s.size == 0 || sched_edges_.contains(s.addr)) continue;
        auto edges = arch_.code_edges(image_->process, s.addr, s.size);
        // __schedule is never between two listed entries: whatever it
        // called has returned by the time any task sleeps.
        if (s.name != kSwitchPoint) {
            bool wildcard = !edges || opaque(*edges);
            if (edges) {
                for (const std::vector<uint64_t>* targets : {&edges->calls, &edges->jumps}) {
                    for (uint64_t to : *targets) {
                        const Target kind = classify(to);
                        wildcard = wildcard || kind == Target::indirect_thunk || kind == Target::unknown;
                        if (const KernelSymbol* t = kallsyms_.at(to)) callers_[t->addr].push_back(s.addr);
                    }
                }
            }
            if (wildcard) wildcard_callers.push_back(s.addr);
        }
        sched_edges_.emplace(s.addr, std::move(edges));
    }
    // The same in every unknown-target gap of every task: closed once.
    close_backward(std::move(wildcard_callers), wildcard_reach_);
}

// The functions a hidden chain can hold when it starts with a call to
// `start`: scheduler functions reached by direct calls and jumps through
// scheduler text, and any function's tail jumps (a function that left by a
// jump is no longer on the stack, its target is). Calls into other text are
// not followed: a frame there would have been listed.
void ElidedFrames::reach_forward(uint64_t start, bool at_top, Reach& reach) const {
    std::vector<uint64_t> work{start};
    std::unordered_set<uint64_t> seen{start};
    const auto follow = [&](uint64_t to) {
        if (seen.insert(to).second) work.push_back(to);
    };
    while (!work.empty() && reach.bounded) {
        const uint64_t at = work.back();
        work.pop_back();
        switch (classify(at)) {
        case Target::unknown:
            reach.unbound(fmt::format("a branch goes to {:#x}, which is not kernel text", at));
            return;
        case Target::indirect_thunk:
            reach.unbound(fmt::format("a branch goes through {} (indirect)", kallsyms_.at(at)->name));
            return;
        case Target::return_thunk: continue;  // a return, not a frame
        case Target::elided:
        case Target::other: break;
        }
        const KernelSymbol& s = *kallsyms_.at(at);
        const bool elided = is_elided(s);
        if (elided) reach.functions.insert(s.addr);
        if (elided && at_top && s.name == kSwitchPoint) continue;
        auto edges = edges_of(s);
        if (!edges) {
            reach.unbound(fmt::format("{}: {}", s.name, edges.error().message));
            return;
        }
        if (opaque(*edges)) {
            reach.unbound(edges->indirect
                              ? fmt::format("{} branches indirectly at {}", s.name, where(s, edges->indirect_at))
                              : fmt::format("{} calls through a function pointer in memory", s.name));
            return;
        }
        for (uint64_t to : edges->jumps) follow(to);
        if (elided) {
            // A call out of scheduler text: that frame would be listed.
            for (uint64_t to : edges->calls) {
                if (classify(to) != Target::other && classify(to) != Target::return_thunk) follow(to);
            }
        }
        if (seen.size() > kMaxReach) {
            reach.unbound(fmt::format("more than {} functions could be hidden", kMaxReach));
            return;
        }
    }
}

// The scheduler functions that can sit, hidden, between `callee` (listed)
// and the listed entry below it when that entry's call target is unknown:
// those with a direct branch to `callee`, those that branch indirectly (they
// may call anything), and transitively their own callers in scheduler text.
void ElidedFrames::reach_backward(const KernelSymbol& callee, Reach& reach) const {
    reach.functions.insert(wildcard_reach_.begin(), wildcard_reach_.end());
    if (auto it = callers_.find(callee.addr); it != callers_.end()) close_backward(it->second, reach.functions);
}

// Adds `work` and, transitively, their callers in scheduler text to `into`
// (a function already there brought its callers along).
void ElidedFrames::close_backward(std::vector<uint64_t> work, std::unordered_set<uint64_t>& into) const {
    while (!work.empty()) {
        const uint64_t at = work.back();
        work.pop_back();
        if (!into.insert(at).second) continue;
        if (auto it = callers_.find(at); it != callers_.end()) work.insert(work.end(), it->second.begin(), it->second.end());
    }
}

// The direct callee of the call before `frame`'s return address, when the
// image fixes it (a call through a thunk is indirect: no callee).
std::optional<uint64_t> ElidedFrames::callee_at(const KernelSymbol* caller, const Frame& frame) const {
    if (caller == nullptr || !caller->module.empty()) return std::nullopt;
    const auto to = arch_.call_target(image_->process, frame.pc);
    if (!to || classify(*to) == Target::indirect_thunk) return std::nullopt;
    return to;
}

// A hidden frame is certain when the listed caller's call goes straight to a
// scheduler function that cannot have left by a tail call: the call's
// return address is still on the stack, so that function is too.
std::optional<Frame> ElidedFrames::proven_frame(uint64_t target) const {
    const KernelSymbol* t = kallsyms_.at(target);
    if (t == nullptr || t->addr != target || !is_elided(*t)) return std::nullopt;
    auto edges = edges_of(*t);
    if (!edges || opaque(*edges)) return std::nullopt;
    for (uint64_t to : edges->jumps) {
        if (classify(to) != Target::return_thunk) return std::nullopt;
    }
    Frame f;
    f.pc = t->addr;
    f.method = UnwindMethod::inferred;
    f.object = "vmlinux";
    f.function = function_name_at(kallsyms_, t->addr);
    return f;
}

ElidedFrames::Judgement ElidedFrames::judge(const std::vector<Frame>& frames,
                                            const std::vector<const KernelSymbol*>& symbols) const {
    Judgement out;
    if (!relevant() || frames.empty()) return out;
    Reach reach;
    if (!usable_image()) {
        reach.unbound(image_ == nullptr || !image_->has_vmlinux()
                          ? "no kernel image to bound the hidden frames (see --vmlinux)"
                          : "the kernel image does not match the running kernel");
    }
    // Above frame 0 (the top gap) and between each listed pair.
    for (size_t i = 0; i < frames.size() && reach.bounded; ++i) {
        const auto callee = callee_at(symbols[i], frames[i]);
        if (i > 0 && callee && symbols[i - 1] != nullptr && *callee == symbols[i - 1]->addr) continue;
        if (callee) {
            if (auto proven = proven_frame(*callee)) out.proven.emplace_back(i, std::move(*proven));
            reach_forward(*callee, i == 0, reach);
        } else if (i > 0 && symbols[i - 1] != nullptr) {
            reach_backward(*symbols[i - 1], reach);
        } else {
            reach.unbound(fmt::format("the call at frame {} ({}) has no target the image fixes", i,
                                      frames[i].function.empty() ? "unnamed" : frames[i].function));
        }
    }
    for (const PatchedRange& p : elided_patch_) {
        const bool proven = std::any_of(out.proven.begin(), out.proven.end(),
                                        [&](const auto& f) { return f.second.pc >= p.start && f.second.pc < p.end; });
        if (proven || (reach.bounded && !reach.functions.contains(p.start))) continue;
        out.findings.push_back(
            {Check::elided, 0,
             fmt::format("patched {} lies in scheduler/lock text [{:#x}, {:#x}), which /proc never lists for "
                         "another task (kernel/stacktrace.c), and may be on this stack unseen: {}",
                         p.function, p.start, p.end,
                         reach.bounded ? "the calls around the listed frames can reach it" : reach.why)});
    }
    return out;
}

}  // namespace lpsafe

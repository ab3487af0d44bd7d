// The reliability checks. Each returns findings; none prints or decides.
// docs/verdict-rules.md gives each rule with the kernel behaviour it mirrors.
#include "lpsafe/checks.h"

#include <algorithm>
#include <set>

#include "lpsafe/arch.h"
#include "site_cache.h"

namespace lpsafe {
namespace {

std::string where(const Frame& frame) {
    std::string s = frame.function.empty() ? (frame.object.empty() ? hex_address(frame.pc) : frame.object + "+" + hex_address(frame.offset))
                                           : frame.function + "+" + hex_address(frame.offset);
    return s;
}

// The finding a rule's outcome makes (none when it passed); a check that
// could not run says so.
std::optional<Finding> finding_of(Check check, int frame, const RuleOutcome& outcome, const std::string& prefix) {
    if (outcome.kind == RuleOutcome::Kind::pass) return std::nullopt;
    const char* cannot = outcome.kind == RuleOutcome::Kind::cannot_check ? "cannot check: " : "";
    return Finding{check, frame, prefix + cannot + outcome.detail};
}

void add_outcome(std::vector<Finding>& out, Check check, int frame, const RuleOutcome& outcome,
                 const std::string& prefix) {
    if (auto f = finding_of(check, frame, outcome, prefix)) out.push_back(std::move(*f));
}

}  // namespace

// kernel: a task is only examined while it sleeps in __schedule (task_curr()
// tasks are -EBUSY in klp_check_and_switch_task). In user space the
// equivalent parking point is a blocking system call.
std::vector<Finding> check_top(const ProcessImage& process, const ThreadState& thread, const UnwoundStack& stack) {
    std::vector<Finding> out;
    const RuleOutcome parked = arch_of(process.arch).check_parked(process, thread.regs);
    const std::string at = stack.frames.empty() ? std::string("an unknown pc") : where(stack.frames.front());
    if (parked.kind == RuleOutcome::Kind::cannot_check) {
        out.push_back({Check::top, 0, "cannot tell whether the thread is parked (at " + at + "): " + parked.detail});
    } else {
        add_outcome(out, Check::top, 0, parked, "not parked in a system call: at " + at + ": ");
    }
    return out;
}

namespace {

// An outermost frame returning to an indirect call (glibc's clone3 and clone
// child: `call *%rdx`) is not tied to the frame it called by any call target:
// one saved return address replaced by such a site would end a cut-short
// stack at a real-looking end (tests/e2e/mutation_test.cpp found every such
// mutant trusted). What ties it is where the thread library started the
// thread: glibc's start_thread, called by clone, calls the start routine
// pthread_create was given, so the frame two inside the outermost one must be
// in that function.
std::optional<Finding> check_thread_start(const ProcessImage& process, const ThreadState& thread,
                                          const UnwoundStack& stack) {
    const int last = static_cast<int>(stack.frames.size()) - 1;
    const Frame& outermost = stack.frames.back();
    if (!outermost.pc_is_return_address || arch_of(process.arch).call_target(process, outermost.pc)) return std::nullopt;
    const std::string site = "the outermost frame returns to an indirect call at " + describe_address(process, outermost.pc);
    if (!thread.start_routine) {
        return Finding{Check::bottom, last, site + ", and where the thread started is unknown (no glibc thread "
                                                   "descriptor), so nothing shows the stack is not cut short"};
    }
    if (last < 2) {
        return Finding{Check::bottom, last, site + " with no frame of the thread's start routine " +
                                                describe_address(process, *thread.start_routine) + " inside it"};
    }
    const RuleOutcome r = control_reaches(process, *thread.start_routine, stack.frames[last - 2].lookup_address(),
                                          "the thread's start routine");
    if (r.kind != RuleOutcome::Kind::pass) return Finding{Check::bottom, last - 2, site + ", but " + r.detail};
    // The frame between (glibc's start_thread) was entered through that
    // register too, so its function must be one a pointer can reach: a
    // return site of a function only ever called directly
    // (__libc_start_call_main's, after its call of main) fits the same frame
    // but says the stack was spliced (the mutation test's last survivors).
    const Arch& arch = arch_of(process.arch);
    if (arch.check_address_taken == nullptr) return std::nullopt;
    const CodeLocation entered = locate(process, stack.frames[last - 1].lookup_address());
    if (!entered.has_function()) {
        return Finding{Check::bottom, last - 1, site + "; cannot check: no symbol or FDE bounds the function it entered, " +
                                                    describe_address(process, stack.frames[last - 1].pc)};
    }
    return finding_of(Check::bottom, last - 1, arch.check_address_taken(process, entered.function_start),
                      site + ", which entered a function no pointer reaches: ");
}

}  // namespace

// Documentation/livepatch/reliable-stacktrace.rst 4.1: the trace must end
// where the task's stack really ends, or an early stop (corruption, unwinder
// bug) would hide the frames that matter.
std::vector<Finding> check_bottom(const ProcessImage& process, const ThreadState& thread, const UnwoundStack& stack) {
    std::vector<Finding> out;
    const int last = static_cast<int>(stack.frames.size()) - 1;
    if (stack.end.kind != StackEnd::Kind::outermost || stack.frames.empty()) {
        out.push_back({Check::bottom, last, "the walk did not reach the end of the stack: " + stack.end.detail});
        return out;
    }
    const auto sp = thread.regs.get(arch_of(process.arch).sp_reg);
    const Mapping* stack_map = sp ? process.mapping_at(*sp) : nullptr;
    const Frame& outermost = stack.frames.back();
    if (stack_map == nullptr || !stack_map->contains(outermost.sp)) {
        out.push_back({Check::bottom, last, "the outermost frame's stack pointer " + hex_address(outermost.sp) +
                                                " is outside the thread's stack mapping"});
    }
    const RuleOutcome marker = arch_of(process.arch).check_stack_end_marker(*process.memory, stack.outermost_regs);
    if (marker.kind != RuleOutcome::Kind::pass) out.push_back({Check::bottom, last, marker.detail});
    if (auto start = check_thread_start(process, thread, stack)) out.push_back(std::move(*start));
    return out;
}

// Where the call before `ret` has a fixed target (direct, or through a GOT
// slot or PLT stub), the callee frame must lie in the function it calls, or
// in one that function reaches by tail calls (jumps out of it, direct or
// through a PLT stub or GOT slot, a few hops deep). A real return site of
// another function passes every other check (it follows a call, and its CFI
// may fit the stack); this is what tells it apart. Functions are bounded by
// their symbol, else their FDE (FunctionExtent), so unnamed functions of
// stripped files take part like named ones. Calls through registers have no
// fixed target and are left to the other checks.
namespace {
constexpr int kMaxTailHops = 3;
constexpr size_t kMaxTailFunctions = 32;

std::string function_name(const ProcessImage& process, const CodeLocation& loc) {
    return loc.symbol != nullptr ? loc.symbol->name : describe_address(process, loc.function_start);
}
}  // namespace

RuleOutcome call_reaches_callee(const ProcessImage& process, uint64_t ret, uint64_t at) {
    const auto target = arch_of(process.arch).call_target(process, ret);
    if (!target) return RuleOutcome::pass();
    return control_reaches(process, *target, at, "the call before this return address");
}

// `what` (the call, the thread's start) enters code at `target`; the frame at
// `at` must be in that function or in one it reaches by tail calls.
RuleOutcome control_reaches(const ProcessImage& process, uint64_t target, uint64_t at, std::string_view what) {
    const Arch& arch = arch_of(process.arch);
    const CodeLocation called = locate(process, target);
    const CodeLocation in = locate(process, at);
    if (!called.has_function()) {
        // The target's extent is unknown (no symbol, no FDE), but when the
        // callee's is known, the target must lie in it.
        if (!in.has_function() || in.function_contains(target)) return RuleOutcome::pass();
        return RuleOutcome::fail(std::string(what) + " goes to " + describe_address(process, target) + ", outside " +
                                 function_name(process, in) + " where the frame it called is");
    }
    std::vector<CodeLocation> hop{called};
    std::set<uint64_t> seen{called.function_start};
    for (int depth = 0; depth <= kMaxTailHops && !hop.empty(); ++depth) {
        std::vector<CodeLocation> next;
        for (const CodeLocation& f : hop) {
            if (f.function_contains(at)) return RuleOutcome::pass();
            const TailCalls tails = arch.tail_calls(process, f.function_start, f.function_size);
            // The called function's own tail call through a register
            // reaches what a call through one does: anything; the other
            // checks judge that frame. Only the called function's: deeper
            // in the search nearly every chain through libc meets one, and
            // the rule would then accept any return site (the mutation
            // test finds them).
            if (depth == 0 && tails.unknown_target) return RuleOutcome::pass();
            for (uint64_t to : tails.targets) {
                // A jump into code no extent covers can only be judged by
                // the callee's own extent, as for a call above.
                if (in.function_contains(to)) return RuleOutcome::pass();
                const CodeLocation t = locate(process, to);
                if (t.has_function() && seen.size() < kMaxTailFunctions && seen.insert(t.function_start).second)
                    next.push_back(t);
            }
        }
        hop = std::move(next);
    }
    return RuleOutcome::fail(std::string(what) + " goes to " + function_name(process, called) + " at " +
                             hex_address(target) + ", which does not reach the frame it called, at " +
                             describe_address(process, at));
}

// Not done by any unwinder we know of: a return address must be the address
// right after a call instruction, or it is not a return address at all.
std::vector<Finding> check_return_after_call(const ProcessImage& process, const UnwoundStack& stack) {
    SiteCache cache(process);
    return check_return_after_call(cache, stack);
}

std::vector<Finding> check_return_after_call(SiteCache& cache, const UnwoundStack& stack) {
    std::vector<Finding> out;
    for (size_t i = 1; i < stack.frames.size(); ++i) {
        const Frame& f = stack.frames[i];
        if (!f.pc_is_return_address) continue;  // after a signal frame: reported by the unwinder
        const RuleOutcome& r = cache.call_before(f.pc);
        add_outcome(out, Check::return_after_call, static_cast<int>(i), r, where(f) + ": ");
        if (r.kind == RuleOutcome::Kind::pass) {
            add_outcome(out, Check::return_after_call, static_cast<int>(i),
                        cache.call_reaches(f.pc, stack.frames[i - 1].lookup_address()), where(f) + ": ");
        }
    }
    return out;
}

// arch_stack_walk_reliable() on every architecture refuses frames off the
// task's stack; here the stack is the mapping that holds the thread's sp.
std::vector<Finding> check_stack_bounds(const ProcessImage& process, const ThreadState& thread,
                                        const UnwoundStack& stack) {
    std::vector<Finding> out;
    const auto sp = thread.regs.get(arch_of(process.arch).sp_reg);
    const Mapping* m = sp ? process.mapping_at(*sp) : nullptr;
    if (m == nullptr) {
        out.push_back({Check::stack_bounds, 0, "the stack pointer lies in no mapping of the process"});
        return out;
    }
    for (size_t i = 0; i < stack.frames.size(); ++i) {
        const Frame& f = stack.frames[i];
        const bool sp_ok = f.sp >= m->start && f.sp <= m->end;
        const bool cfa_ok = f.cfa == 0 || (f.cfa >= m->start && f.cfa <= m->end);
        if (!sp_ok || !cfa_ok) {
            out.push_back({Check::stack_bounds, static_cast<int>(i),
                           "frame at sp " + hex_address(f.sp) + " lies outside the thread's stack [" +
                               hex_address(m->start) + ", " + hex_address(m->end) + "]"});
        }
    }
    return out;
}

// __kernel_text_address() in the kernel walkers: a pc must be code.
std::vector<Finding> check_executable(const ProcessImage& process, const UnwoundStack& stack) {
    SiteCache cache(process);
    return check_executable(cache, stack);
}

std::vector<Finding> check_executable(SiteCache& cache, const UnwoundStack& stack) {
    std::vector<Finding> out;
    for (size_t i = 0; i < stack.frames.size(); ++i) {
        const Frame& f = stack.frames[i];
        const Module* m = cache.location(f.lookup_address()).module;
        if (m != nullptr && !m->status.usable()) continue;  // reported by check_modules
        if (!cache.executable(f.lookup_address())) {
            out.push_back({Check::executable, static_cast<int>(i), "pc " + hex_address(f.pc) + " is not in executable memory"});
        }
    }
    return out;
}

// A frame in a file that is missing or differs from what the process ran
// cannot be checked (its CFI, symbols and code would be someone else's).
std::vector<Finding> check_modules(const ProcessImage& process, const UnwoundStack& stack) {
    SiteCache cache(process);
    return check_modules(cache, stack);
}

std::vector<Finding> check_modules(SiteCache& cache, const UnwoundStack& stack) {
    std::vector<Finding> out;
    for (size_t i = 0; i < stack.frames.size(); ++i) {
        const Module* m = cache.location(stack.frames[i].lookup_address()).module;
        if (m == nullptr) {
            out.push_back({Check::module, static_cast<int>(i),
                           "pc " + hex_address(stack.frames[i].pc) + " is in no file-backed module (anonymous code)"});
        } else if (!m->status.usable()) {
            out.push_back({Check::module, static_cast<int>(i), "cannot unwind through " + m->path + ": " + m->status.detail});
        }
    }
    return out;
}

std::vector<Finding> check_repeated_frames(const UnwoundStack& stack) {
    // Sorted (pc, sp, index) triples put repeats next to each other: one
    // allocation per stack instead of a tree node per frame.
    struct Key {
        uint64_t pc, sp;
        size_t index;
        auto operator<=>(const Key&) const = default;
    };
    std::vector<Key> keys;
    keys.reserve(stack.frames.size());
    for (size_t i = 0; i < stack.frames.size(); ++i) keys.push_back({stack.frames[i].pc, stack.frames[i].sp, i});
    std::sort(keys.begin(), keys.end());
    std::vector<size_t> repeats;  // every occurrence after the first
    for (size_t k = 1; k < keys.size(); ++k) {
        if (keys[k].pc == keys[k - 1].pc && keys[k].sp == keys[k - 1].sp) repeats.push_back(keys[k].index);
    }
    std::sort(repeats.begin(), repeats.end());
    std::vector<Finding> out;
    for (size_t i : repeats) {
        out.push_back({Check::repeated_frame, static_cast<int>(i), "frame " + hex_address(stack.frames[i].pc) + " repeats: a loop"});
    }
    return out;
}

std::vector<Finding> check_all(const ProcessImage& process, const ThreadState& thread, const UnwoundStack& stack) {
    SiteCache cache(process);
    return check_all(cache, thread, stack);
}

std::vector<Finding> check_all(SiteCache& cache, const ThreadState& thread, const UnwoundStack& stack) {
    const ProcessImage& process = cache.process();
    std::vector<Finding> all = stack.findings;
    auto append = [&all](std::vector<Finding> more) {
        all.insert(all.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    };
    append(check_top(process, thread, stack));
    append(check_bottom(process, thread, stack));
    append(check_return_after_call(cache, stack));
    append(check_stack_bounds(process, thread, stack));
    append(check_executable(cache, stack));
    append(check_modules(cache, stack));
    append(check_repeated_frames(stack));
    std::stable_sort(all.begin(), all.end(), [](const Finding& a, const Finding& b) { return a.frame < b.frame; });
    // The unwinder and check_modules may both report the same module problem.
    std::set<std::pair<int, Check>> seen;
    std::vector<Finding> unique;
    for (auto& f : all) {
        if (seen.insert({f.frame, f.check}).second) unique.push_back(std::move(f));
    }
    return unique;
}

}  // namespace lpsafe

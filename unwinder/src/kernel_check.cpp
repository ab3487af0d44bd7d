// Checks of /proc kernel stacks (docs/verdict-rules.md, "/proc kernel
// stacks"). The kernel listed the frames; lpsafe decides whether the listing
// can be trusted as the stack livepatch's reliable walker would see.
#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "kernel_elided.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

std::string object_of(std::string_view module) { return std::string(module.empty() ? "vmlinux" : module); }

// The kallsyms symbol an entry names: same name, module and size (the size
// %pB printed is the kernel's own kallsyms size), and an offset inside it.
const KernelSymbol* resolve_entry(const ListedEntry& e, const Kallsyms& kallsyms, std::string& why) {
    const auto named = kallsyms.named(e.function, e.module);
    if (named.empty()) {
        why = fmt::format("{} is not in kallsyms ({})", e.function, object_of(e.module));
        return nullptr;
    }
    std::vector<const KernelSymbol*> fit;
    for (const KernelSymbol* s : named) {
        // A return address may equal the size: a call to a noreturn function
        // at the very end (%pB looks up address - 1).
        if (s->size == e.size && e.offset > 0 && e.offset <= s->size) fit.push_back(s);
    }
    if (fit.size() == 1) return fit.front();
    why = fit.empty() ? fmt::format("{}+{:#x}/{:#x} disagrees with kallsyms (size {:#x}): wrong symbol table?",
                                    e.function, e.offset, e.size, named.front()->size)
                      : fmt::format("{}/{:#x} names {} kallsyms symbols of that size", e.function, e.size, fit.size());
    return nullptr;
}

// Code kallsyms lists under a pseudo-module (kernel/kallsyms.c): not
// compiled code with unwind data, so a frame in it cannot be trusted
// (Documentation/livepatch/reliable-stacktrace.rst 4.2: reject ftrace and
// kprobe trampolines and eBPF).
const char* refused_pseudo_module(std::string_view module) {
    if (module == "__builtin__ftrace") return "an ftrace trampoline, which reliable stack walks refuse";
    if (module == "__builtin__kprobes") return "a kprobe instruction slot, which reliable stack walks refuse";
    if (module == "bpf") return "a BPF program, which reliable stack walks refuse";
    return nullptr;
}

struct Listed {
    std::vector<Frame> frames;
    std::vector<const KernelSymbol*> symbols;  // null where unresolved
    std::vector<Finding> findings;
};

Listed list_frames(const std::vector<ListedEntry>& entries, const Kallsyms& kallsyms) {
    Listed out;
    out.frames.reserve(entries.size());
    out.symbols.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        const ListedEntry& e = entries[i];
        Frame f;
        f.method = UnwindMethod::listed;
        f.pc_is_return_address = true;  // sched frames are dropped: every entry is a return address
        f.object = object_of(e.module);
        const KernelSymbol* sym = nullptr;
        std::string why;
        if (e.function.empty()) {
            f.pc = e.raw_address;
            f.object.clear();
            why = fmt::format("{:#x} is not kernel text the kernel could name", e.raw_address);
            out.findings.push_back({Check::executable, static_cast<int>(i), why});
        } else if ((sym = resolve_entry(e, kallsyms, why)) == nullptr) {
            f.function = e.function;
            f.offset = e.offset;
            out.findings.push_back({Check::executable, static_cast<int>(i), why});
        } else {
            f.pc = sym->addr + e.offset;
            f.function = e.function;
            f.offset = e.offset;
            if (const char* refused = refused_pseudo_module(e.module)) {
                out.findings.push_back({Check::module, static_cast<int>(i), e.function + " is " + refused});
            }
        }
        out.frames.push_back(std::move(f));
        out.symbols.push_back(sym);
    }
    return out;
}

// The architecture's listing head (Arch::kernel_listing_head): ppc64's
// arch_stack_walk() starts at thread.ksp, the frame _switch made, and lists
// that frame's LR save slot, which _switch never writes (it saves its return
// address in its caller's frame): stale stack contents (0x0, data addresses,
// old return addresses on Debian's 6.1). The kernel's reliable walker skips
// it ("We can only trust the bottom frame's backlink", stacktrace.c). The
// stale word is dropped here before anything is judged.
void drop_stale_head(const Arch& arch, std::vector<ListedEntry>& entries) {
    if (arch.kernel_listing_head.stale_first && !entries.empty()) entries.erase(entries.begin());
}

// top: kernel/stacktrace.c stack_trace_save_tsk() drops in_sched_functions()
// addresses for other tasks, so the first listed entry is where the task
// called into the scheduler; proc_pid_wchan() names the same function
// (get_wchan() skips the same scheduler frames). Where the architecture
// lists its context-switch function first (ppc64: __switch_to, not
// scheduler text), it must be there, and the scheduler's caller follows it.
void check_listed_top(const Arch& arch, const KernelTask& task, const Kallsyms& kallsyms, Listed& l) {
    if (l.frames.empty()) {
        l.findings.push_back({Check::top, -1, "the kernel listed no frames for a sleeping task (its walker failed)"});
        return;
    }
    size_t at = 0;
    if (const std::string_view sw = arch.kernel_listing_head.switch_frame; !sw.empty()) {
        if (l.frames.front().object != "vmlinux" || l.frames.front().function != sw) {
            l.findings.push_back({Check::top, 0,
                                  fmt::format("the listing starts at {} where the context switch {} must be: the "
                                              "walk did not start at the task's switch frame",
                                              l.frames.front().function.empty() ? "an unnamed address"
                                                                                : l.frames.front().function,
                                              sw)});
            return;
        }
        if (l.frames.size() == 1) {
            l.findings.push_back({Check::top, 0, fmt::format("the listing ends at the context switch {}", sw)});
            return;
        }
        at = 1;
    }
    const Frame& top = l.frames[at];
    const int idx = static_cast<int>(at);
    if (l.symbols[at] != nullptr && kallsyms.in_sched_functions(top.lookup_address())) {
        l.findings.push_back({Check::top, idx,
                              top.function + " is scheduler/lock text, which /proc never lists for another task"});
    }
    if (task.wchan && *task.wchan != top.function) {
        l.findings.push_back({Check::top, idx,
                              fmt::format("wchan says {} but the stack starts at {}: the task moved between reads",
                                          *task.wchan, top.function)});
    }
}

// bottom: a real end of a task stack for the architecture, and not cut off
// at the file's depth limit.
void check_listed_bottom(const Arch& arch, Listed& l, size_t entries, StackEnd& end) {
    if (l.frames.empty()) return;
    const Frame& last = l.frames.back();
    const int idx = static_cast<int>(l.frames.size() - 1);
    end.kind = StackEnd::Kind::failed;
    if (entries >= kProcStackDepth) {
        end.kind = StackEnd::Kind::depth_limit;
        end.detail = fmt::format("listing truncated at {} entries (fs/proc/base.c MAX_STACK_TRACE_DEPTH)", entries);
        l.findings.push_back({Check::bottom, idx, end.detail});
        return;
    }
    // An arch row without kernel stack ends knows none: every bottom fails (fail closed).
    const auto ends = arch.kernel_stack_ends != nullptr ? arch.kernel_stack_ends() : std::span<const KernelStackEnd>{};
    const bool known = last.object == "vmlinux" && std::any_of(ends.begin(), ends.end(), [&](const KernelStackEnd& e) {
                           return e.function == last.function;
                       });
    if (known) {
        end.kind = StackEnd::Kind::outermost;
        end.detail = "kernel stack end " + last.function;
        return;
    }
    end.detail = "ends at " + (last.function.empty() ? std::string("an unnamed address") : last.function);
    l.findings.push_back({Check::bottom, idx, end.detail + ", which is not a known end of a task stack"});
}

// Kernel memory: every frame the ORC walk found, named by kallsyms. The
// first is the saved return address into the scheduler, so every frame is
// a return address except a never-run task's ret_from_fork.
Listed walked_frames(const OrcWalk& walk, const Kallsyms& kallsyms) {
    Listed out;
    out.frames.reserve(walk.frames.size());
    out.symbols.reserve(walk.frames.size());
    for (size_t i = 0; i < walk.frames.size(); ++i) {
        Frame f;
        f.method = UnwindMethod::orc;
        f.pc = walk.frames[i].ip;
        f.sp = walk.frames[i].sp;
        f.pc_is_return_address = true;
        const KernelSymbol* sym = kallsyms.at(f.pc);
        if (sym == nullptr || (sym->size != 0 && f.pc - sym->addr >= sym->size)) {
            out.findings.push_back({Check::executable, static_cast<int>(i), fmt::format("{:#x} is not kernel text kallsyms names", f.pc)});
            sym = nullptr;
        } else {
            f.function = std::string(sym->name);
            f.offset = f.pc - sym->addr;
            f.object = object_of(sym->module);
            if (const char* refused = refused_pseudo_module(sym->module)) {
                out.findings.push_back({Check::module, static_cast<int>(i), f.function + " is " + refused});
            }
        }
        out.frames.push_back(std::move(f));
        out.symbols.push_back(sym);
    }
    if (walk.end == OrcWalk::End::failed) {
        out.findings.push_back({Check::unwind, std::max(walk.failed_at, 0), "ORC walk: " + walk.detail});
    }
    return out;
}

// top, literally (kernel/livepatch/transition.c klp_check_stack() sees the
// same frames): a sleeping task's walk starts in __schedule, where
// __switch_to_asm saved its context. A task that never ran starts at
// ret_from_fork.
void check_walked_top(Listed& l) {
    if (l.frames.empty()) {
        l.findings.push_back({Check::top, -1, "the walk found no frame"});
        return;
    }
    const Frame& top = l.frames.front();
    if (top.function == "__schedule" || top.function == "ret_from_fork") return;
    l.findings.push_back({Check::top, 0, "the saved context returns to " +
                                             (top.function.empty() ? fmt::format("{:#x}", top.pc) : top.function) +
                                             ", not __schedule"});
}

// The architecture's end of an idle task's stack in `function`, if it is one.
const KernelIdleEnd* idle_stack_end(const Arch& arch, std::string_view function) {
    if (arch.kernel_idle_stack_ends == nullptr) return nullptr;
    for (const KernelIdleEnd& e : arch.kernel_idle_stack_ends()) {
        if (e.function == function) return &e;
    }
    return nullptr;
}

// bottom: user-mode pt_regs at the very top of the task's stack
// (task_pt_regs()), the ORC end of a kernel thread's stack in
// ret_from_fork, or of an idle task's in the CPU's entry code. Returns the
// idle end it accepted (its return address has a rule of its own), if any.
const KernelIdleEnd* check_walked_bottom(const Arch& arch, const OrcWalk& walk, const KernelTask& task, Listed& l,
                                         StackEnd& end) {
    const uint64_t task_pt_regs = task.task_pt_regs;
    const int idx = static_cast<int>(l.frames.size()) - 1;
    end.kind = StackEnd::Kind::failed;
    switch (walk.end) {
    case OrcWalk::End::user_regs:
        if (walk.end_regs == task_pt_regs) {
            end.kind = StackEnd::Kind::outermost;
            end.detail = "user-mode registers at the top of the task's stack";
            return nullptr;
        }
        end.detail = fmt::format("user-mode registers at {:#x}, not at the top of the task's stack ({:#x})",
                                 walk.end_regs, task_pt_regs);
        break;
    case OrcWalk::End::end_of_stack:
        if (!l.frames.empty() && l.frames.back().function == "ret_from_fork") {
            end.kind = StackEnd::Kind::outermost;
            end.detail = "ORC end of stack in ret_from_fork";
            return nullptr;
        }
        if (task.is_idle && !l.frames.empty()) {
            if (const KernelIdleEnd* idle = idle_stack_end(arch, l.frames.back().function)) {
                end.kind = StackEnd::Kind::outermost;
                end.detail = "ORC end of an idle task's stack in " + l.frames.back().function;
                return idle;
            }
        }
        end.detail = task.is_idle ? "ORC end of an idle task's stack outside the CPU entry code"
                                  : "ORC end of stack outside ret_from_fork";
        break;
    case OrcWalk::End::failed:
        end.detail = walk.detail;
        return nullptr;  // the unwind finding says it
    }
    l.findings.push_back({Check::bottom, idx, end.detail});
    return nullptr;
}

// Why return-after-call cannot run on frames of `module` ("" = vmlinux), or
// nullopt when it can. A mismatching file is a finding (its bytes are not
// what runs), a missing one a skipped check.
struct CallCheckBar {
    bool finding = false;
    std::string why;
};

std::optional<CallCheckBar> call_check_bar(const KernelImage& image, std::string_view module) {
    if (module.empty()) {
        if (!image.has_vmlinux()) return CallCheckBar{false, "vmlinux frames: " + image.missing};
        return std::nullopt;
    }
    const KernelModuleCode* m = image.module(module);
    if (m == nullptr) return CallCheckBar{false, "frames in module " + std::string(module) + ": no module file was looked for"};
    if (m->state == KernelModuleCode::State::used) return std::nullopt;
    return CallCheckBar{m->state == KernelModuleCode::State::mismatch, "frames in module " + m->name + ": " + m->detail};
}

// Return-after-call outcomes by return address, for one check of many
// tasks: thousands of sleepers share a few dozen return sites, and decoding
// each again was most of a whole-system check's time.
using CallMemo = std::unordered_map<uint64_t, RuleOutcome>;

// `idle_end`: the last frame is an idle task's stack end, whose return
// address its own rule checks (not memoized: it holds for that frame only).
void check_listed_calls(const Arch& arch, const KernelCheckOptions& options, Listed& l,
                        std::vector<SkippedCheck>& skipped, CallMemo& memo, const KernelIdleEnd* idle_end = nullptr) {
    if (options.image == nullptr) {
        skipped.push_back({Check::return_after_call, "no kernel image was given (--no-kernel-image)"});
        return;
    }
    if (!options.image->mismatch.empty()) {
        l.findings.push_back({Check::return_after_call, -1, options.image->mismatch});
        return;
    }
    std::vector<std::string_view> barred;  // objects already reported
    for (size_t i = 0; i < l.frames.size(); ++i) {
        const KernelSymbol* sym = l.symbols[i];
        if (sym == nullptr) continue;  // already a finding
        if (auto bar = call_check_bar(*options.image, sym->module)) {
            if (bar->finding) {
                l.findings.push_back({Check::return_after_call, static_cast<int>(i), bar->why});
            } else if (std::find(barred.begin(), barred.end(), sym->module) == barred.end()) {
                skipped.push_back({Check::return_after_call, bar->why});
                barred.push_back(sym->module);
            }
            continue;
        }
        RuleOutcome own;
        const RuleOutcome* r = &own;
        if (idle_end != nullptr && idle_end->check_return != nullptr && i + 1 == l.frames.size()) {
            own = idle_end->check_return(options.image->process, l.frames[i].pc, sym->addr, sym->size);
        } else {
            // The symbol is kallsyms' for this pc: the pc alone is the key.
            auto [it, fresh] = memo.try_emplace(l.frames[i].pc);
            if (fresh) it->second = arch.check_call_before(options.image->process, l.frames[i].pc, sym->addr, sym->size);
            r = &it->second;
        }
        if (r->kind != RuleOutcome::Kind::pass) {
            l.findings.push_back({Check::return_after_call, static_cast<int>(i), r->detail});
        }
    }
}

// An idle task is always TASK_RUNNING; one its CPU is not running was read
// from kernel memory with a walk and is judged (klp_try_switch_task() checks
// it unless task_curr()).
bool parked_idle(const KernelTask& task) { return task.is_idle && task.walk.has_value(); }

// A task with no stack to judge: why not, or nullopt to go on.
std::optional<std::pair<VerdictKind, std::string>> no_judgement(const KernelTask& task) {
    if (task.status != CaptureStatus::captured) {
        return std::pair{task.status == CaptureStatus::gone ? VerdictKind::gone : VerdictKind::unreadable,
                         task.status_reason};
    }
    if (task.is_reader) return std::pair{VerdictKind::running, std::string("lpsafe's own thread, running while it reads")};
    if (task.state == "R" && !parked_idle(task)) {
        return std::pair{VerdictKind::running, std::string("runnable (state R): its stack changes while it is read")};
    }
    if (task.state == "Z" || task.state == "X") return std::pair{VerdictKind::gone, std::string("exited (zombie)")};
    return std::nullopt;
}

bool sleeping_state(std::string_view s) { return s == "S" || s == "D" || s == "I" || s == "T" || s == "t"; }

}  // namespace

namespace {

// Puts the hidden frames the image proves in place (each before the listed
// frame of its index), keeping findings on the frames they were about.
void insert_proven(std::vector<std::pair<size_t, Frame>> proven, Listed& l) {
    for (auto it = proven.rbegin(); it != proven.rend(); ++it) {
        const auto at = static_cast<std::ptrdiff_t>(it->first);
        l.frames.insert(l.frames.begin() + at, std::move(it->second));
        l.symbols.insert(l.symbols.begin() + at, nullptr);
        for (Finding& f : l.findings) {
            if (f.frame >= at) ++f.frame;
        }
    }
}

TaskVerdict finish_task(const ResolvedPatchSet& patch, const KernelCheckOptions& options, Listed l,
                        ElidedFrames::Judgement hidden, TaskVerdict v);

TaskVerdict judge_task(const KernelTask& task, const Kallsyms& kallsyms, const ResolvedPatchSet& patch,
                       const KernelCheckOptions& options, const ElidedFrames& elided, CallMemo& memo) {
    TaskVerdict v;
    v.pid = task.pid;
    v.tid = task.tid;
    v.comm = task.comm;
    v.state = task.state;
    if (auto none = no_judgement(task)) {
        v.verdict = none->first;
        v.reason = none->second;
        return v;
    }
    const Arch& arch = arch_of(options.arch);
    Listed l;
    ElidedFrames::Judgement hidden;
    if (task.walk) {
        l = walked_frames(*task.walk, kallsyms);
        if (!sleeping_state(task.state) && !parked_idle(task)) {
            l.findings.push_back({Check::top, -1, "task state '" + task.state + "' is not a sleeping state"});
        }
        check_walked_top(l);
        const KernelIdleEnd* idle_end = check_walked_bottom(arch, *task.walk, task, l, v.end);
        check_listed_calls(arch, options, l, v.skipped, memo, idle_end);
        return finish_task(patch, options, std::move(l), std::move(hidden), std::move(v));
    }
    auto entries = parse_stack_text(task.stack);
    if (!entries) {
        l.findings.push_back({Check::unwind, -1, "stack file: " + entries.error().message});
    } else {
        const size_t listed = entries->size();
        drop_stale_head(arch, *entries);
        l = list_frames(*entries, kallsyms);
        if (!sleeping_state(task.state)) {
            l.findings.push_back({Check::top, -1, "task state '" + task.state + "' is not a sleeping state"});
        }
        check_listed_top(arch, task, kallsyms, l);
        check_listed_bottom(arch, l, listed, v.end);
        check_listed_calls(arch, options, l, v.skipped, memo);
        hidden = elided.judge(l.frames, l.symbols);
        insert_proven(std::move(hidden.proven), l);
    }
    return finish_task(patch, options, std::move(l), std::move(hidden), std::move(v));
}

// The verdict from the frames and findings of either source.
TaskVerdict finish_task(const ResolvedPatchSet& patch, const KernelCheckOptions& options, Listed l,
                        ElidedFrames::Judgement hidden, TaskVerdict v) {
    if (options.strict) {
        for (const SkippedCheck& s : v.skipped) l.findings.push_back({s.check, -1, "skipped (--strict): " + s.reason});
    }
    v.blocked_by = find_patched_frames(l.frames, patch);
    // A patched function that may hide in elided frames leaves the task
    // undecided, unless it is blocked anyway: then it cannot switch either way.
    if (v.blocked_by.empty()) l.findings.insert(l.findings.end(), hidden.findings.begin(), hidden.findings.end());
    std::stable_sort(l.findings.begin(), l.findings.end(),
                     [](const Finding& a, const Finding& b) { return a.frame < b.frame; });
    v.verdict = decide(l.findings, v.blocked_by);
    v.findings = std::move(l.findings);
    v.frames = std::move(l.frames);
    if (v.verdict == VerdictKind::blocked) v.forecast = forecast_kernel_task(v);
    return v;
}

}  // namespace

TaskVerdict check_kernel_task(const KernelTask& task, const Kallsyms& kallsyms, const ResolvedPatchSet& patch,
                              const KernelCheckOptions& options) {
    const ElidedFrames elided(kallsyms, options.image, arch_of(options.arch), patch);
    CallMemo memo;
    return judge_task(task, kallsyms, patch, options, elided, memo);
}

namespace {

// kernel/livepatch/core.c klp_find_object_symbol(): the symbols named
// old_name in one object (vmlinux in kallsyms order, a module in its symtab
// order; any symbol type counts), then sympos 0 = the name must be unique
// ("unresolvable ambiguity for symbol"), N = the Nth of them ("symbol
// position N ... not found" when there are fewer). The kernel refuses to
// load such a patch, so lpsafe fails rather than guess which one it meant.
Result<const KernelSymbol*> klp_object_symbol(const PatchTarget& t, const Kallsyms& kallsyms) {
    const auto syms = kallsyms.named_in_listing_order(t.function, t.object);
    const std::string where = "'" + t.function + "' in object '" + object_of(t.object) + "'";
    if (kallsyms.name_was_skipped(t.function)) {
        // A same-name symbol may be missing from the table: the count that
        // sympos (and the uniqueness of sympos 0) rests on is unknown.
        return make_error("kallsyms has a line naming '" + t.function +
                          "' that could not be read, so its symbol position cannot be counted");
    }
    if (syms.empty()) return make_error("symbol " + where + " not found in kallsyms");
    const std::string count = std::to_string(syms.size()) + " symbols have that name";
    if (t.sympos == 0 && syms.size() > 1) {
        return make_error("unresolvable ambiguity for symbol " + where + ": " + count +
                          "; name one with " + t.spec() + ",N (sympos 1.." + std::to_string(syms.size()) + ")");
    }
    if (t.sympos > syms.size()) {
        return make_error("symbol position " + std::to_string(t.sympos) + " for symbol " + where + " not found: " +
                          (syms.size() == 1 ? std::string("1 symbol has that name") : count));
    }
    const KernelSymbol* s = syms[t.sympos == 0 ? 0 : t.sympos - 1];
    if (!s->is_text()) return make_error(t.spec() + ": kallsyms lists it as '" + std::string(1, s->type) + "', not code");
    return s;
}

// A target without an object (--func NAME): every text symbol of that name
// in vmlinux or any module, as for user-space patch sets.
Result<std::vector<const KernelSymbol*>> target_symbols(const PatchTarget& t, const Kallsyms& kallsyms) {
    if (!t.object.empty()) {
        auto one = klp_object_symbol(t, kallsyms);
        if (!one) return one.error();
        return std::vector<const KernelSymbol*>{*one};
    }
    auto syms = kallsyms.named_anywhere(t.function);
    std::erase_if(syms, [](const KernelSymbol* s) { return !s->is_text(); });
    if (syms.empty()) return make_error("function " + t.function + " not found in kallsyms (vmlinux or any loaded module)");
    if (t.sympos > 0) return make_error(t.spec() + ": a symbol position needs an object (vmlinux:" + t.spec() + ")");
    return syms;
}

}  // namespace

Result<ResolvedPatchSet> resolve_kernel_patch_set(const PatchSet& set, const Kallsyms& kallsyms) {
    ResolvedPatchSet out;
    for (const PatchTarget& t : set.targets()) {
        if (!t.object.empty() && !kallsyms.has_module(t.object)) {
            out.not_loaded.push_back(t.spec());
            continue;
        }
        auto syms = target_symbols(t, kallsyms);
        if (!syms) return syms.error();
        for (const KernelSymbol* s : *syms) {
            if (s->size == 0) return make_error(t.spec() + ": the last kallsyms symbol has no size");
            out.ranges.push_back({s->addr, s->addr + s->size, object_of(s->module), t.function, {}});
        }
    }
    return out;
}

Result<ProcessReport> check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms,
                                   const PatchSet& patch, const KernelCheckOptions& options) {
    auto resolved = resolve_kernel_patch_set(patch, kallsyms);
    if (!resolved) return resolved.error();
    return check_kernel(tasks, kallsyms, std::move(*resolved), options);
}

ProcessReport check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms, ResolvedPatchSet patch,
                           const KernelCheckOptions& options) {
    ProcessReport report;
    report.comm = "kernel";
    report.patch = std::move(patch);
    report.tasks.reserve(tasks.size());
    // Built once: with an image it decodes the whole of scheduler text.
    const ElidedFrames elided(kallsyms, options.image, arch_of(options.arch), report.patch);
    CallMemo memo;
    for (const KernelTask& t : tasks) {
        TaskVerdict v = judge_task(t, kallsyms, report.patch, options, elided, memo);
        report.summary.add(v.verdict);
        report.tasks.push_back(std::move(v));
    }
    return report;
}

ArchId kernel_arch_of(const Kallsyms& kallsyms, ArchId fallback) {
    const auto ends_of = [](const Arch* a) {
        return a->kernel_stack_ends != nullptr ? a->kernel_stack_ends() : std::span<const KernelStackEnd>{};
    };
    ArchId best = fallback;
    size_t best_count = 0;
    for (const Arch* arch : all_arches()) {
        size_t count = 0;
        for (const KernelStackEnd& e : ends_of(arch)) {
            const bool shared = std::any_of(all_arches().begin(), all_arches().end(), [&](const Arch* other) {
                return other != arch && std::any_of(ends_of(other).begin(), ends_of(other).end(),
                                                    [&](const KernelStackEnd& o) { return o.function == e.function; });
            });
            if (!shared && kallsyms.vmlinux_address(e.function)) ++count;
        }
        if (count > best_count) best = arch->id, best_count = count;
    }
    return best;
}

}  // namespace lpsafe

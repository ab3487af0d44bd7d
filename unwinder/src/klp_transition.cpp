#include "lpsafe/klp_transition.h"

#include <algorithm>

#include <fmt/format.h>

#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

std::string object_name(const PatchTarget& t) { return t.object.empty() ? "vmlinux" : t.object; }

// sysfs names a function "<name>,<sympos>" and writes 1 for old_sympos 0
// (kernel/livepatch/core.c klp_init_func_sysfs / klp_init_func()).
bool same_function(const PatchTarget& a, const PatchTarget& b) {
    return object_name(a) == object_name(b) && a.function == b.function &&
           std::max<uint64_t>(a.sympos, 1) == std::max<uint64_t>(b.sympos, 1);
}

// Every text symbol of a patch module, standing for its new functions.
Status add_module_text(const std::string& module, const std::string& why, const Kallsyms& kallsyms,
                       ResolvedPatchSet& out) {
    size_t added = 0;
    for (const KernelSymbol& s : kallsyms.symbols()) {
        if (s.module != module || !s.is_text() || s.size == 0) continue;
        out.ranges.push_back({s.addr, s.addr + s.size, module, std::string(s.name), why});
        ++added;
    }
    if (added == 0) {
        return make_error(fmt::format("livepatch module {} has no code in kallsyms, so {} cannot be located", module, why));
    }
    return Ok{};
}

// A loaded patch whose functions the kernel now runs in place of the
// originals: enabled, and not the patch being enabled itself.
bool is_previous(const LoadedLivepatch& p, const std::vector<std::string>& own) {
    return p.enabled && std::find(own.begin(), own.end(), p.module) == own.end();
}

// The previous patches whose functions include `target`.
std::vector<const LoadedLivepatch*> patching(const PatchTarget& target, const std::vector<LoadedLivepatch>& loaded,
                                             const std::vector<std::string>& own) {
    std::vector<const LoadedLivepatch*> out;
    for (const LoadedLivepatch& p : loaded) {
        if (!is_previous(p, own)) continue;
        if (std::any_of(p.targets.begin(), p.targets.end(), [&](const PatchTarget& t) { return same_function(t, target); })) {
            out.push_back(&p);
        }
    }
    return out;
}

Status add_current_code(const PatchTarget& t, const std::vector<LoadedLivepatch>& loaded,
                        const std::vector<std::string>& own, const Kallsyms& kallsyms, const char* role,
                        ResolvedPatchSet& out) {
    const auto by = patching(t, loaded, own);
    if (by.empty()) {
        PatchSet one;
        if (auto st = one.add_target(t); !st) return st;
        auto r = resolve_kernel_patch_set(one, kallsyms);
        if (!r) return r.error();
        out.ranges.insert(out.ranges.end(), r->ranges.begin(), r->ranges.end());
        out.not_loaded.insert(out.not_loaded.end(), r->not_loaded.begin(), r->not_loaded.end());
        return Ok{};
    }
    for (const LoadedLivepatch* p : by) {
        const std::string why = fmt::format("{} {}: the code of loaded patch {} that now runs in its place "
                                            "(klp_check_stack_func: prev->new_func)",
                                            role, t.spec(), p->module);
        if (auto st = add_module_text(p->module, why, kallsyms, out); !st) return st;
    }
    return Ok{};
}

void dedupe(ResolvedPatchSet& out) {
    std::sort(out.ranges.begin(), out.ranges.end(),
              [](const PatchedRange& a, const PatchedRange& b) { return a.start < b.start || (a.start == b.start && a.end < b.end); });
    out.ranges.erase(std::unique(out.ranges.begin(), out.ranges.end(),
                                 [](const PatchedRange& a, const PatchedRange& b) { return a.start == b.start && a.end == b.end; }),
                     out.ranges.end());
}

}  // namespace

Result<ResolvedPatchSet> resolve_klp_transition(const KlpTransition& transition,
                                                const std::vector<LoadedLivepatch>& loaded, const Kallsyms& kallsyms) {
    ResolvedPatchSet out;
    if (transition.direction == KlpTransition::Direction::disable) {
        const auto it = std::find_if(loaded.begin(), loaded.end(),
                                     [&](const LoadedLivepatch& p) { return p.module == transition.module; });
        if (it == loaded.end()) return make_error("no loaded livepatch named " + transition.module);
        // While it is being disabled, `enabled` already reads 0 and
        // `transition` 1: that is the transition to predict, not an error.
        if (!it->enabled && !it->transition) {
            return make_error("livepatch " + transition.module + " is loaded but not enabled");
        }
        const std::string why = "new functions of " + transition.module + " (unpatching checks func->new_func)";
        if (auto st = add_module_text(transition.module, why, kallsyms, out); !st) return st.error();
        dedupe(out);
        return out;
    }
    for (const PatchTarget& t : transition.targets) {
        if (auto st = add_current_code(t, loaded, transition.own_modules, kallsyms, "replaces", out); !st) {
            return st.error();
        }
    }
    if (transition.replace) {
        // klp_add_nops(): a nop for every function of an older patch that the
        // new one leaves out; patching it checks that older new function.
        const auto& own = transition.own_modules;
        for (const LoadedLivepatch& p : loaded) {
            if (!is_previous(p, own)) continue;
            for (const PatchTarget& old : p.targets) {
                const bool kept = std::any_of(transition.targets.begin(), transition.targets.end(),
                                              [&](const PatchTarget& t) { return same_function(t, old); });
                if (kept) continue;
                if (auto st = add_current_code(old, loaded, own, kallsyms, "reverts (atomic replace nop)", out); !st) {
                    return st.error();
                }
            }
        }
    }
    dedupe(out);
    return out;
}

}  // namespace lpsafe

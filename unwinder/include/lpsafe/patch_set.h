// The functions a patch replaces, as the user names them: [OBJECT:]FUNCTION,
// OBJECT being a module's file name or soname. Resolved against a process's
// modules into address ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe {

struct PatchTarget {
    std::string object;  // empty: any module
    std::string function;
    // Kernel livepatch old_sympos: 0 = the name (the kernel requires it to be
    // unique, and so do kernel checks with an object; user-space checks every
    // match); N > 0 = only the Nth symbol of that name in the object: kallsyms
    // order in kernel checks (klp_find_object_symbol()), address order in user
    // space (docs/design.md). Shown as "function,N" as in
    // /sys/kernel/livepatch/<patch>/<object>/<function,sympos>; add_spec()
    // reads that form back.
    uint64_t sympos = 0;
    std::string spec() const {
        const std::string f = sympos == 0 ? function : function + "," + std::to_string(sympos);
        return object.empty() ? f : object + ":" + f;
    }
};

class PatchSet {
public:
    Status add_spec(std::string_view spec);
    // A target read elsewhere (a livepatch module's klp_func): same checks.
    Status add_target(PatchTarget target);
    // One spec per line; `#` starts a comment; blank lines are ignored.
    Status add_file(const std::string& path);
    Status add_text(std::string_view text, std::string_view origin);
    const std::vector<PatchTarget>& targets() const { return targets_; }
    bool empty() const { return targets_.empty(); }

private:
    std::vector<PatchTarget> targets_;
};

struct PatchedRange {
    uint64_t start = 0;  // runtime addresses, [start, end)
    uint64_t end = 0;
    std::string object;
    std::string function;
    // What the range stands for when it is not the target itself, e.g. the
    // new function of a loaded livepatch that the kernel checks instead
    // (kernel/livepatch/transition.c klp_check_stack_func()).
    std::string stands_for;
};

struct ResolvedPatchSet {
    std::vector<PatchedRange> ranges;
    // Targets whose object is not loaded in this process: they cannot be on any
    // stack, so they are reported, not failed.
    std::vector<std::string> not_loaded;
    // Modules that could hold a target but cannot be read or verified. Frames
    // in them are unreliable anyway, so the verdict stays sound.
    std::vector<std::string> unsearched;
};

// Fails when a target's function cannot be found: a typo must not turn into a
// "safe" verdict. Only OBJECT:FUNCTION whose object cannot be read is left
// open (listed in `unsearched`).
Result<ResolvedPatchSet> resolve_patch_set(const PatchSet& set, const ModuleMap& modules);

}  // namespace lpsafe

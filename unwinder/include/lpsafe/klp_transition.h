// The address ranges the kernel will really compare every stack against in a
// livepatch transition (kernel/livepatch/transition.c klp_check_stack_func()):
// not always the functions a patch names. Pure: the loaded patches come from
// a reader of /sys/kernel/livepatch, the symbols from kallsyms.
#pragma once

#include <string>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/result.h"

namespace lpsafe {

// A livepatch already loaded, as /sys/kernel/livepatch shows it.
struct LoadedLivepatch {
    std::string module;                // the patch module (its kallsyms [module])
    bool enabled = false;
    std::vector<PatchTarget> targets;  // object:function,sympos of each klp_func
};

// The transition to predict.
struct KlpTransition {
    enum class Direction { enable, disable };
    Direction direction = Direction::enable;
    // enable: the new patch's functions (from its .ko) and its .replace flag.
    std::vector<PatchTarget> targets;
    bool replace = false;
    // enable: the new patch's module name(s). Once loaded (its transition in
    // progress) it is on its functions' stacks itself but is not the
    // previous patch: the kernel still checks what runs below it.
    std::vector<std::string> own_modules;
    // disable: the loaded patch to turn off.
    std::string module;
};

// Enabling: a function no enabled patch replaces yet is checked at its
// original code (old_func); one that an enabled patch already replaces is
// checked at that patch's new function (prev->new_func), and with
// .replace, every function an older patch replaces and the new one does not
// gets a nop entry, checked at that older new function too. Disabling: the
// patch's own new functions (func->new_func).
//
// sysfs does not say which symbol of a patch module is a klp_func's new
// function, so a loaded patch's new function stands for every text symbol of
// its module (a superset: never a false safe, at worst a task blocked by
// another function of the patch module). Without stack_order the top of a
// function's patch stack is unknown, so every enabled patch of it counts.
Result<ResolvedPatchSet> resolve_klp_transition(const KlpTransition& transition,
                                                const std::vector<LoadedLivepatch>& loaded, const Kallsyms& kallsyms);

}  // namespace lpsafe

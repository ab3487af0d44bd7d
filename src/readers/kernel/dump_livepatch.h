// The loaded livepatches of a kernel, read from its memory: the
// `klp_patches` list (kernel/livepatch/core.c) in load order, each patch's
// module, enabled and replace flags, objects and functions, and whether it
// is `klp_transition_patch`. This is what /sys/kernel/livepatch shows on a
// live system (livepatch_sysfs.h); a dump has no /sys, and without it a
// transition's check ranges would miss the loaded patches' new functions.
#pragma once

#include "lpsafe/kallsyms.h"
#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/kernel/kernel_btf.h"
#include "readers/kernel/livepatch_sysfs.h"

namespace lpsafe::readers {

// available = false when the kernel has no `klp_patches` (no CONFIG_LIVEPATCH).
Result<LivepatchStatus> livepatch_from_memory(const Memory& memory, const Kallsyms& kallsyms, const KernelBtf& btf);

}  // namespace lpsafe::readers

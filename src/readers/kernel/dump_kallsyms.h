// The kernel's own symbol table, read out of its memory: the compressed
// kallsyms arrays (kernel/kallsyms.c) that /proc/kallsyms prints from, found
// through VMCOREINFO's SYMBOL(kallsyms_*) entries (Linux 6.0 and later). A
// dump then names its frames without /proc/kallsyms or debug info. Only the
// kernel image's symbols are there: modules keep theirs in their own memory.
#pragma once

#include <string>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/kernel/vmcoreinfo.h"

namespace lpsafe::readers {

struct DumpKallsymsOptions {
    // CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP): non-negative offsets are
    // absolute values (the per-CPU symbols), negative ones are relative to
    // kallsyms_relative_base - 1.
    bool absolute_percpu = true;
};

// /proc/kallsyms text ("ffffffff81000000 T _text" lines, in the table's
// order) for the symbols the kernel's tables hold.
Result<std::string> kallsyms_from_memory(const Memory& memory, const VmcoreInfo& info,
                                         const DumpKallsymsOptions& options = {});

}  // namespace lpsafe::readers

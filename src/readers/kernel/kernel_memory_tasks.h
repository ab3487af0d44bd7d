// Every task of a kernel, read from its memory (/proc/kcore, a crash dump):
// the task list from init_task, each task's fields at the offsets BTF gives,
// and each sleeping task's stack walked with the image's ORC tables from the
// context __switch_to_asm saved (unwind_orc.c __unwind_start()). The walk is
// the engine's (lpsafe/orc.h); this reader only finds where it starts and
// makes sure the task held still while it was read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/memory.h"
#include "lpsafe/module.h"
#include "lpsafe/orc.h"
#include "lpsafe/result.h"
#include "readers/kernel/livepatch_sysfs.h"

namespace lpsafe::readers {

class KernelBtf;

struct KernelMemoryOptions {
    int reader_tgid = 0;       // the live reading process (its threads are running); 0 for dumps
    // The image's BTF already parsed (a dump check parses it for the modules
    // first); parsed from the image's .BTF section when null.
    const KernelBtf* btf = nullptr;
    int retries = 3;  // reads of a task that keeps switching before it is called running
};

struct MemoryTasks {
    std::vector<KernelTask> tasks;
    // Each task's task_struct.patch_state, as /proc/<pid>/patch_state prints
    // it; empty when the kernel has no livepatch (no such field in BTF).
    std::vector<TaskPatchState> patch_states;
};

// `vmlinux` is the running kernel's image (build-id checked by the caller).
Result<MemoryTasks> read_memory_tasks(const Memory& memory, const Kallsyms& kallsyms,
                                                  const ElfImage& vmlinux, const KernelOrc& orc,
                                                  const KernelMemoryOptions& options);

}  // namespace lpsafe::readers

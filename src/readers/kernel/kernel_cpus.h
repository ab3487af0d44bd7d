// The kernel's CPUs as its memory holds them: which are online
// (__cpu_online_mask), and each one's run queue (the per-CPU `runqueues`):
// its idle task and the task it is running. klp_try_complete_transition()
// checks the idle task of every online CPU, and only CPU 0's (init_task) is
// on the task list; a task that is some run queue's `curr` is on a CPU.
#pragma once

#include <cstdint>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/kernel/kernel_btf.h"

namespace lpsafe::readers {

struct OnlineCpu {
    unsigned cpu = 0;
    uint64_t idle = 0;  // struct task_struct * (rq->idle)
    uint64_t curr = 0;  // struct task_struct * (rq->curr)
};

// Fails (naming what) when a symbol, a member or the memory is missing: a
// check that cannot see every idle task must not call the system safe.
Result<std::vector<OnlineCpu>> read_online_cpus(const Memory& memory, const Kallsyms& kallsyms, const KernelBtf& btf);

}  // namespace lpsafe::readers

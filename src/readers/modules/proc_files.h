// What /proc says about a live process and its threads: the task list,
// each task's name, state and tracer, the memory map and the auxiliary
// vector. Plain reads and parsers; the ptrace capture decides what to do.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "readers/core/core_notes.h"

namespace lpsafe::readers {

// The whole of a /proc file (they report a size of 0, so read to EOF).
Result<std::string> read_proc_file(const std::string& path);

// /proc/<pid>/task: thread ids, sorted. Fails when the process is gone.
Result<std::vector<int>> list_tasks(int pid);

// Every numeric entry of /proc (thread-group ids), sorted.
std::vector<int> list_processes();

struct TaskInfo {
    std::string comm;
    char state = '?';    // /proc/<pid>/task/<tid>/stat field 3
    unsigned flags = 0;  // field 9 (PF_* of include/linux/sched.h)
    int tracer_pid = 0;  // status "TracerPid:"
};
// Fails when the task is gone.
Result<TaskInfo> read_task_info(int pid, int tid);

// PF_KTHREAD: kernel threads have no user stack to check.
bool is_kernel_thread(const TaskInfo& info);

// /proc/<pid>/maps lines as Mappings. Only absolute paths name files:
// "[stack]", "[vdso]", "[heap]", "[anon:...]" are anonymous here, as in a
// core's NT_FILE. A " (deleted)" suffix is kept, so the file is not found
// and its frames are unreliable rather than checked against another file.
Result<std::vector<Mapping>> parse_maps(std::string_view text);

// /proc/<pid>/auxv: the same (type, value) words as a core's NT_AUXV.
Result<Auxv> read_auxv(int pid);

// The Yama LSM's kernel.yama.ptrace_scope (0-3), when Yama is present.
std::optional<int> yama_ptrace_scope();

// Whether this process has CAP_SYS_PTRACE in its effective set.
bool has_cap_sys_ptrace();

}  // namespace lpsafe::readers

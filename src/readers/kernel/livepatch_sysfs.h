// The kernel's view of loaded livepatches: /sys/kernel/livepatch (ABI:
// Documentation/ABI/testing/sysfs-kernel-livepatch) and each task's
// /proc/<pid>/task/<tid>/patch_state (fs/proc/base.c). Read under a root
// directory so that a captured tree (or a test's fake tree) reads the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe/result.h"
#include "readers/kernel/proc_source.h"

namespace lpsafe::readers {

struct LivepatchFunc {
    std::string name;
    uint64_t sympos = 1;  // the directory is "<function>,<sympos>"; the kernel writes 1 for old_sympos 0
};

struct LivepatchObject {
    std::string name;              // "vmlinux" or a module name
    std::optional<bool> patched;   // <object>/patched, v6.1+
    std::vector<LivepatchFunc> funcs;
};

struct LoadedPatch {
    std::string name;                  // the livepatch module's name
    bool enabled = false;
    bool transition = false;           // <patch>/transition, v4.12+ (false when absent)
    std::optional<bool> replace;       // <patch>/replace, v6.11+
    std::optional<uint64_t> stack_order;  // <patch>/stack_order, v6.13+
    std::vector<LivepatchObject> objects;
};

// patch_state values (include/linux/livepatch.h KLP_UNDEFINED / KLP_UNPATCHED
// / KLP_PATCHED; KLP_TRANSITION_* since v6.10 with the same values).
enum class PatchState { idle = -1, unpatched = 0, patched = 1 };

struct TaskPatchState {
    int pid = 0;  // thread group
    int tid = 0;
    std::optional<PatchState> state;  // empty: could not be read, see `unreadable`
    std::string unreadable;
};

struct LivepatchStatus {
    bool available = false;  // false: <root>/sys/kernel/livepatch does not exist (no CONFIG_LIVEPATCH)
    std::vector<LoadedPatch> patches;  // sorted by name
    bool in_transition() const;
};

// Loaded patches under `root` ("/" for this machine). A missing directory is
// not an error (available = false); an unreadable or malformed attribute is.
Result<LivepatchStatus> read_livepatch_sysfs(const std::string& root = "/");
// The same from `dir` of any ProcSource: "" of a source opened on
// /sys/kernel/livepatch, or "lpsafe-capture/sys-kernel-livepatch" of a kernel
// capture (docs/kernel-capture-format.md). A directory that cannot be listed
// means no livepatch support (available = false).
Result<LivepatchStatus> read_livepatch(const ProcSource& tree, const std::string& dir);

// patch_state of every thread under <root>/proc. Tasks that vanish while
// being read are skipped; one whose patch_state cannot be read (mode 0400:
// root only) or parsed is listed with the reason. Empty when the kernel has
// no patch_state files (no CONFIG_LIVEPATCH).
Result<std::vector<TaskPatchState>> read_task_patch_states(const std::string& root = "/");

// One patch_state file's content (fs/proc/base.c: "%d\n"), or why it
// could not be read; `where` names the file in the reason.
TaskPatchState parse_patch_state(int pid, int tid, const FileRead& file, const std::string& where);

const char* patch_state_name(PatchState s);

}  // namespace lpsafe::readers

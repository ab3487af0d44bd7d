// A whole-system kernel capture from a ProcSource: kallsyms, the kernel's
// build-id and release, and every task's stat, wchan and stack files, each
// live process held by a pidfd while it is read. The capture is raw (what the
// files said); to_kernel_input() turns it into the engine's KernelTasks.
#pragma once

#include <cerrno>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/result.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/livepatch_sysfs.h"
#include "readers/kernel/proc_source.h"

namespace lpsafe::readers {

struct RawTask {
    int pid = 0;
    int tid = 0;
    FileRead stat, wchan, stack;
    std::string gone_reason;  // set when the task exited or its pid was reused while being read
    FileRead patch_state{{}, ENOENT};  // read only where the kernel has livepatch (ENOENT otherwise)
};

struct KernelCapture {
    std::string source;    // what was read ("/proc", a directory, an archive)
    FileRead kallsyms;
    FileRead notes;        // /sys/kernel/notes (ELF notes; the GNU build-id)
    FileRead release;      // sys/kernel/osrelease (uname -r)
    FileRead info;         // lpsafe-capture/info of a recorded capture
    // Each loaded module's build-id note (/sys/module/M/notes/.note.gnu.build-id;
    // captures: lpsafe-capture/sys-module-notes/M), for those that have one.
    std::map<std::string, std::string> module_notes;
    int reader_pid = 0;    // the reading lpsafe process (its threads are running)
    std::vector<RawTask> tasks;
    // /sys/kernel/livepatch as read (captures: lpsafe-capture/sys-kernel-livepatch):
    // its files, paths relative to it, an empty directory kept as
    // "<dir>/.lpsafe-dir"; absent when the kernel has no livepatch support.
    std::optional<std::vector<CaptureFile>> livepatch_files;
    LivepatchStatus livepatch;   // parsed from them
    std::string livepatch_error;  // why they could not be parsed
};

// Whether each task's files are read. A check that walks kernel memory reads
// the tasks from there and needs only kallsyms, the notes and livepatch.
enum class TaskCapture { read, skip };
Result<KernelCapture> capture_kernel(const ProcSource& source, TaskCapture tasks = TaskCapture::read);

// The files `record` writes, laid out like /proc (docs/kernel-capture-format.md).
std::vector<CaptureFile> capture_files(const KernelCapture& capture, const std::string& recorder);

struct KernelInput {
    Kallsyms kallsyms;
    std::vector<KernelTask> tasks;
    std::string build_id;  // of the running (or recorded) kernel; empty when unknown
    std::string release;
    std::map<std::string, std::string> module_build_ids;  // module -> lower-case hex, when known
    LivepatchStatus livepatch;
    std::vector<TaskPatchState> patch_states;  // tasks whose patch_state was read (or refused)
};

Result<KernelInput> to_kernel_input(const KernelCapture& capture);

// The GNU build-id note among ELF notes (/sys/kernel/notes, in the kernel's
// byte order, either); lower-case hex.
std::string build_id_from_notes(std::string_view notes);

}  // namespace lpsafe::readers

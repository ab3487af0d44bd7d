// A whole-system kernel capture from a ProcSource: kallsyms, the kernel's
// build-id and release, and every task's stat, wchan and stack files, each
// live process held by a pidfd while it is read. The capture is raw (what the
// files said); to_kernel_input() turns it into the engine's KernelTasks.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/result.h"
#include "readers/kernel_archive.h"
#include "readers/proc_source.h"

namespace lpsafe::readers {

struct RawTask {
    int pid = 0;
    int tid = 0;
    FileRead stat, wchan, stack;
    std::string gone_reason;  // set when the task exited or its pid was reused while being read
};

struct KernelCapture {
    std::string source;    // what was read ("/proc", a directory, an archive)
    FileRead kallsyms;
    FileRead notes;        // /sys/kernel/notes (ELF notes; the GNU build-id)
    FileRead release;      // sys/kernel/osrelease (uname -r)
    FileRead info;         // lpsafe-capture/info of a recorded capture
    int reader_pid = 0;    // the reading lpsafe process (its threads are running)
    std::vector<RawTask> tasks;
};

Result<KernelCapture> capture_kernel(const ProcSource& source);

// The files `record` writes, laid out like /proc (docs/kernel-capture-format.md).
std::vector<CaptureFile> capture_files(const KernelCapture& capture, const std::string& recorder);

struct KernelInput {
    Kallsyms kallsyms;
    std::vector<KernelTask> tasks;
    std::string build_id;  // of the running (or recorded) kernel; empty when unknown
    std::string release;
};

Result<KernelInput> to_kernel_input(const KernelCapture& capture);

// The GNU build-id note among ELF notes (/sys/kernel/notes); lower-case hex.
std::string build_id_from_notes(std::string_view notes);

}  // namespace lpsafe::readers

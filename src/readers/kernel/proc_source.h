// Where a kernel check reads /proc from: the live /proc (direct system calls,
// each process held by a pidfd while it is read), a captured directory tree,
// or a capture archive (docs/kernel-capture-format.md). All three answer the
// same two questions: the bytes of a file (or the errno that refused them)
// and the names in a directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe::readers {

struct FileRead {
    std::string data;
    int error = 0;  // errno when the file could not be read; 0 when data is valid
    bool ok() const { return error == 0; }
};

// The three files of one task that a kernel check reads.
struct TaskFiles {
    FileRead stat, wchan, stack;
};

// A process held while it is read (live /proc: a pidfd). `still_same()` says
// whether the process the pid named when the hold was taken is still alive,
// so data read in between belongs to it and to no other process.
class ProcessHold {
public:
    virtual ~ProcessHold() = default;
    virtual bool still_same() const = 0;
};

class ProcSource {
public:
    virtual ~ProcSource() = default;
    // `path` is relative to the proc root ("kallsyms", "42/task/42/stack").
    virtual FileRead read(const std::string& path) const = 0;
    // Entry names of a directory ("" is the root), without "." and "..".
    virtual Result<std::vector<std::string>> list(const std::string& dir) const = 0;
    // <pid>/task/<tid>/{stat,wchan,stack}. The live source opens all three
    // through one descriptor of the task's directory: a /proc directory is
    // bound to its task (struct pid), not to the number, so the files
    // cannot come from two tasks even if the tid is reused meanwhile.
    virtual TaskFiles read_task(int pid, int tid) const;
    // Capture metadata (lpsafe-capture/<name>), or for the live system the
    // file it stands for ("sys-kernel-notes" is /sys/kernel/notes,
    // "sys-module-notes/M" /sys/module/M/notes/.note.gnu.build-id).
    virtual FileRead read_meta(const std::string& name) const = 0;
    // Live only: holds `pid`; null for captures (their data cannot change),
    // or when the process is already gone (errno in `error`).
    virtual std::unique_ptr<ProcessHold> hold(int pid, int& error) const;
    virtual bool live() const { return false; }
    virtual std::string describe() const = 0;
};

std::unique_ptr<ProcSource> open_live_proc();
// A directory written by `lpsafe record --kernel -o DIR` (or any copy of a
// /proc tree), or an archive file written by `record -o FILE`.
Result<std::unique_ptr<ProcSource>> open_proc_root(const std::string& path);

// Errno names used in captures ("EPERM"); unknown numbers as decimal.
std::string errno_name(int error);
int errno_from_name(std::string_view name);

}  // namespace lpsafe::readers

// The process side of a check, shared by the lpsafe command (src/main.cpp)
// and the C API (capi/): which inputs become ProcessImages, how a patch set
// is built from --func, --patch-file and --klp-module, and how a process is
// recorded. One code path, so the library and the command cannot disagree.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lpsafe/analyze.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "readers/snapshot/snapshot_writer.h"

namespace lpsafe::pipeline {

// One input: a core, a snapshot, or live processes (pids or every user one).
struct ProcessInput {
    std::string core;
    std::string exe;
    std::string sysroot;
    std::vector<std::string> debug_dirs;
    std::string snapshot;
    std::vector<int> pids;
    bool all_user = false;
};

bool has_process_input(const ProcessInput& in);

// Things worth telling the user that do not stop the run (a process skipped
// under all_user, a debug file refused): the command prints them as notes,
// the C API keeps them on the result.
using NoteSink = std::function<void(const std::string&)>;
// An error from the sink stops the loop and is returned.
using ProcessSink = std::function<Status(const ProcessImage&)>;

// Debug files that were found but refused (wrong build-id or CRC, garbage
// from a server): names are lost, so say why (docs/symbols.md).
void note_symbol_sources(const ProcessImage& process, const NoteSink& note);

// A core (with exe, sysroot, debug_dirs) or a snapshot, read whole.
Result<ProcessImage> read_process_file(const ProcessInput& in);

// Every input becomes a ProcessImage, handed to `sink` one at a time (a live
// process is captured, checked and released before the next is stopped).
// With all_user, processes that cannot be captured are skipped with a note;
// a process that refuses ptrace under explicit pids still reaches the sink,
// with unreadable threads (exit 4 when nothing worse is found), so it never
// hides the others' verdicts.
Status for_each_process(const ProcessInput& in, const ProcessSink& sink, const NoteSink& note);

// The command's --max-frames and --no-cross-check (defaults: 128, on).
CheckOptions make_check_options(unsigned max_frames, bool cross_check);

// Sees each process with its report while the image is still alive (the
// command's libunwind comparison needs the memory).
using ReportHook = std::function<void(const ProcessImage&, const ProcessReport&)>;

// Checks every process of the input against `patch`. A process whose check
// cannot run stops everything, except under all_user where it is skipped
// with a note (it is not in the result: the caller sees it was not judged).
Result<std::vector<ProcessReport>> check_processes(const ProcessInput& in, const PatchSet& patch,
                                                   const CheckOptions& options, const NoteSink& note,
                                                   const ReportHook& hook = {});

// What --klp-module read besides its targets: the modules' own names and
// whether any is an atomic-replace patch (kernel checks need both).
struct KlpModules {
    std::vector<std::string> names;
    bool replace = false;
};

// The three ways to name patched functions, each adding to `patch`; errors
// name the input they came from.
Status add_function(PatchSet& patch, const std::string& spec);
Status add_patch_file(PatchSet& patch, const std::string& path);
// Each .ko is read once: its targets go to `patch`, its name and .replace to
// `klp`.
Status add_klp_module(PatchSet& patch, KlpModules& klp, const std::string& path);

// A check with nothing to look for is a usage error, never a quiet "safe".
inline constexpr const char* kNoFunctions =
    "no functions to check: give --func [OBJECT:]FUNCTION, --patch-file FILE "
    "or --klp-module FILE.ko";

struct Recorded {
    readers::RecordStats stats;
    size_t bytes = 0;
};
// Records `process` as a snapshot file at `path` (docs/snapshot-format.md).
Result<Recorded> record_process(const ProcessImage& process, const readers::RecordOptions& options,
                                const std::string& path);

// A kernel capture archive is the kernel's snapshot: a snapshot path may
// name one, and then goes to the kernel reader.
bool is_kernel_capture(const std::string& path);

}  // namespace lpsafe::pipeline

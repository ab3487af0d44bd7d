// The kernel side of a check, shared by the lpsafe command (src/kernel_cli.cpp)
// and the C API (capi/): read every task's kernel stack from /proc or a
// capture, find the kernel code return-after-call needs, resolve what the
// kernel will compare stacks against, check, and describe the run as JSON.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"
#include "lpsafe/kernel_stack.h"
#include "pipeline/process_run.h"
#include "readers/kernel/kernel_scan.h"
#include "readers/kernel/livepatch_sysfs.h"
#include "readers/kernel/proc_source.h"
#include "readers/kernel/unpacked_image_cache.h"
#include "report/json_report.h"

namespace lpsafe::pipeline {

struct KernelOptions {
    std::string proc_root;  // a captured /proc tree or archive; empty: the live /proc
    std::string vmlinux;
    std::string boot_dir;     // where vmlinuz-R is looked for
    std::string modules_dir;  // holds R/ with the module files
    // Where a compressed image is kept unpacked for the next check
    // (readers/kernel/unpacked_image_cache.h); empty: no cache.
    std::string image_cache_dir = readers::default_image_cache_dir();
    bool no_kernel_image = false;
    bool strict = false;
    // With livepatch modules, the ranges are what the kernel will check when
    // they are enabled on top of the loaded patches (lpsafe/klp_transition.h).
    KlpModules klp;
    std::string klp_disable;  // predict disabling this loaded patch
    // Walk every task in this kernel memory (/proc/kcore) with the image's
    // ORC tables instead of reading /proc stacks; empty: /proc.
    std::string kernel_memory;
    // Judge the tasks of this kernel dump (an ELF core at kernel virtual
    // addresses with a VMCOREINFO note) without /proc: kallsyms, release,
    // build-id and KASLR all come from the dump; empty: the live system.
    std::string vmcore;
};

// The live /proc, or the capture named by proc_root.
Result<std::unique_ptr<readers::ProcSource>> open_kernel_source(const KernelOptions& k);

// Whether `path` is a kernel dump --vmcore can read (an ELF core with a
// VMCOREINFO note): for callers that open now and check later.
Status check_kernel_dump_file(const std::string& path);

// One round's report and what it was checked against (for the audit trail).
struct KernelRun {
    ProcessReport report;
    std::string source, release, build_id;
    const KernelImage* image = nullptr;  // null: no_kernel_image
    readers::LivepatchStatus livepatch;
    std::vector<readers::TaskPatchState> patch_states;
    std::vector<std::string> notes;  // e.g. kallsyms lines that were skipped
};

// One check of every task. `image` is read on the first call and reused on
// later ones (the command's --watch), so it must outlive the run.
Result<KernelRun> check_kernel_once(const KernelOptions& k, const PatchSet& patch, std::optional<KernelImage>& image);

// lpsafe's own threads are listed as running, but do not count toward the
// exit status: the kernel switches the checking task itself at its next exit
// to user space, so it can never be the task that stalls a transition.
Summary counted(const ProcessReport& r);

// The JSON document of `check --kernel --json` / `stack --kernel --json`
// (docs/json-format.md, "kernel"), written to `out` as it is made.
void kernel_json(report::JsonOut& out, const KernelRun& run, report::Mode mode);

// `record --kernel`: captures the source into an archive, or a directory
// when `output` ends in '/' or is one. Returns the number of tasks.
Result<size_t> record_kernel(const KernelOptions& k, const std::string& output, const std::string& recorder);

}  // namespace lpsafe::pipeline

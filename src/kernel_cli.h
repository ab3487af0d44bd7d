// The kernel side of the lpsafe command: `check --kernel`, `stack --kernel`
// and `record --kernel`. Parsing and rendering only; the work is in
// src/pipeline/kernel_run.h, shared with the C API.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "lpsafe/patch_set.h"
#include "pipeline/kernel_run.h"
#include "report/report.h"

namespace lpsafe::cli {

// The command's kernel options: what the check reads (pipeline::KernelOptions)
// plus what only the command does with it.
struct KernelArgs : pipeline::KernelOptions {
    bool kernel = false;
    std::string output;
    bool watch = false;
    double timeout = 0;
    std::string image_cache_option;  // "--image-cache" or "--no-image-cache" when given
};

void add_kernel_options(CLI::App& cmd, KernelArgs& k, bool checking);
// `record --kernel [--proc-root P]`; -o is the record command's own option.
void add_kernel_record_options(CLI::App& record, KernelArgs& k);

// The first kernel-only option given ("--vmlinux"), or "" when none.
std::string kernel_only_option(const KernelArgs& k);

int run_kernel(const KernelArgs& k, const PatchSet& patch, bool json, report::Mode mode);
int run_record(const KernelArgs& k);

}  // namespace lpsafe::cli

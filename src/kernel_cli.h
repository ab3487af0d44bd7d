// The kernel side of the lpsafe command: `check --kernel`, `stack --kernel`
// and `record --kernel`. Parsing and rendering only; the work is in
// src/readers (kernel_scan) and the engine (lpsafe/kernel_stack.h).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "lpsafe/patch_set.h"
#include "report/report.h"

namespace lpsafe::cli {

// What --klp-module read besides its targets: the modules' own names and
// whether any is an atomic-replace patch.
struct KlpModules {
    std::vector<std::string> names;
    bool replace = false;
};

struct KernelArgs {
    bool kernel = false;
    std::string proc_root;
    std::string vmlinux;
    std::string boot_dir;     // --boot-dir: where vmlinuz-R is looked for
    std::string modules_dir;  // --modules-dir: holds R/ with the module files
    bool no_kernel_image = false;
    std::string output;
    bool strict = false;
    bool watch = false;
    double timeout = 0;
    // Set from the shared options: with --klp-module, the ranges are what the
    // kernel will check when the module is enabled on top of the loaded
    // patches (lpsafe/klp_transition.h).
    KlpModules klp;
    std::string klp_disable;  // predict disabling this loaded patch
    // --kernel-memory: walk every task in this kernel memory (/proc/kcore)
    // with the image's ORC tables instead of reading /proc stacks.
    std::string kernel_memory;
};

void add_kernel_options(CLI::App& cmd, KernelArgs& k, bool checking);
// `record --kernel [--proc-root P]`; -o is the record command's own option.
void add_kernel_record_options(CLI::App& record, KernelArgs& k);

// The first kernel-only option given ("--vmlinux"), or "" when none.
std::string kernel_only_option(const KernelArgs& k);

int run_kernel(const KernelArgs& k, const PatchSet& patch, bool json, report::Mode mode);
int run_record(const KernelArgs& k);

}  // namespace lpsafe::cli

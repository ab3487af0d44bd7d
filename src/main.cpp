// The lpsafe command: parse arguments, read the input, call the library,
// render the report, map the outcome to an exit status. No policy lives here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "kernel_cli.h"
#include "lpsafe/analyze.h"
#include "readers/core_file.h"
#include "report/report.h"

namespace {

// Exit statuses (docs/lpsafe.1.md): 0 safe, 1 blocked, 2 unreliable; usage
// and input errors are 3 so that scripts never read them as a verdict.
constexpr int kExitError = 3;

struct Args {
    std::string core;
    std::string exe;
    std::string sysroot;
    std::vector<std::string> funcs;
    std::vector<std::string> patch_files;
    bool json = false;
    unsigned max_frames = 128;
    bool no_cross_check = false;
    lpsafe::cli::KernelArgs kernel;
};

void add_input_options(CLI::App& cmd, Args& a) {
    cmd.add_option("--core", a.core, "ELF core dump (gcore or kernel)")->check(CLI::ExistingFile);
    cmd.add_option("--exe", a.exe, "the main executable, when the path recorded in the core is wrong");
    cmd.add_option("--sysroot", a.sysroot, "prefix for every file the core names");
    cmd.add_option("--max-frames", a.max_frames, "depth limit; deeper stacks are unreliable")
        ->check(CLI::Range(1u, 100000u));
    cmd.add_flag("--no-cross-check", a.no_cross_check, "do not compare CFI with frame-pointer steps");
    cmd.add_flag("--json", a.json, "machine-readable output (docs/json-format.md)");
}

int fail(const std::string& message) {
    std::fprintf(stderr, "lpsafe: error: %s\n", message.c_str());
    return kExitError;
}

int run(const Args& a, lpsafe::report::Mode mode) {
    lpsafe::PatchSet patch;
    for (const auto& f : a.funcs) {
        if (auto st = patch.add_spec(f); !st) return fail("--func: " + st.error().message);
    }
    for (const auto& p : a.patch_files) {
        if (auto st = patch.add_file(p); !st) return fail(st.error().message);
    }
    if (mode == lpsafe::report::Mode::check && patch.empty()) {
        return fail("no functions to check: give --func [OBJECT:]FUNCTION or --patch-file FILE");
    }
    if (a.kernel.kernel && !a.core.empty()) return fail("give either --core or --kernel, not both");
    if (a.kernel.kernel) return lpsafe::cli::run_kernel(a.kernel, patch, a.json, mode);
    if (const std::string opt = lpsafe::cli::kernel_only_option(a.kernel); !opt.empty()) {
        return fail(opt + " applies to kernel stacks only: add --kernel");
    }
    if (a.core.empty()) return fail("give --core FILE, or --kernel for the running kernel");
    auto process = lpsafe::readers::read_core(a.core, {a.exe, a.sysroot});
    if (!process) return fail(process.error().message);

    lpsafe::CheckOptions options;
    options.unwind.max_frames = a.max_frames;
    options.unwind.cross_check = !a.no_cross_check;
    auto report = lpsafe::check_process(*process, patch, options);
    if (!report) return fail(report.error().message);

    std::span<const lpsafe::ProcessReport> reports(&*report, 1);
    if (a.json) {
        std::cout << lpsafe::report::to_json(reports, mode).dump(2) << "\n";
    } else {
        std::cout << lpsafe::report::render_text(reports, mode);
    }
    const lpsafe::Summary s = lpsafe::report::total(reports);
    return lpsafe::exit_status(s);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"lpsafe: is it safe to live-patch these threads? Checked, auditable stack verdicts."};
    app.set_version_flag("--version", std::string("lpsafe ") + LPSAFE_VERSION);
    app.require_subcommand(1);
    Args a;

    auto* check = app.add_subcommand("check", "decide safe / blocked / unreliable for every thread");
    add_input_options(*check, a);
    check->add_option("--func", a.funcs, "[OBJECT:]FUNCTION the patch replaces (repeatable)");
    check->add_option("--patch-file", a.patch_files, "file with one [OBJECT:]FUNCTION per line, # comments")
        ->check(CLI::ExistingFile);

    lpsafe::cli::add_kernel_options(*check, a.kernel, true);

    auto* stack = app.add_subcommand("stack", "print every thread's checked frames");
    add_input_options(*stack, a);
    lpsafe::cli::add_kernel_options(*stack, a.kernel, false);
    auto* record = lpsafe::cli::add_record_command(app, a.kernel);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : kExitError;
    }
    try {
        if (record->parsed()) return lpsafe::cli::run_record(a.kernel);
        return run(a, check->parsed() ? lpsafe::report::Mode::check : lpsafe::report::Mode::stack);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

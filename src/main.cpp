// The lpsafe command: parse arguments, read the input, call the library,
// render the report, map the outcome to an exit status. No policy lives here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <functional>
#include <iostream>

#include "cli_errors.h"
#include "kernel_cli.h"
#include "lpsafe/analyze.h"
#include "pipeline/process_run.h"
#include "readers/livepatch/klp_module.h"
#include "report/klp_report.h"
#include "report/report.h"

namespace {

using lpsafe::cli::fail;
using lpsafe::cli::kExitError;
using lpsafe::cli::note;

// The input fields (core, pids, sysroot, ...) are the pipeline's, which the
// C API fills too.
struct Args : lpsafe::pipeline::ProcessInput {
    std::string output;
    bool no_compress = false;
    std::string symbols = "all";
    std::vector<std::string> funcs;
    std::vector<std::string> patch_files;
    std::vector<std::string> klp_modules;
    bool json = false;
    unsigned max_frames = 128;
    bool no_cross_check = false;
    bool cross_check_libunwind = false;
    lpsafe::cli::KernelArgs kernel;
};

void add_input_options(CLI::App& cmd, Args& a) {
    auto* core = cmd.add_option("--core", a.core, "ELF core dump (gcore or kernel)")->check(CLI::ExistingFile);
    auto* snap = cmd.add_option("--snapshot", a.snapshot, "snapshot recorded by `lpsafe record` (docs/snapshot-format.md)")
                     ->check(CLI::ExistingFile);
    auto* pid = cmd.add_option("--pid", a.pids, "live process, stopped per thread only while copied (repeatable)")
                    ->check(CLI::PositiveNumber);
    auto* all = cmd.add_flag("--all-user", a.all_user, "every live process lpsafe may trace, kernel threads excepted");
    core->excludes(snap)->excludes(pid)->excludes(all);
    snap->excludes(pid)->excludes(all);
    pid->excludes(all);
    cmd.add_option("--exe", a.exe, "the main executable, when the path recorded in the core is wrong")->needs(core);
    cmd.add_option("--sysroot", a.sysroot, "prefix for every file the core (or /proc/<pid>/maps) names");
    cmd.add_option("--debug-dir", a.debug_dirs,
                   "root of separate debug files (.build-id/, .gnu_debuglink) searched instead of "
                   "<sysroot>/usr/lib/debug (repeatable; docs/symbols.md)");
    cmd.add_option("--max-frames", a.max_frames, "depth limit; deeper stacks are unreliable")
        ->check(CLI::Range(1u, 100000u));
    cmd.add_flag("--no-cross-check", a.no_cross_check, "do not compare CFI with frame-pointer steps");
}

lpsafe::CheckOptions check_options(const Args& a) {
    return lpsafe::pipeline::make_check_options(a.max_frames, !a.no_cross_check);
}

using lpsafe::pipeline::has_process_input;

// Processes go to `sink` one at a time (src/pipeline/process_run.h); what
// does not stop the run is printed as a note.
int for_each_process(const Args& a, const lpsafe::pipeline::ProcessSink& sink) {
    auto st = lpsafe::pipeline::for_each_process(a, sink, [](const std::string& n) { note(n); });
    return st ? 0 : fail(st.error().message);
}

int record(const Args& a) {
    if (a.kernel.kernel) {
        if (has_process_input(a)) return fail("give either --kernel or a process input (--core, --snapshot, --pid) to record, not both");
        lpsafe::cli::KernelArgs k = a.kernel;
        k.output = a.output;
        return lpsafe::cli::run_record(k);
    }
    if (!a.kernel.proc_root.empty()) return fail("--proc-root applies to kernel stacks only: add --kernel");
    if (a.all_user || a.pids.size() > 1) return fail("record writes one process: give one --pid, --core or --snapshot");
    return for_each_process(a, [&](const lpsafe::ProcessImage& process) {
        lpsafe::readers::RecordOptions options;
        options.check = check_options(a);
        options.compress = !a.no_compress;
        options.all_symbols = a.symbols == "all";
        auto recorded = lpsafe::pipeline::record_process(process, options, a.output);
        if (!recorded) return lpsafe::Status(recorded.error());
        const lpsafe::readers::RecordStats& stats = recorded->stats;
        std::cout << fmt::format("recorded {} threads, {} modules (+{} named only) in {} bytes to {}: memory {}, "
                                 "code {}, unwind tables {} bytes; {} stacks truncated\n",
                                 stats.threads, stats.modules_recorded, stats.modules_listed, recorded->bytes, a.output,
                                 stats.memory_bytes, stats.code_bytes, stats.table_bytes, stats.truncated_stacks);
        return lpsafe::Status(lpsafe::Ok{});
    });
}

// The patch set from --func, --patch-file and --klp-module. Each .ko is read
// once; what kernel checks need of it besides its targets (its name and
// .replace) goes to `klp`.
lpsafe::Result<lpsafe::PatchSet> patch_set(const Args& a, lpsafe::pipeline::KlpModules& klp) {
    lpsafe::PatchSet patch;
    for (const auto& f : a.funcs) {
        if (auto st = lpsafe::pipeline::add_function(patch, f); !st) return st.error();
    }
    for (const auto& p : a.patch_files) {
        if (auto st = lpsafe::pipeline::add_patch_file(patch, p); !st) return st.error();
    }
    for (const auto& k : a.klp_modules) {
        if (auto st = lpsafe::pipeline::add_klp_module(patch, klp, k); !st) return st.error();
    }
    return patch;
}

int run(const Args& a, lpsafe::report::Mode mode) {
    lpsafe::pipeline::KlpModules klp;
    auto patch = patch_set(a, klp);
    if (!patch) return fail(patch.error().message);
    if (mode == lpsafe::report::Mode::check && patch->empty() && a.kernel.klp_disable.empty()) {
        return fail(lpsafe::pipeline::kNoFunctions);
    }
    if (!a.snapshot.empty() && !a.kernel.kernel && lpsafe::pipeline::is_kernel_capture(a.snapshot)) {
        Args k = a;
        k.kernel.kernel = true;
        k.kernel.proc_root = a.snapshot;
        k.snapshot.clear();
        return run(k, mode);
    }
    if (a.kernel.kernel) {
        if (has_process_input(a)) return fail("--kernel checks kernel stacks: give either --kernel or a process input (--core, --snapshot, --pid), not both");
        lpsafe::cli::KernelArgs k = a.kernel;
        k.klp = std::move(klp);
        return lpsafe::cli::run_kernel(k, *patch, a.json, mode);
    }
    if (const std::string opt = lpsafe::cli::kernel_only_option(a.kernel); !opt.empty()) {
        return fail(opt + " applies to kernel stacks only: add --kernel");
    }
    std::vector<lpsafe::second_opinion::ThreadComparison> peer;
    auto checked = lpsafe::pipeline::check_processes(
        a, *patch, check_options(a), [](const std::string& n) { note(n); },
        [&](const lpsafe::ProcessImage& process, const lpsafe::ProcessReport& report) {
            if (!a.cross_check_libunwind) return;
            auto c = lpsafe::second_opinion::compare_with_libunwind(process, report, a.max_frames);
            peer.insert(peer.end(), std::make_move_iterator(c.begin()), std::make_move_iterator(c.end()));
        });
    if (!checked) return fail(checked.error().message);
    const std::vector<lpsafe::ProcessReport>& reports = *checked;

    if (a.json) {
        lpsafe::report::JsonExtras extras;
        if (a.cross_check_libunwind) extras.members["cross_check"] = lpsafe::report::cross_check_json(peer);
        std::cout.flush();
        lpsafe::report::JsonOut out(stdout);
        lpsafe::report::write_json(out, reports, mode, extras);
    } else {
        std::cout << lpsafe::report::render_text(reports, mode);
        if (a.cross_check_libunwind) std::cout << lpsafe::report::render_cross_check_text(peer);
    }
    return lpsafe::exit_status(lpsafe::report::total(reports));
}

int run_klp_info(const std::string& path, bool json) {
    auto m = lpsafe::readers::read_klp_module(path);
    if (!m) return fail(m.error().message);
    if (json) {
        std::string out;
        lpsafe::report::append_dumped(out, lpsafe::report::klp_to_json(*m, path));
        std::cout << out << "\n";
    } else {
        std::cout << lpsafe::report::render_klp_text(*m, path);
    }
    return 0;
}

}  // namespace

// A report that could not be written whole (a full disk, a closed pipe) must
// not leave the verdict's exit status standing: a script reading "safe" from
// the status would act on a report no one has.
int written(int status) {
    std::cout.flush();
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0 || std::cout.fail()) {
        return fail("the report could not be written to standard output");
    }
    return status;
}

int main(int argc, char** argv) {
    CLI::App app{"lpsafe: is it safe to live-patch these threads? Checked, auditable stack verdicts."};
    app.set_version_flag("--version", std::string("lpsafe ") + LPSAFE_VERSION);
    app.require_subcommand(1);
    Args a;

    auto* check = app.add_subcommand("check", "decide safe / blocked / unreliable for every thread");
    add_input_options(*check, a);
    check->add_flag("--json", a.json, "machine-readable output (docs/json-format.md)");
    check->add_option("--func", a.funcs, "[OBJECT:]FUNCTION the patch replaces (repeatable)");
    check->add_option("--patch-file", a.patch_files, "file with one [OBJECT:]FUNCTION per line, # comments")
        ->check(CLI::ExistingFile);
    check->add_option("--klp-module", a.klp_modules, "livepatch module whose klp_funcs are the patch (repeatable)")
        ->check(CLI::ExistingFile);

    lpsafe::cli::add_kernel_options(*check, a.kernel, true);

    auto* stack = app.add_subcommand("stack", "print every thread's checked frames");
    add_input_options(*stack, a);
    stack->add_flag("--json", a.json, "machine-readable output (docs/json-format.md)");
    lpsafe::cli::add_kernel_options(*stack, a.kernel, false);

    auto* rec = app.add_subcommand("record", "record a process as a snapshot file that replays without its binaries");
    add_input_options(*rec, a);
    rec->add_option("-o,--output", a.output, "the snapshot file to write")->required();
    rec->add_flag("--no-compress", a.no_compress, "store the records uncompressed (fuzz seeds)");
    rec->add_option("--symbols", a.symbols, "all: every function symbol of the modules frames run through; "
                                            "frames: only those containing a frame (smaller)")
        ->check(CLI::IsMember({"all", "frames"}));
    lpsafe::cli::add_kernel_record_options(*rec, a.kernel);

    auto* klp_info = app.add_subcommand("klp-info", "list the functions a livepatch module (.ko) replaces");
    std::string klp_file;
    klp_info->add_option("FILE", klp_file, "livepatch module")->required()->check(CLI::ExistingFile);
    klp_info->add_flag("--json", a.json, "machine-readable output (docs/json-format.md)");

    // Not --no-cross-check's internal CFI/frame-pointer comparison: this asks
    // another unwinder (libunwind) and reports where it disagrees. No effect
    // on verdicts or the exit status.
    stack->add_flag("--cross-check", a.cross_check_libunwind,
                    "also unwind with libunwind and report where its frames differ (diagnostic)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : kExitError;
    }
    try {
        if (klp_info->parsed()) return written(run_klp_info(klp_file, a.json));
        if (rec->parsed()) return written(record(a));
        return written(run(a, check->parsed() ? lpsafe::report::Mode::check : lpsafe::report::Mode::stack));
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

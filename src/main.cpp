// The lpsafe command: parse arguments, read the input, call the library,
// render the report, map the outcome to an exit status. No policy lives here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "lpsafe/analyze.h"
#include "readers/core_file.h"
#include "readers/snapshot_reader.h"
#include "readers/snapshot_writer.h"
#include "report/report.h"

namespace {

// Exit statuses (docs/lpsafe.1.md): 0 safe, 1 blocked, 2 unreliable; usage
// and input errors are 3 so that scripts never read them as a verdict.
constexpr int kExitError = 3;

struct Args {
    std::string core;
    std::string snapshot;
    std::string output;
    bool no_compress = false;
    std::string symbols = "all";
    std::string exe;
    std::string sysroot;
    std::vector<std::string> funcs;
    std::vector<std::string> patch_files;
    bool json = false;
    unsigned max_frames = 128;
    bool no_cross_check = false;
};

void add_input_options(CLI::App& cmd, Args& a) {
    auto* core = cmd.add_option("--core", a.core, "ELF core dump (gcore or kernel)")->check(CLI::ExistingFile);
    cmd.add_option("--snapshot", a.snapshot, "snapshot recorded by `lpsafe record` (docs/snapshot-format.md)")
        ->check(CLI::ExistingFile)
        ->excludes(core);
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

// Every input becomes a ProcessImage; the rest of the command does not care
// which reader made it.
lpsafe::Result<lpsafe::ProcessImage> load_process(const Args& a) {
    if (!a.snapshot.empty()) return lpsafe::readers::read_snapshot(a.snapshot);
    if (a.core.empty()) return lpsafe::make_error("no input: give --core FILE or --snapshot FILE");
    return lpsafe::readers::read_core(a.core, {a.exe, a.sysroot});
}

lpsafe::CheckOptions check_options(const Args& a) {
    lpsafe::CheckOptions options;
    options.unwind.max_frames = a.max_frames;
    options.unwind.cross_check = !a.no_cross_check;
    return options;
}

int record(const Args& a) {
    auto process = load_process(a);
    if (!process) return fail(process.error().message);
    lpsafe::readers::RecordOptions options;
    options.check = check_options(a);
    options.compress = !a.no_compress;
    options.all_symbols = a.symbols == "all";
    lpsafe::readers::RecordStats stats;
    auto bytes = lpsafe::readers::record_snapshot(*process, options, &stats);
    if (!bytes) return fail(bytes.error().message);
    if (auto st = lpsafe::readers::write_file(a.output, *bytes); !st) return fail(st.error().message);
    std::cout << fmt::format("recorded {} threads, {} modules (+{} named only) in {} bytes to {}: memory {}, code {}, "
                             "unwind tables {} bytes; {} stacks truncated\n",
                             stats.threads, stats.modules_recorded, stats.modules_listed, bytes->size(), a.output,
                             stats.memory_bytes, stats.code_bytes, stats.table_bytes, stats.truncated_stacks);
    return 0;
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
    auto process = load_process(a);
    if (!process) return fail(process.error().message);

    auto report = lpsafe::check_process(*process, patch, check_options(a));
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
    app.require_subcommand(1);
    Args a;

    auto* check = app.add_subcommand("check", "decide safe / blocked / unreliable for every thread");
    add_input_options(*check, a);
    check->add_option("--func", a.funcs, "[OBJECT:]FUNCTION the patch replaces (repeatable)");
    check->add_option("--patch-file", a.patch_files, "file with one [OBJECT:]FUNCTION per line, # comments")
        ->check(CLI::ExistingFile);

    auto* stack = app.add_subcommand("stack", "print every thread's checked frames");
    add_input_options(*stack, a);

    auto* rec = app.add_subcommand("record", "record a process as a snapshot file that replays without its binaries");
    add_input_options(*rec, a);
    rec->add_option("-o,--output", a.output, "the snapshot file to write")->required();
    rec->add_flag("--no-compress", a.no_compress, "store the records uncompressed (fuzz seeds)");
    rec->add_option("--symbols", a.symbols, "all: every function symbol of the modules frames run through; "
                                            "frames: only those containing a frame (smaller)")
        ->check(CLI::IsMember({"all", "frames"}));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : kExitError;
    }
    try {
        if (rec->parsed()) return record(a);
        return run(a, check->parsed() ? lpsafe::report::Mode::check : lpsafe::report::Mode::stack);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

#include "pipeline/process_run.h"

#include <array>
#include <fstream>

#include "readers/core/core_file.h"
#include "readers/livepatch/klp_module.h"
#include "readers/ptrace/ptrace_capture.h"
#include "readers/snapshot/snapshot_reader.h"

namespace lpsafe::pipeline {
namespace {

Status for_each_live(const ProcessInput& in, const ProcessSink& sink, const NoteSink& note) {
    const std::vector<int> pids = in.all_user ? readers::user_processes() : in.pids;
    for (int pid : pids) {
        readers::LiveOptions live;
        live.search.sysroot = in.sysroot;
        live.search.debug_dirs = in.debug_dirs;
        auto process = readers::capture_process(pid, live);
        const std::string who = "pid " + std::to_string(pid);
        if (!process) {
            if (!in.all_user) return process.error();
            // A process that exited since the listing is no loss.
            const std::string& why = process.error().message;
            if (why.rfind("no process", 0) != 0) note("skipped " + who + ": " + why);
            continue;
        }
        if (in.all_user && !readers::any_captured(*process)) {
            const std::string why = process->threads.empty() ? "no threads" : process->threads.front().status_reason;
            note("skipped " + who + " (" + process->comm + "): " + why);
            continue;
        }
        note_symbol_sources(*process, note);
        if (auto st = sink(*process); !st) return st;
    }
    return Ok{};
}

}  // namespace

void note_symbol_sources(const ProcessImage& process, const NoteSink& note) {
    for (const Module& m : process.modules.modules())
        for (const std::string& n : m.symbol_notes) note(n);
}

bool has_process_input(const ProcessInput& in) {
    return !in.core.empty() || !in.snapshot.empty() || !in.pids.empty() || in.all_user;
}

Result<ProcessImage> read_process_file(const ProcessInput& in) {
    return in.snapshot.empty() ? readers::read_core(in.core, {in.exe, in.sysroot, in.debug_dirs})
                               : readers::read_snapshot(in.snapshot);
}

Status for_each_process(const ProcessInput& in, const ProcessSink& sink, const NoteSink& note) {
    if (!in.snapshot.empty() || !in.core.empty()) {
        auto process = read_process_file(in);
        if (!process) return process.error();
        note_symbol_sources(*process, note);
        return sink(*process);
    }
    if (in.pids.empty() && !in.all_user) {
        return make_error(
            "no input: give --core FILE, --snapshot FILE, --pid PID, "
            "--all-user, or --kernel");
    }
    return for_each_live(in, sink, note);
}

CheckOptions make_check_options(unsigned max_frames, bool cross_check) {
    CheckOptions options;
    options.unwind.max_frames = max_frames;
    options.unwind.cross_check = cross_check;
    return options;
}

Result<std::vector<ProcessReport>> check_processes(const ProcessInput& in, const PatchSet& patch,
                                                   const CheckOptions& options, const NoteSink& note,
                                                   const ReportHook& hook) {
    std::vector<ProcessReport> reports;
    auto st = for_each_process(
        in,
        [&](const ProcessImage& process) -> Status {
            auto report = check_process(process, patch, options);
            if (!report) {
                const std::string who = "pid " + std::to_string(process.pid) + " (" + process.comm + ")";
                if (!in.all_user)
                    return make_error(in.pids.empty() ? report.error().message : who + ": " + report.error().message);
                note("skipped " + who + ": " + report.error().message);
                return Ok{};
            }
            if (hook) hook(process, *report);
            reports.push_back(std::move(*report));
            return Ok{};
        },
        note);
    if (!st) return st.error();
    return reports;
}

Status add_function(PatchSet& patch, const std::string& spec) {
    if (auto st = patch.add_spec(spec); !st) return make_error("--func: " + st.error().message);
    return Ok{};
}

Status add_patch_file(PatchSet& patch, const std::string& path) { return patch.add_file(path); }

Status add_klp_module(PatchSet& patch, KlpModules& klp, const std::string& path) {
    auto m = readers::read_klp_module(path);
    if (!m) return make_error("--klp-module: " + m.error().message);
    for (auto& t : m->targets()) {
        if (auto st = patch.add_target(std::move(t)); !st) return make_error(path + ": " + st.error().message);
    }
    klp.names.push_back(m->module);
    klp.replace = klp.replace || m->replace;
    return Ok{};
}

Result<Recorded> record_process(const ProcessImage& process, const readers::RecordOptions& options,
                                const std::string& path) {
    Recorded out;
    auto bytes = readers::record_snapshot(process, options, &out.stats);
    if (!bytes) return bytes.error();
    if (auto st = readers::write_file(path, *bytes); !st) return st.error();
    out.bytes = bytes->size();
    return out;
}

bool is_kernel_capture(const std::string& path) {
    std::array<std::byte, 8> head{};
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(head.data()), head.size());
    return in.gcount() == static_cast<std::streamsize>(head.size()) &&
           readers::snapshot_kind(head) == readers::SnapshotKind::kernel;
}

}  // namespace lpsafe::pipeline

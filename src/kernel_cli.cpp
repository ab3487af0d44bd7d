#include "kernel_cli.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "lpsafe/analyze.h"
#include "lpsafe/klp_transition.h"
#include "lpsafe/kernel_stack.h"
#include "cli_errors.h"
#include "readers/kernel_code.h"
#include "readers/kernel_core_memory.h"
#include "readers/kernel_memory_tasks.h"
#include "readers/kernel_scan.h"
#include "report/livepatch_report.h"

namespace lpsafe::cli {
namespace {

struct Loaded {
    readers::KernelInput input;
    std::string source;
};

// The live /proc, or the capture named by --proc-root.
Result<std::unique_ptr<readers::ProcSource>> open_source(const KernelArgs& k) {
    if (k.proc_root.empty()) return readers::open_live_proc();
    return readers::open_proc_root(k.proc_root);
}

Result<Loaded> load(const KernelArgs& k) {
    auto source = open_source(k);
    if (!source) return source.error();
    auto capture = readers::capture_kernel(**source);
    if (!capture) return capture.error();
    auto input = readers::to_kernel_input(*capture);
    if (!input) return input.error();
    return Loaded{std::move(*input), capture->source};
}

// lpsafe's own threads are listed as running, but do not count toward the
// exit status: the kernel switches the checking task itself at its next exit
// to user space, so it can never be the task that stalls a transition.
Summary counted(const ProcessReport& r) {
    Summary s;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict == VerdictKind::running && t.reason.starts_with("lpsafe's own")) continue;
        s.add(t.verdict);
    }
    return s;
}

// The loaded patches as the engine models them, from /sys/kernel/livepatch.
std::vector<LoadedLivepatch> loaded_patches(const readers::LivepatchStatus& status) {
    std::vector<LoadedLivepatch> out;
    for (const readers::LoadedPatch& p : status.patches) {
        LoadedLivepatch l{p.name, p.enabled, p.transition, {}};
        for (const readers::LivepatchObject& o : p.objects) {
            for (const readers::LivepatchFunc& f : o.funcs) l.targets.push_back({o.name, f.name, f.sympos});
        }
        out.push_back(std::move(l));
    }
    return out;
}

// What the kernel will compare stacks against: for a livepatch module (or
// --klp-disable) the transition's ranges given the patches already loaded;
// for plain --func targets, those functions.
Result<ResolvedPatchSet> resolve_ranges(const KernelArgs& k, const PatchSet& patch, const readers::KernelInput& in) {
    if (k.klp.names.empty() && k.klp_disable.empty()) return resolve_kernel_patch_set(patch, in.kallsyms);
    KlpTransition t;
    if (!k.klp_disable.empty()) {
        if (!patch.empty()) return make_error("--klp-disable predicts turning a loaded patch off: give no functions with it");
        t.direction = KlpTransition::Direction::disable;
        t.module = k.klp_disable;
    } else {
        t.targets = patch.targets();
        t.replace = k.klp.replace;
        t.own_modules = k.klp.names;
    }
    return resolve_klp_transition(t, loaded_patches(in.livepatch), in.kallsyms);
}

// One round's report and what it was checked against (for the audit trail).
struct KernelRun {
    ProcessReport report;
    std::string source, release, build_id;
    const KernelImage* image = nullptr;  // null: --no-kernel-image
    readers::LivepatchStatus livepatch;
    std::vector<readers::TaskPatchState> patch_states;
    std::vector<std::string> notes;  // e.g. kallsyms lines that were skipped
};

std::vector<std::string> kallsyms_notes(const Kallsyms& k) {
    std::vector<std::string> out = k.notes();
    if (k.skipped_lines() > out.size()) {
        out.push_back(fmt::format("kallsyms: {} more lines skipped", k.skipped_lines() - out.size()));
    }
    return out;
}

// --kernel-memory: the tasks as the kernel's memory holds them, each stack
// walked with the running image's ORC tables (needs that image).
Result<std::vector<KernelTask>> walk_kernel_memory(const std::string& path, const Kallsyms& kallsyms,
                                                   const KernelImage* image) {
    if (image == nullptr || !image->has_vmlinux()) {
        return make_error("--kernel-memory needs the running kernel's image (its ORC tables and BTF): " +
                          (image == nullptr ? std::string("none was read") : image->missing));
    }
    if (!image->mismatch.empty()) return make_error("--kernel-memory: " + image->mismatch);
    const Module* vmlinux = image->process.modules.modules().empty() ? nullptr : &image->process.modules.modules().front();
    if (vmlinux == nullptr || !vmlinux->image) return make_error("--kernel-memory: the kernel image is not loaded");
    auto orc = OrcTable::from_image(*vmlinux->image);
    if (!orc) return orc.error();
    auto memory = readers::KernelCoreMemory::open(path);
    if (!memory) return memory.error();
    readers::KernelMemoryOptions options;
    options.kaslr_offset = image->kaslr_offset;
    options.reader_tgid = path == "/proc/kcore" ? getpid() : 0;  // a dump holds no lpsafe
    return readers::read_memory_tasks(**memory, kallsyms, *vmlinux->image, *orc, options);
}

Result<KernelRun> check_once(const KernelArgs& k, const PatchSet& patch, std::optional<KernelImage>& image) {
    auto loaded = load(k);
    if (!loaded) return loaded.error();
    const Kallsyms& kallsyms = loaded->input.kallsyms;
    if (!k.no_kernel_image) {
        readers::KernelCodeOptions code;
        code.vmlinux = k.vmlinux;
        code.boot_dir = k.boot_dir;
        if (!k.modules_dir.empty()) code.modules_dir = k.modules_dir;
        const auto modules = readers::modules_in_stacks(loaded->input.tasks);
        if (image) {
            readers::add_module_code(code, loaded->input, modules, *image);  // --watch: the image is read once
        } else {
            auto made = readers::load_kernel_code(code, loaded->input, modules);
            if (!made) return made.error();
            image = std::move(*made);
        }
    }
    if (!k.kernel_memory.empty()) {
        auto walked = walk_kernel_memory(k.kernel_memory, loaded->input.kallsyms, image ? &*image : nullptr);
        if (!walked) return walked.error();
        loaded->input.tasks = std::move(*walked);
        loaded->source = k.kernel_memory + " (kernel memory, ORC)";
    }
    KernelCheckOptions options;
    options.image = image ? &*image : nullptr;
    options.strict = k.strict;
    auto resolved = resolve_ranges(k, patch, loaded->input);
    if (!resolved) return resolved.error();
    ProcessReport report = check_kernel(loaded->input.tasks, kallsyms, std::move(*resolved), options);
    return KernelRun{std::move(report),
                     loaded->source,
                     loaded->input.release,
                     loaded->input.build_id,
                     image ? &*image : nullptr,
                     std::move(loaded->input.livepatch),
                     std::move(loaded->input.patch_states),
                     kallsyms_notes(kallsyms)};
}

// What return-after-call read kernel code from, and why not where it did not.
std::string image_text(const KernelImage* image) {
    if (image == nullptr) return "none (--no-kernel-image)";
    std::string out = image->has_vmlinux() ? image->path + " (" + image->format + ")" : "none: " + image->missing;
    if (!image->mismatch.empty()) out += "\n  not the checked kernel's: " + image->mismatch;
    for (const KernelModuleCode& m : image->modules) {
        out += fmt::format("\n  module {}: {}", m.name, m.state == KernelModuleCode::State::used ? m.path : m.detail);
    }
    return out;
}

void add_image_json(nlohmann::json& kernel, const KernelImage* image) {
    kernel["image"] = image != nullptr ? image->path : std::string{};
    kernel["image_format"] = image != nullptr ? image->format : std::string{};
    kernel["image_missing"] = image == nullptr ? std::string("disabled (--no-kernel-image)") : image->missing;
    kernel["image_mismatch"] = image != nullptr ? image->mismatch : std::string{};
    auto modules = nlohmann::json::array();
    if (image != nullptr) {
        for (const KernelModuleCode& m : image->modules) {
            modules.push_back({{"name", m.name}, {"path", m.path}, {"build_id", m.build_id},
                               {"state", module_code_state_name(m.state)}, {"detail", m.detail}});
        }
    }
    kernel["modules"] = modules;
}

void print(const KernelRun& run, bool json, report::Mode mode) {
    const ProcessReport& r = run.report;
    for (const std::string& n : run.notes) note(n);
    std::span<const ProcessReport> reports(&r, 1);
    if (json) {
        auto j = report::to_json(reports, mode);
        j["kernel"] = {{"source", run.source}, {"release", run.release}, {"build_id", run.build_id},
                       {"livepatch", report::livepatch_to_json(run.livepatch)}, {"notes", run.notes}};
        add_image_json(j["kernel"], run.image);
        report::add_patch_states(j["tasks"], run.patch_states);
        std::cout << j.dump(2) << "\n";
    } else if (mode == report::Mode::check) {
        std::cout << fmt::format("kernel {} (build-id {}) from {}; image: {}\n", run.release,
                                 run.build_id.empty() ? "unknown" : run.build_id, run.source, image_text(run.image));
        std::cout << report::render_kernel_text(r);
        std::cout << report::render_livepatch_text(run.livepatch, run.patch_states, r);
    } else {
        std::cout << report::render_text(reports, mode);
    }
}

// The tasks still blocking, counted per function, each listed (up to a
// limit), with those the kernel cannot move on its own flagged
// (Forecast::Kind::never).
std::string remaining_by_function(const ProcessReport& r) {
    constexpr size_t kListed = 20;
    std::map<std::string, std::vector<const TaskVerdict*>> by_function;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict == VerdictKind::blocked) {
            by_function[t.blocked_by.front().object + ":" + t.blocked_by.front().function].push_back(&t);
        }
    }
    std::string out;
    for (const auto& [function, tasks] : by_function) {
        const auto never = std::count_if(tasks.begin(), tasks.end(), [](const TaskVerdict* t) {
            return t->forecast && t->forecast->kind == Forecast::Kind::never;
        });
        out += fmt::format("  {:>5} in {}{}\n", tasks.size(), function,
                           never > 0 ? fmt::format(" ({} will not converge)", never) : "");
        for (size_t i = 0; i < tasks.size() && i < kListed; ++i) {
            const TaskVerdict& t = *tasks[i];
            const bool stuck = t.forecast && t.forecast->kind == Forecast::Kind::never;
            out += fmt::format("  {} {} ({}){}\n", t.pid, t.tid, t.comm, stuck ? " — will not converge" : "");
        }
        if (tasks.size() > kListed) out += fmt::format("  ... and {} more\n", tasks.size() - kListed);
    }
    return out;
}

// --watch: like the kernel's own retry (klp_try_complete_transition() is
// rescheduled every second), re-check until nothing blocks or time is up.
int watch(const KernelArgs& k, const PatchSet& patch, bool json) {
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    const auto start = std::chrono::steady_clock::now();
    std::optional<KernelImage> image;
    for (int round = 1;; ++round) {
        auto r = check_once(k, patch, image);
        if (!r) return fail(r.error().message);
        const Summary s = counted(r->report);
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const bool done = s.blocked == 0 && s.unreliable == 0;
        if (done || (k.timeout > 0 && elapsed >= k.timeout)) {
            if (tty && !json) std::cout << "\r\033[K";
            print(*r, json, report::Mode::check);
            return exit_status(s);
        }
        if (tty && !json) {
            std::cout << fmt::format("\r\033[K[{:.0f}s] round {}: {} blocked, {} unreliable", elapsed, round, s.blocked,
                                     s.unreliable)
                      << std::flush;
        } else if (!json) {
            std::cout << fmt::format("[{:.0f}s] still blocking: {} blocked, {} unreliable\n", elapsed, s.blocked,
                                     s.unreliable);
            std::cout << remaining_by_function(r->report);
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
}

}  // namespace

void add_kernel_options(CLI::App& cmd, KernelArgs& k, bool checking) {
    cmd.add_flag("--kernel", k.kernel, "check kernel stacks of every task (/proc) instead of a core");
    cmd.add_option("--proc-root", k.proc_root, "read a captured /proc tree or capture archive instead of /proc")
        ->check(CLI::ExistingPath);
    auto* vmlinux = cmd.add_option("--vmlinux", k.vmlinux,
                   "kernel image (ELF vmlinux or compressed vmlinuz) instead of the running release's /boot/vmlinuz-R")
        ->check(CLI::ExistingFile);
    cmd.add_option("--boot-dir", k.boot_dir, "look for vmlinux-R / vmlinuz-R in DIR instead of /boot and debug places")
        ->check(CLI::ExistingDirectory);
    cmd.add_option("--modules-dir", k.modules_dir, "look for module files in DIR/R instead of /lib/modules/R")
        ->check(CLI::ExistingDirectory);
    cmd.add_flag("--no-kernel-image", k.no_kernel_image,
                 "read no kernel image nor module files: return-after-call is skipped on kernel stacks")
        ->excludes(vmlinux);
    cmd.add_flag("--strict", k.strict, "a skipped check makes the verdict unreliable");
    cmd.add_option("--kernel-memory", k.kernel_memory,
                   "walk every task's stack in this kernel memory (/proc/kcore) with the image's ORC tables "
                   "instead of reading /proc/PID/stack")
        ->check(CLI::ExistingFile)
        ->excludes("--no-kernel-image");
    if (checking) {
        cmd.add_option("--klp-disable", k.klp_disable,
                       "predict disabling this loaded livepatch (its new functions are checked; kernel only)");
        cmd.add_flag("--watch", k.watch, "re-check every second until nothing blocks (kernel only)");
        cmd.add_option("--timeout", k.timeout, "give up --watch after this many seconds")->check(CLI::PositiveNumber);
    }
}

void add_kernel_record_options(CLI::App& record, KernelArgs& k) {
    record.add_flag("--kernel", k.kernel, "record the kernel's view of every task (/proc) as a capture archive");
    record.add_option("--proc-root", k.proc_root, "with --kernel: re-record a capture (e.g. a DIR tree into one archive)")
        ->check(CLI::ExistingPath);
}

std::string kernel_only_option(const KernelArgs& k) {
    if (!k.proc_root.empty()) return "--proc-root";
    if (!k.vmlinux.empty()) return "--vmlinux";
    if (!k.boot_dir.empty()) return "--boot-dir";
    if (!k.modules_dir.empty()) return "--modules-dir";
    if (!k.kernel_memory.empty()) return "--kernel-memory";
    if (k.no_kernel_image) return "--no-kernel-image";
    if (k.strict) return "--strict";
    if (k.watch) return "--watch";
    if (!k.klp_disable.empty()) return "--klp-disable";
    return {};
}

int run_kernel(const KernelArgs& k, const PatchSet& patch, bool json, report::Mode mode) {
    if (k.watch) {
        if (!k.proc_root.empty()) return fail("--watch re-reads the live /proc; it cannot watch a capture");
        return watch(k, patch, json);
    }
    std::optional<KernelImage> image;
    auto r = check_once(k, patch, image);
    if (!r) return fail(r.error().message);
    print(*r, json, mode);
    return exit_status(counted(r->report));
}

int run_record(const KernelArgs& k) {
    auto source = open_source(k);  // --proc-root: re-record a capture, e.g. a tree into one archive
    if (!source) return fail(source.error().message);
    auto capture = readers::capture_kernel(**source);
    if (!capture) return fail(capture.error().message);
    const auto files = readers::capture_files(*capture, std::string("lpsafe ") + LPSAFE_VERSION);
    std::error_code ec;
    const bool as_dir = k.output.ends_with("/") || std::filesystem::is_directory(k.output, ec);
    auto st = as_dir ? readers::write_capture_dir(k.output, files) : readers::write_capture_archive(k.output, files);
    if (!st) return fail(st.error().message);
    std::fprintf(stderr, "lpsafe: recorded %zu tasks to %s\n", capture->tasks.size(), k.output.c_str());
    return 0;
}

}  // namespace lpsafe::cli

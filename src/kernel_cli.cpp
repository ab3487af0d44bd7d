#include "kernel_cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "cli_errors.h"
#include "report/livepatch_report.h"

namespace lpsafe::cli {
namespace {

using pipeline::counted;
using pipeline::KernelRun;

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

void print(const KernelRun& run, bool json, report::Mode mode) {
    const ProcessReport& r = run.report;
    for (const std::string& n : run.notes) note(n);
    std::span<const ProcessReport> reports(&r, 1);
    if (json) {
        std::cout.flush();
        report::JsonOut out(stdout);
        pipeline::kernel_json(out, run, mode);
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
        auto r = pipeline::check_kernel_once(k, patch, image);
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
    cmd.add_option_function<std::string>(
           "--image-cache",
           [&k](const std::string& dir) {
               k.image_cache_dir = dir;
               k.image_cache_option = "--image-cache";
           },
           "keep compressed kernel images unpacked in DIR for the next check (default: $LPSAFE_IMAGE_CACHE, "
           "else /var/cache/lpsafe/vmlinux as root, ~/.cache/lpsafe/vmlinux otherwise)")
        ->type_name("DIR");
    cmd.add_flag_callback(
           "--no-image-cache",
           [&k] {
               k.image_cache_dir.clear();
               k.image_cache_option = "--no-image-cache";
           },
           "unpack a compressed kernel image every time, keeping no copy")
        ->excludes("--image-cache");
    cmd.add_flag("--no-kernel-image", k.no_kernel_image,
                 "read no kernel image nor module files: return-after-call is skipped on kernel stacks")
        ->excludes(vmlinux);
    cmd.add_flag("--strict", k.strict, "a skipped check makes the verdict unreliable");
    cmd.add_option("--kernel-memory", k.kernel_memory,
                   "walk every task's stack in this kernel memory (/proc/kcore) with the image's ORC tables "
                   "instead of reading /proc/PID/stack")
        ->check(CLI::ExistingFile)
        ->excludes("--no-kernel-image");
    // The live kernel's memory is /proc/kcore on every Linux that has one.
    cmd.add_flag_callback("--kcore", [&k] { k.kernel_memory = "/proc/kcore"; },
                          "the same as --kernel-memory /proc/kcore (root): the running kernel's own memory")
        ->excludes("--kernel-memory")
        ->excludes("--no-kernel-image");
    cmd.add_option("--vmcore", k.vmcore,
                   "judge every task of this kernel dump (kdump's vmcore, QEMU dump-guest-memory -p, /proc/kcore): "
                   "symbols, release and KASLR from its VMCOREINFO, stacks walked with the image's ORC tables")
        ->check(CLI::ExistingFile)
        ->excludes("--no-kernel-image")
        ->excludes("--kernel-memory")
        ->excludes("--kcore")
        ->excludes("--proc-root");
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
    if (!k.image_cache_option.empty()) return k.image_cache_option;
    if (!k.kernel_memory.empty()) return "--kernel-memory";
    if (!k.vmcore.empty()) return "--vmcore";
    if (k.no_kernel_image) return "--no-kernel-image";
    if (k.strict) return "--strict";
    if (k.watch) return "--watch";
    if (!k.klp_disable.empty()) return "--klp-disable";
    return {};
}

int run_kernel(const KernelArgs& k, const PatchSet& patch, bool json, report::Mode mode) {
    if (k.watch) {
        if (!k.proc_root.empty() || !k.vmcore.empty())
            return fail("--watch re-reads the live /proc; it cannot watch a capture or a dump");
        return watch(k, patch, json);
    }
    std::optional<KernelImage> image;
    auto r = pipeline::check_kernel_once(k, patch, image);
    if (!r) return fail(r.error().message);
    print(*r, json, mode);
    return exit_status(counted(r->report));
}

int run_record(const KernelArgs& k) {
    auto tasks = pipeline::record_kernel(k, k.output, std::string("lpsafe ") + LPSAFE_VERSION);
    if (!tasks) return fail(tasks.error().message);
    std::fprintf(stderr, "lpsafe: recorded %zu tasks to %s\n", *tasks, k.output.c_str());
    return 0;
}

}  // namespace lpsafe::cli

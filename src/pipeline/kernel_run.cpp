#include "pipeline/kernel_run.h"

#include <fmt/format.h>

#include <filesystem>

#include <unistd.h>

#include "lpsafe/klp_transition.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/kernel_code.h"
#include "readers/kernel/kernel_core_memory.h"
#include "readers/kernel/kernel_memory_tasks.h"
#include "report/livepatch_report.h"

namespace lpsafe::pipeline {
namespace {

struct Loaded {
    readers::KernelInput input;
    std::string source;
};

Result<Loaded> load(const KernelOptions& k) {
    auto source = open_kernel_source(k);
    if (!source) return source.error();
    auto capture = readers::capture_kernel(**source);
    if (!capture) return capture.error();
    auto input = readers::to_kernel_input(*capture);
    if (!input) return input.error();
    return Loaded{std::move(*input), capture->source};
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
// klp_disable) the transition's ranges given the patches already loaded;
// for plain function targets, those functions.
Result<ResolvedPatchSet> resolve_ranges(const KernelOptions& k, const PatchSet& patch, const readers::KernelInput& in) {
    if (k.klp.names.empty() && k.klp_disable.empty()) return resolve_kernel_patch_set(patch, in.kallsyms);
    KlpTransition t;
    if (!k.klp_disable.empty()) {
        if (!patch.empty())
            return make_error(
                "--klp-disable predicts turning a loaded patch off: "
                "give no functions with it");
        t.direction = KlpTransition::Direction::disable;
        t.module = k.klp_disable;
    } else {
        t.targets = patch.targets();
        t.replace = k.klp.replace;
        t.own_modules = k.klp.names;
    }
    return resolve_klp_transition(t, loaded_patches(in.livepatch), in.kallsyms);
}

std::vector<std::string> kallsyms_notes(const Kallsyms& k) {
    std::vector<std::string> out = k.notes();
    if (k.skipped_lines() > out.size()) {
        out.push_back(fmt::format("kallsyms: {} more lines skipped", k.skipped_lines() - out.size()));
    }
    return out;
}

// The code return-after-call reads: the image once, the modules in stacks each
// round.
Status find_kernel_code(const KernelOptions& k, const readers::KernelInput& input, std::optional<KernelImage>& image) {
    readers::KernelCodeOptions code;
    code.vmlinux = k.vmlinux;
    code.boot_dir = k.boot_dir;
    if (!k.modules_dir.empty()) code.modules_dir = k.modules_dir;
    const auto modules = readers::modules_in_stacks(input.tasks);
    if (image) {
        readers::add_module_code(code, input, modules, *image);
        return Ok{};
    }
    auto made = readers::load_kernel_code(code, input, modules);
    if (!made) return made.error();
    image = std::move(*made);
    return Ok{};
}

void add_image_json(nlohmann::json& kernel, const KernelImage* image) {
    kernel["image"] = image != nullptr ? image->path : std::string{};
    kernel["image_format"] = image != nullptr ? image->format : std::string{};
    kernel["image_missing"] = image == nullptr ? std::string("disabled (--no-kernel-image)") : image->missing;
    kernel["image_mismatch"] = image != nullptr ? image->mismatch : std::string{};
    auto modules = nlohmann::json::array();
    if (image != nullptr) {
        for (const KernelModuleCode& m : image->modules) {
            modules.push_back({{"name", m.name},
                               {"path", m.path},
                               {"build_id", m.build_id},
                               {"state", module_code_state_name(m.state)},
                               {"detail", m.detail}});
        }
    }
    kernel["modules"] = modules;
}

}  // namespace

Result<std::unique_ptr<readers::ProcSource>> open_kernel_source(const KernelOptions& k) {
    if (k.proc_root.empty()) return readers::open_live_proc();
    return readers::open_proc_root(k.proc_root);
}

namespace {

// kernel_memory: the tasks as the kernel's memory holds them, each stack
// walked with the running image's ORC tables (needs that image).
Result<std::vector<KernelTask>> walk_kernel_memory(const std::string& path, const Kallsyms& kallsyms,
                                                   KernelImage* image) {
    if (image == nullptr || !image->has_vmlinux()) {
        return make_error("kernel memory needs the running kernel's image (its ORC tables and BTF): " +
                          (image == nullptr ? std::string("none was read") : image->missing));
    }
    if (!image->mismatch.empty()) return make_error("kernel memory: " + image->mismatch);
    const Module* vmlinux = image->process.modules.modules().empty() ? nullptr : &image->process.modules.modules().front();
    if (vmlinux == nullptr || !vmlinux->image) return make_error("kernel memory: the kernel image is not loaded");
    // Made once per image: --watch walks again every round, and sorting the
    // image's table is most of a walk's cost.
    if (!image->vmlinux_orc) {
        auto table = OrcTable::from_image(*vmlinux->image);
        if (!table) return table.error();
        image->vmlinux_orc = std::move(*table);
    }
    const OrcTable* table = &*image->vmlinux_orc;
    KernelOrc orc;
    orc.add(vmlinux->start, vmlinux->end, table, image->kaslr_offset);
    for (const KernelImage::ModuleOrc& m : image->module_orc) orc.add(m.start, m.end, &m.table, 0);
    auto memory = readers::KernelCoreMemory::open(path);
    if (!memory) return memory.error();
    readers::KernelMemoryOptions options;
    options.reader_tgid = path == "/proc/kcore" ? getpid() : 0;  // a dump holds no lpsafe
    return readers::read_memory_tasks(**memory, kallsyms, *vmlinux->image, orc, options);
}

}  // namespace

Result<KernelRun> check_kernel_once(const KernelOptions& k, const PatchSet& patch, std::optional<KernelImage>& image) {
    auto loaded = load(k);
    if (!loaded) return loaded.error();
    const Kallsyms& kallsyms = loaded->input.kallsyms;
    if (!k.no_kernel_image) {
        if (auto st = find_kernel_code(k, loaded->input, image); !st) return st.error();
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

Summary counted(const ProcessReport& r) {
    Summary s;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict == VerdictKind::running && t.reason.starts_with("lpsafe's own")) continue;
        s.add(t.verdict);
    }
    return s;
}

nlohmann::json kernel_json(const KernelRun& run, report::Mode mode) {
    std::span<const ProcessReport> reports(&run.report, 1);
    auto j = report::to_json(reports, mode);
    j["kernel"] = {{"source", run.source},
                   {"release", run.release},
                   {"build_id", run.build_id},
                   {"livepatch", report::livepatch_to_json(run.livepatch)},
                   {"notes", run.notes}};
    add_image_json(j["kernel"], run.image);
    report::add_patch_states(j["tasks"], run.patch_states);
    return j;
}

Result<size_t> record_kernel(const KernelOptions& k, const std::string& output, const std::string& recorder) {
    auto source = open_kernel_source(k);  // a capture: re-record it, e.g. a tree into one archive
    if (!source) return source.error();
    auto capture = readers::capture_kernel(**source);
    if (!capture) return capture.error();
    const auto files = readers::capture_files(*capture, recorder);
    std::error_code ec;
    const bool as_dir = output.ends_with("/") || std::filesystem::is_directory(output, ec);
    auto st = as_dir ? readers::write_capture_dir(output, files) : readers::write_capture_archive(output, files);
    if (!st) return st.error();
    return capture->tasks.size();
}

}  // namespace lpsafe::pipeline

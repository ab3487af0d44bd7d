#include "pipeline/kernel_run.h"

#include <fmt/format.h>

#include <filesystem>

#include <unistd.h>

#include "lpsafe/klp_transition.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/kernel_code.h"
#include "readers/kernel/kernel_dump.h"
#include "readers/kernel/kernel_core_memory.h"
#include "readers/kernel/dump_kallsyms.h"
#include "readers/kernel/dump_livepatch.h"
#include "readers/kernel/dump_modules.h"
#include "readers/kernel/kernel_btf.h"
#include "readers/kernel/kernel_memory_tasks.h"
#include "readers/kernel/vmcoreinfo.h"
#include "report/livepatch_report.h"

namespace lpsafe::pipeline {
namespace {

struct Loaded {
    readers::KernelInput input;
    std::string source;
    std::shared_ptr<const Memory> dump;  // --vmcore
    std::vector<std::string> notes;  // for the report
    std::optional<readers::KernelBtf> btf;  // a dump's image BTF, parsed once
};

// A check that walks kernel memory (--kcore) takes only the system's files
// from /proc (kallsyms, notes, livepatch): its tasks come from the walk, and
// reading every task's /proc files too would make it a scan and a walk.
Result<Loaded> load(const KernelOptions& k) {
    auto source = open_kernel_source(k);
    if (!source) return source.error();
    const auto tasks = k.kernel_memory.empty() ? readers::TaskCapture::read : readers::TaskCapture::skip;
    auto capture = readers::capture_kernel(**source, tasks);
    if (!capture) return capture.error();
    auto input = readers::to_kernel_input(*capture);
    if (!input) return input.error();
    return Loaded{std::move(*input), capture->source, {}, {}, {}};
}

// A dump names its own kernel: symbols from its kallsyms tables, release and
// build-id from VMCOREINFO. Its modules and loaded patches come once the
// image (and its BTF) is known: add_dump_modules.
Result<Loaded> load_vmcore(const KernelOptions& k, int64_t& kernel_offset) {
    auto dump = readers::open_kernel_dump(k.vmcore);
    if (!dump) return dump.error();
    const readers::VmcoreInfo* info = &dump->info;
    auto text = readers::kallsyms_from_memory(*dump->memory, *info);
    if (!text) return make_error(k.vmcore + ": kallsyms: " + text.error().message);
    auto kallsyms = Kallsyms::parse(*text);
    if (!kallsyms) return make_error(k.vmcore + ": kallsyms: " + kallsyms.error().message);
    Loaded out;
    out.notes.push_back(fmt::format("kallsyms: {} symbols of the kernel image, decoded from the dump's own tables",
                                    kallsyms->symbols().size()));
    out.input.kallsyms = std::move(*kallsyms);
    out.input.release = info->value("OSRELEASE").value_or("");
    out.input.build_id = info->value("BUILD-ID").value_or("");
    for (char& c : out.input.build_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.source = k.vmcore + " (kernel dump, " + dump->format + ", ORC)";
    out.dump = dump->memory;
    kernel_offset = static_cast<int64_t>(info->hex("KERNELOFFSET").value_or(0));
    if (out.input.release.empty()) return make_error(k.vmcore + ": VMCOREINFO has no OSRELEASE");
    return out;
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

std::vector<std::string> notes_of(Loaded& loaded) {
    auto notes = kallsyms_notes(loaded.input.kallsyms);
    for (std::string& n : loaded.notes) notes.push_back(std::move(n));
    return notes;
}

readers::KernelCodeOptions code_options(const KernelOptions& k) {
    readers::KernelCodeOptions code;
    code.vmlinux = k.vmlinux;
    code.boot_dir = k.boot_dir;
    code.image_cache_dir = k.image_cache_dir;
    if (!k.modules_dir.empty()) code.modules_dir = k.modules_dir;
    return code;
}

// A dump's loaded modules and livepatches, read from its memory with the
// image's BTF. Module symbols join the dump's kallsyms and their .ko files
// are placed and checked against the build-ids in memory, as /proc's are
// against /sys; a module that cannot be read is a note, and its frames stay
// unknown (unreliable). The loaded patches must be read: without them a
// transition's ranges miss their new functions, so failing is an error.
Status add_dump_modules(const KernelOptions& k, Loaded& loaded, KernelImage& image) {
    const auto& mods = image.process.modules.modules();
    if (!image.has_vmlinux() || mods.empty() || !mods.front().image) {
        return make_error(k.vmcore + ": a dump is read with its kernel's image (BTF, ORC): " +
                          (image.missing.empty() ? std::string("not loaded") : image.missing));
    }
    auto parsed = readers::KernelBtf::of_image(*mods.front().image);
    if (!parsed) return make_error(k.vmcore + ": " + parsed.error().message);
    const readers::KernelBtf* btf = &loaded.btf.emplace(std::move(*parsed));
    const Memory& memory = *loaded.dump;
    auto found = readers::modules_from_memory(memory, loaded.input.kallsyms, *btf);
    if (found) {
        loaded.input.kallsyms.append(found->kallsyms);
        loaded.input.module_build_ids = std::move(found->build_ids);
        for (std::string& n : found->notes) loaded.notes.push_back(std::move(n));
        loaded.notes.push_back(fmt::format("modules: {} loaded, read from the dump", found->names.size()));
        readers::add_module_code(code_options(k), loaded.input, {found->names.begin(), found->names.end()}, image);
    } else {
        loaded.notes.push_back("modules: " + found.error().message + "; frames in module code are unreliable");
    }
    auto patches = readers::livepatch_from_memory(memory, loaded.input.kallsyms, *btf);
    if (!patches) return make_error(k.vmcore + ": cannot read the loaded livepatches: " + patches.error().message);
    loaded.input.livepatch = std::move(*patches);
    return Ok{};
}

// The code return-after-call reads: the image once, the modules in stacks each
// round (every loaded module when the stacks are yet to be walked in memory:
// the walk needs their ORC tables).
Status find_kernel_code(const KernelOptions& k, const readers::KernelInput& input, std::optional<KernelImage>& image,
                        std::vector<std::string>& notes) {
    const readers::KernelCodeOptions code = code_options(k);
    const auto modules = k.kernel_memory.empty() ? readers::modules_in_stacks(input.tasks)
                                                 : readers::modules_in_kallsyms(input.kallsyms);
    if (image) {
        readers::add_module_code(code, input, modules, *image);
        return Ok{};
    }
    auto made = readers::load_kernel_code(code, input, modules);
    if (!made) return made.error();
    image = std::move(*made);
    for (const std::string& n : image->notes) notes.push_back(n);  // once, when it is read
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
// `dump`: the dump already open (--vmcore); null: open `path` (/proc/kcore).
Result<readers::MemoryTasks> walk_kernel_memory(const std::string& path, std::shared_ptr<const Memory> dump,
                                                   const Kallsyms& kallsyms, KernelImage* image,
                                                   const readers::KernelBtf* btf) {
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
    if (!dump) {
        auto opened = readers::KernelCoreMemory::open(path);
        if (!opened) return opened.error();
        dump = std::move(*opened);
    }
    readers::KernelMemoryOptions options;
    options.reader_tgid = readers::is_live_kernel_memory(path) ? getpid() : 0;  // a dump holds no lpsafe
    options.btf = btf;
    return readers::read_memory_tasks(*dump, kallsyms, *vmlinux->image, orc, options);
}

}  // namespace

Status check_kernel_dump_file(const std::string& path) {
    auto dump = readers::open_kernel_dump(path);
    if (!dump) return dump.error();
    return Ok{};
}

Result<KernelRun> check_kernel_once(const KernelOptions& k, const PatchSet& patch, std::optional<KernelImage>& image) {
    int64_t dump_offset = 0;
    auto loaded = k.vmcore.empty() ? load(k) : load_vmcore(k, dump_offset);
    if (!loaded) return loaded.error();
    const Kallsyms& kallsyms = loaded->input.kallsyms;
    if (!k.no_kernel_image) {
        if (auto st = find_kernel_code(k, loaded->input, image, loaded->notes); !st) return st.error();
        if (!k.vmcore.empty() && image) {
            if (auto st = add_dump_modules(k, *loaded, *image); !st) return st.error();
        }
    }
    const std::string& memory = k.vmcore.empty() ? k.kernel_memory : k.vmcore;
    if (!memory.empty()) {
        auto walked = walk_kernel_memory(memory, loaded->dump, loaded->input.kallsyms, image ? &*image : nullptr,
                                         loaded->btf ? &*loaded->btf : nullptr);
        if (!walked) return walked.error();
        // The image was placed by the dump's own _text; VMCOREINFO's slide
        // must say the same, or symbols and memory disagree.
        if (!k.vmcore.empty() && image && image->kaslr_offset != dump_offset) {
            return make_error(fmt::format("{}: KERNELOFFSET={:x} but the dump's kallsyms put the image {:#x} from its link address",
                                          k.vmcore, dump_offset, image->kaslr_offset));
        }
        loaded->input.tasks = std::move(walked->tasks);
        loaded->input.patch_states = std::move(walked->patch_states);
        if (k.vmcore.empty()) loaded->source = k.kernel_memory + " (kernel memory, ORC)";
    }
    KernelCheckOptions options;
    options.image = image ? &*image : nullptr;
    options.strict = k.strict;
    // The capture's own symbols say which architecture's stack ends apply
    // (an arm64 capture judged on an x86_64 host, and the reverse).
    options.arch = kernel_arch_of(kallsyms, image && image->has_vmlinux() ? image->process.arch : ArchId::x86_64);
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
                     notes_of(*loaded)};
}

Summary counted(const ProcessReport& r) {
    Summary s;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict == VerdictKind::running && t.reason.starts_with("lpsafe's own")) continue;
        s.add(t.verdict);
    }
    return s;
}

void kernel_json(report::JsonOut& out, const KernelRun& run, report::Mode mode) {
    report::JsonExtras extras;
    nlohmann::json& kernel = extras.members["kernel"];
    kernel = {{"source", run.source},
              {"release", run.release},
              {"build_id", run.build_id},
              {"livepatch", report::livepatch_to_json(run.livepatch)},
              {"notes", run.notes}};
    add_image_json(kernel, run.image);
    extras.patch_states = run.patch_states;
    report::write_json(out, std::span<const ProcessReport>(&run.report, 1), mode, extras);
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

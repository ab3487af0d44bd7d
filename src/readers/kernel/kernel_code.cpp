#include "readers/kernel/kernel_code.h"

#include <unistd.h>

#include <fmt/format.h>

#include "readers/kernel/kernel_image_file.h"
#include "readers/kernel/kernel_modules.h"

namespace lpsafe::readers {
namespace {

using State = KernelModuleCode::State;

// The image named by --vmlinux, or the first candidate that exists. An
// image found by looking is used only when it can be verified: a stale
// file must not vouch for another kernel.
Result<KernelImage> load_vmlinux(const KernelCodeOptions& options, const KernelInput& input) {
    const UnpackedImageCache cache(options.image_cache_dir);
    const auto with_format = [](Result<KernelImage> image, OpenedKernelImage& opened) {
        if (image) {
            image->format = std::move(opened.format);
            if (!opened.note.empty()) image->notes.push_back(std::move(opened.note));
        }
        return image;
    };
    if (!options.vmlinux.empty()) {
        auto opened = open_kernel_image(options.vmlinux, &cache);
        if (!opened) return opened.error();
        return with_format(make_kernel_image(opened->elf, input.kallsyms, input.build_id), *opened);
    }
    const auto candidates = kernel_image_candidates(options, input.release);
    if (candidates.empty()) return kernel_image_without_vmlinux(ArchId::x86_64, "the kernel's release is unknown");
    std::string path;
    for (const std::string& c : candidates) {
        if (::access(c.c_str(), F_OK) == 0) {
            path = c;
            break;
        }
    }
    if (path.empty()) {
        return kernel_image_without_vmlinux(ArchId::x86_64, fmt::format("no kernel image ({} not found)", candidates.back()));
    }
    if (input.build_id.empty()) {
        return kernel_image_without_vmlinux(
            ArchId::x86_64, path + " is not used: the running kernel's build-id is unknown (/sys/kernel/notes), so it "
                                   "cannot be verified (give --vmlinux to use it anyway)");
    }
    auto opened = open_kernel_image(path, &cache);
    if (!opened) return kernel_image_without_vmlinux(ArchId::x86_64, "kernel image unusable: " + opened.error().message);
    auto image = with_format(make_kernel_image(opened->elf, input.kallsyms, input.build_id), *opened);
    if (!image) return kernel_image_without_vmlinux(ArchId::x86_64, "kernel image unusable: " + image.error().message);
    return image;
}

}  // namespace

// A release names files: one from a capture must not walk out of the
// directories searched.
static bool usable_release(const std::string& r) { return !r.empty() && r != "." && r != ".." && r.find('/') == std::string::npos; }

std::vector<std::string> kernel_image_candidates(const KernelCodeOptions& options, const std::string& release) {
    if (!usable_release(release)) return {};
    if (!options.boot_dir.empty()) return {options.boot_dir + "/vmlinux-" + release, options.boot_dir + "/vmlinuz-" + release};
    // Uncompressed images with symbols first (debug packages, the build
    // tree), then the compressed one every installed kernel has.
    return {"/usr/lib/debug/boot/vmlinux-" + release, "/boot/vmlinux-" + release,
            "/usr/lib/debug/lib/modules/" + release + "/vmlinux", "/lib/modules/" + release + "/build/vmlinux",
            "/boot/vmlinuz-" + release};
}

std::set<std::string> modules_in_stacks(const std::vector<KernelTask>& tasks) {
    std::set<std::string> out;
    for (const KernelTask& t : tasks) {
        auto entries = parse_stack_text(t.stack);
        if (!entries) continue;
        for (const ListedEntry& e : *entries) {
            if (!e.module.empty()) out.insert(e.module);
        }
    }
    return out;
}

std::set<std::string> modules_in_kallsyms(const Kallsyms& kallsyms) {
    std::set<std::string> out;
    std::string_view last;
    for (const KernelSymbol& s : kallsyms.symbols()) {
        if (s.module.empty() || s.module == last) continue;  // runs of one module are common
        last = s.module;
        out.emplace(s.module);
    }
    return out;
}

Result<KernelImage> load_kernel_code(const KernelCodeOptions& options, const KernelInput& input,
                                     const std::set<std::string>& modules) {
    auto image = load_vmlinux(options, input);
    if (image) add_module_code(options, input, modules, *image);
    return image;
}

void add_module_code(const KernelCodeOptions& options, const KernelInput& input, const std::set<std::string>& modules,
                     KernelImage& image) {
    std::vector<std::string> wanted;
    for (const std::string& m : modules) {
        if (image.module(m) == nullptr) wanted.push_back(m);
    }
    if (wanted.empty()) return;
    const std::string release_dir = options.modules_dir + "/" + input.release;
    auto index = usable_release(input.release)
                     ? index_module_files(release_dir)
                     : Result<std::map<std::string, std::string>>(make_error("the kernel's release is unknown"));
    for (const std::string& m : wanted) {
        std::string path, why;
        if (!index) {
            why = index.error().message;
        } else if (const auto f = index->find(module_name_of(m)); f != index->end()) {
            path = f->second;
        } else {
            why = "no file for it under " + release_dir;
        }
        if (path.empty()) {
            KernelModuleCode code;
            code.name = m;
            code.state = State::not_found;
            code.detail = why;
            add_kernel_module(image, std::move(code), {});
            continue;
        }
        const auto id = input.module_build_ids.find(m);
        PlacedModule placed = place_module(m, path, id == input.module_build_ids.end() ? "" : id->second, input.kallsyms);
        if (placed.orc && !placed.regions.empty()) {
            const uint64_t start = placed.regions.front().start;
            const uint64_t end = placed.regions.back().start + placed.regions.back().bytes.size();
            image.module_orc.push_back({m, start, end, std::move(*placed.orc)});
        }
        add_kernel_module(image, std::move(placed.code), std::move(placed.regions));
    }
}

}  // namespace lpsafe::readers

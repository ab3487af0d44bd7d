// The kernel image (vmlinux) as a ProcessImage relocated by the KASLR offset,
// and the loaded modules' code sections at their runtime addresses, so
// return-after-call reuses the arch's check_call_before() on kernel code.
#include <elf.h>

#include <algorithm>

#include <fmt/format.h>

#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

// _text of the image: its symbol when the image has symbols, else the start
// of the first executable segment (where the kernel's linker script puts it).
std::optional<uint64_t> image_text(const ElfImage& image) {
    for (const Symbol* s : image.symbols_named("_text")) return s->start;
    std::optional<uint64_t> lowest;
    for (const ElfSegment& seg : image.segments()) {
        if ((seg.flags & PF_X) != 0 && (!lowest || seg.vaddr < *lowest)) lowest = seg.vaddr;
    }
    return lowest;
}

// Where the image's _text lies at run time. kallsyms' `_text` when it has one;
// arm64's has none (scripts/kallsyms.c keeps only symbols inside the text
// ranges from `_stext` on, and arm64's `.head.text`, where `_text` is, comes
// before `_stext`), so then an anchor both the image and kallsyms name
// (`_stext`, `primary_entry`: an arm64 Image reports both,
// raw_kernel_image.h) carries the image's `_text` over.
std::optional<uint64_t> runtime_text(const ElfImage& image, uint64_t link_text, const Kallsyms& kallsyms) {
    if (auto t = kallsyms.text_start()) return t;
    for (const char* anchor : {"_stext", "primary_entry"}) {
        const auto at_runtime = kallsyms.vmlinux_address(anchor);
        const auto in_image = image.symbols_named(anchor);
        if (at_runtime && in_image.size() == 1 && in_image.front()->start >= link_text)
            return *at_runtime - (in_image.front()->start - link_text);
    }
    return std::nullopt;
}

}  // namespace

Result<KernelImage> make_kernel_image(std::shared_ptr<ElfImage> vmlinux, const Kallsyms& kallsyms,
                                      std::string_view running_build_id) {
    if (!vmlinux) return make_error("no kernel image");
    const std::string path = vmlinux->path();
    const Arch* arch = arch_for_elf_machine(vmlinux->machine());
    if (arch == nullptr) return make_error(path + ": not a kernel image for a supported architecture");
    const auto link_text = image_text(*vmlinux);
    if (!link_text) return make_error(path + ": no executable segment");
    const auto runtime_text = lpsafe::runtime_text(*vmlinux, *link_text, kallsyms);
    if (!runtime_text)
        return make_error("kallsyms has no _text (nor an _stext or primary_entry the image names): cannot relocate " + path);

    KernelImage k;
    k.path = path;
    k.kaslr_offset = static_cast<int64_t>(*runtime_text - *link_text);
    if (!running_build_id.empty() && vmlinux->build_id() != running_build_id) {
        k.mismatch = fmt::format("{} has build-id {} but the running kernel has {}", path,
                                 vmlinux->build_id().empty() ? "(none)" : vmlinux->build_id(), running_build_id);
    }
    const uint64_t bias = *runtime_text - *link_text;
    Module m;
    m.path = path;
    m.name = "vmlinux";
    m.bias = bias;
    m.start = UINT64_MAX;
    for (const ElfSegment& seg : vmlinux->segments()) {
        Mapping map;
        map.start = seg.vaddr + bias;
        map.end = map.start + seg.memsz;
        map.file_offset = seg.offset;
        map.path = path;
        map.readable = (seg.flags & PF_R) != 0;
        map.writable = (seg.flags & PF_W) != 0;
        map.executable = (seg.flags & PF_X) != 0;
        k.process.mappings.push_back(map);
        m.start = std::min(m.start, map.start);
        m.end = std::max(m.end, map.end);
    }
    if (k.process.mappings.empty()) return make_error(path + ": no loadable segments");
    std::sort(k.process.mappings.begin(), k.process.mappings.end(),
              [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    m.image = std::move(vmlinux);
    k.process.arch = arch->id;
    k.process.comm = "kernel";
    k.process.modules.add(std::move(m));
    return k;
}

KernelImage kernel_image_without_vmlinux(ArchId arch, std::string why) {
    KernelImage k;
    k.process.arch = arch;
    k.process.comm = "kernel";
    k.missing = std::move(why);
    return k;
}

namespace {

// A region that would overlap code already placed: kallsyms (from a capture,
// so untrusted) put two objects at one address; neither can be believed.
std::optional<std::string> overlap(const KernelImage& image, const std::vector<CodeRegion>& regions) {
    for (const CodeRegion& r : regions) {
        for (const Mapping& m : image.process.mappings) {
            if (r.start < m.end && m.start < r.start + r.bytes.size()) {
                return fmt::format("its {} at {:#x} overlaps {} at {:#x}: kallsyms places two objects at one address",
                                   r.section, r.start, m.path, m.start);
            }
        }
    }
    return std::nullopt;
}

}  // namespace

void add_kernel_module(KernelImage& image, KernelModuleCode module, std::vector<CodeRegion> regions) {
    if (module.state == KernelModuleCode::State::used) {
        if (auto why = overlap(image, regions)) {
            module.state = KernelModuleCode::State::unreadable;
            module.detail = *why;
            regions.clear();
        }
    }
    if (module.state == KernelModuleCode::State::used) {
        if (!image.module_memory) {
            image.module_memory = std::make_shared<BufferMemory>();
            image.process.memory = image.module_memory;
        }
        for (CodeRegion& r : regions) {
            Mapping map;
            map.start = r.start;
            map.end = r.start + r.bytes.size();
            map.path = module.path;
            map.readable = map.executable = true;
            auto& maps = image.process.mappings;
            maps.insert(std::upper_bound(maps.begin(), maps.end(), map,
                                         [](const Mapping& a, const Mapping& b) { return a.start < b.start; }),
                        map);
            image.module_memory->add(r.start, std::move(r.bytes));
        }
    }
    image.modules.push_back(std::move(module));
}

const KernelModuleCode* KernelImage::module(std::string_view name) const {
    for (const KernelModuleCode& m : modules) {
        if (m.name == name) return &m;
    }
    return nullptr;
}

std::string_view module_code_state_name(KernelModuleCode::State s) {
    switch (s) {
        case KernelModuleCode::State::used: return "used";
        case KernelModuleCode::State::not_found: return "not-found";
        case KernelModuleCode::State::unverified: return "unverified";
        case KernelModuleCode::State::mismatch: return "mismatch";
        case KernelModuleCode::State::unreadable: return "unreadable";
    }
    return "?";
}

}  // namespace lpsafe

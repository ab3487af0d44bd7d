#include "readers/core/dynamic_section.h"

#include <elf.h>

#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {
namespace {

constexpr uint64_t kMaxDynamicBytes = 64 * 1024;

}  // namespace

std::optional<DynamicSegment> dynamic_segment(const ElfImage& image) {
    const auto file = image.file_bytes();
    const bool big = elf_is_big_endian(file);
    const auto ehdr = load<Elf64_Ehdr>(file, 0, big);
    if (!ehdr || ehdr->e_phentsize != sizeof(Elf64_Phdr)) return std::nullopt;
    for (uint64_t i = 0; i < ehdr->e_phnum; ++i) {
        const auto ph = load<Elf64_Phdr>(file, ehdr->e_phoff + i * sizeof(Elf64_Phdr), big);
        if (!ph) return std::nullopt;
        if (ph->p_type == PT_DYNAMIC) return DynamicSegment{ph->p_vaddr, ph->p_filesz, ph->p_offset};
    }
    return std::nullopt;
}

Result<std::vector<std::pair<int64_t, uint64_t>>> dynamic_in_memory(const Memory& memory, uint64_t addr,
                                                                   uint64_t max_bytes) {
    std::vector<std::pair<int64_t, uint64_t>> out;
    for (uint64_t at = addr; at - addr < std::min(max_bytes, kMaxDynamicBytes); at += sizeof(Elf64_Dyn)) {
        const auto tag = memory.read_u64(at);
        const auto value = memory.read_u64(at + 8);
        if (!tag || !value) return make_error("the dynamic section at " + hex(at) + " is not in process memory");
        if (static_cast<int64_t>(*tag) == DT_NULL) return out;
        out.emplace_back(static_cast<int64_t>(*tag), *value);
    }
    return make_error("the dynamic section at " + hex(addr) + " has no DT_NULL");
}

std::string dynamic_mismatch(const Memory& memory, const ElfImage& image, uint64_t bias) {
    const auto seg = dynamic_segment(image);
    if (!seg) return image.path() + " has no dynamic section";
    const auto file = image.file_bytes();
    auto in_memory = dynamic_in_memory(memory, bias + seg->vaddr, seg->size);
    if (!in_memory) return in_memory.error().message;
    size_t i = 0;
    for (uint64_t at = seg->offset; at + sizeof(Elf64_Dyn) <= seg->offset + seg->size; at += sizeof(Elf64_Dyn), ++i) {
        const auto dyn = load<Elf64_Dyn>(file, at, elf_is_big_endian(file));
        if (!dyn) return image.path() + "'s dynamic section is cut off";
        if (dyn->d_tag == DT_NULL) return i == in_memory->size() ? "" : "the dynamic section in memory is longer than the file's";
        if (i >= in_memory->size()) return "the dynamic section in memory is shorter than the file's";
        const auto [tag, value] = (*in_memory)[i];
        if (tag != dyn->d_tag) return "dynamic entry " + std::to_string(i) + " differs from the file's (tag)";
        if (tag == DT_DEBUG) continue;
        // ppc64's dynamic linker relocates its own DT_PPC64_GLINK twice
        // (seen in every qemu-user core of glibc 2.36's ld64.so.2: file value
        // + 2 x bias); the entry is still tied to this file and this bias.
        const bool glink_twice = image.machine() == EM_PPC64 && tag == DT_PPC64_GLINK &&
                                 value == dyn->d_un.d_val + 2 * bias;
        if (value != dyn->d_un.d_val && value != dyn->d_un.d_val + bias && !glink_twice)
            return "dynamic entry " + std::to_string(i) + " (tag " + std::to_string(tag) + ") differs from the file's";
    }
    return image.path() + "'s dynamic section has no DT_NULL";
}

}  // namespace lpsafe::readers

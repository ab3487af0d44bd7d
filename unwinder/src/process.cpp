#include <elf.h>

#include <algorithm>

#include "lpsafe/process.h"

namespace lpsafe {

const Mapping* ProcessImage::mapping_at(uint64_t addr) const {
    auto it = std::upper_bound(mappings.begin(), mappings.end(), addr,
                               [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (it == mappings.begin()) return nullptr;
    --it;
    return it->contains(addr) ? &*it : nullptr;
}

size_t ProcessImage::read_code(uint64_t addr, std::span<std::byte> out) const {
    size_t n = memory ? memory->read(addr, out) : 0;
    if (n == out.size()) return n;
    // Fall back to the file only for a verified module: an unverified file's
    // bytes may not be what the process ran.
    const Module* module = modules.find(addr + n);
    if (module == nullptr || !module->status.usable() || !module->image) return n;
    return n + module->image->read(addr + n - module->bias, out.subspan(n));
}

bool ProcessImage::is_executable(uint64_t addr) const {
    const Mapping* m = mapping_at(addr);
    if (m != nullptr && m->permissions_known) return m->executable;
    const Module* module = modules.find(addr);
    if (module == nullptr || !module->image) return false;
    const uint64_t vaddr = addr - module->bias;
    return std::any_of(module->image->segments().begin(), module->image->segments().end(),
                       [vaddr](const ElfSegment& s) {
                           return (s.flags & PF_X) != 0 && vaddr >= s.vaddr && vaddr - s.vaddr < s.memsz;
                       });
}

}  // namespace lpsafe

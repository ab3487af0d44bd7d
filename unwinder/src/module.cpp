#include <algorithm>

#include "lpsafe/module.h"

namespace lpsafe {

bool Module::matches_object(std::string_view object) const {
    if (object == name || object == path) return true;
    return image && !image->soname().empty() && object == image->soname();
}

void ModuleMap::add(Module module) {
    auto pos = std::upper_bound(modules_.begin(), modules_.end(), module.start,
                                [](uint64_t start, const Module& m) { return start < m.start; });
    modules_.insert(pos, std::move(module));
}

const Module* ModuleMap::find(uint64_t addr) const {
    auto it = std::upper_bound(modules_.begin(), modules_.end(), addr,
                               [](uint64_t a, const Module& m) { return a < m.start; });
    if (it == modules_.begin()) return nullptr;
    --it;
    return it->contains(addr) ? &*it : nullptr;
}

}  // namespace lpsafe

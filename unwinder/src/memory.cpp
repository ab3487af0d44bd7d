#include "lpsafe/memory.h"

#include <algorithm>

namespace lpsafe {

void BufferMemory::add(uint64_t addr, std::vector<std::byte> bytes) {
    regions_.push_back({addr, std::move(bytes)});
    std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.addr < b.addr; });
}

size_t BufferMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        if (at < addr) break;  // wrapped around the address space
        auto it = std::find_if(regions_.begin(), regions_.end(), [at](const Region& r) {
            return at >= r.addr && at - r.addr < r.bytes.size();
        });
        if (it == regions_.end()) break;
        const size_t off = static_cast<size_t>(at - it->addr);
        const size_t n = std::min(out.size() - done, it->bytes.size() - off);
        std::copy_n(it->bytes.begin() + static_cast<std::ptrdiff_t>(off), n, out.begin() + static_cast<std::ptrdiff_t>(done));
        done += n;
    }
    return done;
}

}  // namespace lpsafe

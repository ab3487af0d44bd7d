#include "readers/kernel/page_cached_memory.h"

#include <algorithm>
#include <cstring>

namespace lpsafe::readers {

const PageCachedMemory::Page* PageCachedMemory::page_at(uint64_t page) const {
    for (const Page& p : pages_) {
        if (p.addr == page) return &p;
    }
    Page& slot = pages_[next_];
    // A page only partly readable (a dump segment or kcore hole ending inside
    // it) is not cached: the caller reads the memory beneath, which says
    // exactly how far it can.
    if (under_.read(page, slot.bytes) != kPage) {
        slot.addr = ~uint64_t{0};
        return nullptr;
    }
    slot.addr = page;
    next_ = (next_ + 1) % kPages;
    return &slot;
}

size_t PageCachedMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        const uint64_t page = at & ~(kPage - 1);
        const size_t in_page = std::min<size_t>(out.size() - done, kPage - (at - page));
        const Page* p = page_at(page);
        if (p == nullptr) return done + under_.read(at, out.subspan(done));
        std::memcpy(out.data() + done, p->bytes.data() + (at - page), in_page);
        done += in_page;
    }
    return done;
}

}  // namespace lpsafe::readers

#include "readers/kernel/page_cached_memory.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace lpsafe::readers {

const PageCachedMemory::Page* PageCachedMemory::cached(uint64_t page) const {
    for (const Page& p : pages_) {
        if (p.addr == page) return &p;
    }
    return nullptr;
}

PageCachedMemory::Page& PageCachedMemory::next_slot() const {
    Page& slot = pages_[next_];
    next_ = (next_ + 1) % kPages;
    return slot;
}

const PageCachedMemory::Page* PageCachedMemory::page_at(uint64_t page) const {
    if (const Page* p = cached(page)) return p;
    Page& slot = next_slot();
    // A page only partly readable (a dump segment or kcore hole ending inside
    // it) is not cached: the caller reads the memory beneath, which says
    // exactly how far it can.
    if (under_.read(page, slot.bytes) != kPage) {
        slot.addr = ~uint64_t{0};
        return nullptr;
    }
    slot.addr = page;
    return &slot;
}

void PageCachedMemory::prefetch(uint64_t addr, uint64_t size) const {
    if (size == 0 || addr + size < addr) return;
    const uint64_t first = addr & ~(kPage - 1);
    const uint64_t count = std::min<uint64_t>((addr + size - first + kPage - 1) / kPage, kPages);
    std::vector<std::byte> bytes(count * kPage);
    const size_t got = under_.read(first, bytes);
    for (uint64_t i = 0; i < got / kPage; ++i) {
        const uint64_t page = first + i * kPage;
        if (cached(page) != nullptr) continue;
        Page& slot = next_slot();
        std::memcpy(slot.bytes.data(), bytes.data() + i * kPage, kPage);
        slot.addr = page;
    }
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

// One stack walk's view of kernel memory: each 4 KiB page it touches is read
// once, whole, and served from here for the rest of the walk. What the walk
// is known to need (the task_struct's fields, the stack from the saved sp to
// its top) is prefetched, each range in one read.
//
// Why: a walk reads a few dozen words of one task (its task_struct fields,
// its stack), and from /proc/kcore each word was its own pread (and each
// vmalloc'd stack word its own vread in the kernel); from a mapped dump,
// each word another page-table walk. A page at a time is a handful of
// reads per task: three for a sleeping task from /proc/kcore (its
// task_struct, its stack, and the switch counts read again after the walk).
//
// Soundness: the view lives for one walk attempt only. The context-switch
// counts that decide whether the task held still are read around it from
// the underlying memory, fresh (kernel_memory_tasks.cpp), so a task that ran
// during the walk is still caught; within the walk, one copy of each page
// is, if anything, more consistent than words read at different moments.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "lpsafe/memory.h"

namespace lpsafe::readers {

class PageCachedMemory final : public Memory {
public:
    explicit PageCachedMemory(const Memory& under) : under_(under) { set_big_endian(under.big_endian()); }
    size_t read(uint64_t addr, std::span<std::byte> out) const override;
    // Reads the whole pages covering [addr, addr + size) in one read of the
    // memory beneath and keeps those it got whole. At most kPages pages.
    void prefetch(uint64_t addr, uint64_t size) const;

private:
    static constexpr uint64_t kPage = 4096;
    // A walk touches the task_struct's three or four pages and up to four
    // stack pages (THREAD_SIZE 16 KiB).
    static constexpr size_t kPages = 10;
    struct Page {
        uint64_t addr = ~uint64_t{0};  // page-aligned; ~0 = empty
        std::array<std::byte, kPage> bytes;  // not zeroed: only read once filled
    };
    // The cached page holding `page`, read now if it is not cached; null when
    // the page cannot be read whole (then reads go to the memory beneath).
    const Page* page_at(uint64_t page) const;
    const Page* cached(uint64_t page) const;
    Page& next_slot() const;

    const Memory& under_;
    mutable std::array<Page, kPages> pages_;
    mutable size_t next_ = 0;  // round-robin replacement
};

}  // namespace lpsafe::readers

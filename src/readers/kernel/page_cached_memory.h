// One stack walk's view of kernel memory: each 4 KiB page it touches is read
// once, whole, and served from here for the rest of the walk.
//
// Why: a walk reads a few dozen words of one task (its task_struct fields,
// its stack), and from /proc/kcore each word was its own pread (and each
// vmalloc'd stack word its own vread in the kernel); from a mapped dump,
// each word another page-table walk. A page at a time is a handful of
// reads per task.
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
    explicit PageCachedMemory(const Memory& under) : under_(under) {}
    size_t read(uint64_t addr, std::span<std::byte> out) const override;

private:
    static constexpr uint64_t kPage = 4096;
    // A walk touches the task_struct's pages and two or three stack pages.
    static constexpr size_t kPages = 8;
    struct Page {
        uint64_t addr = ~uint64_t{0};  // page-aligned; ~0 = empty
        std::array<std::byte, kPage> bytes;  // not zeroed: only read once filled
    };
    // The cached page holding `page`, read now if it is not cached; null when
    // the page cannot be read whole (then reads go to the memory beneath).
    const Page* page_at(uint64_t page) const;

    const Memory& under_;
    mutable std::array<Page, kPages> pages_;
    mutable size_t next_ = 0;  // round-robin replacement
};

}  // namespace lpsafe::readers

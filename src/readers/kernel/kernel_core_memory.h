// Kernel virtual memory from an ELF core: /proc/kcore (live, root), kdump's
// /proc/vmcore, QEMU's `dump-guest-memory` with or without -p. Addresses a
// PT_LOAD maps virtually are read from it; the rest (all of a physical
// dump, vmalloc'd stacks in a kdump vmcore) go through the kernel's own
// page tables to the PT_LOAD holding that physical address, once
// use_page_tables() has found them. Read with pread, so /proc/kcore's
// 128 TiB file is never mapped.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct KernelCoreSegment {
    uint64_t vaddr = 0;
    uint64_t size = 0;  // bytes in the file (p_filesz)
    uint64_t offset = 0;
    // The highest end (vaddr + size) of this segment and every one sorted
    // before it: PT_LOADs may overlap (makedumpfile's ELF dumps give the
    // kernel image and the direct map one physical range each, one with
    // fewer bytes in the file), so the segment starting last below an
    // address need not be the one that holds it.
    uint64_t reach = 0;
};

class KernelCoreMemory final : public Memory {
public:
    static Result<std::shared_ptr<KernelCoreMemory>> open(const std::string& path);
    ~KernelCoreMemory() override;
    size_t read(uint64_t addr, std::span<std::byte> out) const override;
    const std::vector<KernelCoreSegment>& segments() const { return segments_; }
    // A dump file never changes: map it and read words from the mapping (a
    // task's fields and stack are read a word at a time: one pread each
    // was most of a 10,000-task check). Never for the live /proc/kcore,
    // whose words must be read fresh (a task's switch count before and after
    // its walk), and whose 128 TiB would not map anyway. False when mapping
    // failed; reads then stay preads.
    bool map_file();
    // x86_64: translate what no PT_LOAD maps virtually through the page
    // table at physical address `root` (init_top_pgt), 4 or 5 levels.
    void use_page_tables(uint64_t root, bool five_level);
    bool has_page_tables() const { return root_.has_value(); }
    // The physical address `vaddr` maps to, through the page tables.
    std::optional<uint64_t> translate(uint64_t vaddr) const;
    // The ELF notes (for vmcoreinfo), raw.
    const std::vector<std::byte>& notes() const { return notes_; }

private:
    KernelCoreMemory() = default;
    // Bytes of the segment run covering `addr`, from `segs` (sorted by address).
    size_t read_from(const std::vector<KernelCoreSegment>& segs, uint64_t addr, std::span<std::byte> out) const;
    std::optional<uint64_t> read_physical_u64(uint64_t paddr) const;
    // The file's bytes at `offset`: from the mapping, else pread.
    bool read_file(std::byte* out, size_t len, uint64_t offset) const;
    int fd_ = -1;
    std::vector<KernelCoreSegment> segments_;  // sorted by vaddr
    std::vector<KernelCoreSegment> physical_;  // the same PT_LOADs by p_paddr (in .vaddr)
    std::optional<uint64_t> root_;
    bool five_level_ = false;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<uint64_t, uint64_t> page_cache_;  // virtual page -> physical page
    const std::byte* map_ = nullptr;  // map_file(): the whole file
    size_t map_size_ = 0;
    std::vector<std::byte> notes_;
};

}  // namespace lpsafe::readers

// Kernel virtual memory from an ELF core whose PT_LOAD segments are at
// kernel virtual addresses: /proc/kcore (live, root), and QEMU's
// `dump-guest-memory -p` (paging: virtual addresses). Read with pread, so
// /proc/kcore's 128 TiB file is never mapped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct KernelCoreSegment {
    uint64_t vaddr = 0;
    uint64_t size = 0;  // bytes in the file (p_filesz)
    uint64_t offset = 0;
};

class KernelCoreMemory final : public Memory {
public:
    static Result<std::shared_ptr<KernelCoreMemory>> open(const std::string& path);
    ~KernelCoreMemory() override;
    size_t read(uint64_t addr, std::span<std::byte> out) const override;
    const std::vector<KernelCoreSegment>& segments() const { return segments_; }
    // The ELF notes (for vmcoreinfo), raw.
    const std::vector<std::byte>& notes() const { return notes_; }

private:
    KernelCoreMemory() = default;
    int fd_ = -1;
    std::vector<KernelCoreSegment> segments_;  // sorted by vaddr
    std::vector<std::byte> notes_;
};

}  // namespace lpsafe::readers

// Kernel virtual memory from a dump in any format libkdumpfile reads, for
// the formats lpsafe does not read itself: makedumpfile's compressed kdump
// format ("KDUMP   ", also what QEMU's dump-guest-memory -z/-l/-s writes,
// flattened before QEMU 8.2) and the older diskdump. libkdumpfile (Debian libkdumpfile-dev, the reader
// drgn and crash-python use) decompresses pages and translates kernel
// virtual addresses through the dump's own page tables; ELF dumps stay
// with KernelCoreMemory.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"

struct _kdump_ctx;

namespace lpsafe::readers {

// One context per open dump, never freed (see the destructor: libkdumpfile
// 0.5.1 corrupts memory in kdump_free for these formats).
class KdumpFileMemory final : public Memory {
public:
    static Result<std::shared_ptr<KdumpFileMemory>> open(const std::string& path);
    ~KdumpFileMemory() override;
    size_t read(uint64_t addr, std::span<std::byte> out) const override;
    // The dump's VMCOREINFO text.
    const std::string& vmcoreinfo() const { return vmcoreinfo_; }
    const std::string& format() const { return format_; }

private:
    KdumpFileMemory() = default;
    int fd_ = -1;
    struct _kdump_ctx* ctx_ = nullptr;
    mutable std::mutex mutex_;  // a kdump_ctx_t is not thread-safe
    std::string vmcoreinfo_;
    std::string format_;
    bool flattened_ = false;  // read through a rearranged temporary copy
};

// Whether `path` starts like a dump libkdumpfile should read (not ELF).
bool looks_like_kdump_file(const std::string& path);

}  // namespace lpsafe::readers

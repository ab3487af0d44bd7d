// Linux ELF core dumps (kernel-written or gdb's gcore) as a ProcessImage:
// threads from NT_PRSTATUS, memory from PT_LOAD, mappings from PT_LOAD and
// NT_FILE, modules from the files the process had mapped.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "readers/modules/mapped_file.h"

namespace lpsafe::readers {

struct CoreOptions {
    std::string exe;      // the main executable, when its path in the core is wrong or absent
    std::string sysroot;  // prefixed to every path the core names
    std::vector<std::string> debug_dirs = {};  // separate debug file roots (ModuleSearch)
};

// Fails on anything that is not a readable 64-bit little-endian core of a
// known architecture, on notes that do not parse, and on a core without
// threads. A core truncated inside its memory segments still opens: the
// bytes it lacks read as missing, and stacks through them turn unreliable.
Result<ProcessImage> read_core(const std::string& path, const CoreOptions& options);

// The memory of a core: PT_LOAD segments whose bytes are views into the
// mapped core file.
class CoreMemory final : public Memory {
public:
    struct Segment {
        uint64_t vaddr = 0;
        uint64_t memsz = 0;
        // The dumped prefix of [vaddr, vaddr + memsz). The rest was not written
        // (p_filesz < p_memsz, or the file was cut short) and is unreadable:
        // it must never read as zeros.
        std::span<const std::byte> bytes;
    };

    // `segments` must be sorted by vaddr and must not overlap.
    CoreMemory(std::shared_ptr<const MappedFile> file, std::vector<Segment> segments);
    size_t read(uint64_t addr, std::span<std::byte> out) const override;
    const std::vector<Segment>& segments() const { return segments_; }

private:
    std::vector<Segment>::const_iterator find_segment(uint64_t at) const;

    std::shared_ptr<const MappedFile> file_;  // keeps the views alive
    std::vector<Segment> segments_;
    mutable std::atomic<size_t> hint_{0};  // index of the last segment read
};

}  // namespace lpsafe::readers

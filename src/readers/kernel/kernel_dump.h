// A kernel dump opened for reading: the memory backend its format needs
// (ELF: KernelCoreMemory, mapped, with the page-table fallback; makedumpfile's
// compressed format: libkdumpfile) and its VMCOREINFO.
#pragma once

#include <memory>
#include <string>

#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/kernel/vmcoreinfo.h"

namespace lpsafe::readers {

struct KernelDump {
    std::shared_ptr<const Memory> memory;
    VmcoreInfo info;
    std::string format;  // "ELF", or libkdumpfile's name for it ("kdump")
};

// `path` may also be /proc/kcore (read word by word, never mapped).
Result<KernelDump> open_kernel_dump(const std::string& path);

// /proc/kcore (any path to it): the running kernel, not a file that holds still.
bool is_live_kernel_memory(const std::string& path);

}  // namespace lpsafe::readers

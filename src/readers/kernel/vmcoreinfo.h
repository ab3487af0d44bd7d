// VMCOREINFO: the text note the kernel writes for dump readers
// (kernel/vmcore_info.c, crash_core.c before 6.9): "KEY=VALUE" lines such as
// OSRELEASE=6.1.0-57-amd64, KERNELOFFSET=1e000000 (the KASLR slide, hex),
// SYMBOL(init_task)=ffffffff9f615940 (runtime address, hex),
// OFFSET(list_head.next)=0 and SIZE(...)/NUMBER(...) (decimal). /proc/kcore,
// kdump's /proc/vmcore and QEMU's dump-guest-memory (with -device
// vmcoreinfo) all carry it as an ELF note named "VMCOREINFO".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lpsafe/result.h"

namespace lpsafe::readers {

class VmcoreInfo {
public:
    // The VMCOREINFO note among an ELF core's notes; an error when there is
    // none. Lines that are not KEY=VALUE are skipped (and counted).
    static Result<VmcoreInfo> from_notes(std::span<const std::byte> notes);
    static VmcoreInfo parse(std::string_view text);

    std::optional<std::string> value(std::string_view key) const;
    std::optional<uint64_t> symbol(std::string_view name) const;  // SYMBOL(name)
    std::optional<uint64_t> hex(std::string_view key) const;      // e.g. KERNELOFFSET
    // NUMBER(name), decimal; printed with %ld, so an unsigned value such as
    // phys_base may read negative and is returned as its two's complement.
    std::optional<uint64_t> number(std::string_view name) const;
    size_t skipped_lines() const { return skipped_; }

private:
    std::map<std::string, std::string, std::less<>> entries_;
    size_t skipped_ = 0;
};

}  // namespace lpsafe::readers

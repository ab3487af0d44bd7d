// An arm64 `Image` (what Debian installs as /boot/vmlinuz-*-arm64: the
// kernel's text and data as they lie in memory from `_text` on, no ELF) made
// into an in-memory ELF that ElfImage opens: one R+X PT_LOAD over the whole
// Image, so image_text() puts offset 0 at kallsyms' `_text`
// (arch/arm64/kernel/vmlinux.lds.S: `.head.text` starts with `_text = .`),
// and a PT_NOTE over the kernel's own GNU build-id note, so the check
// against the running kernel's build-id still works.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// The address the wrapper links the Image at: KIMAGE_VADDR of a 48-bit-VA
// 6.1 kernel (arch/arm64/include/asm/memory.h), so that an unrandomised
// kernel's runtime addresses read as they are. Any value would do: the
// image is relocated to kallsyms' `_text` (make_kernel_image).
inline constexpr uint64_t kArm64ImageLinkBase = 0xffff800008000000;

struct WrappedImage {
    std::vector<std::byte> elf;
    // Places the Image knows of itself, for relocation where kallsyms has no
    // `_text` (arm64's has none): `_text`, `_stext` from the EFI header's
    // .text section, `primary_entry` from the branch in the header; size 0,
    // so they name no code.
    std::vector<Symbol> anchors;
    std::string build_id;  // hex; empty when the Image holds none or several
    std::string note;      // why the build-id is empty, for the report
};

// True when `bytes` start with an arm64 Image header (magic "ARM\x64" at
// 0x38, Documentation/arch/arm64/booting.rst).
bool is_arm64_image(std::span<const std::byte> bytes);

// Wraps an arm64 Image; an error when its header is truncated or
// inconsistent, or says it is big-endian.
Result<WrappedImage> wrap_arm64_image(std::span<const std::byte> image);

}  // namespace lpsafe::readers

// Kernels that distributions ship without an ELF header, made into an
// in-memory ELF that ElfImage opens: the kernel's text and data as they lie
// in memory from `_text` on (an `objcopy -O binary` of vmlinux), wrapped in
// one R+X PT_LOAD over the whole image, so image_text() puts offset 0 at
// kallsyms' `_text`, and a PT_NOTE over the kernel's own GNU build-id note,
// so the check against the running kernel's build-id still works.
//
// - arm64: the `Image` Debian installs as /boot/vmlinuz-*-arm64 (a 64-byte
//   header at offset 0: arch/arm64/kernel/vmlinux.lds.S starts `.head.text`
//   with `_text = .`).
// - s390: the raw binary inside Debian's /boot/vmlinuz-*-s390x, which is
//   the kernel's own decompressor with that binary compressed in it
//   (arch/s390/boot; `file` says "Linux S390"). The binary carries no
//   header: only the container says what it is.
#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// What the wrapper needs to know of an architecture.
struct RawImageArch {
    uint16_t machine;      // e_machine: EM_AARCH64, EM_S390
    bool big_endian;       // the kernel's byte order (its notes, its embedded vDSOs)
    uint64_t link_base;    // where the wrapper links offset 0 (`_text`)
    std::string_view name;  // for errors and notes
};

// KIMAGE_VADDR of a 48-bit-VA 6.1 arm64 kernel (arch/arm64/include/asm/
// memory.h), so that an unrandomised kernel's runtime addresses read as
// they are. Any value would do: the image is relocated to kallsyms' `_text`
// (make_kernel_image).
inline constexpr uint64_t kArm64ImageLinkBase = 0xffff800008000000;
inline constexpr RawImageArch kArm64Image{EM_AARCH64, false, kArm64ImageLinkBase, "arm64 Image"};
// s390's `_text` without KASLR: 0x100000 (kallsyms of Debian's 6.1 guest
// booted with nokaslr: `_text`, `_stext` and `startup_continue` there).
inline constexpr uint64_t kS390ImageLinkBase = 0x100000;
inline constexpr RawImageArch kS390Image{EM_S390, true, kS390ImageLinkBase, "s390 kernel image"};

struct WrappedImage {
    std::vector<std::byte> elf;
    // Places the image knows of itself, for relocation where kallsyms has no
    // `_text` (arm64's has none): `_text`, and for arm64 `_stext` from the
    // EFI header's .text section, `primary_entry` from the branch in the
    // header; size 0, so they name no code.
    std::vector<Symbol> anchors;
    std::string build_id;  // hex; empty when the image holds none or several
    std::string note;      // why the build-id is empty, for the report
};

// Wraps `image` (offset 0 is `_text`) for `arch`; `memsz` is the kernel's
// whole footprint when known (arm64's image_size), at least the file's size.
WrappedImage wrap_raw_image(std::span<const std::byte> image, const RawImageArch& arch, uint64_t memsz = 0);

// True when `bytes` start with an arm64 Image header (magic "ARM\x64" at
// 0x38, Documentation/arch/arm64/booting.rst).
bool is_arm64_image(std::span<const std::byte> bytes);

// Wraps an arm64 Image; an error when its header is truncated or
// inconsistent, or says it is big-endian.
Result<WrappedImage> wrap_arm64_image(std::span<const std::byte> image);

// True when `bytes` are an s390 boot image (arch/s390/boot/head.S): the IPL
// PSW and the two CCWs a channel IPL loads at 0-23, and the kernel entry
// table "S390EP" at 0x10008 (EP_OFFSET, "s390 kernel ABI" in head.S).
bool is_s390_boot_image(std::span<const std::byte> bytes);

}  // namespace lpsafe::readers

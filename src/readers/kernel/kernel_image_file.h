// A kernel image file as distributions ship it, unpacked to the ELF vmlinux
// in memory: an ELF file as it is, an x86 bzImage (/boot/vmlinuz-*) whose
// compressed payload the boot protocol's setup header locates
// (Documentation/arch/x86/boot.rst, protocol 2.08+), or any other file
// holding one compressed vmlinux stream, found by its magic; an arm64 Image,
// raw or in such a stream, and the raw kernel inside an s390 boot image
// (Debian's s390x vmlinuz) are wrapped as an ELF (raw_kernel_image.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"
#include "readers/kernel/decompress.h"
#include "readers/kernel/unpacked_image_cache.h"

namespace lpsafe::readers {

struct UnpackedKernel {
    std::vector<std::byte> elf;
    std::string format;  // "ELF", "bzImage (xz payload)", "xz stream at offset 0x4000", "arm64 Image",
                         // "s390 boot image (xz stream at offset 0x2e818)"
    std::vector<Symbol> anchors;  // a raw image's _text; an arm64 Image's _stext, primary_entry (size 0)
    std::string note;             // e.g. why a raw image has no build-id
};

Result<UnpackedKernel> unpack_kernel_image(std::span<const std::byte> file, uint64_t max_out = kMaxDecompressed);

// Reads `path`, unpacks it and opens the ELF (ElfImage::from_bytes); with a
// cache, a bzImage unpacked before is mapped from there instead, and one
// unpacked now is kept there (unpacked_image_cache.h).
struct OpenedKernelImage {
    std::shared_ptr<ElfImage> elf;
    std::string format;
    std::string note;  // what the cache did, for the report; empty without one
};
Result<OpenedKernelImage> open_kernel_image(const std::string& path, const UnpackedImageCache* cache = nullptr);

// A module file: a .ko as it is, or .ko.xz / .ko.zst / .ko.gz (kbuild's
// CONFIG_MODULE_COMPRESS_*) decompressed by its magic.
Result<std::vector<std::byte>> read_module_file(const std::string& path);

}  // namespace lpsafe::readers

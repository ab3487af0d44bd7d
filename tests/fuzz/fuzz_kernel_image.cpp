// libFuzzer harness: any bytes handed to the kernel image unpacker (ELF,
// bzImage setup header, arm64 Image header, s390 boot image, compressed
// streams found by magic: gzip, xz, zstd, lz4 legacy, bzip2) must give an
// ELF image or an error, never a crash,
// hang, out-of-bounds read or unbounded allocation.
// Seeds: fixtures/fuzz-seeds/kernel_image/ (make-seeds.sh kernel_image).
#include <cstddef>
#include <cstdint>
#include <span>

#include "lpsafe/module.h"
#include "readers/kernel/decompress.h"
#include "readers/kernel/kernel_image_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    // A small limit: the fuzzer's memory budget, not a kernel's size.
    constexpr uint64_t kLimit = uint64_t{16} << 20;
    auto unpacked = lpsafe::readers::unpack_kernel_image(bytes, kLimit);
    if (unpacked.ok()) {
        // A raw image's ELF wrapper (arm64, s390) adds one page of headers (raw_kernel_image.cpp).
        if (unpacked->elf.empty() || unpacked->elf.size() > kLimit + bytes.size() + 4096) __builtin_trap();
        auto elf = lpsafe::ElfImage::from_bytes("fuzz-input", std::move(unpacked->elf));
        if (elf.ok()) (void)(*elf)->build_id();
    }
    // Each decoder on the raw bytes too, whatever they decode to.
    if (auto c = lpsafe::readers::compression_at(bytes)) {
        auto out = lpsafe::readers::decompress(*c, bytes, kLimit);
        if (out.ok() && out->size() > kLimit) __builtin_trap();
    }
    return 0;
}

// The compression formats a Linux kernel image or module may be shipped in
// (the kernel's own decompressors: lib/decompress_*.c), decoded into memory
// with the formats' reference libraries. Every decoder stops at the end of
// its stream and ignores what follows (a bzImage payload ends with the
// 4-byte uncompressed size, scripts/Makefile.lib size_append), refuses output
// above a limit, and names truncated or corrupt input in its error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe::readers {

enum class Compression { gzip, xz, zstd, lz4_legacy, bzip2 };

std::string_view compression_name(Compression c);

// The format whose magic `bytes` starts with: gzip 1f 8b 08, xz fd 37 7a 58
// 5a 00, zstd 28 b5 2f fd, lz4 legacy frame 02 21 4c 18 (what `lz4 -l` and
// the kernel's lz4 build write), bzip2 "BZh1".."BZh9".
std::optional<Compression> compression_at(std::span<const std::byte> bytes);

// Plenty for any vmlinux (a distribution's is 60-80 MiB) or module.
inline constexpr uint64_t kMaxDecompressed = uint64_t{512} << 20;

// Decodes the one stream at the start of `in`. More than `max_out` bytes of
// output is an error, as is a stream that ends before its end marker.
// `expected_size` (0: unknown) is only a hint for the first allocation.
Result<std::vector<std::byte>> decompress(Compression c, std::span<const std::byte> in,
                                          uint64_t max_out = kMaxDecompressed, uint64_t expected_size = 0);

}  // namespace lpsafe::readers

// zlib for the two file formats lpsafe writes (snapshots and kernel
// captures): one compressor, and one inflater that refuses an implausible
// size before it allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe::readers {

// zlib stream at the best compression level.
std::vector<std::byte> zlib_compress(std::span<const std::byte> raw);

// Inflates `stored` into exactly `size` bytes. A size above `max_size`, or
// above what deflate's best ratio (1032:1, zlib FAQ) lets `stored` hold, is
// corruption and is refused before the buffer is allocated.
Result<std::vector<std::byte>> zlib_inflate(std::span<const std::byte> stored, uint64_t size, uint64_t max_size);

}  // namespace lpsafe::readers

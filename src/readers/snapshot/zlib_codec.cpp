#include "readers/snapshot/zlib_codec.h"

#include <zlib.h>

#include <cstdlib>
#include <string>

namespace lpsafe::readers {

std::vector<std::byte> zlib_compress(std::span<const std::byte> raw) {
    uLongf size = compressBound(raw.size());
    std::vector<std::byte> out(size);
    if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size(),
                  Z_BEST_COMPRESSION) != Z_OK) {
        // Cannot happen with a compressBound-sized buffer: a bug, kept loud.
        std::abort();
    }
    out.resize(size);
    return out;
}

Result<std::vector<std::byte>> zlib_inflate(std::span<const std::byte> stored, uint64_t size, uint64_t max_size) {
    if (size > max_size) {
        return make_error("claims " + std::to_string(size) + " bytes, more than the " + std::to_string(max_size) +
                          "-byte limit (corrupt header)");
    }
    // (a 1.5 KiB capture claiming 2 GiB made the reader fill 2 GiB; fuzz_procfs)
    if (size / 1032 > stored.size()) {
        return make_error("claims " + std::to_string(size) + " bytes, more than its " + std::to_string(stored.size()) +
                          " compressed bytes can hold (corrupt header)");
    }
    std::vector<std::byte> out(size);
    uLongf got = size;
    const int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &got, reinterpret_cast<const Bytef*>(stored.data()),
                              stored.size());
    if (rc != Z_OK) return make_error("does not decompress (zlib: " + std::string(zError(rc)) + ")");
    if (got != size) {
        return make_error("inflates to " + std::to_string(got) + " bytes, not the " + std::to_string(size) +
                          " it claims");
    }
    return out;
}

}  // namespace lpsafe::readers

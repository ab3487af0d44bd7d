// One decoder per format, each a loop over its library's streaming call into
// an output that grows up to the limit. Library states are freed on every
// path (the small RAII holders below).
#include "readers/kernel/decompress.h"

#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

namespace lpsafe::readers {
namespace {

std::string mib(uint64_t n) { return std::to_string(n >> 20) + " MiB"; }

// Decoded bytes so far, grown by doubling and never past the limit.
class Output {
public:
    // `expected` (0: unknown) sizes the first buffer, so a correct hint
    // costs one allocation instead of a series of copies.
    Output(uint64_t max, size_t input_size, uint64_t expected) : max_(max) {
        // A hint is believed up to 32 times the input (a kernel compresses
        // 4-10 fold): a forged size must not cost a huge zero-filled buffer.
        const uint64_t hinted = std::min<uint64_t>(expected, uint64_t{32} * input_size);
        const uint64_t guess = hinted != 0 ? hinted + 4096 : std::max<uint64_t>(uint64_t{64} << 10, input_size * 4);
        buf_.resize(static_cast<size_t>(std::min<uint64_t>(max_, guess)));
    }
    // Free space after the written bytes, at least `want` of it unless the
    // limit comes first; empty once the limit is reached.
    std::span<std::byte> room(size_t want = 1) {
        while (buf_.size() - used_ < want && buf_.size() < max_) {
            buf_.resize(static_cast<size_t>(std::min<uint64_t>(max_, buf_.size() * 2)));
        }
        return std::span(buf_).subspan(used_);
    }
    void wrote(size_t n) { used_ += n; }
    size_t size() const { return used_; }
    std::vector<std::byte> take() {
        buf_.resize(used_);
        if (buf_.capacity() - used_ > used_ / 8) buf_.shrink_to_fit();  // a copy: only when much is wasted
        return std::move(buf_);
    }
    Error over_limit(Compression c) const {
        return make_error(std::string(compression_name(c)) + " stream decodes to more than the " + mib(max_) +
                          " limit (not a kernel image, or corrupt)");
    }

private:
    uint64_t max_;
    std::vector<std::byte> buf_;
    size_t used_ = 0;
};

Error truncated(Compression c, size_t produced) {
    return make_error(std::string(compression_name(c)) + " stream is truncated: the input ends before the stream does (" +
                      std::to_string(produced) + " bytes decoded)");
}

Error corrupt(Compression c, const std::string& why, size_t produced) {
    return make_error(std::string(compression_name(c)) + " stream is corrupt: " + why + " (after " +
                      std::to_string(produced) + " decoded bytes)");
}

Result<std::vector<std::byte>> gunzip(std::span<const std::byte> in, uint64_t max, uint64_t expected) {
    z_stream s{};
    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return make_error("zlib: cannot start a gzip decoder");
    std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&s, inflateEnd);
    Output out(max, in.size(), expected);
    s.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    s.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT32_MAX));
    for (;;) {
        auto room = out.room();
        if (room.empty()) return out.over_limit(Compression::gzip);
        s.next_out = reinterpret_cast<Bytef*>(room.data());
        s.avail_out = static_cast<uInt>(std::min<size_t>(room.size(), UINT32_MAX));
        const int rc = inflate(&s, Z_NO_FLUSH);
        out.wrote(room.size() - s.avail_out);
        if (rc == Z_STREAM_END) return out.take();
        if (rc == Z_BUF_ERROR && s.avail_in == 0) return truncated(Compression::gzip, out.size());
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return corrupt(Compression::gzip, s.msg != nullptr ? s.msg : zError(rc), out.size());
        }
    }
}

std::string lzma_message(lzma_ret rc) {
    switch (rc) {
        case LZMA_FORMAT_ERROR: return "not an xz stream";
        case LZMA_OPTIONS_ERROR: return "unsupported options";
        case LZMA_DATA_ERROR: return "data error";
        case LZMA_MEMLIMIT_ERROR: return "needs more than the 256 MiB decoder memory limit";
        case LZMA_MEM_ERROR: return "out of memory";
        default: return "liblzma error " + std::to_string(static_cast<int>(rc));
    }
}

Result<std::vector<std::byte>> unxz(std::span<const std::byte> in, uint64_t max, uint64_t expected) {
    lzma_stream s = LZMA_STREAM_INIT;
    // One stream (no LZMA_CONCATENATED): what follows it is not ours. The
    // memory limit bounds the dictionary a hostile header could ask for.
    if (lzma_stream_decoder(&s, uint64_t{256} << 20, 0) != LZMA_OK) return make_error("liblzma: cannot start a decoder");
    std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&s, lzma_end);
    Output out(max, in.size(), expected);
    s.next_in = reinterpret_cast<const uint8_t*>(in.data());
    s.avail_in = in.size();
    for (;;) {
        auto room = out.room();
        if (room.empty()) return out.over_limit(Compression::xz);
        s.next_out = reinterpret_cast<uint8_t*>(room.data());
        s.avail_out = room.size();
        const lzma_ret rc = lzma_code(&s, s.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
        out.wrote(room.size() - s.avail_out);
        if (rc == LZMA_STREAM_END) return out.take();
        if (rc == LZMA_BUF_ERROR && s.avail_in == 0) return truncated(Compression::xz, out.size());
        if (rc != LZMA_OK) return corrupt(Compression::xz, lzma_message(rc), out.size());
    }
}

Result<std::vector<std::byte>> unzstd(std::span<const std::byte> in, uint64_t max, uint64_t expected) {
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!ctx) return make_error("libzstd: cannot start a decoder");
    Output out(max, in.size(), expected);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    for (;;) {
        auto room = out.room();
        if (room.empty()) return out.over_limit(Compression::zstd);
        ZSTD_outBuffer dst{room.data(), room.size(), 0};
        const size_t rc = ZSTD_decompressStream(ctx.get(), &dst, &src);
        out.wrote(dst.pos);
        if (ZSTD_isError(rc)) return corrupt(Compression::zstd, ZSTD_getErrorName(rc), out.size());
        if (rc == 0) return out.take();  // the frame is complete
        // Neither input consumed nor output made: the input has run out.
        if (src.pos == src.size && dst.pos < dst.size) return truncated(Compression::zstd, out.size());
    }
}

Result<std::vector<std::byte>> bunzip2(std::span<const std::byte> in, uint64_t max, uint64_t expected) {
    bz_stream s{};
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) return make_error("libbz2: cannot start a decoder");
    std::unique_ptr<bz_stream, int (*)(bz_stream*)> guard(&s, BZ2_bzDecompressEnd);
    Output out(max, in.size(), expected);
    s.next_in = reinterpret_cast<char*>(const_cast<std::byte*>(in.data()));
    s.avail_in = static_cast<unsigned>(std::min<size_t>(in.size(), UINT32_MAX));
    for (;;) {
        auto room = out.room();
        if (room.empty()) return out.over_limit(Compression::bzip2);
        s.next_out = reinterpret_cast<char*>(room.data());
        s.avail_out = static_cast<unsigned>(std::min<size_t>(room.size(), UINT32_MAX));
        const int rc = BZ2_bzDecompress(&s);
        const size_t made = room.size() - s.avail_out;
        out.wrote(made);
        if (rc == BZ_STREAM_END) return out.take();
        if (rc == BZ_OK && s.avail_in == 0 && made == 0) return truncated(Compression::bzip2, out.size());
        if (rc != BZ_OK) {
            return corrupt(Compression::bzip2, rc == BZ_DATA_ERROR_MAGIC ? "bad magic" : rc == BZ_MEM_ERROR ? "out of memory" : "data error",
                           out.size());
        }
    }
}

uint32_t le32(const std::byte* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The legacy lz4 frame (lib/decompress_unlz4.c): the magic, then blocks,
// each a 4-byte compressed size and an LZ4 block of at most 8 MiB of output;
// the magic may repeat between blocks (concatenated files). The format has
// no end marker: the input ends, or (in a bzImage payload) the 4-byte
// uncompressed size follows, which is checked against what was decoded.
Result<std::vector<std::byte>> unlz4_legacy(std::span<const std::byte> in, uint64_t max, uint64_t expected) {
    constexpr uint32_t kMagic = 0x184c2102;
    constexpr size_t kBlockMax = size_t{8} << 20;
    Output out(max, in.size(), expected);
    size_t at = 4;
    while (at < in.size()) {
        const size_t left = in.size() - at;
        if (left < 4) return truncated(Compression::lz4_legacy, out.size());
        const uint32_t size = le32(in.data() + at);
        at += 4;
        if (size == kMagic) continue;
        if (left == 4 && out.size() > 0 && size == static_cast<uint32_t>(out.size())) break;  // size_append
        if (size == 0 || size > left - 4) return truncated(Compression::lz4_legacy, out.size());
        // The decoder writes a whole block at once: room for the largest.
        auto room = out.room(kBlockMax);
        if (room.empty()) return out.over_limit(Compression::lz4_legacy);
        const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + at), reinterpret_cast<char*>(room.data()),
                                          static_cast<int>(size), static_cast<int>(std::min(room.size(), kBlockMax)));
        if (n < 0) {
            if (room.size() < kBlockMax) return out.over_limit(Compression::lz4_legacy);
            return corrupt(Compression::lz4_legacy, "a block does not decode", out.size());
        }
        out.wrote(static_cast<size_t>(n));
        at += size;
    }
    return out.take();
}

}  // namespace

std::string_view compression_name(Compression c) {
    switch (c) {
        case Compression::gzip: return "gzip";
        case Compression::xz: return "xz";
        case Compression::zstd: return "zstd";
        case Compression::lz4_legacy: return "lz4 (legacy frame)";
        case Compression::bzip2: return "bzip2";
    }
    return "?";
}

std::optional<Compression> compression_at(std::span<const std::byte> b) {
    const auto is = [&](std::initializer_list<uint8_t> magic) {
        if (b.size() < magic.size()) return false;
        size_t i = 0;
        for (uint8_t m : magic) {
            if (std::to_integer<uint8_t>(b[i++]) != m) return false;
        }
        return true;
    };
    if (is({0x1f, 0x8b, 0x08})) return Compression::gzip;
    if (is({0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00})) return Compression::xz;
    if (is({0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
    if (is({0x02, 0x21, 0x4c, 0x18})) return Compression::lz4_legacy;
    if (is({'B', 'Z', 'h'}) && b.size() > 3) {
        const auto level = std::to_integer<uint8_t>(b[3]);
        if (level >= '1' && level <= '9') return Compression::bzip2;
    }
    return std::nullopt;
}

Result<std::vector<std::byte>> decompress(Compression c, std::span<const std::byte> in, uint64_t max_out,
                                          uint64_t expected_size) {
    if (compression_at(in) != c) return make_error(std::string(compression_name(c)) + " stream does not start with its magic");
    switch (c) {
        case Compression::gzip: return gunzip(in, max_out, expected_size);
        case Compression::xz: return unxz(in, max_out, expected_size);
        case Compression::zstd: return unzstd(in, max_out, expected_size);
        case Compression::lz4_legacy: return unlz4_legacy(in, max_out, expected_size);
        case Compression::bzip2: return bunzip2(in, max_out, expected_size);
    }
    return make_error("unknown compression");
}

}  // namespace lpsafe::readers

// Little-endian primitives for the snapshot file (docs/snapshot-format.md).
// The reader side is untrusted input: every read is bounds-checked, and a
// failed read latches the cursor into an error state instead of returning
// garbage, so a parser checks `ok()` once per record rather than per field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers::snapshot {

class ByteWriter {
public:
    void u8(uint8_t v) { out_.push_back(std::byte{v}); }
    void u16(uint16_t v) { raw(&v, sizeof v); }
    void u32(uint32_t v) { raw(&v, sizeof v); }
    void u64(uint64_t v) { raw(&v, sizeof v); }
    void i64(int64_t v) { raw(&v, sizeof v); }
    void str(const std::string& s) { blob(std::as_bytes(std::span(s.data(), s.size()))); }
    void blob(std::span<const std::byte> b) {
        u64(b.size());
        out_.insert(out_.end(), b.begin(), b.end());
    }
    void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void patch_u32(size_t at, uint32_t v) { std::memcpy(out_.data() + at, &v, sizeof v); }
    size_t size() const { return out_.size(); }
    std::vector<std::byte>& data() { return out_; }

private:
    void raw(const void* p, size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out_.insert(out_.end(), b, b + n);
    }
    std::vector<std::byte> out_;
};

class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> in) : in_(in) {}

    bool ok() const { return ok_; }
    bool at_end() const { return pos_ == in_.size(); }
    size_t remaining() const { return in_.size() - pos_; }
    size_t position() const { return pos_; }

    uint8_t u8() { return scalar<uint8_t>(); }
    uint16_t u16() { return scalar<uint16_t>(); }
    uint32_t u32() { return scalar<uint32_t>(); }
    uint64_t u64() { return scalar<uint64_t>(); }
    int64_t i64() { return scalar<int64_t>(); }
    int32_t i32() { return scalar<int32_t>(); }

    std::span<const std::byte> blob() {
        const uint64_t n = u64();
        return take(n);
    }
    std::span<const std::byte> take(uint64_t n) {
        if (!ok_ || !in_bounds(pos_, n, in_.size())) return fail_span();
        auto s = in_.subspan(pos_, static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n);
        return s;
    }
    // Strings in the format are names and paths; anything longer than this is
    // corruption, not a name.
    std::string str(size_t max = 4096) {
        auto b = blob();
        if (b.size() > max) {
            ok_ = false;
            return {};
        }
        return {reinterpret_cast<const char*>(b.data()), b.size()};
    }
    // A count of elements that each take at least `min_bytes`: a count the
    // remaining bytes cannot hold is corruption, refused before allocating.
    uint32_t count(size_t min_bytes) {
        const uint32_t n = u32();
        if (ok_ && static_cast<uint64_t>(n) * min_bytes > remaining()) ok_ = false;
        return ok_ ? n : 0;
    }
    void fail() { ok_ = false; }

private:
    template <typename T>
    T scalar() {
        auto v = load<T>(in_, pos_);
        if (!ok_ || !v) {
            ok_ = false;
            return T{};
        }
        pos_ += sizeof(T);
        return *v;
    }
    std::span<const std::byte> fail_span() {
        ok_ = false;
        return {};
    }
    std::span<const std::byte> in_;
    size_t pos_ = 0;
    bool ok_ = true;
};

// CRC-32 (zlib's) of the stored body: a flipped bit
// anywhere (a symbol name, a saved register) would otherwise replay as a
// plausible, different stack.
uint32_t crc32(std::span<const std::byte> bytes, uint32_t crc = 0);
// The header's CRC-32 field: of the whole file (at least kHeaderSize bytes)
// except that field (docs/snapshot-format.md).
inline constexpr size_t kCrcOffset = 16;
uint32_t file_crc32(std::span<const std::byte> file);

}  // namespace lpsafe::readers::snapshot

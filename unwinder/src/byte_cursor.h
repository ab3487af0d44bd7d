// A bounds-checked little cursor over section bytes (CFI tables, their
// search tables): every read checks the end, and a failed read latches so
// that a parser can read a whole record and test ok() once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace lpsafe {

class ByteCursor {
public:
    // `big`: multi-byte fields are big-endian (s390x objects).
    ByteCursor(std::span<const std::byte> b, uint64_t at, bool big = false) : b_(b), at_(at), big_(big) {}
    bool ok() const { return ok_; }
    uint64_t at() const { return at_; }
    void skip(uint64_t n) {
        if (!ok_ || n > b_.size() || at_ > b_.size() - n) ok_ = false;
        else at_ += n;
    }
    template <typename T>
    T fixed() {
        T v{};
        if (!ok_ || sizeof v > b_.size() || at_ > b_.size() - sizeof v) {
            ok_ = false;
            return v;
        }
        std::memcpy(&v, b_.data() + at_, sizeof v);
        at_ += sizeof v;
        if constexpr (sizeof(T) == 2) {
            if (big_) v = static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
        } else if constexpr (sizeof(T) == 4) {
            if (big_) v = static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
        } else if constexpr (sizeof(T) == 8) {
            if (big_) v = static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
        }
        return v;
    }
    uint64_t uleb() {
        uint64_t v = 0;
        for (unsigned shift = 0; ok_; shift += 7) {
            const auto byte = fixed<uint8_t>();
            if (shift < 64) v |= uint64_t{byte & 0x7fu} << shift;
            if ((byte & 0x80) == 0) break;
            if (shift > 63) ok_ = false;
        }
        return v;
    }
    int64_t sleb() {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t byte = 0;
        do {
            byte = fixed<uint8_t>();
            if (shift < 64) v |= uint64_t{byte & 0x7fu} << shift;
            shift += 7;
            if (shift > 70) ok_ = false;
        } while (ok_ && (byte & 0x80) != 0);
        if (shift < 64 && (byte & 0x40) != 0) v |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(v);
    }
    std::string_view cstr() {
        if (!ok_) return {};
        const auto* p = reinterpret_cast<const char*>(b_.data() + at_);
        const size_t max = b_.size() - at_;
        const size_t n = strnlen(p, max);
        if (n == max) {
            ok_ = false;
            return {};
        }
        at_ += n + 1;
        return {p, n};
    }

private:
    std::span<const std::byte> b_;
    uint64_t at_;
    bool big_ = false;
    bool ok_ = true;
};

}  // namespace lpsafe

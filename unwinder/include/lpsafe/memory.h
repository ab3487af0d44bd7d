// One small read interface with many backings: a core file, a live process, a
// snapshot, a test buffer. Reads never fault: an unreadable address is a short
// read, and the caller decides what that means for the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace lpsafe {

class Memory {
public:
    virtual ~Memory() = default;
    // Copies up to out.size() bytes starting at addr; returns how many were
    // readable contiguously from addr (0 when addr itself is unreadable).
    virtual size_t read(uint64_t addr, std::span<std::byte> out) const = 0;

    std::optional<uint64_t> read_u64(uint64_t addr) const { return read_value<uint64_t>(addr); }
    std::optional<uint32_t> read_u32(uint64_t addr) const { return read_value<uint32_t>(addr); }
    std::optional<uint8_t> read_u8(uint64_t addr) const { return read_value<uint8_t>(addr); }

    // Whether the words of this memory are big-endian (s390x): read_u64 and
    // read_u32 then return them as the target saw them. A memory that wraps
    // another takes the wrapped one's order.
    bool big_endian() const { return big_endian_; }
    void set_big_endian(bool big) { big_endian_ = big; }

private:
    template <typename T>
    std::optional<T> read_value(uint64_t addr) const {
        std::byte buf[sizeof(T)];
        if (read(addr, buf) != sizeof buf) return std::nullopt;
        T v;
        std::memcpy(&v, buf, sizeof v);
        if constexpr (sizeof(T) == 8) {
            if (big_endian_) v = __builtin_bswap64(v);
        } else if constexpr (sizeof(T) == 4) {
            if (big_endian_) v = __builtin_bswap32(v);
        }
        return v;
    }
    bool big_endian_ = false;
};

// Memory backed by byte buffers at fixed addresses (tests, snapshots).
class BufferMemory final : public Memory {
public:
    void add(uint64_t addr, std::vector<std::byte> bytes);
    size_t read(uint64_t addr, std::span<std::byte> out) const override;

private:
    struct Region {
        uint64_t addr;
        std::vector<std::byte> bytes;
    };
    std::vector<Region> regions_;
};

}  // namespace lpsafe

// Bounds-checked loads of little-endian ELF structures out of untrusted bytes
// (a core file, a page of process memory). Every reader in this folder goes
// through these, so a malformed input is an error value, never a stray read.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

namespace lpsafe::readers {

// Structures are copied as they lie in the file; only little-endian ELF is
// accepted (read_core checks EI_DATA), and lpsafe targets little-endian hosts.
static_assert(std::endian::native == std::endian::little, "lpsafe readers assume a little-endian host");

// True when [offset, offset + length) lies inside a buffer of `size` bytes,
// without overflowing.
inline bool in_bounds(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

template <typename T>
std::optional<T> load(std::span<const std::byte> bytes, uint64_t offset) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (!in_bounds(offset, sizeof(T), bytes.size())) return std::nullopt;
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

inline uint64_t align_up(uint64_t value, uint64_t align) { return (value + align - 1) & ~(align - 1); }

inline constexpr unsigned char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};

inline bool has_elf_magic(std::span<const std::byte> bytes) {
    return bytes.size() >= sizeof kElfMagic && std::memcmp(bytes.data(), kElfMagic, sizeof kElfMagic) == 0;
}

// "0x7f12..." for messages.
inline std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

}  // namespace lpsafe::readers

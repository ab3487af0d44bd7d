// Bounds-checked loads of little-endian ELF structures out of untrusted bytes
// (a core file, a page of process memory). Every reader in this folder goes
// through these, so a malformed input is an error value, never a stray read.
#pragma once

#include <elf.h>

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

// Structures are copied as they lie in the file; big-endian ELF (s390x) is
// turned into host order by the load() overload below, and lpsafe targets
// little-endian hosts.
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

// Big-endian ELF (s390x): a structure loaded as it lies, then turned into
// host order field by field.
inline void to_host(uint16_t& v) { v = __builtin_bswap16(v); }
inline void to_host(uint32_t& v) { v = __builtin_bswap32(v); }
inline void to_host(uint64_t& v) { v = __builtin_bswap64(v); }
inline void to_host(int32_t& v) { v = static_cast<int32_t>(__builtin_bswap32(static_cast<uint32_t>(v))); }
inline void to_host(int64_t& v) { v = static_cast<int64_t>(__builtin_bswap64(static_cast<uint64_t>(v))); }
inline void to_host(Elf64_Ehdr& e) {
    to_host(e.e_type), to_host(e.e_machine), to_host(e.e_version), to_host(e.e_entry), to_host(e.e_phoff);
    to_host(e.e_shoff), to_host(e.e_flags), to_host(e.e_ehsize), to_host(e.e_phentsize), to_host(e.e_phnum);
    to_host(e.e_shentsize), to_host(e.e_shnum), to_host(e.e_shstrndx);
}
inline void to_host(Elf64_Phdr& p) {
    to_host(p.p_type), to_host(p.p_flags), to_host(p.p_offset), to_host(p.p_vaddr), to_host(p.p_paddr);
    to_host(p.p_filesz), to_host(p.p_memsz), to_host(p.p_align);
}
inline void to_host(Elf64_Shdr& s) {
    to_host(s.sh_name), to_host(s.sh_type), to_host(s.sh_flags), to_host(s.sh_addr), to_host(s.sh_offset);
    to_host(s.sh_size), to_host(s.sh_link), to_host(s.sh_info), to_host(s.sh_addralign), to_host(s.sh_entsize);
}
inline void to_host(Elf64_Nhdr& n) { to_host(n.n_namesz), to_host(n.n_descsz), to_host(n.n_type); }
inline void to_host(Elf64_Dyn& d) { to_host(d.d_tag), to_host(d.d_un.d_val); }
inline void to_host(Elf64_Sym& s) { to_host(s.st_name), to_host(s.st_shndx), to_host(s.st_value), to_host(s.st_size); }
// The same swap turns host order into big-endian.
template <typename T>
void to_big_endian(T& v) {
    to_host(v);
}

// load() for a target whose byte order is `big` (EI_DATA ELFDATA2MSB).
template <typename T>
std::optional<T> load(std::span<const std::byte> bytes, uint64_t offset, bool big) {
    auto v = load<T>(bytes, offset);
    if (v && big) to_host(*v);
    return v;
}

// Is this ELF image (file or header bytes) big-endian?
inline bool elf_is_big_endian(std::span<const std::byte> bytes) {
    return bytes.size() > EI_DATA && static_cast<unsigned char>(bytes[EI_DATA]) == ELFDATA2MSB;
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

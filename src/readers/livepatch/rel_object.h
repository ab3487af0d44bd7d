// A relocatable ELF object (a kernel module, .ko) as data: its sections, its
// symbols, and the 64-bit absolute pointers its relocations store into data
// sections. In an ET_REL file every pointer in static data is zero in the
// section bytes and real only in a RELA entry, so reading a C initializer
// like `.old_name = "cmdline_proc_show"` means reading the relocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe::readers {

struct RelSection {
    std::string name;
    uint32_t type = 0;   // SHT_*
    uint64_t flags = 0;  // SHF_*
    uint64_t size = 0;
    std::span<const std::byte> bytes;  // empty for SHT_NOBITS
    bool is_code() const;
    bool is_data() const;  // allocated, writable or not, not code
};

struct RelSymbol {
    std::string name;
    uint32_t section = 0;  // SHN_UNDEF (0) when undefined
    uint64_t value = 0;
    uint64_t size = 0;
    unsigned char type = 0;  // STT_*
};

// Where a relocated pointer points: `section` + `offset`, through `symbol`
// (the symbol's name is kept: undefined targets such as an exported kernel
// function have no section).
struct RelPointer {
    uint32_t section = 0;
    uint64_t offset = 0;
    std::string symbol;
};

// A PC-relative 32-bit relocation in code (x86-64 R_X86_64_PC32 and
// R_X86_64_PLT32: S + A - P, the displacement of `call rel32`), so the code
// can be placed and linked as the module loader does (kernel/module/main.c
// apply_relocations() -> arch/x86/kernel/module.c).
struct RelCodeReloc {
    uint32_t section = 0;  // the code section patched
    uint64_t offset = 0;
    uint32_t symbol = 0;  // index into symbols()
    int64_t addend = 0;
};

class RelObject {
public:
    RelObject() = default;
    RelObject(RelObject&&) = default;
    RelObject& operator=(RelObject&&) = default;
    // Sections view `owned_`; a copy would point into the original.
    RelObject(const RelObject&) = delete;
    RelObject& operator=(const RelObject&) = delete;

    // Copies `bytes` (libelf needs a writable buffer and the object must not
    // depend on the caller's lifetime). `name` is only used in messages.
    static Result<RelObject> parse(std::span<const std::byte> bytes, const std::string& name);

    const std::string& name() const { return name_; }
    uint16_t machine() const { return machine_; }
    const std::vector<RelSection>& sections() const { return sections_; }
    const std::vector<RelSymbol>& symbols() const { return symbols_; }

    // The absolute 64-bit pointer stored at `section`+`offset`, if a
    // relocation puts one there.
    const RelPointer* pointer_at(uint32_t section, uint64_t offset) const;
    // Every absolute pointer stored in `section`, by offset.
    const std::map<uint64_t, RelPointer>* pointers_in(uint32_t section) const;
    // Little-endian 64-bit value of the section bytes (zero in SHT_NOBITS).
    std::optional<uint64_t> u64_at(uint32_t section, uint64_t offset) const;
    // NUL-terminated string that starts at `offset` and ends inside the
    // section within `max_len` bytes.
    std::optional<std::string> string_at(uint32_t section, uint64_t offset, size_t max_len) const;
    bool section_valid(uint32_t section) const { return section > 0 && section < sections_.size(); }
    // Does `p` (may be null) point into allocated data / into code?
    bool points_to_data(const RelPointer* p) const;
    bool points_to_code(const RelPointer* p) const;
    const std::vector<RelCodeReloc>& code_relocations() const { return code_relocs_; }
    // "section+0xoffset", for messages.
    std::string where(uint32_t section, uint64_t offset) const;

private:
    std::string name_;
    uint16_t machine_ = 0;
    std::vector<std::byte> owned_;
    std::vector<RelSection> sections_;
    std::vector<RelSymbol> symbols_;
    std::map<uint32_t, std::map<uint64_t, RelPointer>> pointers_;  // by target section of the RELA
    std::vector<RelCodeReloc> code_relocs_;

    friend class RelObjectLoader;
};

}  // namespace lpsafe::readers

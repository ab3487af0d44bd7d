// Modules: ELF objects (executables, shared libraries) as they sit on disk,
// and where a process has them loaded. Code bytes, symbols and unwind tables
// come from here when the process image (a core, a snapshot) lacks them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lpsafe/cfi.h"
#include "lpsafe/result.h"

namespace lpsafe {

struct Symbol {
    std::string name;
    uint64_t start = 0;  // file (link-time) address
    uint64_t size = 0;
    bool global = false;
    bool contains(uint64_t addr) const { return addr >= start && addr - start < size; }
};

struct ElfSegment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    uint32_t flags = 0;  // PF_R | PF_W | PF_X
};

// The function holding an address, at file addresses: its symbol where the
// file has one, else its .eh_frame FDE (which stripped files keep). One
// notion for every rule that needs a function's bounds (fde_index.h).
struct FunctionExtent {
    uint64_t start = 0;
    uint64_t size = 0;
    const Symbol* symbol = nullptr;  // null when only the FDE bounds it
};

// The result of looking a pc up in a module's unwind tables.
struct CfiLookup {
    enum class Status { found, no_entry, no_tables, error };
    Status status = Status::no_tables;
    CfiRow row;
    std::string detail;
};

// A section's link-time address and its bytes in the file (SHT_NOBITS:
// none).
struct SectionBytes {
    uint64_t addr = 0;
    std::span<const std::byte> bytes;
};

// An ELF file opened read-only (mmap). Thread-compatible: const methods may be
// called concurrently only after construction (the CFI cache is internal and
// guarded).
class ElfImage {
public:
    static Result<std::shared_ptr<ElfImage>> open(const std::string& path);
    // `path` mapped, the image named `name` (path() returns it): a copy of
    // another file, e.g. a kernel image unpacked into a cache.
    static Result<std::shared_ptr<ElfImage>> open(const std::string& path, std::string name);
    // From bytes already in memory (e.g. the vDSO read out of a core).
    static Result<std::shared_ptr<ElfImage>> from_bytes(std::string name, std::vector<std::byte> bytes);
    ~ElfImage();
    ElfImage(const ElfImage&) = delete;
    ElfImage& operator=(const ElfImage&) = delete;

    const std::string& path() const;
    uint16_t machine() const;
    bool is_executable_type() const;  // ET_EXEC (not position independent)
    const std::string& soname() const;
    const std::string& build_id() const;  // lower-case hex, empty when none
    const std::vector<ElfSegment>& segments() const;
    // [start, end) of .got and .got.plt (file addresses): the slots calls
    // and PLT stubs jump through. A live capture copies them (ptrace_capture.h).
    const std::vector<std::pair<uint64_t, uint64_t>>& got_ranges() const;
    bool has_cfi() const;

    // Bytes of the file image at link-time address `vaddr` (PT_LOAD file
    // contents only); returns how many were copied.
    size_t read(uint64_t vaddr, std::span<std::byte> out) const;
    const Symbol* symbol_at(uint64_t vaddr) const;
    // The symbol covering `vaddr`, else the FDE covering it; nullopt when
    // neither does.
    std::optional<FunctionExtent> function_at(uint64_t vaddr) const;
    std::vector<const Symbol*> symbols_named(std::string_view name) const;
    CfiLookup cfi_at(uint64_t vaddr) const;
    // The function symbols as read (sorted by start) and the whole file image:
    // what a snapshot records of a module (src/readers/snapshot/snapshot_writer.h).
    const std::vector<Symbol>& symbols() const;
    std::span<const std::byte> file_bytes() const;
    // File address of glibc's libthread_db descriptor `name` (an object
    // `_thread_db_...` in .dynsym or .symtab, or the dynamic linker's
    // `_rtld_global`), nullopt when the file has none.
    std::optional<uint64_t> thread_db_symbol(std::string_view name) const;
    // The first section called `name` (uncompressed sections only).
    std::optional<SectionBytes> section_named(std::string_view name) const;

    // A table an architecture derives from the image's bytes (e.g. every
    // code site that takes an address), made once per `key` by `make` and
    // kept with the image; thread-safe.
    using AddressPairs = std::vector<std::pair<uint64_t, uint64_t>>;
    const AddressPairs& derived_table(std::string_view key, AddressPairs (*make)(const ElfImage&)) const;

    // Whether symbols() came from a .symtab (all functions, static ones too)
    // or only from .dynsym (exported ones): a stripped file.
    bool has_symtab() const;
    // Adds function symbols that another ELF file holds for this one (a
    // separate debug file, the MiniDebugInfo object; docs/symbols.md). The
    // caller has checked that the other file describes this one (build-id,
    // CRC); a symbol that does not lie wholly inside one of this file's
    // executable PT_LOAD segments is still dropped, and one already known
    // (same start and name) is not repeated. Returns how many were added.
    // Not thread-safe: call before the image is shared.
    size_t add_symbols(const std::vector<Symbol>& more);

private:
    struct Impl;
    explicit ElfImage(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Why frames in a module can or cannot be trusted.
struct ModuleStatus {
    enum class Kind { ok, missing_file, unreadable_file, build_id_mismatch, build_id_unverified, not_elf };
    Kind kind = Kind::ok;
    std::string detail;
    bool usable() const { return kind == Kind::ok; }
};

// An ELF object loaded in a process: runtime address = file address + bias.
struct Module {
    std::string path;        // as the process named it (NT_FILE, /proc/pid/maps)
    std::string name;        // file name part of path
    uint64_t start = 0;      // lowest mapped address
    uint64_t end = 0;        // highest mapped address (exclusive)
    uint64_t bias = 0;
    std::shared_ptr<ElfImage> image;  // null when the file could not be used
    ModuleStatus status;
    // Where function symbols beyond the file's own came from (a debug file's
    // path, "MiniDebugInfo", "debuginfod ..."), empty when none; and why a
    // candidate debug file was not used (docs/symbols.md). Names only: no
    // verdict reads these.
    std::string symbols_from = {};
    std::vector<std::string> symbol_notes = {};

    bool matches_object(std::string_view object) const;  // file name or soname
    bool contains(uint64_t addr) const { return addr >= start && addr < end; }
};

class ModuleMap {
public:
    void add(Module module);
    const Module* find(uint64_t addr) const;
    const std::vector<Module>& modules() const { return modules_; }

private:
    std::vector<Module> modules_;  // sorted by start
};

}  // namespace lpsafe

// /proc/kallsyms as a table: every kernel symbol with its address, type and
// module, and the size the kernel itself assumes (the distance to the next
// symbol: kernel/kallsyms.c get_symbol_pos() and the module lookup do the
// same). Parsing is pure: the text comes from a reader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <memory>
#include <vector>

#include "lpsafe/result.h"

namespace lpsafe {

struct KernelSymbol {
    uint64_t addr = 0;
    uint64_t size = 0;  // to the next higher address; 0 for the last symbol
    char type = '?';    // nm-style letter: t/T text, d/D data, ...
    std::string_view name;    // views into the table's own copy of the text
    std::string_view module;  // empty for vmlinux
    // Position in the kallsyms text. Same-name symbols of one object are
    // numbered in this order by livepatch's sympos (klp_find_object_symbol()
    // walks vmlinux in kallsyms order and a module in its symtab order, the
    // order /proc/kallsyms lists them), while `symbols()` is address order.
    uint32_t line = 0;
    bool is_text() const { return type == 't' || type == 'T' || type == 'w' || type == 'W'; }
    bool contains(uint64_t a) const { return a >= addr && a - addr < size; }
};

struct AddressRange {
    uint64_t start = 0;
    uint64_t end = 0;  // exclusive
    bool contains(uint64_t a) const { return a >= start && a < end; }
};

class Kallsyms {
public:
    // Fails on text with no kallsyms line at all, and when every address is zero
    // (kptr_restrict hides them from this reader: nothing can be resolved).
    static Result<Kallsyms> parse(std::string_view text);
    // Adds the lines of `more` as if they had followed the parsed text (the
    // same table as parse(text + more), without reading `text` again): a
    // dump's module symbols, found with the image's symbols.
    void append(std::string_view more);
    Kallsyms() = default;
    // Move-only: the name index points into the symbol vector's elements.
    Kallsyms(const Kallsyms&) = delete;
    Kallsyms& operator=(const Kallsyms&) = delete;
    Kallsyms(Kallsyms&&) = default;
    Kallsyms& operator=(Kallsyms&&) = default;

    const std::vector<KernelSymbol>& symbols() const { return symbols_; }
    // The symbol covering `addr` (any type, as the kernel's lookup).
    const KernelSymbol* at(uint64_t addr) const;
    // Symbols named `name` in `module` ("" or "vmlinux": the kernel image).
    std::vector<const KernelSymbol*> named(std::string_view name, std::string_view module) const;
    // In vmlinux or any module.
    std::vector<const KernelSymbol*> named_anywhere(std::string_view name) const;
    // named(), in the order the kallsyms text lists them (livepatch sympos).
    std::vector<const KernelSymbol*> named_in_listing_order(std::string_view name, std::string_view module) const;
    std::optional<uint64_t> vmlinux_address(std::string_view name) const;

    // _text of the running kernel: the KASLR base against the image's _text.
    std::optional<uint64_t> text_start() const { return vmlinux_address("_text"); }
    // __sched_text_start/end and __lock_text_start/end when present: the
    // code kernel/sched/core.c in_sched_functions() reports as scheduler code.
    const std::vector<AddressRange>& sched_ranges() const { return sched_ranges_; }
    bool in_sched_functions(uint64_t addr) const;
    bool has_module(std::string_view module) const;

    // Lines that could not be read were skipped, each with a note (the first
    // kMaxNotes are kept); the whole table fails only when no line is usable.
    static constexpr size_t kMaxNotes = 8;
    const std::vector<std::string>& notes() const { return notes_; }
    size_t skipped_lines() const { return skipped_lines_; }
    // A skipped line had this name field: the symbol may exist unseen.
    bool name_was_skipped(std::string_view name) const;

private:
    void read_lines(std::string_view text);
    void index(size_t sorted);
    void note_skipped(const std::string& why, std::string_view name);
    const KernelSymbol* first_named(std::string_view name) const;
    std::vector<std::unique_ptr<char[]>> texts_;  // the parsed texts; names point into them
    std::vector<KernelSymbol> symbols_;  // sorted by address
    // Name index: open addressing over symbol indices (+1; 0 = empty slot),
    // one slot per distinct name; same-name symbols are chained in `next_`.
    // 120,000 symbols index in a few ms, without a node per name.
    std::vector<uint32_t> slots_;
    std::vector<uint32_t> next_;  // index + 1 of the next symbol of the same name
    std::vector<AddressRange> sched_ranges_;
    std::vector<std::string> notes_;
    std::vector<std::string> skipped_names_;
    size_t skipped_lines_ = 0;
    size_t lines_read_ = 0;
    bool any_address_ = false;
};

}  // namespace lpsafe

#include "address_taken.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "symbolize.h"

namespace lpsafe::arch_common {
namespace {

// A segment's bytes in the file, nullopt when its header points outside it.
std::optional<std::span<const std::byte>> segment_bytes(const ElfImage& image, const ElfSegment& seg) {
    const auto file = image.file_bytes();
    if (seg.offset > file.size() || seg.filesz > file.size() - seg.offset) return std::nullopt;
    return file.subspan(seg.offset, seg.filesz);
}

// A non-PIE executable is linked where it loads, so a function's address
// can sit in it as an absolute word (`mov $func, %edi`, a literal pool, a
// pointer in .data): the file address of the first word of the file equal
// to it (4 bytes where it fits, else 8), if any.
std::optional<uint64_t> absolute_word_naming(const ElfImage& image, uint64_t entry, size_t width) {
    for (const ElfSegment& seg : image.segments()) {
        const auto bytes = segment_bytes(image, seg);
        if (!bytes) continue;
        for (size_t i = 0; i + width <= bytes->size(); ++i) {
            uint64_t word = 0;
            std::memcpy(&word, bytes->data() + i, width);
            if (word == entry) return seg.vaddr + i;
        }
    }
    return std::nullopt;
}

// Reads up to `size` bytes at `file_addr` of module `m` as the process has
// them (fewer at the end of the code) and, when `confirm` accepts them,
// tells the snapshot recorder which.
bool confirmed(const ProcessImage& process, const Module& m, uint64_t file_addr, size_t size,
               const std::function<bool(std::span<const std::byte>)>& confirm) {
    std::vector<std::byte> bytes(size);
    const size_t n = process.read_code(m.bias + file_addr, bytes);
    if (n == 0 || !confirm(std::span(bytes).first(n))) return false;
    if (process.on_image_search_hit) process.on_image_search_hit(m, file_addr, n);
    return true;
}

}  // namespace

void for_each_code_segment(const ElfImage& image, const std::function<void(uint64_t, std::span<const std::byte>)>& fn) {
    for (const ElfSegment& seg : image.segments()) {
        if ((seg.flags & PF_X) == 0 && seg.flags != 0) continue;
        if (const auto bytes = segment_bytes(image, seg)) fn(seg.vaddr, *bytes);
    }
}

RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry, const AddressSites& sites) {
    const Module* m = process.modules.find(entry);
    if (m == nullptr || !m->image || !m->status.usable())
        return RuleOutcome::cannot("no verified module holds " + hex_address(entry) + " to tell who takes its address");
    const uint64_t file_entry = entry - m->bias;
    if (const Symbol* s = m->image->symbol_at(file_entry); s != nullptr && s->global && s->start == file_entry)
        return RuleOutcome::pass();  // another module may hold its address
    const auto& index = m->image->derived_table(sites.index_key, sites.index);
    for (auto it = std::lower_bound(index.begin(), index.end(), std::make_pair(file_entry, uint64_t{0}));
         it != index.end() && it->first == file_entry; ++it) {
        const uint64_t site = it->second;
        if (confirmed(process, *m, site, sites.window,
                      [&](std::span<const std::byte> w) { return sites.makes(w, m->bias + site, entry); }))
            return RuleOutcome::pass();
    }
    if (m->image->is_executable_type()) {
        const size_t width = entry <= UINT32_MAX ? sizeof(uint32_t) : sizeof(uint64_t);
        if (const auto at = absolute_word_naming(*m->image, file_entry, width)) {
            // Little-endian words: the rows that use this (x86_64, aarch64).
            const auto same = [&](std::span<const std::byte> w) {
                uint64_t word = 0;
                if (w.size() < width) return false;
                std::memcpy(&word, w.data(), width);
                return word == entry;
            };
            if (confirmed(process, *m, *at, width, same)) return RuleOutcome::pass();
        }
    }
    // A snapshot recorded before this rule existed holds none of the site's
    // bytes either: refused the same way (fail closed), said so.
    return RuleOutcome::fail("no code of " + m->name + " this input holds takes the address of " +
                             describe_address(process, entry) +
                             " (no site builds it, and it is not global): only direct calls and jumps enter it");
}

}  // namespace lpsafe::arch_common

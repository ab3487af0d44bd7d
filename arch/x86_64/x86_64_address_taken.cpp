// Whether a module's code takes a function's address: what lets a call
// through a register enter it. Position-independent x86_64 code (every
// shared library, every PIE) puts a local function's address in a register
// with `lea func(%rip), %reg` (REX.W 8d /r, mod 00, r/m 101: disp32 from the
// end of the instruction); glibc's create_thread does so for start_thread
// before __clone_internal. A function no lea names, and that no other module
// can name (it is not global), is entered only by direct calls and jumps:
// glibc's __libc_start_call_main, called once by __libc_start_main, is one.
//
// The index of lea sites over-approximates on purpose: any byte pair that
// decodes as such a lea counts, even inside another instruction or data, so
// an address is more often "taken" than it really is (a missed refutation,
// never a false one). Each hit is read again through read_code before it
// counts, and handed to ProcessImage::on_image_search_hit, so that a
// snapshot keeps those bytes in the module's image and its replay finds the
// same site there (src/readers/snapshot/snapshot_writer.cpp).
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

#include "symbolize.h"
#include "x86_64_code.h"

namespace lpsafe::x86_64 {
namespace {

constexpr size_t kLeaLength = 6;  // 8d, ModRM, disp32 (after any REX prefix)

bool rip_relative_lea(const std::byte* at) {
    return std::to_integer<uint8_t>(at[0]) == 0x8d && (std::to_integer<uint8_t>(at[1]) & 0xc7) == 0x05;
}

uint64_t lea_target(uint64_t site, const std::byte* at) {
    int32_t disp = 0;
    std::memcpy(&disp, at + 2, sizeof disp);
    return site + kLeaLength + static_cast<uint64_t>(static_cast<int64_t>(disp));
}

// (target, site) of every rip-relative lea in the image's executable bytes,
// file addresses, sorted by target. A replayed snapshot's code chunks are
// segments without permissions (snapshot_elf.h): scanned too.
ElfImage::AddressPairs lea_sites(const ElfImage& image) {
    ElfImage::AddressPairs out;
    const auto file = image.file_bytes();
    for (const ElfSegment& seg : image.segments()) {
        if ((seg.flags & PF_X) == 0 && seg.flags != 0) continue;
        if (seg.offset > file.size() || seg.filesz > file.size() - seg.offset || seg.filesz < kLeaLength) continue;
        const std::byte* bytes = file.data() + seg.offset;
        for (uint64_t i = 0; i + kLeaLength <= seg.filesz; ++i) {
            if (rip_relative_lea(bytes + i)) out.emplace_back(lea_target(seg.vaddr + i, bytes + i), seg.vaddr + i);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// A non-PIE executable loads a function's address as an absolute word
// (`mov $func, %edi`, a pointer in .data): the file address of the first
// word of the file equal to it (4 bytes where it fits, else 8), if any.
std::optional<uint64_t> absolute_word_naming(const ElfImage& image, uint64_t entry, size_t width) {
    const auto file = image.file_bytes();
    for (const ElfSegment& seg : image.segments()) {
        if (seg.offset > file.size() || seg.filesz > file.size() - seg.offset) continue;
        const std::byte* bytes = file.data() + seg.offset;
        for (uint64_t i = 0; i + width <= seg.filesz; ++i) {
            uint64_t word = 0;
            std::memcpy(&word, bytes + i, width);
            if (word == entry) return seg.vaddr + i;
        }
    }
    return std::nullopt;
}

}  // namespace

RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry) {
    const Module* m = process.modules.find(entry);
    if (m == nullptr || !m->image || !m->status.usable())
        return RuleOutcome::cannot("no verified module holds " + hex_address(entry) + " to tell who takes its address");
    const uint64_t file_entry = entry - m->bias;
    if (const Symbol* s = m->image->symbol_at(file_entry); s != nullptr && s->global && s->start == file_entry)
        return RuleOutcome::pass();  // another module may hold its address
    const auto& sites = m->image->derived_table("x86_64 rip-relative lea", lea_sites);
    auto it = std::lower_bound(sites.begin(), sites.end(), std::make_pair(file_entry, uint64_t{0}));
    for (; it != sites.end() && it->first == file_entry; ++it) {
        std::byte insn[kLeaLength];
        if (process.read_code(m->bias + it->second, insn) == kLeaLength && rip_relative_lea(insn) &&
            lea_target(m->bias + it->second, insn) == entry) {
            if (process.on_image_search_hit) process.on_image_search_hit(*m, it->second, kLeaLength);
            return RuleOutcome::pass();
        }
    }
    if (m->image->is_executable_type()) {
        // Linked where it loads: the file address is the address.
        const size_t width = entry <= UINT32_MAX ? sizeof(uint32_t) : sizeof(uint64_t);
        if (const auto at = absolute_word_naming(*m->image, file_entry, width)) {
            uint64_t word = 0;
            if (process.read_code(m->bias + *at, std::as_writable_bytes(std::span(&word, 1)).first(width)) == width &&
                word == entry) {
                if (process.on_image_search_hit) process.on_image_search_hit(*m, *at, width);
                return RuleOutcome::pass();
            }
        }
    }
    // A snapshot recorded before this rule existed holds none of the site's
    // bytes either: refused the same way (fail closed), said so.
    return RuleOutcome::fail("no code of " + m->name + " this input holds takes the address of " +
                             describe_address(process, entry) +
                             " (no lea of it, and it is not global): only direct calls and jumps enter it");
}

}  // namespace lpsafe::x86_64

// How aarch64 code takes a function's address (Arch::check_address_taken,
// arch/common/address_taken.h): `adrp xd, page` then, a few instructions
// later, `add xd', xd, #lo12`, or a lone `adr xd, label`. In Debian's
// aarch64 libc 2.36, create_thread builds start_thread's address with an
// adrp/add pair four instructions apart; nothing builds
// __libc_start_call_main's. The pair is looked for within kPairWindow
// instructions of the adrp, whatever register the add writes: more pairs
// than the compiler meant, never fewer among the ones it schedules close.
#include <algorithm>
#include <cstring>

#include "../common/address_taken.h"
#include "aarch64_code.h"
#include "aarch64_insn.h"

namespace lpsafe::aarch64 {
namespace {

constexpr size_t kPairWindow = 8;  // instructions after the adrp
constexpr size_t kWindowBytes = 4 * (kPairWindow + 1);

uint32_t word_at(std::span<const std::byte> bytes, size_t i) {
    uint32_t w = 0;
    std::memcpy(&w, &bytes[i], sizeof w);
    return w;
}

// Every address the code starting at `site` builds within the window:
// calls fn(address) for the adr, or for each add completing the adrp.
template <typename Fn>
void addresses_built(std::span<const std::byte> bytes, size_t i, uint64_t site, Fn fn) {
    const uint32_t w = word_at(bytes, i);
    if (is_adr(w)) {
        fn(site + static_cast<uint64_t>(adr_offset(w)));
    } else if (is_adrp(w)) {
        const uint64_t page = (site & ~uint64_t{0xfff}) + static_cast<uint64_t>(adrp_offset(w));
        for (size_t k = 1; k <= kPairWindow && i + 4 * k + 4 <= bytes.size(); ++k)
            if (const auto lo = add_immediate(word_at(bytes, i + 4 * k), rd_of(w))) fn(page + *lo);
    }
}

ElfImage::AddressPairs adrp_sites(const ElfImage& image) {
    ElfImage::AddressPairs out;
    arch_common::for_each_code_segment(image, [&](uint64_t vaddr, std::span<const std::byte> bytes) {
        // Instructions are word-aligned in the file as in memory.
        for (size_t i = (4 - vaddr % 4) % 4; i + 4 <= bytes.size(); i += 4)
            addresses_built(bytes, i, vaddr + i, [&](uint64_t to) { out.emplace_back(to, vaddr + i); });
    });
    std::sort(out.begin(), out.end());
    return out;
}

bool builds(std::span<const std::byte> window, uint64_t site, uint64_t entry) {
    bool found = false;
    if (window.size() >= 4) addresses_built(window, 0, site, [&](uint64_t to) { found = found || to == entry; });
    return found;
}

constexpr arch_common::AddressSites kAdrpSites{"aarch64 adrp/add and adr", kWindowBytes, adrp_sites, builds};

}  // namespace

RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry) {
    return arch_common::check_address_taken(process, entry, kAdrpSites);
}

}  // namespace lpsafe::aarch64

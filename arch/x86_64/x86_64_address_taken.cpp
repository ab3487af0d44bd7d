// How x86_64 code takes a function's address (Arch::check_address_taken,
// arch/common/address_taken.h). Position-independent code (every shared
// library, every PIE) builds a local function's address with
// `lea func(%rip), %reg` (8d /r, ModRM mod 00 r/m 101, then disp32 from the
// end of the instruction; a REX prefix before it changes neither): glibc's
// create_thread does so for start_thread before __clone_internal, while
// __libc_start_call_main, called once by __libc_start_main, is named by no
// lea at all (Debian's libc 2.36).
#include <algorithm>
#include <cstring>

#include "../common/address_taken.h"
#include "x86_64_code.h"

namespace lpsafe::x86_64 {
namespace {

constexpr size_t kLeaLength = 6;  // 8d, ModRM, disp32

bool rip_relative_lea(const std::byte* at) {
    return std::to_integer<uint8_t>(at[0]) == 0x8d && (std::to_integer<uint8_t>(at[1]) & 0xc7) == 0x05;
}

uint64_t lea_target(uint64_t site, const std::byte* at) {
    int32_t disp = 0;
    std::memcpy(&disp, at + 2, sizeof disp);
    return site + kLeaLength + static_cast<uint64_t>(static_cast<int64_t>(disp));
}

ElfImage::AddressPairs lea_sites(const ElfImage& image) {
    ElfImage::AddressPairs out;
    arch_common::for_each_code_segment(image, [&](uint64_t vaddr, std::span<const std::byte> bytes) {
        for (size_t i = 0; i + kLeaLength <= bytes.size(); ++i)
            if (rip_relative_lea(&bytes[i])) out.emplace_back(lea_target(vaddr + i, &bytes[i]), vaddr + i);
    });
    std::sort(out.begin(), out.end());
    return out;
}

bool lea_makes(std::span<const std::byte> window, uint64_t site, uint64_t entry) {
    return window.size() >= kLeaLength && rip_relative_lea(window.data()) && lea_target(site, window.data()) == entry;
}

constexpr arch_common::AddressSites kLeaSites{"x86_64 rip-relative lea", kLeaLength, lea_sites, lea_makes};

}  // namespace

RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry) {
    return arch_common::check_address_taken(process, entry, kLeaSites);
}

}  // namespace lpsafe::x86_64

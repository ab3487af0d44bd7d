#include "lpsafe/pointer_auth.h"

#include <bit>

#include "symbolize.h"

namespace lpsafe {
namespace {

// Bits an address inside the process can use: the bit length of the
// highest mapped address.
unsigned address_bits(std::span<const Mapping> mappings) {
    uint64_t top = 0;
    for (const Mapping& m : mappings) top = std::max(top, m.end - 1);
    return static_cast<unsigned>(std::bit_width(top));
}

Status check_one(const char* name, uint64_t mask, unsigned used_bits) {
    if (mask == 0) return Ok{};
    const auto low = static_cast<unsigned>(std::countr_zero(mask));
    const uint64_t run = mask >> low;
    if ((run & (run + 1)) != 0) return make_error(std::string("the PAC ") + name + " " + hex_address(mask) + " is not one run of bits");
    if ((mask & ~kWidestPacField) != 0)
        return make_error(std::string("the PAC ") + name + " " + hex_address(mask) +
                          " reaches outside bits 54..36, where a user PAC lies (ptrauth_user_pac_mask)");
    if (low < used_bits)
        return make_error(std::string("the PAC ") + name + " " + hex_address(mask) + " covers bit " + std::to_string(low) +
                          ", which addresses of the process's own mappings use");
    return Ok{};
}

}  // namespace

Status check_pac_mask(const PointerAuthMask& mask, std::span<const Mapping> mappings) {
    const unsigned used = address_bits(mappings);
    if (auto st = check_one("insn_mask", mask.insn_mask, used); !st) return st;
    return check_one("data_mask", mask.data_mask, used);
}

PointerAuthMask derive_pac_mask(uint64_t hwcap, std::span<const Mapping> mappings) {
    PointerAuthMask mask;
    if ((hwcap & kHwcapPaca) == 0) return mask;
    const unsigned low = std::max(address_bits(mappings), kMinVaBits);
    if (low > kPacTopBit) return mask;  // no room for a PAC: nothing can have been signed
    mask.source = PointerAuthMask::Source::derived;
    mask.insn_mask = kWidestPacField & ~((uint64_t{1} << low) - 1);
    mask.data_mask = mask.insn_mask;
    return mask;
}

bool looks_pac_signed(const ProcessImage& process, uint64_t ptr) {
    return process.arch == ArchId::aarch64 && (ptr & derive_pac_mask(kHwcapPaca, process.mappings).insn_mask) != 0;
}

}  // namespace lpsafe

#include "readers/core/pac_mask.h"

#include <elf.h>

#include <algorithm>

#include "lpsafe/pointer_auth.h"
#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {

Result<PointerAuthMask> parse_pac_mask(std::span<const std::byte> desc, PointerAuthMask::Source source) {
    const auto data = load<uint64_t>(desc, 0);
    const auto insn = load<uint64_t>(desc, 8);
    if (!data || !insn || desc.size() != 16)
        return make_error("NT_ARM_PAC_MASK has " + std::to_string(desc.size()) + " bytes, struct user_pac_mask 16");
    PointerAuthMask mask;
    mask.source = source;
    mask.data_mask = *data;
    mask.insn_mask = *insn;
    return mask;
}

Status settle_pac_masks(ProcessImage& image, const Auxv& auxv) {
    if (image.arch != ArchId::aarch64) return Ok{};
    bool any = false;
    for (const ThreadState& t : image.threads) {
        if (t.pac.source == PointerAuthMask::Source::none) continue;
        any = true;
        if (auto st = check_pac_mask(t.pac, image.mappings); !st)
            return make_error("NT_ARM_PAC_MASK of thread " + std::to_string(t.tid) + ": " + st.error().message);
    }
    if (any) return Ok{};
    const auto hwcap = std::find_if(auxv.begin(), auxv.end(), [](const auto& e) { return e.first == AT_HWCAP; });
    if (hwcap == auxv.end()) return Ok{};
    const PointerAuthMask derived = derive_pac_mask(hwcap->second, image.mappings);
    for (ThreadState& t : image.threads) t.pac = derived;
    return Ok{};
}

}  // namespace lpsafe::readers

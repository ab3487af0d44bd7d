#include "ppc64le_insn.h"

#include "../common/word_insn.h"

namespace lpsafe::ppc64le {

using arch_common::sign_extend;

std::optional<uint32_t> read_insn(const ProcessImage& process, uint64_t addr) { return arch_common::read_word(process, addr); }

unsigned insn_id(uint32_t word, uint64_t addr) {
    thread_local arch_common::WordDecoder cs(CS_ARCH_PPC, static_cast<cs_mode>(CS_MODE_64 | CS_MODE_LITTLE_ENDIAN));
    return cs.id(word, addr);
}

bool is_sc(uint32_t word, uint64_t addr) { return word == kSc && insn_id(word, addr) == PPC_INS_SC; }

bool is_i_branch(uint32_t word) { return (word >> 26) == 18; }
bool is_link(uint32_t word) { return (word & 1) != 0; }
bool is_absolute(uint32_t word) { return (word & 2) != 0; }

// LI is a signed word displacement in bits 2-25 (26 bits with the zero
// low bits); AA makes it absolute.
uint64_t i_branch_target(uint32_t word, uint64_t addr) {
    const auto disp = static_cast<uint64_t>(sign_extend(word & 0x03fffffc, 26));
    return is_absolute(word) ? disp : addr + disp;
}

std::optional<uint64_t> conditional_target(uint32_t word, uint64_t addr) {
    if ((word >> 26) != 16 || is_link(word)) return std::nullopt;
    const auto disp = static_cast<uint64_t>(sign_extend(word & 0xfffc, 16));
    return is_absolute(word) ? disp : addr + disp;
}

// Opcode 19, XO (bits 1-10) 528 = bcctr[l], 16 = bclr[l].
bool is_to_ctr(uint32_t word) { return (word & 0xfc0007fe) == 0x4c000420; }
bool is_to_lr(uint32_t word) { return (word & 0xfc0007fe) == 0x4c000020; }

bool is_call(uint32_t word) { return is_link(word) && (is_i_branch(word) || is_to_ctr(word) || is_to_lr(word)); }

}  // namespace lpsafe::ppc64le

#include "aarch64_insn.h"

#include "../common/word_insn.h"

namespace lpsafe::aarch64 {

using arch_common::sign_extend;

std::optional<uint32_t> read_insn(const ProcessImage& process, uint64_t addr) { return arch_common::read_word(process, addr); }

unsigned insn_id(uint32_t word, uint64_t addr) {
    thread_local arch_common::WordDecoder cs(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN);
    return cs.id(word, addr);
}

bool is_svc0(uint32_t word, uint64_t addr) { return word == kSvc0 && insn_id(word, addr) == ARM64_INS_SVC; }

// BL: 1 00101 imm26; B: 0 00101 imm26 (C6.2.33, C6.2.26).
bool is_bl(uint32_t word) { return (word & 0xfc000000) == 0x94000000; }
bool is_b(uint32_t word) { return (word & 0xfc000000) == 0x14000000; }
uint64_t branch26_target(uint32_t word, uint64_t addr) {
    return addr + static_cast<uint64_t>(sign_extend(word & 0x03ffffff, 26) * 4);
}

std::optional<uint64_t> conditional_target(uint32_t word, uint64_t addr) {
    const bool b_cond = (word & 0xff000010) == 0x54000000;
    const bool cb = (word & 0x7e000000) == 0x34000000;  // cbz / cbnz, 32 or 64 bit
    if (b_cond || cb) return addr + static_cast<uint64_t>(sign_extend((word >> 5) & 0x7ffff, 19) * 4);
    if ((word & 0x7e000000) == 0x36000000) {  // tbz / tbnz
        return addr + static_cast<uint64_t>(sign_extend((word >> 5) & 0x3fff, 14) * 4);
    }
    return std::nullopt;
}

// BLR: 1101011 0001 11111 000000 Rn 00000; BR the same with opc 0000.
bool is_blr(uint32_t word) { return (word & 0xfffffc1f) == 0xd63f0000; }
bool is_br(uint32_t word) { return (word & 0xfffffc1f) == 0xd61f0000; }

namespace {
// 1101011 Z 0 op:2 11111 0000 1 M Rn Rm with the given op; Z = 0 needs Rm = 11111.
bool is_pac_branch(uint32_t word, uint32_t op) {
    if ((word & 0xfefff800) != (0xd61f0800 | op << 21)) return false;
    const bool z = (word >> 24) & 1;
    return z || (word & 0x1f) == 0x1f;
}
}  // namespace

bool is_adrp(uint32_t word) { return (word & 0x9f000000) == 0x90000000; }
bool is_adr(uint32_t word) { return (word & 0x9f000000) == 0x10000000; }

int64_t adr_offset(uint32_t word) {
    const uint64_t imm = (((word >> 5) & 0x7ffff) << 2) | ((word >> 29) & 3);
    const uint64_t m = uint64_t{1} << 20;
    return static_cast<int64_t>((imm ^ m) - m);
}

int64_t adrp_offset(uint32_t word) { return adr_offset(word) * 4096; }

std::optional<uint64_t> add_immediate(uint32_t word, unsigned rn) {
    // sf=1 op=0 S=0 100010 sh imm12 Rn Rd
    if ((word & 0xff800000) != 0x91000000 || ((word >> 5) & 0x1f) != rn) return std::nullopt;
    const uint64_t imm = (word >> 10) & 0xfff;
    return (word & 0x00400000) != 0 ? imm << 12 : imm;
}

unsigned rd_of(uint32_t word) { return word & 0x1f; }

bool is_blra(uint32_t word) { return is_pac_branch(word, 1); }
bool is_bra(uint32_t word) { return is_pac_branch(word, 0); }
// RETAA/RETAB: Z = 0, Rn = x30, Rm = 11111 (0xd65f0bff, 0xd65f0fff).
bool is_reta(uint32_t word) { return (word & 0xfffffbff) == 0xd65f0bff; }

}  // namespace lpsafe::aarch64

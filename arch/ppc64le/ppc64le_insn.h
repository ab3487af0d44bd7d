// ppc64le instructions are one 32-bit little-endian word each (Power ISA
// 3.0, Book I 1.6 "Instruction Formats"), so every rule reads exactly the
// word it needs. Capstone (PPC, 64-bit little-endian) names the
// instruction; the fields the rules use (primary opcode, LK, AA, branch
// displacements, XO of the XL-form branches) come from the encoding.
#pragma once

#include <cstdint>
#include <optional>

#include "lpsafe/process.h"

namespace lpsafe::ppc64le {

std::optional<uint32_t> read_insn(const ProcessImage& process, uint64_t addr);
// Capstone's instruction id (PPC_INS_*) for `word` at `addr`; 0 when it
// does not decode.
unsigned insn_id(uint32_t word, uint64_t addr);

// `sc` (LEV 0) and `scv 0`: the system call instructions Linux serves
// (arch/powerpc/kernel/interrupt_64.S, system_call_common and
// system_call_vectored_common; the number is in r0).
inline constexpr uint32_t kSc = 0x44000002;
inline constexpr uint32_t kScv0 = 0x44000001;
bool is_sc(uint32_t word, uint64_t addr);

// I-form `b`/`bl`/`ba`/`bla` (primary opcode 18): LK is bit 0, AA bit 1.
bool is_i_branch(uint32_t word);
bool is_link(uint32_t word);
bool is_absolute(uint32_t word);
uint64_t i_branch_target(uint32_t word, uint64_t addr);
// B-form `bc` (opcode 16) without LK: where it goes.
std::optional<uint64_t> conditional_target(uint32_t word, uint64_t addr);
// XL-form branches to CTR or LR (opcode 19, XO 528 / 16), with LK or not:
// `bctrl`, `bcctrl`, `bclrl` are calls; `bctr` an indirect jump; `blr`
// a return.
bool is_to_ctr(uint32_t word);
bool is_to_lr(uint32_t word);
// Any call: I-form with LK, or XL-form to CTR or LR with LK.
bool is_call(uint32_t word);

}  // namespace lpsafe::ppc64le

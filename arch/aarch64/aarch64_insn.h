// aarch64 instructions are one 32-bit little-endian word each, so every rule
// here reads exactly the word it needs: no sweep, no guessing where an
// instruction starts. Capstone (ARM64 mode) names the instruction; the few
// operand fields the rules use (branch offsets, registers, immediates) are
// taken from the encoding (Arm ARM, C4 "A64 Instruction Set Encoding").
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "lpsafe/process.h"

namespace lpsafe::aarch64 {

// The instruction word at `addr`, read as the process ran it (memory first,
// then the verified module file); nullopt when unreadable or misaligned.
std::optional<uint32_t> read_insn(const ProcessImage& process, uint64_t addr);

// Capstone's instruction id (ARM64_INS_*) for `word` at `addr`; 0 when
// capstone cannot decode it (or is unavailable).
unsigned insn_id(uint32_t word, uint64_t addr);

// `svc #0`: the only supervisor call Linux serves (arch/arm64/kernel/entry-common.c,
// el0_svc reads the number from x8, not from the immediate).
inline constexpr uint32_t kSvc0 = 0xd4000001;
bool is_svc0(uint32_t word, uint64_t addr);

// `bl imm26` and `b imm26`: where they go.
bool is_bl(uint32_t word);
bool is_b(uint32_t word);
uint64_t branch26_target(uint32_t word, uint64_t addr);
// b.cond / cbz / cbnz (imm19) and tbz / tbnz (imm14): where they go, when `word` is one.
std::optional<uint64_t> conditional_target(uint32_t word, uint64_t addr);
// `blr xN` / `br xN` (register branches; `ret` excluded).
bool is_blr(uint32_t word);
bool is_br(uint32_t word);
// `adrp xd, label` (1 immlo:2 10000 immhi:19 Rd) and `adr xd, label`
// (0 immlo:2 10000 immhi:19 Rd): how code builds an address; adrp gives its
// 4 KiB page, relative to the page of the instruction, adr the address,
// relative to the instruction. `add xd, xn, #imm12{, lsl #12}` (64-bit,
// no flags) completes an adrp.
bool is_adrp(uint32_t word);
bool is_adr(uint32_t word);
int64_t adr_offset(uint32_t word);   // adr: bytes from the instruction
int64_t adrp_offset(uint32_t word);  // adrp: bytes from the instruction's page
std::optional<uint64_t> add_immediate(uint32_t word, unsigned rn);  // when `word` is such an add of xn
unsigned rd_of(uint32_t word);

// ARMv8.3 pointer-authenticating register branches (Arm ARM C6.2
// BLRAA/BLRAAZ/BLRAB/BLRABZ, BRAA..., RETAA/RETAB): they authenticate the
// target (or x30) and then branch like blr / br / ret. Capstone 4.0.2
// decodes none of them (tests/unit/aarch64_code_test.cpp pins that), so
// they are recognised from the encoding:
//   1101011 Z 0 op:2 11111 0000 1 M Rn Rm   (A = bit 11 set: authenticated)
// op 01 BLRA*, 00 BRA*, 10 RETA*; Z = 0 takes no modifier (Rm = 11111).
bool is_blra(uint32_t word);
bool is_bra(uint32_t word);
bool is_reta(uint32_t word);

}  // namespace lpsafe::aarch64

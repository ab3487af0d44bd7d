// s390x instructions are 2, 4 or 6 bytes, big-endian; the two top bits of
// the first byte (the instruction-length code) give the length
// (z/Architecture Principles of Operation, "Instruction Formats"), so a
// function decodes exactly from its first instruction. What lies *before*
// an address cannot be read backwards: the instruction ending there is
// found by decoding its function from the start, or, without bounds, by
// every length whose first byte says so.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "lpsafe/process.h"

namespace lpsafe::s390x {

struct Insn {
    uint64_t addr = 0;
    unsigned length = 0;
    std::array<uint8_t, 6> b{};
};

unsigned length_of(uint8_t first_byte);
std::optional<Insn> read_insn(const ProcessImage& process, uint64_t addr);

// The instruction(s) that end exactly at `end`.
struct Preceding {
    enum class Kind {
        exact,         // decoded from the function's start: one candidate
        not_boundary,  // decoding from the function's start steps over `end`
        unbounded,     // no function bounds: every length that fits
        unreadable,
    };
    Kind kind = Kind::unreadable;
    std::vector<Insn> candidates;
};
// The function is bounded by `fn_start`/`fn_size` when the caller knows them
// (size 0: it does not), else by its module's symbol or FDE: a kernel frame
// has kallsyms' bounds, and the raw kernel images lpsafe wraps as ELF
// (raw_kernel_image.h) have no symbols of their own.
Preceding instruction_before(const ProcessImage& process, uint64_t end, uint64_t fn_start = 0, uint64_t fn_size = 0);

// Capstone's id (SYSZ_INS_*), 0 when capstone 4 does not decode it (it
// does not know svc, bas, bal or balr).
unsigned insn_id(const Insn& insn);

// `svc I` (opcode 0x0a): the system call instruction.
bool is_svc(const Insn& insn);

// A call that links into a register and branches: brasl (RIL, c0x5),
// bras (RI, a7x5), basr (RR, 0d; R2 = 0 only loads the address, no
// branch), bas (RX, 4d), and the 24/31-bit balr (05) and bal (45).
struct Call {
    unsigned link = 0;                   // R1
    std::optional<uint64_t> target;      // brasl, bras: relative
    bool capstone_decodes = false;       // capstone 4 names brasl, bras, basr
};
std::optional<Call> call_of(const Insn& insn);

// A relative branch that is not a call: brc/j (a7x4), brcl/jg (c0x4) with
// a non-zero mask; its target.
std::optional<uint64_t> jump_target(const Insn& insn);
// A branch through a register or memory that is not a call: bcr M,R2 with
// M != 0 and R2 != 0 (but `br %r14`, the return), bc M,D(X,B) (47).
bool is_register_jump(const Insn& insn);
bool is_return(const Insn& insn);  // bcr M,%r14 (br %r14 and conditional returns)

}  // namespace lpsafe::s390x

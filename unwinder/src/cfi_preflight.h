// A pass over a CFI table before libdw interprets any of it.
//
// libdw's CFA interpreter (elfutils cfi.c, execute_cfi) grows its frame
// state to hold the highest register a rule names: a corrupt
// DW_CFA_offset_extended naming register 2^27 makes it allocate and zero
// 1 GiB for one lookup (found by fuzz_elf_image), and each
// DW_CFA_remember_state copies that state again. A DWARF register number
// past what any ABI uses is never meaningful, so a table that names one, or
// nests remember_state absurdly deep, is refused whole before libdw runs it.
//
// The pass visits every entry libdw could execute for some address: the
// entries of the section in order (libdw's linear search), every FDE the
// .eh_frame_hdr search table points at (its binary search), and the CIE of
// each. It parses entries with libdw's own dwarf_next_cfi and the
// augmentation rules of libdw's cie.c/fde.c, so it reads the bytes libdw
// will; where it cannot tell what libdw would execute, it refuses.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <optional>
#include <string>

namespace lpsafe {

// Higher than any DWARF register number an ABI assigns to a register that
// CFI can describe (ppc's SPE high halves are 1200..1231, x86_64 and
// aarch64 stay under 130); libdw's frame state is then at most 32 KiB.
inline constexpr uint64_t kMaxCfiRegister = 4095;
// remember_state nesting real compilers emit is 1 or 2 deep.
inline constexpr unsigned kMaxCfiRememberDepth = 256;
// Register slots libdw copies for all remember_states of one entry
// (each copies the state as wide as the highest register so far).
inline constexpr uint64_t kMaxCfiRememberSlots = uint64_t{1} << 22;

// Why libdw must not be given `elf`'s .eh_frame (eh_frame = true, the table
// dwarf_getcfi_elf reads) or .debug_frame (the one dwarf_getcfi reads), or
// nullopt when every entry is within the bounds above.
std::optional<std::string> cfi_table_refusal(Elf* elf, bool eh_frame);

}  // namespace lpsafe

// aarch64 pointer authentication for the unwinder: stripping the PAC from a
// return address, checking that a mask a reader found is one stripping can
// trust, and deriving one where the input has none. Why stripping is sound:
// docs/verdict-rules.md, "Pointer authentication".
#pragma once

#include <cstdint>
#include <span>

#include "lpsafe/arch_id.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe {

// The return address a signed one stands for, as the kernel strips user
// return addresses for its own user-space unwinding (perf's
// user_backtrace, arch/arm64/kernel/perf_callchain.c): 6.1's
// ptrauth_strip_insn_pac (arch/arm64/include/asm/pointer_auth.h) is
// ptrauth_clear_pac (asm/compiler.h), for a user pointer (bit 55 clear)
// `ptr & ~ptrauth_user_pac_mask()`; later kernels' ptrauth_strip_user_insn_pac
// uses XPACLRI, the instruction that clears the same field. Here with the
// mask the kernel reported. A mask of Source::none strips nothing.
inline uint64_t strip_pac(const PointerAuthMask& mask, uint64_t ptr) { return ptr & ~mask.insn_mask; }

// Where a user PAC can lie at most: ptrauth_user_pac_mask() is
// GENMASK_ULL(54, vabits_actual) (TBI0 is always on for user space, so bits
// 63..56 are the tag, not the PAC), and no arm64 Linux configuration has
// fewer than 36 VA bits (ARM64_VA_BITS_36, 16 KiB pages).
inline constexpr unsigned kPacTopBit = 54;
inline constexpr unsigned kMinVaBits = 36;
inline constexpr uint64_t kWidestPacField = ((uint64_t{1} << (kPacTopBit + 1)) - 1) & ~((uint64_t{1} << kMinVaBits) - 1);

// AT_HWCAP's HWCAP_PACA (arch/arm64/include/uapi/asm/hwcap.h): the kernel
// enabled address authentication for user space.
inline constexpr uint64_t kHwcapPaca = uint64_t{1} << 30;

// A mask stripping may use: each of insn_mask and data_mask is 0 or one
// contiguous run of bits inside kWidestPacField, starting above every
// address any of `mappings` holds. So stripping never changes an address
// that points into the process: a corrupted note cannot turn one mapped
// address into another.
Status check_pac_mask(const PointerAuthMask& mask, std::span<const Mapping> mappings);

// A mask for a process whose input names none (qemu-user writes no
// NT_ARM_PAC_MASK): Source::none when `hwcap` lacks HWCAP_PACA (nothing
// was signed), else bits 54 down to the bit length of the highest mapped
// address (at least kMinVaBits). The real field, 54 down to the kernel's VA
// size, lies inside it, because every mapping lies below 2^VA; the extra bits
// are 0 in every address of the process (see docs/verdict-rules.md).
PointerAuthMask derive_pac_mask(uint64_t hwcap, std::span<const Mapping> mappings);

// Does `ptr` look like a signed pointer that was not stripped: an aarch64
// process, and bits set in the PAC field above every mapped address (where
// derive_pac_mask would strip)? Only for saying why a walk failed.
bool looks_pac_signed(const ProcessImage& process, uint64_t ptr);

}  // namespace lpsafe

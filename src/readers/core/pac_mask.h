// aarch64 pointer-authentication masks of a core: the NT_ARM_PAC_MASK note
// each thread carries when the kernel enabled PAC for user space, and the
// mask derived from AT_HWCAP where the core has no such note (qemu-user).
#pragma once

#include <span>

#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "readers/core/core_notes.h"

namespace lpsafe::readers {

// struct user_pac_mask {u64 data_mask; u64 insn_mask;}
// (arch/arm64/include/uapi/asm/ptrace.h), the payload of the "LINUX"
// NT_ARM_PAC_MASK note and of PTRACE_GETREGSET NT_ARM_PAC_MASK.
Result<PointerAuthMask> parse_pac_mask(std::span<const std::byte> desc, PointerAuthMask::Source source);

// After the notes and mappings are read: every mask a note gave must pass
// check_pac_mask; where no thread has one, an aarch64 process whose AT_HWCAP
// has HWCAP_PACA gets derive_pac_mask's on every thread.
Status settle_pac_masks(ProcessImage& image, const Auxv& auxv);

}  // namespace lpsafe::readers

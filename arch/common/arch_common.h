// What the architecture rows share: the 64-bit Linux elf_prstatus layout,
// frame records of the form {caller's fp, return address}, and the CFI
// row of a code address as the rules read it. Each architecture folder
// keeps only what differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "lpsafe/arch.h"

namespace lpsafe::arch_common {

// struct elf_prstatus (include/uapi/linux/elfcore.h) on every 64-bit
// kernel: elf_siginfo (12) + pr_cursig (2) + padding (2) + pr_sigpend (8)
// + pr_sighold (8), then pr_pid; pr_ppid, pr_pgrp, pr_sid and four struct
// timeval (16 + 64) later pr_reg, the architecture's elf_gregset_t.
inline constexpr size_t kPrPidOffset = 32;
inline constexpr size_t kPrRegOffset = 112;

// Copies a register set into `words` when it is exactly their size;
// `what` names the struct for the message ("user_pt_regs for aarch64").
Status copy_regset(std::span<const std::byte> regset, std::span<uint64_t> words, std::string_view what);

// NT_PRSTATUS: the thread id and, through `parse_regs`, the `regs_bytes`
// of pr_reg; the note must be at least `note_size` bytes.
Result<ThreadState> parse_prstatus(std::span<const std::byte> note, size_t note_size, size_t regs_bytes,
                                   std::string_view arch, Result<Regs> (*parse_regs)(std::span<const std::byte>));

// The frame record at `fp`: [fp] the caller's frame pointer, [fp+8] the
// return address; `cfa` is fp + 16 (exact on x86_64; a bound where the
// record sits at the bottom of its frame).
Result<FpStep> frame_record_step(const Memory& memory, uint64_t fp, uint64_t align);

// Is `e` the expression CFA + offset (a register's save slot)?
bool is_cfa_plus(const DwarfExpr& e, int64_t offset);

// The CFI row at runtime address `addr`, for rules that look at a
// function's entry state; reported to the snapshot recorder like every
// function lookup. Not found when the module is unusable.
CfiLookup cfi_row_at(const ProcessImage& process, uint64_t addr);

}  // namespace lpsafe::arch_common

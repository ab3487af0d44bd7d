// The aarch64 row of the architecture table.
#include <elf.h>

#include "aarch64_code.h"
#include "aarch64_frame_pointer.h"
#include "aarch64_kernel.h"
#include "aarch64_regs.h"
#include "lpsafe/arch.h"

namespace lpsafe {

extern const Arch kAarch64Arch;
const Arch kAarch64Arch = {
    .id = ArchId::aarch64,
    .name = "aarch64",
    .elf_machine = EM_AARCH64,
    .pc_reg = aarch64::pc,
    .sp_reg = aarch64::sp,
    .fp_reg = aarch64::x29,
    .ra_reg = aarch64::x30,
    .parse_prstatus = aarch64::parse_prstatus,
    .check_parked = aarch64::check_parked,
    .check_call_before = aarch64::check_call_before,
    .call_target = aarch64::call_target,
    .tail_calls = aarch64::tail_calls,
    .fp_step = aarch64::fp_step,
    .check_fp_prologue = aarch64::check_fp_prologue,
    .cfi_row_is_fp_frame = aarch64::cfi_row_is_fp_frame,
    .check_stack_end_marker = aarch64::check_stack_end_marker,
    .back_chain_ends = nullptr,  // the CFI's undefined return address ends the stack
    .user_regs_size = aarch64::kUserRegsWords * sizeof(uint64_t),
    .parse_user_regs = aarch64::parse_user_regs,
    .glibc_thread_descriptor = aarch64::glibc_thread_descriptor,
    .red_zone = 0,  // AAPCS64 has none: memory below sp may be clobbered at any time
    .kernel_stack_ends = aarch64::kernel_stack_ends,
    .code_edges = aarch64::code_edges,
    .kernel_indirect_thunks = aarch64::kernel_indirect_thunks,
    .kernel_return_thunks = aarch64::kernel_return_thunks,
    .kernel_paravirt_tables = aarch64::kernel_paravirt_tables,
    .check_address_taken = aarch64::check_address_taken,
};

}  // namespace lpsafe

// The x86_64 row of the architecture table.
#include <elf.h>

#include "lpsafe/arch.h"
#include "x86_64_code.h"
#include "x86_64_frame_pointer.h"
#include "x86_64_kernel.h"
#include "x86_64_regs.h"

namespace lpsafe {

extern const Arch kX86_64Arch;
const Arch kX86_64Arch = {
    .id = ArchId::x86_64,
    .name = "x86_64",
    .elf_machine = EM_X86_64,
    .pc_reg = x86_64::rip,
    .sp_reg = x86_64::rsp,
    .fp_reg = x86_64::rbp,
    .ra_reg = x86_64::rip,
    .parse_prstatus = x86_64::parse_prstatus,
    .check_parked = x86_64::check_parked,
    .check_call_before = x86_64::check_call_before,
    .call_target = x86_64::call_target,
    .tail_calls = x86_64::tail_calls,
    .fp_step = x86_64::fp_step,
    .check_fp_prologue = x86_64::check_fp_prologue,
    .cfi_row_is_fp_frame = x86_64::cfi_row_is_fp_frame,
    .check_stack_end_marker = x86_64::check_stack_end_marker,
    .back_chain_ends = nullptr,  // the CFI's undefined return address ends the stack
    .user_regs_size = x86_64::kUserRegsWords * sizeof(uint64_t),
    .parse_user_regs = x86_64::parse_user_regs,
    .glibc_thread_descriptor = x86_64::glibc_thread_descriptor,
    .red_zone = 128,  // System V psABI 3.2.2
    .kernel_stack_ends = x86_64::kernel_stack_ends,
    .kernel_idle_stack_ends = x86_64::kernel_idle_stack_ends,
    .code_edges = x86_64::code_edges,
    .kernel_indirect_thunks = x86_64::kernel_indirect_thunks,
    .kernel_return_thunks = x86_64::kernel_return_thunks,
    .kernel_paravirt_tables = x86_64::kernel_paravirt_tables,
    .check_address_taken = x86_64::check_address_taken,
};

}  // namespace lpsafe

// The s390x row of the architecture table (64-bit z/Architecture ELF ABI).
#include <elf.h>

#include "s390x_back_chain.h"
#include "s390x_code.h"
#include "s390x_kernel.h"
#include "s390x_regs.h"
#include "lpsafe/arch.h"

namespace lpsafe {

extern const Arch kS390xArch;
const Arch kS390xArch = {
    .id = ArchId::s390x,
    .name = "s390x",
    .elf_machine = EM_S390,
    .pc_reg = s390x::pswa,
    .sp_reg = s390x::r15,
    .fp_reg = s390x::r15,  // the back chain hangs off r15 itself (s390x_back_chain.cpp)
    .ra_reg = s390x::r14,
    .parse_prstatus = s390x::parse_prstatus,
    .check_parked = s390x::check_parked,
    .check_call_before = s390x::check_call_before,
    .call_target = s390x::call_target,
    .tail_calls = s390x::tail_calls,
    .fp_step = s390x::fp_step,
    .check_fp_prologue = s390x::check_fp_prologue,
    .cfi_row_is_fp_frame = s390x::cfi_row_is_fp_frame,
    .check_stack_end_marker = s390x::check_stack_end_marker,
    // The end is the CFI's undefined r14 (glibc's _start and clone child),
    // not taken from the back chain, which dist code does not keep.
    .back_chain_ends = nullptr,
    .user_regs_size = s390x::kUserRegsBytes,
    .parse_user_regs = s390x::parse_user_regs,
    .glibc_thread_descriptor = s390x::glibc_thread_descriptor,
    // No red zone: leaf code below r15 is not allowed (the ABI's 160-byte
    // save area lies *above* r15, in the caller's frame).
    .red_zone = 0,
    .kernel_stack_ends = s390x::kernel_stack_ends,
    .code_edges = s390x::code_edges,
    .kernel_indirect_thunks = s390x::kernel_indirect_thunks,
    .kernel_return_thunks = s390x::kernel_return_thunks,
    .kernel_paravirt_tables = s390x::kernel_paravirt_tables,
    .big_endian = true,
    .cfa_above_sp = s390x::kRegisterSaveArea,
    .add_fp_regs = s390x::add_fp_regs,
};

}  // namespace lpsafe

// The ppc64le row of the architecture table (64-bit ELF V2 ABI).
#include <elf.h>

#include "ppc64le_back_chain.h"
#include "ppc64le_code.h"
#include "ppc64le_kernel.h"
#include "ppc64le_regs.h"
#include "lpsafe/arch.h"

namespace lpsafe {

extern const Arch kPpc64leArch;
const Arch kPpc64leArch = {
    .id = ArchId::ppc64le,
    .name = "ppc64le",
    .elf_machine = EM_PPC64,
    .pc_reg = ppc64le::pc,
    .sp_reg = ppc64le::r1,
    .fp_reg = ppc64le::r1,  // the back chain hangs off r1 itself (ppc64le_back_chain.cpp)
    .ra_reg = ppc64le::lr,
    .parse_prstatus = ppc64le::parse_prstatus,
    .check_parked = ppc64le::check_parked,
    .check_call_before = ppc64le::check_call_before,
    .call_target = ppc64le::call_target,
    .tail_calls = ppc64le::tail_calls,
    .fp_step = ppc64le::fp_step,
    .check_fp_prologue = ppc64le::check_fp_prologue,
    .cfi_row_is_fp_frame = ppc64le::cfi_row_is_fp_frame,
    .check_stack_end_marker = ppc64le::check_stack_end_marker,
    .back_chain_ends = ppc64le::back_chain_ends,
    .user_regs_size = ppc64le::kUserRegsWords * sizeof(uint64_t),
    .parse_user_regs = ppc64le::parse_user_regs,
    .glibc_thread_descriptor = ppc64le::glibc_thread_descriptor,
    // ELFv2 2.2.2.4: 288 bytes below r1 a function may use without a frame
    // (glibc's clone keeps r29-r31 there).
    .red_zone = 288,
    .kernel_stack_ends = ppc64le::kernel_stack_ends,
    .kernel_listing_head = ppc64le::kKernelListingHead,
    .code_edges = ppc64le::code_edges,
    .kernel_indirect_thunks = ppc64le::kernel_indirect_thunks,
    .kernel_return_thunks = ppc64le::kernel_return_thunks,
    .kernel_paravirt_tables = ppc64le::kernel_paravirt_tables,
};

}  // namespace lpsafe

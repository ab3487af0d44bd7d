// Where a ppc64 kernel task's stack really ends, as the kernel's own
// unwinder ends it. arch/powerpc/kernel/stacktrace.c,
// arch_stack_walk_reliable(), follows the back chain until sp reaches
// stack_end: the top of the task's stack minus the user interrupt frame
// (STACK_USER_INT_FRAME_SIZE; STACK_FRAME_MIN_SIZE for kernel threads, see
// copy_thread() in arch/powerpc/kernel/process.c), and calls a trace with
// an exception frame (STACK_FRAME_REGS_MARKER) below that unreliable. The
// last function /proc lists is therefore the entry code whose frame sits
// just under the user pt_regs: the system call entries of
// arch/powerpc/kernel/interrupt_64.S (`bl system_call_exception`), the
// interrupt return path a user-mode interrupt took, or the new-task paths
// of entry_64.S/interrupt_64.S. system_call_exception (the C handler) is
// *not* an end: a listing that stops there was cut short. "Seen:" marks the
// ends at the bottom of real /proc stacks of Debian's 6.1 ppc64el kernel
// under qemu-system-ppc64 (fixtures/ppc64-guest/recorded: 64 tasks, every
// one ending in one of three names); the rest are from the source only.
#include "ppc64le_kernel.h"

namespace lpsafe::ppc64le {
namespace {

constexpr KernelStackEnd kEnds[] = {
    {"system_call_common",
     "`sc` from user space (interrupt_64.S): its frame lies just under the user pt_regs, where "
     "arch_stack_walk_reliable stops"},
    {"system_call_vectored_common",
     "`scv 0` from user space (interrupt_64.S, 5.9+): the same frame just under the user pt_regs. Seen: every "
     "task sleeping in a syscall on 6.1 (glibc 2.36 issues scv when AT_HWCAP2 has SCV, as POWER9 does; above "
     "system_call_exception)"},
    {"interrupt_return_srr_user",
     "an interrupt taken in user space returning (interrupt_64.S, `bl interrupt_exit_user_prepare`); the "
     "interrupt frame lies just under the user pt_regs. Seen: a thread preempted in user space (parked's spin, "
     "state R, above interrupt_exit_user_prepare_main, interrupt_exit_user_prepare)"},
    {"interrupt_return_hsrr_user", "the same return path for hypervisor interrupts (HSRR0/1) taken in user space"},
    {"ret_from_fork", "a new user task's first return (interrupt_64.S); its frame is the last before stack_end"},
    {"ret_from_kernel_user_thread",
     "6.4+: a kernel thread that becomes a user task (interrupt_64.S), as ret_from_fork"},
    {"start_kernel_thread", "6.4+: a kernel thread's first frame (interrupt_64.S); stack_end for PF_KTHREAD"},
    {"ret_from_kernel_thread",
     "before 6.4 (entry_64.S): a kernel thread's first frame. Seen: every kthread on 6.1 (above kthread; "
     "kthreadd's own above kthreadd)"},
};

}  // namespace

std::span<const KernelStackEnd> kernel_stack_ends() { return kEnds; }
// Indirect branches are `bctrl` (no retpolines, return thunks or paravirt
// tables on powerpc), seen as such by code_edges.
std::span<const std::string_view> kernel_indirect_thunks() { return {}; }
std::span<const std::string_view> kernel_return_thunks() { return {}; }
std::span<const std::string_view> kernel_paravirt_tables() { return {}; }

}  // namespace lpsafe::ppc64le

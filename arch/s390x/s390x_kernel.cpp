// Where an s390 kernel task's stack really ends, as the kernel's own
// unwinder ends it. arch/s390/kernel/stacktrace.c, arch_stack_walk_reliable(),
// walks the back chain with unwind_bc.c, which stops without error when a
// back chain of 0 is followed by the task's final pt_regs:
// is_final_pt_regs() accepts task_pt_regs(task) at the top of the task stack,
// user or kernel thread alike (PSW_MASK_PSTATE is only asked of pt_regs at
// the bottom of the irq stack); a trace that meets other pt_regs on the way
// (state.regs) is unreliable. Every entry from user space clears the back
// chain of the frame it builds right under the pt_regs
// (`xc __SF_BACKCHAIN(8,%r15),__SF_BACKCHAIN(%r15)`) and then calls into C
// with `brasl %r14,...` (arch/s390/kernel/entry.S), and copy_thread()
// (process.c) gives a new task the same zeroed chain under ret_from_fork.
// The last function /proc lists is therefore the entry code that made that
// call: system_call (`brasl %r14,__do_syscall`), ret_from_fork (`brasl
// %r14,__ret_from_fork`), or an interrupt taken in user space. The C
// handlers (__do_syscall, __ret_from_fork, do_io_irq, ...) are *not* ends:
// a listing that stops at one was cut short. Names from entry.S of 5.11+
// (the C entry conversion). "Seen:" marks the ends at the bottom of real
// /proc stacks of Debian's 6.1 s390x kernel (6.1.0-50) under
// qemu-system-s390x (fixtures/s390x-guest/recorded: 61 tasks, every one
// ending in one of three names, as the source says); the rest are from the
// source only. The listing has no head to drop (Arch::kernel_listing_head
// stays empty): __unwind_start() takes the first address from the r14 slot
// of the frame __switch_to saved at thread.ksp, a return into __schedule,
// which kernel/stacktrace.c drops with the rest of the scheduler text, so
// the first line is the scheduler's caller, the function wchan names (seen
// on all 59 sleeping tasks).
#include "s390x_kernel.h"

namespace lpsafe::s390x {
namespace {

constexpr KernelStackEnd kEnds[] = {
    {"system_call",
     "`svc` from user space (entry.S): zeroes its frame's back chain under the user pt_regs, then `brasl "
     "%r14,__do_syscall`; unwind_bc.c stops there. Seen: every task sleeping in a syscall on 6.1 (above "
     "__do_syscall)"},
    {"ret_from_fork",
     "a new task's first frame (entry.S, `brasl %r14,__ret_from_fork`; copy_thread() zeroes its back chain), "
     "kernel threads included. Seen: every kthread on 6.1 (`kthread, __ret_from_fork, ret_from_fork`; "
     "kthreadd's above kthreadd)"},
    {"io_int_handler",
     "I/O interrupt taken in user space (entry.S INT_HANDLER, `brasl %r14,do_io_irq`); user pt_regs follow. "
     "Not yet seen on a real capture"},
    {"ext_int_handler",
     "external interrupt (timer, IPI) taken in user space (entry.S INT_HANDLER, `brasl %r14,do_ext_irq`). "
     "Seen: the spinners preempted in user space on 6.1, state R (`exit_to_user_mode_prepare, "
     "irqentry_exit_to_user_mode, ext_int_handler`)"},
    {"pgm_check_handler",
     "program check (page fault) in user space (entry.S, `brasl %r14,__do_pgm_check`). Not yet seen on a "
     "real capture"},
};

}  // namespace

std::span<const KernelStackEnd> kernel_stack_ends() { return kEnds; }
// With CONFIG_EXPOLINE (Spectre v2) the kernel branches through registers
// via the thunks __s390_indirect_jump_r<N> (arch/s390/include/asm/
// nospec-insn.h): a direct call or jump to one goes where the register says.
std::span<const std::string_view> kernel_indirect_thunks() {
    static constexpr std::string_view kThunks[] = {"__s390_indirect_jump_r"};
    return kThunks;
}
std::span<const std::string_view> kernel_return_thunks() { return {}; }
std::span<const std::string_view> kernel_paravirt_tables() { return {}; }

}  // namespace lpsafe::s390x

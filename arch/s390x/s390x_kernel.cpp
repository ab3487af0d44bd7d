// Where an s390 kernel task's stack really ends, as the kernel's own
// unwinder ends it. arch/s390/kernel/stacktrace.c, arch_stack_walk_reliable(),
// walks the back chain with unwind_bc.c, which stops without error when a
// back chain of 0 is followed by the user pt_regs (PSW_MASK_PSTATE set) at
// the top of the task stack; a trace that meets kernel pt_regs on the way
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
// (the C entry conversion). No s390 /proc capture yet (no s390x kernel
// guest here): unlike the x86_64 and arm64 rows, none of these is marked
// Seen; they are taken from the source only.
#include "s390x_kernel.h"

namespace lpsafe::s390x {
namespace {

constexpr KernelStackEnd kEnds[] = {
    {"system_call",
     "`svc` from user space (entry.S): zeroes its frame's back chain under the user pt_regs, then `brasl "
     "%r14,__do_syscall`; unwind_bc.c stops there. Not yet seen on a real capture"},
    {"ret_from_fork",
     "a new task's first frame (entry.S, `brasl %r14,__ret_from_fork`; copy_thread() zeroes its back chain), "
     "kernel threads included. Not yet seen on a real capture"},
    {"io_int_handler",
     "I/O interrupt taken in user space (entry.S INT_HANDLER, `brasl %r14,do_io_irq`); user pt_regs follow. "
     "Not yet seen on a real capture"},
    {"ext_int_handler",
     "external interrupt (timer, IPI) taken in user space (entry.S INT_HANDLER, `brasl %r14,do_ext_irq`). "
     "Not yet seen on a real capture"},
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

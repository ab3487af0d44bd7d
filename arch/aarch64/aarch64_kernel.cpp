// Where an arm64 kernel task's stack really ends, as the kernel's own
// unwinder ends it. arch/arm64/kernel/stacktrace.c stops at the *final*
// frame record, the one embedded in the task's pt_regs
// (pt_regs::stackframe, type FRAME_META_TYPE_FINAL since 6.9; a zeroed
// record before that): every entry from user space and every new task
// links to it. The last function /proc lists is therefore the one that
// called into C from that entry: the EL0 vector entries of entry.S
// (entry_handler el0t_64_sync etc. `bl el0t_64_sync_handler`) or
// ret_from_fork. The C handlers (el0t_64_sync_handler, el0_svc,
// do_el0_svc) are *not* ends: a listing that stops at one of them was cut
// short. Names from arch/arm64/kernel/entry.S of 5.14+ (the el0t_* split,
// commit "arm64: entry: consolidate EL0 exception handling"), and the
// older el0_sync/el0_irq spellings. "Seen:" marks the ends at the bottom of
// real /proc stacks of Debian's 6.1 arm64 kernel under qemu
// (fixtures/arm64-guest/recorded: 62 tasks, every one ending in one of
// three names); the rest are the same entry paths' siblings.
#include "aarch64_kernel.h"

namespace lpsafe::aarch64 {
namespace {

constexpr KernelStackEnd kEnds[] = {
    {"el0t_64_sync",
     "synchronous exception from 64-bit user space (svc, page fault): entry.S entry_handler; the pt_regs "
     "final frame record follows. Seen: every task sleeping in a syscall (above el0t_64_sync_handler, "
     "el0_svc, do_el0_svc, el0_svc_common, invoke_syscall)"},
    {"el0t_64_irq",
     "interrupt taken in 64-bit user space (entry.S entry_handler); user pt_regs follow. Seen: threads "
     "preempted in user space (above el0t_64_irq_handler, el0_interrupt, do_notify_resume)"},
    {"el0t_64_fiq", "FIQ taken in 64-bit user space; the same entry_handler path"},
    {"el0t_64_error", "SError taken in 64-bit user space; the same entry_handler path"},
    {"el0t_32_sync", "synchronous exception from a compat (AArch32) task; the same entry_handler path"},
    {"el0t_32_irq", "interrupt in a compat task; the same entry_handler path"},
    {"el0t_32_fiq", "FIQ in a compat task; the same entry_handler path"},
    {"el0t_32_error", "SError in a compat task; the same entry_handler path"},
    {"ret_from_fork",
     "kernel thread or new task (entry.S): its frame record is the final one in pt_regs "
     "(stacktrace.c stops there). Seen: every kthread on 6.1 (above kthread; kthreadd's own above kthreadd)"},
    {"el0_sync", "before 5.14 (entry.S): synchronous exception from user space, as el0t_64_sync"},
    {"el0_irq", "before 5.14 (entry.S): interrupt from user space, as el0t_64_irq"},
};

}  // namespace

std::span<const KernelStackEnd> kernel_stack_ends() { return kEnds; }
// arm64 has no retpolines, return thunks or paravirt call tables: indirect
// calls are `blr` and are seen as such by code_edges.
std::span<const std::string_view> kernel_indirect_thunks() { return {}; }
std::span<const std::string_view> kernel_return_thunks() { return {}; }
std::span<const std::string_view> kernel_paravirt_tables() { return {}; }

}  // namespace lpsafe::aarch64

// Where an x86_64 kernel task's stack really ends, as the kernel's own
// unwinder (arch/x86/kernel/unwind_orc.c) ends it: at the user-mode pt_regs
// of an entry from user space, or at the UNWIND_HINT_END_OF_STACK of a
// kernel thread. Each name was seen at the bottom of real /proc stacks
// (fixtures/kernel/, 6.18) or is the same entry path's sibling, as noted.
#include "x86_64_kernel.h"

#include "x86_64_code.h"

namespace lpsafe::x86_64 {
namespace {

constexpr KernelStackEnd kEnds[] = {
    {"entry_SYSCALL_64_after_hwframe",
     "64-bit system call from user space (arch/x86/entry/entry_64.S); user pt_regs follow. Seen: every task "
     "sleeping in a syscall"},
    {"ret_from_fork_asm",
     "kernel thread or new task: UNWIND_HINT_END_OF_STACK, \"stack unwinds of kernel threads terminate in a "
     "known good state\" (entry_64.S, 2e7e5bbb1c3c). Seen: every kthread on 6.18"},
    {"ret_from_fork",
     "the same end on kernels before the 6.5 ret_from_fork_asm split (C ret_from_fork was the asm entry)"},
    {"asm_common_interrupt",
     "device interrupt taken in user mode: user pt_regs follow (an interrupt of kernel code would list the "
     "interrupted kernel frames below it). Seen: tasks preempted in user space"},
    {"asm_sysvec_reschedule_ipi",
     "reschedule IPI taken in user mode (idtentry_sysvec); as asm_common_interrupt. Seen on 6.18"},
    {"asm_sysvec_apic_timer_interrupt",
     "timer interrupt taken in user mode; the same idtentry path as the reschedule IPI"},
    {"asm_sysvec_call_function_single", "IPI taken in user mode; the same idtentry path"},
    {"asm_exc_page_fault", "page fault from user mode (idtentry); user pt_regs follow"},
    {"entry_SYSCALL_compat_after_hwframe", "32-bit syscall instruction from a compat task; user pt_regs follow"},
    {"entry_SYSENTER_compat_after_hwframe", "32-bit sysenter from a compat task; user pt_regs follow"},
    {"entry_INT80_compat", "int $0x80 from a compat task; user pt_regs follow"},
};

// An idle task's stack ends in the CPU entry code of head_64.S, under
// UNWIND_HINT_END_OF_STACK (UNWIND_HINT_EMPTY before 6.4): CPU 0 and every
// other CPU enter C there (start_kernel(), start_secondary() through
// initial_code). The code does `pushq $.Lafter_lret  # put return address
// on stack for unwinder`, then lretq to initial_code, so the return address
// follows an lretq, not a call. Seen: swapper/0 and swapper/1 of Debian's
// 6.1 under qemu (the oracle's runs from kernel memory).
constexpr KernelIdleEnd kIdleEnds[] = {
    {"secondary_startup_64_no_verify",
     "CPU entry code (arch/x86/kernel/head_64.S): pushes its own return address and lretq's to C", check_lret_before},
    {"secondary_startup_64", "the same entry before the 5.10 _no_verify split", check_lret_before},
};

// Direct calls to these are indirect branches in disguise: retpoline thunks
// (arch/x86/lib/retpoline.S: __x86_indirect_thunk_<reg>, the call-depth
// tracking __x86_indirect_call_thunk_/__x86_indirect_jump_thunk_ of 6.2+,
// the ITS thunks of 2025) and static-call trampolines (__SCT__<name>,
// arch/x86/kernel/static_call.c), which jump wherever the call was patched.
constexpr std::string_view kIndirectThunks[] = {
    "__x86_indirect_thunk_", "__x86_indirect_call_thunk_", "__x86_indirect_jump_thunk_",
    "__x86_indirect_its_thunk_", "__SCT__",
};

// With CONFIG_RETHUNK every `ret` is compiled as `jmp __x86_return_thunk`
// (arch/x86/lib/retpoline.S), which the mitigations re-point at their own
// thunks (srso_return_thunk, retbleed_return_thunk, its_return_thunk, the
// call-depth-tracking __x86_return_skl).
constexpr std::string_view kReturnThunks[] = {
    "__x86_return_thunk", "srso_return_thunk", "srso_alias_return_thunk", "srso_untrain_ret",
    "retbleed_return_thunk", "its_return_thunk", "__x86_return_skl",
};

// Paravirt operations (arch/x86/include/asm/paravirt_types.h struct
// paravirt_patch_template pv_ops): with retpolines, objtool allows an
// indirect call outside a thunk only at annotated sites, which are these
// (PVOP_CALL). Their entries are irq, mmu, cpu and spinlock primitives
// (native_*, kvm_*, xen_*: arch/x86/kernel/paravirt.c, kvm.c) that run in
// atomic context and never schedule, so no frame of theirs, nor of anything
// they call, is on a sleeping task's stack.
constexpr std::string_view kParavirtTables[] = {"pv_ops"};

}  // namespace

std::span<const KernelStackEnd> kernel_stack_ends() { return kEnds; }
std::span<const KernelIdleEnd> kernel_idle_stack_ends() { return kIdleEnds; }
std::span<const std::string_view> kernel_paravirt_tables() { return kParavirtTables; }
std::span<const std::string_view> kernel_return_thunks() { return kReturnThunks; }
std::span<const std::string_view> kernel_indirect_thunks() { return kIndirectThunks; }

}  // namespace lpsafe::x86_64

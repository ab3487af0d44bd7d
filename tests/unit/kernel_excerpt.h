// Real text from the development machine's kernel (x86_64 6.18.44, no
// KASLR): /proc/kallsyms lines (each symbol with its successor, so sizes
// come out as the kernel computes them) and /proc/<pid>/task/<tid>/stack
// listings of tasks parked in known system calls (fixtures/programs/kparked.cpp).
#pragma once

namespace lpsafe::test {

inline constexpr const char* kKallsymsExcerpt = R"(ffffffff81000000 T _text
ffffffff81000000 T __pi__text
ffffffff810000ba T entry_SYSCALL_64_after_hwframe
ffffffff81000138 t syscall_return_via_sysret
ffffffff81248fd0 T ret_from_fork_asm
ffffffff81249000 T rewind_stack_and_make_dead
ffffffff8130b5e0 T ret_from_fork
ffffffff8130b750 T __pfx_copy_thread
ffffffff813755d0 t __do_sys_pause
ffffffff813755d0 T __ia32_sys_pause
ffffffff813755d0 T __x64_sys_pause
ffffffff81375620 T __pfx___x64_sys_rt_sigsuspend
ffffffff81383800 t worker_thread
ffffffff81383b10 t __pfx_try_to_grab_pending
ffffffff8138baf0 t kthread
ffffffff8138bd10 t __pfx_kthreads_online_cpu
ffffffff81421c60 T hrtimer_nanosleep
ffffffff81421d50 T __pfx___x64_sys_nanosleep
ffffffff8142a8a0 t common_nsleep
ffffffff8142a900 t __pfx_posix_get_tai_ktime
ffffffff8142db10 T __x64_sys_clock_nanosleep
ffffffff8142dc50 T __pfx___ia32_sys_clock_nanosleep
ffffffff816bab70 T vfs_read
ffffffff816baed0 T __pfx___kernel_write_iter
ffffffff816bb820 T ksys_read
ffffffff816bb900 T __pfx___x64_sys_read
ffffffff816c8550 t anon_pipe_read
ffffffff816c8960 t __pfx_fifo_pipe_read
ffffffff821ef620 T do_syscall_64
ffffffff821ef8a0 t __pfx___do_fast_syscall_32
ffffffff821fa620 T __sched_text_start
ffffffff821fa630 T io_schedule_timeout
ffffffff821fa6c0 t __schedule
ffffffff821fb610 T __pfx_schedule
ffffffff821fb620 T schedule
ffffffff821fb6c0 T __pfx_io_schedule
ffffffff82203137 T __sched_text_end
ffffffff82203140 T __pfx__raw_spin_lock_irqsave
ffffffff82203140 T __lock_text_start
ffffffff82203150 T _raw_spin_lock_irqsave
ffffffff82204b88 T __lock_text_end
ffffffff82204b90 T __pfx___do_softirq
ffffffffc0201000 t ftrace_trampoline	[__builtin__ftrace]
)";

inline constexpr const char* kPauseStack = R"([<0>] __do_sys_pause+0x2a/0x50
[<0>] do_syscall_64+0x71/0x280
[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e
)";

inline constexpr const char* kNanosleepStack = R"([<0>] hrtimer_nanosleep+0x74/0xf0
[<0>] common_nsleep+0x30/0x60
[<0>] __x64_sys_clock_nanosleep+0xce/0x140
[<0>] do_syscall_64+0x71/0x280
[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e
)";

inline constexpr const char* kPipeStack = R"([<0>] anon_pipe_read+0x366/0x410
[<0>] vfs_read+0x32c/0x360
[<0>] ksys_read+0xba/0xe0
[<0>] do_syscall_64+0x71/0x280
[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e
)";

inline constexpr const char* kKworkerStack = R"([<0>] worker_thread+0x98/0x310
[<0>] kthread+0xf8/0x220
[<0>] ret_from_fork+0x151/0x170
[<0>] ret_from_fork_asm+0x1a/0x30
)";

}  // namespace lpsafe::test

// Where each thread of a process started, as its thread library recorded it
// (ThreadState::start_routine). glibc keeps pthread_create's start routine in
// the thread's descriptor and publishes the descriptor's layout for
// libthread_db (`_thread_db_pthread_start_routine` ...), the interface gdb
// reads threads through; the thread pointer register locates the descriptor,
// or, where the input has no thread pointer (qemu-user's aarch64 cores), the
// dynamic linker's thread lists do (_rtld_global._dl_stack_used/_user).
#pragma once

#include "lpsafe/process.h"

namespace lpsafe::readers {

// Sets start_routine for every thread whose descriptor checks out (its tid
// field is the thread's id). Threads of other libraries, of a process without
// glibc, or whose descriptor is unreadable keep it unknown: the engine then
// refuses a stack that only this anchor could vouch for.
void learn_thread_starts(ProcessImage& process);

}  // namespace lpsafe::readers

// ppc64 kernel stack rules for /proc listings.
#pragma once

#include <span>
#include <string_view>

#include "lpsafe/arch.h"

namespace lpsafe::ppc64le {

std::span<const KernelStackEnd> kernel_stack_ends();
// What /proc lists above a sleeping task's own chain. arch_stack_walk()
// (arch/powerpc/kernel/stacktrace.c) starts at thread.ksp, the frame
// _switch (entry_64.S) made with `stdu r1,-SWITCH_FRAME_SIZE(r1)` after
// saving LR in its caller's frame (`std r0,16(r1)`): the new frame's own LR
// save slot is never written, yet listed first (0x0, data addresses and old
// return addresses on Debian's 6.1: 64 of 64 tasks of
// fixtures/ppc64-guest/recorded). arch_stack_walk_reliable() skips it: "We
// can only trust the bottom frame's backlink, the rest of the frame may be
// uninitialized". Next comes __switch_to, whose call to _switch that saved
// LR was; the scheduler frames above it (__schedule, schedule) are dropped
// as in_sched_functions() and __get_wchan() (process.c) skips both of the
// first frames, so wchan names the entry after __switch_to.
inline constexpr KernelListingHead kKernelListingHead{.stale_first = true, .switch_frame = "__switch_to"};
std::span<const std::string_view> kernel_indirect_thunks();
std::span<const std::string_view> kernel_return_thunks();
std::span<const std::string_view> kernel_paravirt_tables();

}  // namespace lpsafe::ppc64le

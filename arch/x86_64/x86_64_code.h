// Instruction-level rules for x86_64, decoded with capstone: is the thread
// parked after a `syscall`, is a return address preceded by a call, does a
// function set up a frame pointer.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "lpsafe/arch.h"

namespace lpsafe::x86_64 {

RuleOutcome check_parked(const ProcessImage& process, const Regs& regs);
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size);
// The instruction ending at `ret` is a far return (lretq): a return address
// pushed by hand before jumping with lretq, as head_64.S does for the
// unwinder's sake (KernelIdleEnd).
RuleOutcome check_lret_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size);
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret);
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc);
RuleOutcome check_stack_end_marker(const Memory& memory, const Regs& outermost);
// x86_64_address_taken.cpp: a rip-relative `lea` of `entry` in its module's
// code (arch/common/address_taken.h).
RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry);

}  // namespace lpsafe::x86_64

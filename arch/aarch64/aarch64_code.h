// Instruction-level rules for aarch64: is the thread parked at an `svc #0`,
// is a return address preceded by `bl`/`blr`, where does a call go, how
// control leaves a function, and the end-of-stack mark.
#pragma once

#include <cstdint>
#include <optional>

#include "lpsafe/arch.h"
#include "../common/word_insn.h"

namespace lpsafe::aarch64 {

RuleOutcome check_parked(const ProcessImage& process, const Regs& regs);
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size);
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret);
// A PLT entry's GOT slot, read from process memory: where the stub at
// `target` really goes; `target` itself when it is not a PLT stub, nullopt
// when it is one whose slot the input does not hold.
std::optional<uint64_t> through_plt(const ProcessImage& process, uint64_t target);
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
RuleOutcome check_stack_end_marker(const Memory& memory, const Regs& outermost);
// aarch64_address_taken.cpp: an adrp/add pair or adr building `entry` in
// its module's code (arch/common/address_taken.h).
RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry);

using arch_common::hex;

}  // namespace lpsafe::aarch64

// Instruction-level rules for s390x: is the thread parked just after
// `svc`, is a return address preceded by a call (brasl, bras, basr ...),
// where does a call go (through the PLT), how control leaves a function.
#pragma once

#include <cstdint>
#include <optional>

#include "lpsafe/arch.h"

namespace lpsafe::s390x {

RuleOutcome check_parked(const ProcessImage& process, const Regs& regs);
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size);
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret);
// Where a branch to `target` really goes: `target` itself when it lies in a
// function (symbol or FDE), the function a PLT entry's GOT slot names, and
// nullopt for linker code this rule does not know.
std::optional<uint64_t> through_plt(const ProcessImage& process, uint64_t target);
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);

}  // namespace lpsafe::s390x

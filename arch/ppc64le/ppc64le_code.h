// Instruction-level rules for ppc64le: is the thread parked just after
// `sc`, is a return address preceded by a call (`bl`, `bctrl`...), where
// does a call go (through the linker's PLT call stubs), how control leaves
// a function.
#pragma once

#include <cstdint>
#include <optional>

#include "lpsafe/arch.h"

namespace lpsafe::ppc64le {

RuleOutcome check_parked(const ProcessImage& process, const Regs& regs);
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size);
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret);
// Where a branch to `target` really goes: `target` itself when it lies in a
// function (symbol or FDE), the function a PLT call stub's slot names, and
// nullopt when the target is linker code this rule does not know or a
// slot the input does not hold.
std::optional<uint64_t> through_stub(const ProcessImage& process, uint64_t target, uint64_t call_site);
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);

}  // namespace lpsafe::ppc64le

// How control leaves a function of a fixed-width instruction set (aarch64,
// ppc64le): one linear pass over its words, exact while every word decodes.
// Each architecture describes its branches in a WordBranches table; the
// passes themselves are shared.
#pragma once

#include <cstdint>
#include <optional>

#include "lpsafe/arch.h"

namespace lpsafe::arch_common {

struct WordBranches {
    unsigned sp_reg;  // DWARF numbers, for the entry-state test
    unsigned ra_reg;
    unsigned (*insn_id)(uint32_t word, uint64_t addr);  // capstone's id, 0 when undecodable
    // A direct call's target (bl).
    std::optional<uint64_t> (*call_target)(uint32_t word, uint64_t addr);
    // A direct branch that is not a call (b, conditional branches).
    std::optional<uint64_t> (*jump_target)(uint32_t word, uint64_t addr);
    bool (*register_jump)(uint32_t word);  // br xN, bctr: a tail call or a jump table
    bool (*register_call)(uint32_t word);  // blr xN, bctrl...
    // Where a branch to `target` from `site` really goes (through a PLT
    // stub); nullopt when unknown.
    std::optional<uint64_t> (*resolve)(const ProcessImage& process, uint64_t target, uint64_t site);
};

// Is the CFI row at `addr` the function's entry state, CFA = sp + 0 with the
// return address still in its register: the frame torn down, as before a
// tail call through a register?
bool at_entry_state(const ProcessImage& process, uint64_t addr, unsigned sp_reg, unsigned ra_reg);

// Direct branches leaving the function go where they say (resolved); a
// register jump where the CFI shows the entry state is a tail call the code
// does not fix; inside a frame it is a jump table's and stays in the
// function. An unreadable function yields no targets: the caller of this
// (call_reaches_callee) then fails rather than passes.
TailCalls word_tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, const WordBranches& b);

// Every direct call and leaving jump, and the first register call or jump;
// an undecodable word ends the pass as an indirect edge (what follows cannot
// be vouched for). Neither architecture calls through a memory slot in one
// instruction, so slot_calls stays empty.
Result<CodeEdges> word_code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size,
                                  const WordBranches& b);

}  // namespace lpsafe::arch_common

// One row per architecture: registers, how threads park, what a call looks
// like, how a frame-pointer frame is laid out. Adding an architecture means a
// folder in arch/ and a row in the table (unwinder/src/arch_table.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>
#include <span>
#include <string>
#include <string_view>

#include "lpsafe/arch_id.h"
#include "lpsafe/cfi.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe {

// The outcome of one rule on one frame. `cannot_check` is not a pass: the
// verdict treats it as a failure (fail closed).
struct RuleOutcome {
    enum class Kind { pass, fail, cannot_check };
    Kind kind = Kind::cannot_check;
    std::string detail;
    static RuleOutcome pass() { return {Kind::pass, {}}; }
    static RuleOutcome fail(std::string d) { return {Kind::fail, std::move(d)}; }
    static RuleOutcome cannot(std::string d) { return {Kind::cannot_check, std::move(d)}; }
};

// What a frame-pointer step recovers of the caller.
struct FpStep {
    uint64_t pc = 0;         // return address
    uint64_t cfa = 0;        // the caller's stack pointer after the return
    uint64_t caller_fp = 0;  // the caller's frame pointer
    // Whether `cfa` is the caller's sp or only the lowest it can be: an
    // aarch64 frame record sits at the bottom of its frame, below the locals
    // (arch/aarch64/aarch64_frame_pointer.cpp), so the record alone does not
    // give the frame's size.
    bool cfa_exact = true;
};

// A function that really ends a kernel task's stack as /proc lists it (the
// outermost entry): where the kernel's reliable unwinder also stops.
struct KernelStackEnd {
    std::string_view function;
    std::string_view why;  // the kernel behaviour that makes it an end
};

// Where a CPU's idle task's stack really ends when kernel memory is walked
// (the ORC end of stack in the CPU's entry code), and how its return
// address is checked: by `check_return` when the entry code pushed it by
// hand rather than by a call, else by check_call_before.
struct KernelIdleEnd {
    std::string_view function;
    std::string_view why;
    RuleOutcome (*check_return)(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size) = nullptr;
};

// What another task's /proc stack listing holds before the function that
// called into the scheduler, on an architecture whose walk starts below
// scheduler text (docs/verdict-rules.md, "/proc kernel stacks", top).
// x86_64 and aarch64: nothing (every frame above the scheduler's caller is
// scheduler text, which the listing drops). ppc64: one stale word, then the
// context-switch function.
struct KernelListingHead {
    // The first entry is not a return address (ppc64: the LR save slot of
    // the frame _switch made, which nothing writes): dropped, not judged.
    bool stale_first = false;
    // Listed next, before the scheduler's caller (ppc64: __switch_to);
    // empty when none. A listing without it did not start at a switch.
    std::string_view switch_frame;
};

// How control leaves a function for others (kernel_elided.cpp bounds the
// scheduler frames /proc hides with it).
struct CodeEdges {
    std::vector<uint64_t> calls;  // targets of direct calls
    std::vector<uint64_t> jumps;  // targets of direct jumps leaving the function (tail calls)
    // Slots of `call *slot` whose address the code fixes (x86: rip-relative):
    // what is read there decides where they go.
    std::vector<uint64_t> slot_calls;
    bool indirect = false;        // some other call or jump goes through a register or memory
    uint64_t indirect_at = 0;     // the first such instruction
};

struct TailCalls {
    std::vector<uint64_t> targets;
    bool unknown_target = false;  // e.g. `jmp *%r9` at the function's entry state
};

struct Arch {
    ArchId id;
    std::string_view name;
    uint16_t elf_machine;
    unsigned pc_reg;  // DWARF numbers
    unsigned sp_reg;
    unsigned fp_reg;
    unsigned ra_reg;  // the CFI return-address column

    // Register layout of the core note NT_PRSTATUS for this architecture.
    Result<ThreadState> (*parse_prstatus)(std::span<const std::byte> note);

    // top: is the thread parked in a system call (regs of frame 0)?
    RuleOutcome (*check_parked)(const ProcessImage& process, const Regs& regs);

    // return-after-call: does a call instruction end exactly at `ret`?
    // `fn_start`/`fn_size` bound the function (runtime addresses) when known,
    // so the check can decode from the function's start instead of guessing.
    RuleOutcome (*check_call_before)(const ProcessImage& process, uint64_t ret, uint64_t fn_start,
                                     uint64_t fn_size);

    // Where the call instruction ending at `ret` goes, when the code (and a
    // GOT slot in memory) fixes it: direct calls, calls through a GOT slot,
    // PLT stubs followed once. nullopt for calls through registers.
    std::optional<uint64_t> (*call_target)(const ProcessImage& process, uint64_t ret);
    // The tail calls of the function at [fn_start, fn_start + fn_size):
    // where the jumps that leave it go (through PLT stubs and GOT slots),
    // and whether it also jumps through a register with its frame torn down
    // (a tail call to a target the code does not fix).
    TailCalls (*tail_calls)(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);

    // Frame-pointer walker: the caller of a frame whose frame pointer is `fp`.
    Result<FpStep> (*fp_step)(const Memory& memory, uint64_t fp);

    // Does the function at [fn_start, fn_start + fn_size) set up a frame
    // pointer before `pc`? (Needed to trust a frame-pointer step where no CFI
    // describes the frame.)
    RuleOutcome (*check_fp_prologue)(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size,
                                     uint64_t pc);

    // Does this CFI row describe a frame-pointer frame (so that an independent
    // frame-pointer step applies and must agree)?
    bool (*cfi_row_is_fp_frame)(const CfiRow& row);

    // bottom: the ABI's own mark of the deepest frame, checked on the
    // registers of the frame that ends the walk (x86_64: rbp 0; ppc64: a
    // back chain of 0 in memory at its r1).
    RuleOutcome (*check_stack_end_marker)(const Memory& memory, const Regs& outermost);
    // bottom where no CFI says it: does the ABI's back chain end at the frame
    // whose stack pointer is `sp` (ppc64: [sp] is 0 in the initial frame)?
    // nullptr where frames carry no back chain (x86_64, aarch64: their end
    // is the CFI's undefined return address).
    bool (*back_chain_ends)(const Memory& memory, uint64_t sp);

    // Live capture (ptrace): the general registers as PTRACE_GETREGSET
    // NT_PRSTATUS returns them, i.e. the struct NT_PRSTATUS embeds, and its size.
    size_t user_regs_size;
    Result<Regs> (*parse_user_regs)(std::span<const std::byte> regset);
    // Where glibc's thread descriptor (struct pthread) lies, given the thread
    // pointer and the descriptor's size (libthread_db's
    // `_thread_db_sizeof_pthread`): the TLS variant of the architecture.
    uint64_t (*glibc_thread_descriptor)(uint64_t thread_pointer, uint64_t sizeof_pthread);
    // Bytes below sp that leaf code may use without moving sp (the ABI's red
    // zone); a stack copy starts this far below sp.
    uint64_t red_zone;
    // Kernel stacks (/proc/<pid>/task/<tid>/stack): the known outermost entries.
    std::span<const KernelStackEnd> (*kernel_stack_ends)();
    // Kernel memory walks: where idle tasks' stacks end. Null for an
    // architecture whose kernel memory lpsafe does not walk (an idle task
    // off its CPU is then unreliable at its bottom).
    std::span<const KernelIdleEnd> (*kernel_idle_stack_ends)() = nullptr;
    // /proc stacks: what a sleeping task's listing holds above its own chain.
    KernelListingHead kernel_listing_head{};
    // Every direct call and leaving jump of the function at [fn_start,
    // fn_start + fn_size), and whether it has an indirect one.
    Result<CodeEdges> (*code_edges)(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);
    // Name prefixes of kernel functions that stand for an indirect branch
    // (retpoline thunks, static-call trampolines): a direct call to one of
    // them goes where a register or a patched site says.
    std::span<const std::string_view> (*kernel_indirect_thunks)();
    // Names of kernel functions a jump to which is a return (return thunks
    // of the retbleed/SRSO/ITS mitigations): not a tail call.
    std::span<const std::string_view> (*kernel_return_thunks)();
    // Kernel data tables of function pointers to code that never schedules
    // (x86 paravirt: pv_ops), so a call through one of their slots cannot be
    // on a sleeping task's stack.
    std::span<const std::string_view> (*kernel_paravirt_tables)();
    // The target's words are big-endian (s390x): core notes, memory.
    bool big_endian = false;
    // How far the CFA lies above the caller's stack pointer. DWARF's CFA is
    // the caller's sp on every other row; the s390x ABI defines it as the
    // caller's r15 + 160, the register save area the caller allocates for
    // its callee (so a frame's sp is its CFA - 160).
    uint64_t cfa_above_sp = 0;
    // Cores: the "CORE" NT_PRFPREG note of one thread, added to its
    // registers under their DWARF numbers. Null where lpsafe does not read
    // it. s390x needs it: GCC's leaves keep callee-saved GPRs in FP
    // registers, which only the kernel's cores carry (qemu-user's do not).
    Status (*add_fp_regs)(std::span<const std::byte> note, Regs& regs) = nullptr;
    // Does code of the module holding the function that starts at `entry`
    // (runtime address) take that function's address, so that a call through
    // a register can enter it? pass: taken (where) or the function is
    // global, so any module may hold its address; fail: only direct calls
    // and jumps reach it. Used on the function a thread-start indirect call
    // entered (check_bottom). Null where lpsafe does not find how the code
    // builds addresses (ppc64's TOC-relative addis/addi, s390x's larl): the
    // thread-start rule then ends at the start routine.
    RuleOutcome (*check_address_taken)(const ProcessImage& process, uint64_t entry) = nullptr;
};

const Arch& arch_of(ArchId id);
const Arch* arch_for_elf_machine(uint16_t machine);
// Every row of the table, x86_64 first.
std::span<const Arch* const> all_arches();

}  // namespace lpsafe

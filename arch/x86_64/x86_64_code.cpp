#include "x86_64_code.h"

#include <capstone/capstone.h>
#include <dwarf.h>

#include <array>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "../common/arch_common.h"
#include "x86_64_decoder.h"
#include "x86_64_regs.h"

namespace lpsafe::x86_64 {
namespace {

// The longest x86 instruction is 15 bytes.
constexpr size_t kMaxInsn = 15;
// Linear decoding from a function's start is exact for compiler output (no
// data inside x86 functions); past this size we decode backwards instead.
constexpr uint64_t kMaxSweep = 256 * 1024;

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

bool read_exact(const ProcessImage& process, uint64_t addr, std::span<std::byte> out) {
    return process.read_code(addr, out) == out.size();
}

// Does an instruction of exactly `len` bytes ending at `end` decode as `id`?
bool insn_ends_at(const ProcessImage& process, uint64_t end, size_t len, unsigned id) {
    std::array<std::byte, kMaxInsn> buf{};
    if (end < len || !read_exact(process, end - len, std::span(buf).first(len))) return false;
    const auto* code = reinterpret_cast<const uint8_t*>(buf.data());
    size_t size = len;
    uint64_t addr = end - len;
    const cs_insn* insn = decoder().next(code, size, addr);
    return insn != nullptr && insn->size == len && insn->id == id;
}

RuleOutcome call_before_backwards(const ProcessImage& process, uint64_t ret) {
    for (size_t len = 2; len <= kMaxInsn; ++len) {
        if (insn_ends_at(process, ret, len, X86_INS_CALL)) return RuleOutcome::pass();
    }
    std::array<std::byte, kMaxInsn> probe{};
    if (process.read_code(ret - kMaxInsn, probe) != probe.size()) {
        return RuleOutcome::cannot("code before " + hex(ret) + " is not readable");
    }
    return RuleOutcome::fail("no call instruction ends at return address " + hex(ret));
}

}  // namespace

RuleOutcome check_parked(const ProcessImage& process, const Regs& regs) {
    auto pc = regs.get(rip);
    if (!pc) return RuleOutcome::cannot("the thread's pc is unknown");
    if (!decoder().ready()) return RuleOutcome::cannot("capstone is unavailable");
    std::array<std::byte, 2> probe{};
    if (*pc < 2 || process.read_code(*pc - 2, probe) != probe.size()) {
        return RuleOutcome::cannot("code before pc " + hex(*pc) + " is not readable");
    }
    // `syscall` is 0f 05. Only these two bytes are examined: where the
    // instructions before them begin is unknowable from pc alone, so the tail
    // of a longer instruction (b8 0f 05 00 00) reads as a syscall too. A CPU
    // that reached this pc did execute 0f 05, though; orig_rax below is what
    // says the thread is really inside the call.
    if (!insn_ends_at(process, *pc, 2, X86_INS_SYSCALL)) {
        return RuleOutcome::fail("pc " + hex(*pc) + " does not follow a syscall instruction");
    }
    // The kernel keeps orig_rax >= 0 while a task is inside a system call and
    // sets it to -1 on interrupt entry, so a thread that already returned to
    // user space and was stopped at the next instruction is told apart.
    if (!regs.syscall_nr) return RuleOutcome::cannot("the system call number (orig_rax) is unknown");
    if (*regs.syscall_nr < 0) {
        return RuleOutcome::fail("pc follows a syscall instruction but the thread is not in a system call "
                                 "(orig_rax = -1)");
    }
    return RuleOutcome::pass();
}

namespace {

// The instruction that ends at `ret`, found by decoding the function
// [fn_start, fn_start + fn_size) from its start; nullopt when the sweep
// cannot run (too large, undecodable bytes), with `why` failing when `ret`
// lies inside an instruction or the code is unreadable.
struct Sweep {
    std::optional<unsigned> last_id;  // the instruction ending at ret
    std::optional<RuleOutcome> why;   // set when the sweep itself decided
};

Sweep sweep_to(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size) {
    const bool sweepable = fn_size > 0 && ret > fn_start && ret - fn_start <= fn_size && ret - fn_start <= kMaxSweep;
    if (!sweepable) return {};

    // Read past `ret` (when readable) so that an instruction straddling it
    // decodes whole and shows `ret` to lie inside it; cut at `ret`, it would
    // not decode and the sweep would fall back to the backward guess.
    const size_t need = static_cast<size_t>(ret - fn_start);
    std::vector<std::byte> code(need + kMaxInsn);
    const size_t got = process.read_code(fn_start, code);
    if (got < need) return {std::nullopt, RuleOutcome::cannot("code of the function before " + hex(ret) + " is not readable")};
    const auto* p = reinterpret_cast<const uint8_t*>(code.data());
    size_t size = got;
    uint64_t addr = fn_start;
    unsigned last_id = 0;
    while (addr < ret) {
        const cs_insn* insn = decoder().next(p, size, addr);
        // Undecodable bytes inside the function: the caller falls back
        // rather than trusting or rejecting on a desynchronised sweep.
        if (insn == nullptr) return {};
        last_id = insn->id;
    }
    if (addr != ret) return {std::nullopt, RuleOutcome::fail("return address " + hex(ret) + " is inside an instruction")};
    return {last_id, std::nullopt};
}

}  // namespace

RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size) {
    if (!decoder().ready()) return RuleOutcome::cannot("capstone is unavailable");
    const Sweep s = sweep_to(process, ret, fn_start, fn_size);
    if (s.why) return *s.why;
    if (!s.last_id) return call_before_backwards(process, ret);
    if (*s.last_id != X86_INS_CALL) {
        return RuleOutcome::fail("the instruction before return address " + hex(ret) + " is not a call");
    }
    return RuleOutcome::pass();
}

RuleOutcome check_lret_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size) {
    if (!decoder().ready()) return RuleOutcome::cannot("capstone is unavailable");
    const Sweep s = sweep_to(process, ret, fn_start, fn_size);
    if (s.why) return *s.why;
    if (!s.last_id) return RuleOutcome::cannot("the code of the function before " + hex(ret) + " does not decode");
    if (*s.last_id != X86_INS_RETFQ && *s.last_id != X86_INS_RETF) {
        return RuleOutcome::fail("the instruction before the pushed return address " + hex(ret) + " is not lretq");
    }
    return RuleOutcome::pass();
}

namespace {

int32_t rel32(const std::byte* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// A GOT slot as the process had it: from memory only, never from the file,
// whose copy holds the unrelocated value.
std::optional<uint64_t> got_slot(const ProcessImage& process, uint64_t slot) {
    return process.memory ? process.memory->read_u64(slot) : std::nullopt;
}

// A PLT entry ([endbr64] [bnd] jmp *disp(%rip)) jumps where its GOT slot
// says; the dynamic linker has filled the slot before the callee can run.
// A slot the input does not hold (a live capture reads no writable memory
// after the threads run again) leaves the target unknown, as for a call
// through a register: the PLT stub itself is not the callee.
std::optional<uint64_t> through_plt(const ProcessImage& process, uint64_t target) {
    std::array<std::byte, 11> b{};
    if (process.read_code(target, b) != b.size()) return target;
    size_t at = 0;
    if (b[0] == std::byte{0xf3} && b[1] == std::byte{0x0f} && b[2] == std::byte{0x1e} && b[3] == std::byte{0xfa}) at = 4;
    if (b[at] == std::byte{0xf2}) ++at;  // bnd
    if (at + 6 > b.size() || b[at] != std::byte{0xff} || b[at + 1] != std::byte{0x25}) return target;
    const uint64_t next = target + at + 6;
    return got_slot(process, next + static_cast<int64_t>(rel32(&b[at + 2])));
}

}  // namespace

// Only the two call forms whose target is fixed by the code are resolved:
// `call rel32` and `call *disp32(%rip)` (a GOT slot, -fno-plt). Calls through
// registers or other memory give no target.
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret) {
    std::array<std::byte, 6> b{};
    if (ret < b.size() || process.read_code(ret - b.size(), b) != b.size()) return std::nullopt;
    if (b[1] == std::byte{0xe8} && insn_ends_at(process, ret, 5, X86_INS_CALL)) {
        return through_plt(process, ret + static_cast<int64_t>(rel32(&b[2])));
    }
    if (b[0] == std::byte{0xff} && b[1] == std::byte{0x15} && insn_ends_at(process, ret, 6, X86_INS_CALL)) {
        return got_slot(process, ret + static_cast<int64_t>(rel32(&b[2])));
    }
    return std::nullopt;
}

namespace {

// Is the CFI row at `addr` the function's entry state, CFA = rsp + 8 with
// the return address at CFA - 8: its frame torn down, as before a tail call?
bool at_entry_state(const ProcessImage& process, uint64_t addr) {
    const CfiLookup row = arch_common::cfi_row_at(process, addr);
    if (row.status != CfiLookup::Status::found || row.row.cfa.size() != 1) return false;
    const DwarfOp& op = row.row.cfa[0];
    const bool rsp_plus_8 = (op.atom == DW_OP_breg7 && op.number == 8) ||
                            (op.atom == DW_OP_bregx && op.number == rsp && op.number2 == 8);
    const RegRule& ret = row.row.rule(row.row.ra_column);
    return rsp_plus_8 && ret.kind == RegRule::Kind::location && arch_common::is_cfa_plus(ret.expr, -8);
}

}  // namespace

// Jumps that leave the function: tail calls, as the compiler emits them for
// `return f(...)`. Direct jumps (`jmp rel8/rel32`, conditional ones too) go
// where they say, or through the GOT slot when they land on a PLT stub
// (libstdc++'s condition_variable::wait is `jmp pthread_cond_wait@plt`);
// `jmp *disp32(%rip)` (-fno-plt) goes through its GOT slot. A slot the input
// does not hold gives no target. A jump through a register or other memory
// where the CFI shows the frame torn down is a tail call whose target the
// code does not fix (Python's PyObject_Call ends in `jmp *%r9`): like a call
// through a register, it can reach any function. Inside a frame, such a
// jump is a switch table's and stays in the function.
TailCalls tail_calls(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    TailCalls out;
    if (!decoder().ready() || fn_size == 0 || fn_size > kMaxSweep) return out;
    std::vector<std::byte> code(fn_size);
    const size_t got = process.read_code(fn_start, code);
    const auto* p = reinterpret_cast<const uint8_t*>(code.data());
    size_t size = got;
    uint64_t addr = fn_start;
    while (size > 0) {
        const cs_insn* insn = decoder().next(p, size, addr);
        if (insn == nullptr) break;
        const bool jump = insn->id == X86_INS_JMP || (insn->mnemonic[0] == 'j' && insn->id != X86_INS_JMP);
        if (!jump) continue;
        if (std::string_view(insn->op_str).substr(0, 2) == "0x") {
            const uint64_t to = std::strtoull(insn->op_str, nullptr, 16);
            if (to >= fn_start && to - fn_start < fn_size) continue;
            if (const auto resolved = through_plt(process, to)) out.targets.push_back(*resolved);
            continue;
        }
        if (insn->id != X86_INS_JMP) continue;
        // [bnd|notrack] ff 25 disp32: jmp *disp32(%rip).
        size_t at = 0;
        while (at < insn->size && (insn->bytes[at] == 0xf2 || insn->bytes[at] == 0x3e)) ++at;
        if (insn->size == at + 6 && insn->bytes[at] == 0xff && insn->bytes[at + 1] == 0x25) {
            const auto slot = static_cast<uint64_t>(insn->address + insn->size +
                                                    static_cast<int64_t>(rel32(reinterpret_cast<const std::byte*>(&insn->bytes[at + 2]))));
            if (const auto to = got_slot(process, slot)) out.targets.push_back(*to);
            continue;
        }
        if (!out.unknown_target && at_entry_state(process, insn->address)) out.unknown_target = true;
    }
    return out;
}

RuleOutcome check_fp_prologue(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size, uint64_t pc) {
    // [endbr64] push %rbp ... mov %rsp,%rbp — after which [rbp] holds the
    // caller's rbp and [rbp+8] the return address. Compilers schedule other
    // instructions into the prologue (gcc -O2 puts `xor %edi,%edi` between the
    // two), so allow a few that leave rsp and rbp alone.
    constexpr size_t kWindow = 48;
    constexpr int kMaxBetween = 6;
    if (fn_size == 0) return RuleOutcome::cannot("the function's size is unknown");
    if (!decoder().ready()) return RuleOutcome::cannot("capstone is unavailable");
    std::array<std::byte, kWindow> buf{};
    const size_t n = process.read_code(fn_start, std::span(buf).first(std::min<uint64_t>(kWindow, fn_size)));
    if (n == 0) return RuleOutcome::cannot("the function's first bytes are not readable");
    const auto* code = reinterpret_cast<const uint8_t*>(buf.data());
    size_t size = n;
    uint64_t addr = fn_start;
    const cs_insn* insn = decoder().next(code, size, addr);
    if (insn != nullptr && insn->id == X86_INS_ENDBR64) insn = decoder().next(code, size, addr);
    if (insn == nullptr || insn->id != X86_INS_PUSH || std::string_view(insn->op_str) != "rbp") {
        return RuleOutcome::fail("the function does not begin with push %rbp");
    }
    for (int i = 0; i <= kMaxBetween; ++i) {
        insn = decoder().next(code, size, addr);
        if (insn == nullptr) break;
        const std::string_view ops(insn->op_str);
        if (insn->id == X86_INS_MOV && ops == "rbp, rsp") {
            if (pc < addr) return RuleOutcome::fail("pc lies inside the frame-pointer prologue");
            return RuleOutcome::pass();
        }
        const bool touches_frame = ops.find("sp") != std::string_view::npos || ops.find("bp") != std::string_view::npos;
        if (touches_frame || insn->id == X86_INS_PUSH || insn->id == X86_INS_POP || insn->id == X86_INS_CALL ||
            insn->id == X86_INS_JMP || insn->id == X86_INS_RET) {
            break;
        }
    }
    return RuleOutcome::fail("no mov %rsp,%rbp follows push %rbp in the prologue");
}

// psABI 3.4.1: "the user code should mark the deepest stack frame by setting
// the frame pointer to zero" -- glibc's _start and the child side of clone
// and clone3 do it (`xor %ebp,%ebp`) before their first call, and rbp is
// callee-saved, so every frame above keeps it and hands it back: at a real
// outermost frame the recovered rbp is 0. A saved return address replaced by
// such a return site (clone3's `call *%rdx` has no fixed callee to refute
// it) recovers the rbp of the frame it cut off instead.
RuleOutcome check_stack_end_marker(const Memory&, const Regs& outermost) {
    const auto fp = outermost.get(rbp);
    if (!fp) return RuleOutcome::cannot("the outermost frame's rbp is unknown, so its end-of-stack mark (rbp 0) cannot be seen");
    if (*fp != 0) {
        return RuleOutcome::fail("the outermost frame's rbp is " + hex(*fp) +
                                 ", not the 0 that marks the deepest frame (psABI 3.4.1)");
    }
    return RuleOutcome::pass();
}

}  // namespace lpsafe::x86_64

#include "aarch64_code.h"

#include <capstone/capstone.h>

#include "aarch64_insn.h"
#include "aarch64_regs.h"

namespace lpsafe::aarch64 {

// A thread in a system call shows one of two pcs, and both are accepted:
//  - pc AT `svc #0`: arch/arm64/kernel/signal.c (do_signal, since 6.x
//    arch_do_signal_or_restart) rewinds pc by 4 and restores x0 from
//    orig_x0 for -ERESTARTSYS/-ERESTARTNOHAND/-ERESTARTNOINTR/
//    -ERESTART_RESTARTBLOCK *before* get_signal(), "so that a debugger
//    will see the already changed PC". A ptrace stop or a kernel core of a
//    thread blocked in a restartable call (pause, nanosleep, futex, read,
//    epoll_wait...) is taken inside get_signal(), so it shows this form.
//  - pc just after `svc #0`: the kernel's form for a call that returned
//    (-EINTR and every non-restart result, or a syscall-exit stop), and the
//    form of every thread in qemu-user's cores (qemu's cpu_loop only ever
//    sees the svc completed).
// Either way the frame is the one the svc was executed in: sp and every
// register but x0 are as they were at the call. Only `svc #0` counts:
// Linux takes the number from x8 and never issues other immediates.
// user_pt_regs has no syscallno (unlike x86's orig_rax), so the kernel's own
// "in a system call" flag cannot be read: the instruction is the evidence.
RuleOutcome check_parked(const ProcessImage& process, const Regs& regs) {
    const auto pc = regs.get(aarch64::pc);
    if (!pc) return RuleOutcome::cannot("the thread's pc is unknown");
    if (*pc % 4 != 0) return RuleOutcome::fail("pc " + hex(*pc) + " is not 4-byte aligned");
    if (insn_id(kSvc0, 0) == 0) return RuleOutcome::cannot("capstone cannot decode aarch64");
    const auto at = read_insn(process, *pc);
    if (at && is_svc0(*at, *pc)) return RuleOutcome::pass();  // the kernel's restart form
    const auto before = *pc >= 4 ? read_insn(process, *pc - 4) : std::nullopt;
    if (before && is_svc0(*before, *pc - 4)) return RuleOutcome::pass();  // returned / qemu-user form
    if (!at || !before) return RuleOutcome::cannot("code at and before pc " + hex(*pc) + " is not readable");
    return RuleOutcome::fail("pc " + hex(*pc) + " is neither at nor just after an svc #0 instruction");
}

// Every aarch64 instruction is 4 bytes and 4-aligned, so the instruction
// before a return address is known exactly; the check needs no sweep from
// the function's start (fn_start/fn_size are not used).
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t, uint64_t) {
    if (ret % 4 != 0) return RuleOutcome::fail("return address " + hex(ret) + " is not 4-byte aligned");
    const auto word = ret >= 4 ? read_insn(process, ret - 4) : std::nullopt;
    if (!word) return RuleOutcome::cannot("code before " + hex(ret) + " is not readable");
    const unsigned id = insn_id(*word, ret - 4);
    if ((id == ARM64_INS_BL && is_bl(*word)) || (id == ARM64_INS_BLR && is_blr(*word))) return RuleOutcome::pass();
    // ARMv8.3's blraa/blraaz/blrab/blrabz are calls (they authenticate the
    // target, then branch with link like blr). Capstone 4 decodes none of
    // them, so the encoding decides (aarch64_insn.h, is_blra). paciasp,
    // autiasp and the other hint-space PAC instructions decode as `hint`,
    // and retaa/retab (undecoded) are returns: neither is a call.
    if (id == 0 && is_blra(*word)) return RuleOutcome::pass();
    if (id == 0 && (is_bra(*word) || is_reta(*word))) {
        return RuleOutcome::fail("the instruction before return address " + hex(ret) + " is braa/brab or retaa/retab, not a call");
    }
    // Any other undecodable word may be a call of an extension capstone 4
    // does not know either, so it cannot be called "not a call".
    if (id == 0) return RuleOutcome::cannot("the instruction before " + hex(ret) + " (" + hex(*word) + ") does not decode");
    return RuleOutcome::fail("the instruction before return address " + hex(ret) + " is not bl, blr or blraa/blrab");
}

namespace {

using arch_common::got_slot;

}  // namespace

// The PLT entry binutils writes for aarch64 (bfd/elfnn-aarch64.c,
// elfNN_aarch64_small_plt_entry):
//   adrp x16, PAGE(slot); ldr x17, [x16, #PAGEOFF(slot)]; add x16, x16, #PAGEOFF(slot); br x17
// goes where its GOT slot says; the dynamic linker has filled the slot
// before the callee can run. A slot the input does not hold leaves the
// target unknown: the stub itself is not the callee.
std::optional<uint64_t> through_plt(const ProcessImage& process, uint64_t target) {
    uint32_t w[4] = {};
    for (int i = 0; i < 4; ++i) {
        const auto word = read_insn(process, target + 4 * i);
        if (!word) return target;
        w[i] = *word;
    }
    const bool adrp_x16 = (w[0] & 0x9f00001f) == 0x90000010;
    const bool ldr_x17 = (w[1] & 0xffc003ff) == 0xf9400211;  // ldr x17, [x16, #imm12*8]
    const bool add_x16 = (w[2] & 0xffc003ff) == 0x91000210;  // add x16, x16, #imm12
    const bool br_x17 = w[3] == 0xd61f0220;
    if (!adrp_x16 || !ldr_x17 || !add_x16 || !br_x17) return target;
    const uint64_t page = (target & ~uint64_t{0xfff}) + static_cast<uint64_t>(adrp_offset(w[0]));
    return got_slot(process, page + ((w[1] >> 10) & 0xfff) * 8);
}

// Only `bl` fixes its target (followed through a PLT stub); `blr xN` goes
// where a register says.
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret) {
    const auto word = ret >= 4 && ret % 4 == 0 ? read_insn(process, ret - 4) : std::nullopt;
    if (!word || !is_bl(*word) || insn_id(*word, ret - 4) != ARM64_INS_BL) return std::nullopt;
    return through_plt(process, branch26_target(*word, ret - 4));
}

// AAPCS64 ("The Frame Pointer"): the end of the frame-record chain is
// marked by a zero frame address in the outermost record. glibc's _start
// (sysdeps/aarch64/start.S) and the child path of clone/clone3
// (sysdeps/unix/sysv/linux/aarch64/clone.S, clone3.S) do `mov x29, #0`
// before their first call, and x29 is callee-saved, so every frame above
// hands it back: at a real outermost frame the recovered x29 is 0.
RuleOutcome check_stack_end_marker(const Memory&, const Regs& outermost) {
    const auto fp = outermost.get(x29);
    if (!fp) return RuleOutcome::cannot("the outermost frame's x29 is unknown, so its end-of-stack mark (x29 0) cannot be seen");
    if (*fp != 0) {
        return RuleOutcome::fail("the outermost frame's x29 is " + hex(*fp) +
                                 ", not the 0 that ends the frame-record chain (AAPCS64, The Frame Pointer)");
    }
    return RuleOutcome::pass();
}

}  // namespace lpsafe::aarch64

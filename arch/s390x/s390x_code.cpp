#include "s390x_code.h"

#include <capstone/capstone.h>

#include "../common/arch_common.h"
#include "../common/word_insn.h"
#include "s390x_insn.h"
#include "s390x_regs.h"

namespace lpsafe::s390x {

using arch_common::hex;

// A thread in a system call shows its PSW address just after `svc`:
//  - qemu-user's cores: qemu's cpu_loop sees the instruction completed.
//  - the kernel: arch_do_signal_or_restart() (arch/s390/kernel/signal.c)
//    calls get_signal() first, which is where a core is dumped and a ptrace
//    stop is reported; only after it does it rewind the PSW for a restart
//    (__rewind_psw by the ILC in int_code, handlers with SA_RESTART) or set
//    PIF_SYSCALL_RESTART (no handler: the entry code re-issues the call
//    without going back to user space). So every input shows the address
//    after the instruction, with r2 holding -ERESTART* (kernel) or the
//    argument / -EINTR (qemu).
// `svc` is 2 bytes; capstone 4 does not decode it (SYSZ has no SVC), so
// the encoding decides, and the instruction must be the one that really
// ends at the pc when its function is decoded from the start. An svc run
// by EXECUTE (ILC 4, which the kernel's __rewind_psw also handles) is not
// accepted: glibc 2.36 never issues one.
RuleOutcome check_parked(const ProcessImage& process, const Regs& regs) {
    const auto pc = regs.get(pswa);
    if (!pc) return RuleOutcome::cannot("the thread's PSW address is unknown");
    if (*pc % 2 != 0) return RuleOutcome::fail("pc " + hex(*pc) + " is not 2-byte aligned");
    const Preceding before = instruction_before(process, *pc);
    switch (before.kind) {
    case Preceding::Kind::unreadable:
        return RuleOutcome::cannot("code before pc " + hex(*pc) + " is not readable");
    case Preceding::Kind::not_boundary:
        return RuleOutcome::fail("pc " + hex(*pc) + " is not an instruction boundary of its function");
    case Preceding::Kind::exact:
        if (is_svc(before.candidates[0])) return RuleOutcome::pass();
        return RuleOutcome::fail("pc " + hex(*pc) + " is not just after an svc instruction");
    case Preceding::Kind::unbounded:
        break;
    }
    // Without the function's bounds the 2 bytes before pc could be the tail
    // of a longer instruction: only an svc that no other length explains.
    bool svc = false, other = false;
    for (const Insn& i : before.candidates) (is_svc(i) ? svc : other) = true;
    if (svc && !other) return RuleOutcome::pass();
    if (svc) return RuleOutcome::cannot("pc " + hex(*pc) + " follows bytes that read as svc or as a longer instruction, and its function's bounds are unknown");
    return RuleOutcome::fail("pc " + hex(*pc) + " is not just after an svc instruction");
}

namespace {

bool capstone_says_call(unsigned id) { return id == SYSZ_INS_BRASL || id == SYSZ_INS_BRAS || id == SYSZ_INS_BASR; }

// One candidate instruction ending at `ret`: a call linking r14 whose
// decoding capstone confirms.
RuleOutcome judge(const Insn& i, uint64_t ret) {
    const auto call = call_of(i);
    const unsigned id = insn_id(i);
    if (!call) {
        if (i.length == 2 && i.b[0] == 0x0d && (i.b[1] & 0xf) == 0) {
            return RuleOutcome::fail("the instruction before " + hex(ret) +
                                     " is basr with R2 = 0, which only loads an address and does not branch");
        }
        if (capstone_says_call(id)) {
            return RuleOutcome::cannot("capstone names the instruction before " + hex(ret) +
                                       " a call its encoding does not say");
        }
        return RuleOutcome::fail("the instruction before return address " + hex(ret) +
                                 " is not brasl, bras or basr");
    }
    if (call->link != r14) {
        return RuleOutcome::fail("the call before " + hex(ret) + " links r" + std::to_string(call->link) +
                                 ", not the return register r14");
    }
    if (!call->capstone_decodes) {
        return RuleOutcome::cannot("the instruction before " + hex(ret) +
                                   " is bas, bal or balr by its encoding, which capstone 4 cannot decode to confirm");
    }
    if (!capstone_says_call(id)) {
        return RuleOutcome::cannot("capstone does not name the instruction before " + hex(ret) +
                                   " the call its encoding says");
    }
    return RuleOutcome::pass();
}

}  // namespace

// A call is brasl (6 bytes), bras (4) or basr (2) linking r14, the ABI's
// return register; the return address is the byte after it. The lengths
// differ, so the instruction ending at `ret` is the one found by decoding
// the function from its start; without bounds every length whose first
// byte fits is tried, and all of them must agree.
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t fn_start, uint64_t fn_size) {
    if (ret % 2 != 0) return RuleOutcome::fail("return address " + hex(ret) + " is not 2-byte aligned");
    const Preceding before = instruction_before(process, ret, fn_start, fn_size);
    switch (before.kind) {
    case Preceding::Kind::unreadable:
        return RuleOutcome::cannot("code before " + hex(ret) + " is not readable");
    case Preceding::Kind::not_boundary:
        return RuleOutcome::fail("return address " + hex(ret) + " is not an instruction boundary of its function");
    case Preceding::Kind::exact:
        return judge(before.candidates[0], ret);
    case Preceding::Kind::unbounded:
        break;
    }
    // Every reading must pass to pass, and every one must fail to fail; a
    // mix (a call by one length, another instruction by another) or a call
    // capstone cannot confirm is cannot-check.
    RuleOutcome first_fail, first_cannot;
    bool any_pass = false, any_fail = false, any_cannot = false;
    for (const Insn& i : before.candidates) {
        RuleOutcome o = judge(i, ret);
        if (o.kind == RuleOutcome::Kind::pass) {
            any_pass = true;
        } else if (o.kind == RuleOutcome::Kind::fail) {
            if (!any_fail) first_fail = std::move(o);
            any_fail = true;
        } else {
            if (!any_cannot) first_cannot = std::move(o);
            any_cannot = true;
        }
    }
    if (any_pass && !any_fail && !any_cannot) return RuleOutcome::pass();
    if (!any_pass && !any_cannot) return first_fail;
    if (any_cannot && !any_pass) return first_cannot;
    return RuleOutcome::cannot("the bytes before " + hex(ret) +
                               " read as a call by one length and as another instruction by another, and the "
                               "function's bounds are unknown");
}

// binutils' s390x PLT entry (bfd/elf64-s390.c, elf_s390x_plt_entry):
//   larl %r1,<GOT slot>; lg %r1,0(%r1); br %r1; ...
// goes where the slot says; the dynamic linker has filled it before the
// callee could run. Other linker code is left unknown.
std::optional<uint64_t> through_plt(const ProcessImage& process, uint64_t target) {
    const Module* m = process.modules.find(target);
    if (m != nullptr && m->image && m->image->function_at(target - m->bias).has_value()) return target;
    const auto larl = read_insn(process, target);
    if (!larl || larl->length != 6 || larl->b[0] != 0xc0 || larl->b[1] != 0x10) return std::nullopt;
    const auto lg = read_insn(process, target + 6);
    const auto br = read_insn(process, target + 12);
    constexpr std::array<uint8_t, 6> kLgR1 = {0xe3, 0x10, 0x10, 0x00, 0x00, 0x04};
    if (!lg || lg->b != kLgR1 || !br || br->length != 2 || br->b[0] != 0x07 || br->b[1] != 0xf1) return std::nullopt;
    const uint32_t imm = uint32_t{larl->b[2]} << 24 | uint32_t{larl->b[3]} << 16 | uint32_t{larl->b[4]} << 8 | larl->b[5];
    const uint64_t slot = target + static_cast<uint64_t>(2 * arch_common::sign_extend(imm, 32));
    return arch_common::got_slot(process, slot);
}

// brasl and bras fix their target; basr goes where a register says.
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret) {
    const Preceding before = instruction_before(process, ret);
    if (before.kind != Preceding::Kind::exact) return std::nullopt;
    const auto call = call_of(before.candidates[0]);
    if (!call || !call->target || call->link != r14) return std::nullopt;
    return through_plt(process, *call->target);
}

}  // namespace lpsafe::s390x

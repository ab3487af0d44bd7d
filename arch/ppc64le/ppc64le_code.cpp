#include "ppc64le_code.h"

#include <capstone/capstone.h>

#include "../common/word_insn.h"
#include "ppc64le_insn.h"
#include "ppc64le_regs.h"

namespace lpsafe::ppc64le {

using arch_common::hex;

// A thread in a system call shows its pc just after `sc` (or `scv 0`):
//  - qemu-user's cores: qemu's cpu_loop only sees the instruction completed.
//  - the kernel: unlike arm64, ppc64 rewinds nip for a restartable call in
//    check_syscall_restart() (arch/powerpc/kernel/signal.c), which runs
//    *after* get_signal(), so a ptrace stop or a core dump taken in
//    get_signal() also shows the pc after the instruction.
// Either way sp and every register but r3 (and cr0.SO) are as they were at
// the call. `scv 0` is accepted on its encoding alone: capstone 4 does not
// know POWER9's scv (glibc uses it when the kernel advertises
// PPC_FEATURE2_SCV; qemu 7.2 does not, so the fixtures show `sc`).
RuleOutcome check_parked(const ProcessImage& process, const Regs& regs) {
    const auto pc = regs.get(ppc64le::pc);
    if (!pc) return RuleOutcome::cannot("the thread's pc is unknown");
    if (*pc % 4 != 0) return RuleOutcome::fail("pc " + hex(*pc) + " is not 4-byte aligned");
    if (insn_id(kSc, 0) == 0) return RuleOutcome::cannot("capstone cannot decode ppc64");
    const auto before = *pc >= 4 ? read_insn(process, *pc - 4) : std::nullopt;
    if (!before) return RuleOutcome::cannot("code before pc " + hex(*pc) + " is not readable");
    if (is_sc(*before, *pc - 4) || *before == kScv0) return RuleOutcome::pass();
    return RuleOutcome::fail("pc " + hex(*pc) + " is not just after an sc or scv 0 instruction");
}

namespace {

bool capstone_says_call(unsigned id) {
    return id == PPC_INS_BL || id == PPC_INS_BLA || id == PPC_INS_BCTRL || id == PPC_INS_BCCTRL ||
           id == PPC_INS_BLRL || id == PPC_INS_BCLRL;
}

}  // namespace

// Every instruction is a 4-byte word, so the one before a return address is
// known exactly. A call is `bl`/`bla` (opcode 18, LK = 1) or `bctrl`,
// `bcctrl`, `bclrl` (opcode 19, XO 528/16, LK = 1). `bcl` (opcode 16, LK = 1)
// is not: code uses `bcl 20,31,$+4` only to read its own address, never as
// a call that returns. After a call through a PLT stub the return address
// points at the TOC restore `ld r2,24(r1)`: it is still the word after the
// `bl`.
RuleOutcome check_call_before(const ProcessImage& process, uint64_t ret, uint64_t, uint64_t) {
    if (ret % 4 != 0) return RuleOutcome::fail("return address " + hex(ret) + " is not 4-byte aligned");
    const auto word = ret >= 4 ? read_insn(process, ret - 4) : std::nullopt;
    if (!word) return RuleOutcome::cannot("code before " + hex(ret) + " is not readable");
    const unsigned id = insn_id(*word, ret - 4);
    if (is_call(*word) && capstone_says_call(id)) return RuleOutcome::pass();
    if (id == 0) return RuleOutcome::cannot("the instruction before " + hex(ret) + " (" + hex(*word) + ") does not decode");
    if (is_call(*word)) {
        return RuleOutcome::cannot("capstone does not name the instruction before " + hex(ret) + " (" + hex(*word) +
                                   ") the call its encoding says");
    }
    return RuleOutcome::fail("the instruction before return address " + hex(ret) + " is not bl, bctrl or bclrl");
}

namespace {

// The TOC pointer (r2) of the function holding `site`, as its global entry
// computes it: `addis r2,r12,hi; addi r2,r2,lo` with r12 = the global entry
// (ELFv2 2.3.2.1). nullopt for functions without that prologue.
std::optional<uint64_t> toc_of(const ProcessImage& process, uint64_t site) {
    const Module* m = process.modules.find(site);
    if (m == nullptr || !m->image || !m->status.usable()) return std::nullopt;
    const auto fn = m->image->function_at(site - m->bias);
    if (!fn) return std::nullopt;
    const uint64_t entry = m->bias + fn->start;
    const auto hi = read_insn(process, entry);
    const auto lo = read_insn(process, entry + 4);
    if (!hi || !lo || (*hi & 0xffff0000) != 0x3c4c0000 || (*lo & 0xffff0000) != 0x38420000) return std::nullopt;
    return entry + static_cast<uint64_t>(arch_common::sign_extend(*hi & 0xffff, 16) * 65536 +
                                         arch_common::sign_extend(*lo & 0xffff, 16));
}

bool in_function(const ProcessImage& process, uint64_t addr) {
    const Module* m = process.modules.find(addr);
    return m != nullptr && m->image && m->image->function_at(addr - m->bias).has_value();
}

}  // namespace

// binutils' ELFv2 PLT call stubs (bfd/elf64-ppc.c, build_plt_stub):
//   std r2,24(r1); ld r12,off(r2); mtctr r12; bctr
//   std r2,24(r1); addis r12,r2,hi; ld r12,lo(r12); mtctr r12; bctr
// go where their slot says, relative to the *caller's* TOC pointer; the
// dynamic linker has filled the slot before the callee can run. The stubs
// have no symbol and no FDE, so any other linker code (long-branch stubs,
// __glink) is left unknown rather than judged.
std::optional<uint64_t> through_stub(const ProcessImage& process, uint64_t target, uint64_t call_site) {
    if (in_function(process, target)) return target;
    uint32_t w[5] = {};
    for (int i = 0; i < 5; ++i) {
        const auto word = read_insn(process, target + 4 * i);
        if (!word) return std::nullopt;
        w[i] = *word;
    }
    constexpr uint32_t kStdR2 = 0xf8410018, kMtctrR12 = 0x7d8903a6, kBctr = 0x4e800420;
    if (w[0] != kStdR2) return std::nullopt;
    int64_t offset = 0;
    if ((w[1] & 0xffff0003) == 0xe9820000 && w[2] == kMtctrR12 && w[3] == kBctr) {  // ld r12,off(r2)
        offset = arch_common::sign_extend(w[1] & 0xfffc, 16);
    } else if ((w[1] & 0xffff0000) == 0x3d820000 && (w[2] & 0xffff0003) == 0xe98c0000 && w[3] == kMtctrR12 &&
               w[4] == kBctr) {  // addis r12,r2,hi; ld r12,lo(r12)
        offset = arch_common::sign_extend(w[1] & 0xffff, 16) * 65536 + arch_common::sign_extend(w[2] & 0xfffc, 16);
    } else {
        return std::nullopt;
    }
    const auto toc = toc_of(process, call_site);
    if (!toc) return std::nullopt;
    return arch_common::got_slot(process, *toc + static_cast<uint64_t>(offset));
}

// Only `bl` fixes its target. A local call lands on the callee's local entry
// (global entry + the st_other offset, 8 bytes for GCC's two-instruction TOC
// setup): inside the callee's symbol either way, which is all the matching
// needs. `bla` (absolute) is not emitted for position-independent code and
// is treated like a call through a register.
std::optional<uint64_t> call_target(const ProcessImage& process, uint64_t ret) {
    const auto word = ret >= 4 && ret % 4 == 0 ? read_insn(process, ret - 4) : std::nullopt;
    if (!word || !is_i_branch(*word) || !is_link(*word) || is_absolute(*word)) return std::nullopt;
    if (insn_id(*word, ret - 4) != PPC_INS_BL) return std::nullopt;
    return through_stub(process, i_branch_target(*word, ret - 4), ret - 4);
}

}  // namespace lpsafe::ppc64le

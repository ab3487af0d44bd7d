// The unwind loop. Each step looks the frame's pc up in its module's CFI and
// applies the row; where a row describes a frame-pointer frame, an independent
// frame-pointer step must agree (cross-check). Without CFI, a frame-pointer
// step is taken only when the function provably set up a frame pointer.
// The loop never trusts what it cannot verify: it stops and says why.
#include <dwarf.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "lpsafe/arch.h"
#include "lpsafe/pointer_auth.h"
#include "lpsafe/unwind.h"
#include "site_cache.h"

namespace lpsafe {
namespace {

struct Step {
    enum class Kind { next, outermost, failed };
    Kind kind = Kind::failed;
    uint64_t pc = 0;
    uint64_t cfa = 0;
    UnwindMethod method = UnwindMethod::cfi;
    bool caller_pc_exact = false;  // the frame was a signal trampoline
    // The return address was in a register (aarch64's x30 or ppc64's LR at
    // frame 0 of a leaf or a function before it saved it), not in this
    // frame's memory.
    bool ra_in_register = false;
    bool cross_checked = false;
};

class Walker {
public:
    Walker(SiteCache& cache, const PointerAuthMask& pac, const UnwindOptions& options, UnwoundStack& out)
        : cache_(cache), process_(cache.process()), arch_(arch_of(process_.arch)), pac_(pac), options_(options), out_(out) {
        kept_in_missing_.fill(-1);
    }

    // The caller's registers go to `caller` (not into Step: a register file
    // is 350 bytes, and the loop would copy it several times per frame).
    Step step(const Frame& frame, const Regs& regs, int index, Regs& caller);

private:
    Step fail(Check check, int index, std::string detail) {
        out_.findings.push_back({check, index, std::move(detail)});
        return Step{};
    }
    Step step_cfi(const Frame& frame, const Regs& regs, const CfiRow& row, int index, Regs& caller);
    Step step_fp(const Frame& frame, const Regs& regs, const Module& module, int index, Regs& caller);
    bool frame_pointer_applies(const Frame& frame, const CfiRow& row, int index) const;
    bool cross_check(const Regs& regs, const Step& cfi, const Regs& caller, int index);
    void note_lost_registers(const CfiRow& row, const Regs& regs, const Regs& caller);
    std::string lost_register_reason(const CfiRow& row, const Regs& regs) const;

    SiteCache& cache_;
    const ProcessImage& process_;
    const Arch& arch_;
    // Every return address read from a register or the stack is stripped of
    // its PAC before anything looks at it (lpsafe/pointer_auth.h).
    const PointerAuthMask& pac_;
    const UnwindOptions& options_;
    UnwoundStack& out_;
    // Per register of the frame being stepped: the register an inner frame
    // kept its value in when the input does not hold that one, else -1.
    // s390x leaves keep callee-saved GPRs in FP registers (`ldgr
    // %f2,%r11`), which qemu-user cores lack: the value is then unknown,
    // and a step that needs it says why.
    std::array<int16_t, kMaxDwarfRegs> kept_in_missing_{};
};

// The register a DWARF operation reads, if any.
std::optional<unsigned> register_read(const DwarfOp& op) {
    if (op.atom >= DW_OP_reg0 && op.atom <= DW_OP_reg31) return op.atom - DW_OP_reg0;
    if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) return op.atom - DW_OP_breg0;
    if ((op.atom == DW_OP_regx || op.atom == DW_OP_bregx) && op.number < kMaxDwarfRegs) return static_cast<unsigned>(op.number);
    return std::nullopt;
}

void Walker::note_lost_registers(const CfiRow& row, const Regs& regs, const Regs& caller) {
    for (unsigned reg = 0; reg < kMaxDwarfRegs; ++reg) {
        if (caller.has(reg)) {
            kept_in_missing_[reg] = -1;
            continue;
        }
        const RegRule& rule = row.rule(reg);
        if (rule.kind != RegRule::Kind::value && rule.kind != RegRule::Kind::location) continue;
        for (const DwarfOp& op : rule.expr) {
            const auto src = register_read(op);
            if (src && !regs.has(*src)) kept_in_missing_[reg] = static_cast<int16_t>(*src);
        }
    }
}

std::string Walker::lost_register_reason(const CfiRow& row, const Regs& regs) const {
    for (const DwarfOp& op : row.cfa) {
        const auto reg = register_read(op);
        if (!reg || regs.has(*reg) || kept_in_missing_[*reg] < 0) continue;
        return "; cannot check: an inner frame kept register " + std::to_string(*reg) + " in register " +
               std::to_string(kept_in_missing_[*reg]) +
               ", which the input does not hold (a core without NT_PRFPREG, such as qemu-user's, has no "
               "floating-point registers)";
    }
    return {};
}

Step Walker::step(const Frame& frame, const Regs& regs, int index, Regs& caller) {
    const uint64_t addr = frame.lookup_address();
    const Module* module = cache_.location(addr).module;
    if (module == nullptr) {
        std::string detail = "pc " + hex_address(frame.pc) + " is in no known module";
        if (pac_.source == PointerAuthMask::Source::none && looks_pac_signed(process_, frame.pc)) {
            detail += " (bits above every mapped address look like a pointer authentication code, but the input has "
                      "no NT_ARM_PAC_MASK and no AT_HWCAP with HWCAP_PACA to derive one from: cannot strip PAC)";
        }
        return fail(Check::unwind, index, detail);
    }
    if (!module->status.usable() || !module->image) {
        return fail(Check::module, index, "cannot unwind through " + module->path + ": " + module->status.detail);
    }
    const CfiLookup& lookup = cache_.cfi(addr);
    switch (lookup.status) {
    case CfiLookup::Status::found:
        return step_cfi(frame, regs, lookup.row, index, caller);
    case CfiLookup::Status::no_entry:
    case CfiLookup::Status::no_tables:
        // ppc64: code after glibc's clone (cfi_endproc before the syscall)
        // has no CFI, and its frame is the one whose back chain is 0. Not
        // for the innermost frame, which only CFI can describe.
        if (index > 0 && arch_.back_chain_ends != nullptr && arch_.back_chain_ends(*process_.memory, frame.sp)) {
            Step s;
            s.kind = Step::Kind::outermost;
            s.cfa = frame.sp;
            s.method = UnwindMethod::fp;
            return s;
        }
        return step_fp(frame, regs, *module, index, caller);
    case CfiLookup::Status::error:
        break;
    }
    return fail(Check::unwind, index, "malformed CFI in " + module->name + ": " + lookup.detail);
}

Step Walker::step_cfi(const Frame& frame, const Regs& regs, const CfiRow& row, int index, Regs& caller) {
    auto applied = apply_cfi_row(row, regs, arch_.sp_reg, *process_.memory);
    if (!applied) {
        return fail(Check::unwind, index, "CFI step failed at " + hex_address(frame.pc) + ": " + applied.error().message +
                                              lost_register_reason(row, regs));
    }
    Step s;
    s.cfa = applied->cfa;
    caller = applied->caller;
    // s390x: without a rule the caller's r15 is the CFA less the register
    // save area (Arch::cfa_above_sp), not the CFA itself.
    if (arch_.cfa_above_sp != 0 && row.rule(arch_.sp_reg).kind == RegRule::Kind::undefined)
        caller.set(arch_.sp_reg, s.cfa - arch_.cfa_above_sp);
    note_lost_registers(row, regs, caller);
    s.method = UnwindMethod::cfi;
    if (applied->return_address_undefined) {
        s.kind = Step::Kind::outermost;
        return s;
    }
    auto ra = caller.get(row.ra_column);
    if (!ra) return fail(Check::unwind, index, "the CFI does not recover the return address");
    // aarch64: x30 as saved after paciasp, or still in the register (frame
    // 0 between paciasp and the save, or after the reload and before
    // autiasp), carries a PAC. After an authenticated return the caller's
    // x30 holds the stripped value too.
    s.pc = strip_pac(pac_, *ra);
    s.ra_in_register = row.rule(row.ra_column).kind != RegRule::Kind::location;
    caller.set(row.ra_column, s.pc);
    caller.set(arch_.pc_reg, s.pc);
    s.caller_pc_exact = row.signal_frame;
    s.kind = Step::Kind::next;
    if (row.signal_frame) {
        out_.findings.push_back({Check::signal_frame, index + 1,
                                 "the caller was interrupted by a signal, not stopped at a call"});
    }
    if (options_.cross_check && frame_pointer_applies(frame, row, index)) s.cross_checked = cross_check(regs, s, caller, index);
    return s;
}

// Whether a frame-pointer step is valid here is decided from the code, not
// from the CFI being checked: a return address lies in the body of its
// function, so a function whose code begins with the frame-pointer prologue
// has its frame record at the frame pointer. The innermost frame may sit in a
// prologue or epilogue; there only the CFI's own word (CFA = fp + 16) counts.
bool Walker::frame_pointer_applies(const Frame& frame, const CfiRow& row, int index) const {
    if (index == 0 || !frame.pc_is_return_address) return arch_.cfi_row_is_fp_frame(row);
    return cache_.fp_prologue(frame.lookup_address()).outcome.kind == RuleOutcome::Kind::pass;
}

bool Walker::cross_check(const Regs& regs, const Step& cfi, const Regs& caller, int index) {
    auto fp = regs.get(arch_.fp_reg);
    if (!fp) {
        out_.findings.push_back({Check::cross_check, index, "the frame pointer is unknown where a frame-pointer frame is expected"});
        return false;
    }
    auto fps = arch_.fp_step(*process_.memory, *fp);
    const auto caller_fp = caller.get(arch_.fp_reg);
    // Where the frame record does not give the frame's size (aarch64), the
    // CFI's CFA must at least lie above the record.
    const bool cfa_agrees = fps && (fps->cfa_exact ? fps->cfa == cfi.cfa : cfi.cfa >= fps->cfa);
    if (fps && strip_pac(pac_, fps->pc) == cfi.pc && cfa_agrees && caller_fp && *caller_fp == fps->caller_fp) return true;
    std::string detail = "CFI: return " + hex_address(cfi.pc) + ", cfa " + hex_address(cfi.cfa) + "; frame pointer: ";
    detail += fps ? "return " + hex_address(fps->pc) + ", cfa " + hex_address(fps->cfa) : fps.error().message;
    out_.findings.push_back({Check::cross_check, index, detail});
    return false;
}

Step Walker::step_fp(const Frame& frame, const Regs& regs, const Module& module, int index, Regs& caller) {
    // The innermost frame can be anywhere in its function, prologue and
    // epilogue included, where the frame pointer is not yet (or no longer)
    // this function's: only CFI can describe it.
    if (index == 0) return fail(Check::unwind, index, "no CFI for the innermost frame in " + module.name);
    // Does the frame's function set up a frame pointer before the frame's pc?
    const SiteCache::Prologue& prologue = cache_.fp_prologue(frame.lookup_address());
    if (!prologue.bounded) {
        return fail(Check::unwind, index, "no CFI and no symbol at " + hex_address(frame.pc) + " in " + module.name +
                                              ": cannot verify a frame pointer");
    }
    const CodeLocation& loc = cache_.location(frame.lookup_address());
    const std::string name = loc.symbol != nullptr ? loc.symbol->name : describe_address(process_, loc.function_start);
    if (prologue.outcome.kind != RuleOutcome::Kind::pass) {
        return fail(Check::unwind, index, "no CFI for " + name + " and " + prologue.outcome.detail);
    }
    auto fp = regs.get(arch_.fp_reg);
    if (!fp) return fail(Check::unwind, index, "no CFI for " + name + " and the frame pointer is unknown");
    auto fps = arch_.fp_step(*process_.memory, *fp);
    if (!fps) return fail(Check::unwind, index, "frame-pointer step failed in " + name + ": " + fps.error().message);
    Step s;
    s.kind = Step::Kind::next;
    s.method = UnwindMethod::fp;
    s.pc = strip_pac(pac_, fps->pc);  // a frame record's saved x30 is signed like any other
    s.cfa = fps->cfa;
    // A frame-pointer step recovers only pc, sp and fp; every other register
    // stays unknown so that no later rule silently uses a stale value.
    caller = Regs(regs.arch());
    caller.set(arch_.pc_reg, s.pc);
    // Only a bound (aarch64): the caller's sp stays unknown, so a caller whose
    // CFI needs it cannot be stepped on a guess.
    if (fps->cfa_exact) caller.set(arch_.sp_reg, fps->cfa - arch_.cfa_above_sp);
    caller.set(arch_.fp_reg, fps->caller_fp);
    return s;
}

// An end taken from the back chain (Arch::back_chain_ends) must be reached
// through it: the back chain at the callee's sp must be the end frame's sp.
// The ABI keeps the chain exact, so a walk that arrived through a wrong CFA
// (a corrupted callee-saved register, found by the ppc64le mutation test:
// zeroed stack words look like the initial frame) is not taken for the end.
bool chain_links(const Memory& memory, uint64_t callee_sp, uint64_t sp) {
    const auto chain = memory.read_u64(callee_sp);
    return chain && *chain == sp;
}

std::string frame_name(const Frame& f) { return f.function.empty() ? hex_address(f.pc) : f.function; }

// The ends ppc64 takes from its back chain (Arch::back_chain_ends) rather
// than from CFI, for the step `s` out of the last frame: a frame without
// CFI whose back chain is 0 (glibc's clone child), or a return address of
// 0 into a frame whose back chain is 0 (_start clears LR and stores a 0
// back chain before it branches, not calls, to __libc_start_main). Sets
// out.end and returns true when the walk stops here.
bool back_chain_end(const ProcessImage& process, const Step& s, const Regs& regs, const Regs& caller, int index,
                    UnwoundStack& out) {
    const Arch& arch = arch_of(process.arch);
    if (arch.back_chain_ends == nullptr) return false;
    const Memory& memory = *process.memory;
    const std::vector<Frame>& frames = out.frames;
    if (s.kind == Step::Kind::outermost && s.method == UnwindMethod::fp) {
        if (frames.size() >= 2 && chain_links(memory, frames[frames.size() - 2].sp, frames.back().sp)) {
            out.end = {StackEnd::Kind::outermost, "the back chain ends at " + frame_name(frames.back()) + " (0 at its stack pointer)"};
            out.outermost_regs = regs;
        } else {
            out.findings.push_back({Check::unwind, index, "the back chain is 0 at " + frame_name(frames.back()) +
                                                              ", but the frame inside it does not link to it"});
            out.end = {StackEnd::Kind::failed, out.findings.back().detail};
        }
        return true;
    }
    if (s.kind == Step::Kind::next && s.pc == 0 && arch.back_chain_ends(memory, s.cfa) &&
        chain_links(memory, frames.back().sp, s.cfa)) {
        out.end = {StackEnd::Kind::outermost, "the back chain ends above " + frame_name(frames.back()) +
                                                  " (return address 0, 0 at its caller's stack pointer)"};
        out.outermost_regs = caller;
        return true;
    }
    return false;
}

}  // namespace

UnwoundStack unwind_thread(const ProcessImage& process, const ThreadState& thread, const UnwindOptions& options) {
    SiteCache cache(process);
    return unwind_thread(cache, thread, options);
}

UnwoundStack unwind_thread(SiteCache& cache, const ThreadState& thread, const UnwindOptions& options) {
    const ProcessImage& process = cache.process();
    UnwoundStack out;
    const Arch& arch = arch_of(process.arch);
    auto pc = thread.regs.get(arch.pc_reg);
    auto sp = thread.regs.get(arch.sp_reg);
    if (!pc || !sp || !process.memory) {
        out.end = {StackEnd::Kind::failed, "the thread's pc or stack pointer is unknown"};
        out.findings.push_back({Check::unwind, -1, out.end.detail});
        return out;
    }
    // Most stacks are a few dozen frames: one allocation instead of growing
    // (and moving every frame's strings) five times.
    out.frames.reserve(std::min(options.max_frames, 32u));
    Frame first;
    first.pc = *pc;
    first.sp = *sp;
    first.method = UnwindMethod::initial;
    symbolize(cache, first);
    out.frames.push_back(first);

    Walker walker(cache, thread.pac, options, out);
    // Two register files in turn: the callee's and the caller's being filled.
    std::array<Regs, 2> files{thread.regs, Regs(thread.regs.arch())};
    Regs* regs = &files[0];
    Regs* caller = &files[1];
    for (;;) {
        const int index = static_cast<int>(out.frames.size()) - 1;
        Step s = walker.step(out.frames.back(), *regs, index, *caller);
        if (s.kind == Step::Kind::failed) {
            out.end = {StackEnd::Kind::failed, out.findings.empty() ? "unwind failed" : out.findings.back().detail};
            break;
        }
        out.frames.back().cfa = s.cfa;
        out.frames.back().signal_frame = s.caller_pc_exact;
        out.frames.back().cross_checked = s.cross_checked;
        if (back_chain_end(process, s, *regs, *caller, index, out)) break;
        if (s.kind == Step::Kind::outermost) {
            out.end = {StackEnd::Kind::outermost,
                       "the CFI marks the return address of " + frame_name(out.frames.back()) + " undefined"};
            out.outermost_regs = *regs;
            break;
        }
        if (out.frames.size() >= options.max_frames) {
            out.end = {StackEnd::Kind::depth_limit,
                       "stopped at the depth limit of " + std::to_string(options.max_frames) + " frames"};
            break;
        }
        Frame next;
        next.pc = s.pc;
        // A frame's sp is its caller's CFA less the ABI's save area (s390x:
        // 160; 0 elsewhere, where the CFA is the caller's sp).
        next.sp = s.cfa - arch.cfa_above_sp;
        next.method = s.method;
        next.pc_is_return_address = !s.caller_pc_exact;
        symbolize(cache, next);
        const uint64_t prev_sp = out.frames.back().sp;
        out.frames.push_back(next);
        const int next_index = index + 1;
        // Stacks grow down on every supported architecture: each caller's
        // frame lies strictly above its callee's, or the walk is going in
        // circles (gdb: "previous frame inner to this frame"). The one
        // exception: an innermost aarch64 or ppc64le frame that has not
        // stored anything (a leaf, or before its prologue) has CFA = sp and
        // its return address still in x30/LR, so its caller's sp is the same;
        // only there, where the return address did not come from the stack.
        const bool leaf_frame_0 = index == 0 && s.ra_in_register && next.sp == prev_sp;
        if (next.sp <= prev_sp && !leaf_frame_0) {
            out.findings.push_back({Check::sp_monotonic, next_index,
                                    "stack pointer " + hex_address(next.sp) + " does not lie above " + hex_address(prev_sp)});
            out.end = {StackEnd::Kind::failed, out.findings.back().detail};
            break;
        }
        if (next.pc == 0) {
            out.findings.push_back({Check::unwind, next_index, "null return address"});
            out.end = {StackEnd::Kind::failed, out.findings.back().detail};
            break;
        }
        std::swap(regs, caller);
    }
    return out;
}

}  // namespace lpsafe

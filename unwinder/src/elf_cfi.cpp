#include "elf_cfi.h"

#include "cfi_preflight.h"

#include <dwarf.h>

#include <cstdlib>
#include <memory>

namespace lpsafe {
namespace {

DwarfExpr to_expr(const Dwarf_Op* ops, size_t nops) {
    DwarfExpr expr;
    expr.reserve(nops);
    for (size_t i = 0; i < nops; ++i) expr.push_back({ops[i].atom, ops[i].number, ops[i].number2});
    return expr;
}

// libdw's encoding (libdw.h, dwarf_frame_register): no ops with ops==ops_mem
// is "undefined", no ops with ops==NULL is "same value", a trailing
// DW_OP_stack_value makes a value rule, a lone DW_OP_regx N is
// DW_CFA_register ("the value is in register N": a register location
// description, DWARF 5 2.6.1.1.3, not an address), anything else is a
// location. The s390x leaves of fixtures/programs/fpr_leaf.c keep r11 in f2
// that way (libdw 0.188 gives DW_OP_regx 17).
RegRule to_rule(const Dwarf_Op* ops_mem, const Dwarf_Op* ops, size_t nops) {
    RegRule rule;
    if (nops == 0) {
        rule.kind = ops == nullptr ? RegRule::Kind::same_value : RegRule::Kind::undefined;
        (void)ops_mem;
        return rule;
    }
    rule.expr = to_expr(ops, nops);
    const uint8_t first = rule.expr.front().atom;
    if (nops == 1 && (first == DW_OP_regx || (first >= DW_OP_reg0 && first <= DW_OP_reg31))) {
        rule.kind = RegRule::Kind::value;  // evaluates to the register's value
    } else if (rule.expr.back().atom == DW_OP_stack_value) {
        rule.kind = RegRule::Kind::value;
        rule.expr.pop_back();
    } else {
        rule.kind = RegRule::Kind::location;
    }
    return rule;
}

CfiLookup row_from_frame(Dwarf_Frame* frame, bool debug_frame) {
    CfiLookup out;
    Dwarf_Addr start = 0, end = 0;
    bool signalp = false;
    const int ra = dwarf_frame_info(frame, &start, &end, &signalp);
    if (ra < 0 || static_cast<unsigned>(ra) >= kMaxDwarfRegs) {
        out.status = CfiLookup::Status::error;
        out.detail = "CFI names an unsupported return-address column";
        return out;
    }
    CfiRow& row = out.row;
    row.start = start;
    row.end = end;
    row.ra_column = static_cast<unsigned>(ra);
    row.signal_frame = signalp;
    row.from_debug_frame = debug_frame;

    Dwarf_Op* cfa_ops = nullptr;
    size_t cfa_nops = 0;
    if (dwarf_frame_cfa(frame, &cfa_ops, &cfa_nops) != 0) {
        out.status = CfiLookup::Status::error;
        out.detail = std::string("cannot read the CFA rule: ") + dwarf_errmsg(-1);
        return out;
    }
    row.cfa = to_expr(cfa_ops, cfa_nops);
    row.regs.resize(kMaxDwarfRegs);
    for (unsigned reg = 0; reg < kMaxDwarfRegs; ++reg) {
        Dwarf_Op ops_mem[3];
        Dwarf_Op* ops = nullptr;
        size_t nops = 0;
        if (dwarf_frame_register(frame, static_cast<int>(reg), ops_mem, &ops, &nops) != 0) {
            // Registers the CIE does not know are simply undefined.
            row.regs[reg] = RegRule{};
            continue;
        }
        row.regs[reg] = to_rule(ops_mem, ops, nops);
    }
    // Trailing undefined rules say nothing CfiRow::rule() does not say for
    // registers past the end; dropping them spares apply_cfi_row a pass over
    // 40 registers per frame where x86_64 CFI has 17 columns.
    while (!row.regs.empty() && row.regs.back().kind == RegRule::Kind::undefined) row.regs.pop_back();
    out.status = CfiLookup::Status::found;
    return out;
}

}  // namespace

ElfCfi::ElfCfi(Elf* elf) {
    eh_frame_ = dwarf_getcfi_elf(elf);
    dwarf_ = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
    if (dwarf_ != nullptr) debug_frame_ = dwarf_getcfi(dwarf_);
    // Before libdw interprets a single entry (cfi_preflight.h).
    if (eh_frame_ != nullptr) eh_frame_refusal_ = cfi_table_refusal(elf, true);
    if (debug_frame_ != nullptr) debug_frame_refusal_ = cfi_table_refusal(elf, false);
}

ElfCfi::~ElfCfi() {
    if (eh_frame_ != nullptr) dwarf_cfi_end(eh_frame_);
    // dwarf_getcfi's table belongs to the Dwarf handle.
    if (dwarf_ != nullptr) dwarf_end(dwarf_);
}

CfiLookup ElfCfi::lookup(uint64_t vaddr) const {
    std::lock_guard lock(mutex_);
    auto it = rows_.upper_bound(vaddr);
    if (it != rows_.begin()) {
        --it;
        if (vaddr >= it->second.start && vaddr < it->second.end) {
            CfiLookup hit;
            hit.status = CfiLookup::Status::found;
            hit.row = it->second;
            return hit;
        }
    }
    CfiLookup found = lookup_uncached(vaddr);
    if (found.status == CfiLookup::Status::found && found.row.end > found.row.start) {
        rows_[found.row.start] = found.row;
    }
    return found;
}

CfiLookup ElfCfi::lookup_uncached(uint64_t vaddr) const {
    if (!present()) return {CfiLookup::Status::no_tables, {}, "no .eh_frame or .debug_frame"};
    std::string errors;
    for (Dwarf_CFI* cfi : {eh_frame_, debug_frame_}) {
        if (cfi == nullptr) continue;
        if (const auto& refused = cfi == eh_frame_ ? eh_frame_refusal_ : debug_frame_refusal_) {
            if (!errors.empty()) errors += "; ";
            errors += *refused;
            continue;
        }
        Dwarf_Frame* frame = nullptr;
        if (dwarf_cfi_addrframe(cfi, vaddr, &frame) == 0) {
            std::unique_ptr<Dwarf_Frame, decltype(&std::free)> owned(frame, &std::free);
            return row_from_frame(frame, cfi == debug_frame_);
        }
        const int err = dwarf_errno();
        // DWARF_E_NO_MATCH (no FDE covers the address) is "no entry"; any other
        // error is a malformed table and must not read as "no CFI here".
        const char* msg = dwarf_errmsg(err);
        if (msg != nullptr && std::string(msg) != "no matching address range") {
            if (!errors.empty()) errors += "; ";
            errors += msg;
        }
    }
    if (!errors.empty()) return {CfiLookup::Status::error, {}, errors};
    return {CfiLookup::Status::no_entry, {}, "no CFI entry covers this address"};
}

}  // namespace lpsafe

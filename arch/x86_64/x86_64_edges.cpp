// Every way control can leave an x86-64 function for another function: the
// direct calls and jumps (with their targets) and whether any call or jump
// goes through a register or memory. The kernel check uses it to bound which
// scheduler functions can hide above a /proc listing (kernel_elided.cpp).
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "x86_64_code.h"
#include "x86_64_decoder.h"

namespace lpsafe::x86_64 {
namespace {

constexpr uint64_t kMaxFunction = 256 * 1024;

bool is_jump(const cs_insn& insn) { return insn.mnemonic[0] == 'j'; }
bool is_call(const cs_insn& insn) { return insn.id == X86_INS_CALL; }
// Capstone prints a direct target as a bare hex immediate.
bool has_immediate_target(const cs_insn& insn) { return std::string_view(insn.op_str).starts_with("0x"); }

// `call *disp(%rip)`: the address of the slot the target is read from
// (capstone prints "qword ptr [rip + 0x...]"); `next` is the address after
// the instruction, which rip-relative addressing counts from.
std::optional<uint64_t> rip_relative_slot(const cs_insn& insn, uint64_t next) {
    const std::string_view ops(insn.op_str);
    for (const std::string_view form : {std::string_view("qword ptr [rip + 0x"), std::string_view("qword ptr [rip - 0x")}) {
        if (!ops.starts_with(form) || !ops.ends_with("]")) continue;
        const uint64_t disp = std::strtoull(insn.op_str + form.size() - 2, nullptr, 16);
        return form[15] == '+' ? next + disp : next - disp;
    }
    return std::nullopt;
}

}  // namespace

Result<CodeEdges> code_edges(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    if (!decoder().ready()) return make_error("capstone is unavailable");
    if (fn_size == 0 || fn_size > kMaxFunction) return make_error("function size unknown or too large to decode");
    std::vector<std::byte> code(fn_size);
    if (process.read_code(fn_start, code) != code.size()) return make_error("the function's code is not readable");
    CodeEdges out;
    const auto* p = reinterpret_cast<const uint8_t*>(code.data());
    size_t size = code.size();
    uint64_t addr = fn_start;
    while (size > 0) {
        const uint64_t at = addr;
        const cs_insn* insn = decoder().next(p, size, addr);
        if (insn == nullptr) {
            // Undecodable bytes (data, or padding capstone rejects) end the
            // sweep; what follows cannot be vouched for.
            out.indirect = true;
            out.indirect_at = at;
            break;
        }
        if (!is_call(*insn) && !is_jump(*insn)) continue;
        if (!has_immediate_target(*insn)) {
            if (const auto slot = rip_relative_slot(*insn, addr); slot && is_call(*insn)) {
                out.slot_calls.push_back(*slot);
                continue;
            }
            if (!out.indirect) out.indirect_at = at;
            out.indirect = true;
            continue;
        }
        const uint64_t to = std::strtoull(insn->op_str, nullptr, 16);
        const bool leaves = to < fn_start || to - fn_start >= fn_size;
        if (is_call(*insn)) {
            out.calls.push_back(to);
        } else if (leaves) {
            out.jumps.push_back(to);
        }
    }
    return out;
}

}  // namespace lpsafe::x86_64

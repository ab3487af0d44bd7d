#include "arch_common.h"

#include <dwarf.h>

#include <cstring>
#include <string>

namespace lpsafe::arch_common {

Status copy_regset(std::span<const std::byte> regset, std::span<uint64_t> words, std::string_view what) {
    if (regset.size() != words.size_bytes()) {
        return make_error("register set is " + std::to_string(regset.size()) + " bytes, expected " +
                          std::to_string(words.size_bytes()) + " (" + std::string(what) + ")");
    }
    std::memcpy(words.data(), regset.data(), words.size_bytes());
    return Ok{};
}

Result<ThreadState> parse_prstatus(std::span<const std::byte> note, size_t note_size, size_t regs_bytes,
                                   std::string_view arch, Result<Regs> (*parse_regs)(std::span<const std::byte>)) {
    if (note.size() < note_size) {
        return make_error("NT_PRSTATUS note is " + std::to_string(note.size()) + " bytes, expected " +
                          std::to_string(note_size) + " for " + std::string(arch));
    }
    ThreadState thread;
    int32_t pid = 0;
    std::memcpy(&pid, note.data() + kPrPidOffset, sizeof pid);
    thread.tid = pid;
    auto regs = parse_regs(note.subspan(kPrRegOffset, regs_bytes));
    if (!regs) return regs.error();
    thread.regs = std::move(*regs);
    return thread;
}

Result<FpStep> frame_record_step(const Memory& memory, uint64_t fp, uint64_t align) {
    if (fp == 0) return make_error("frame pointer is null");
    if (fp % align != 0) return make_error("frame pointer is not " + std::to_string(align) + "-byte aligned");
    auto caller_fp = memory.read_u64(fp);
    auto ret = memory.read_u64(fp + 8);
    if (!caller_fp || !ret) return make_error("frame record at the frame pointer is unreadable");
    return FpStep{*ret, fp + 16, *caller_fp};
}

bool is_cfa_plus(const DwarfExpr& e, int64_t offset) {
    if (e.empty() || e[0].atom != DW_OP_call_frame_cfa) return false;
    if (e.size() == 1) return offset == 0;
    return e.size() == 2 && e[1].atom == DW_OP_plus_uconst && static_cast<int64_t>(e[1].number) == offset;
}

CfiLookup cfi_row_at(const ProcessImage& process, uint64_t addr) {
    const Module* m = process.modules.find(addr);
    if (m == nullptr || !m->image || !m->status.usable()) return {CfiLookup::Status::no_tables, {}, "no usable module"};
    // The snapshot recorder keeps the FDE of every address looked up.
    if (process.on_function_lookup) process.on_function_lookup(*m, addr - m->bias);
    return m->image->cfi_at(addr - m->bias);
}

}  // namespace lpsafe::arch_common

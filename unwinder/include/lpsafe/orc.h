// The x86_64 kernel's own unwind tables (ORC: objtool's .orc_unwind_ip and
// .orc_unwind sections of vmlinux) and a walker that follows them the way
// arch/x86/kernel/unwind_orc.c does for a task that is not running, with the
// refusals of arch_stack_walk_reliable() (arch/x86/kernel/stacktrace.c).
// docs/verdict-rules.md, "Kernel memory", says which kernel lines each step
// mirrors. No I/O: the image and the kernel's memory come from readers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe/memory.h"
#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe {

// One .orc_unwind entry, decoded (arch/x86/include/asm/orc_types.h).
struct OrcEntry {
    enum class Reg : uint8_t { undefined = 0, prev_sp, dx, di, bp, sp, r10, r13, bp_indirect, sp_indirect };
    // The unified meaning of both layouts: 6.1 (type:2 + end bit) and 6.4+
    // (type:3 with UNDEFINED and END_OF_STACK, announced by .orc_header).
    enum class Type : uint8_t { undefined, end_of_stack, call, regs, regs_partial };
    int16_t sp_offset = 0;
    int16_t bp_offset = 0;
    uint8_t sp_reg = 0;  // Reg, kept raw so unknown values can be reported
    uint8_t bp_reg = 0;
    Type type = Type::undefined;
    bool signal = false;  // 6.4+: the ip is exact (not a return address)
};

// The sorted table of a vmlinux image, at link-time addresses.
class OrcTable {
public:
    static Result<OrcTable> from_image(const ElfImage& vmlinux);
    // The entry covering link-time address `addr`: the last one starting at
    // or below it; nullopt below the first entry.
    std::optional<OrcEntry> find(uint64_t addr) const;
    size_t size() const { return ips_.size(); }
    // The i-th entry in address order, and where it starts.
    uint64_t ip_at(size_t i) const { return ips_[i]; }
    const OrcEntry& entry_at(size_t i) const { return entries_[i]; }
    bool has_header() const { return new_layout_; }

private:
    std::vector<uint64_t> ips_;  // sorted
    std::vector<OrcEntry> entries_;
    bool new_layout_ = false;
};

// Where a task's saved context starts the walk (unwind_orc.c __unwind_start
// for a task that is not current): the inactive_task_frame __switch_to_asm
// pushed at thread.sp.
struct OrcStart {
    uint64_t ip = 0;  // frame->ret_addr
    uint64_t sp = 0;  // thread.sp + sizeof(inactive_task_frame)
    uint64_t bp = 0;  // frame->bp
    bool signal = false;  // ip == ret_from_fork: exact, not a return address
};

struct OrcFrame {
    uint64_t ip = 0;  // runtime address
    uint64_t sp = 0;  // the stack pointer in this frame
};

struct OrcWalk {
    enum class End {
        user_regs,    // pt_regs from user mode: the user task's real end
        end_of_stack, // ORC END_OF_STACK (kthreads: ret_from_fork)
        failed,       // see detail
    };
    std::vector<OrcFrame> frames;
    End end = End::failed;
    std::string detail;
    uint64_t end_regs = 0;  // user_regs: where the pt_regs lay
    int failed_at = -1;     // the frame the walk could not leave
};

struct OrcWalkLimits {
    uint64_t stack_low = 0;   // the task's stack: [stack_low, stack_high)
    uint64_t stack_high = 0;
    int64_t kaslr_offset = 0;  // runtime - link-time
    unsigned max_frames = 256;
    // struct pt_regs: size, and the offsets of ip, sp, cs, bp (BTF).
    uint64_t pt_regs_size = 168;
    uint64_t regs_ip = 128, regs_sp = 152, regs_cs = 136, regs_bp = 32;
};

OrcWalk orc_walk(const Memory& memory, const OrcTable& table, const OrcStart& start, const OrcWalkLimits& limits);

}  // namespace lpsafe

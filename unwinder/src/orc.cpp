// ORC tables and the kernel's walk over them (orc.h). Each step names the
// lines of arch/x86/kernel/unwind_orc.c (6.1) it follows.
#include "lpsafe/orc.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "symbolize.h"

namespace lpsafe {
namespace {

constexpr size_t kEntrySize = 6;  // sizeof(struct orc_entry), __packed

OrcEntry decode(const std::byte* p, bool new_layout) {
    OrcEntry e;
    std::memcpy(&e.sp_offset, p, 2);
    std::memcpy(&e.bp_offset, p + 2, 2);
    uint16_t bits = 0;
    std::memcpy(&bits, p + 4, 2);
    e.sp_reg = bits & 0xf;
    e.bp_reg = (bits >> 4) & 0xf;
    if (new_layout) {
        // 6.4+: type:3 (UNDEFINED, END_OF_STACK, CALL, REGS, REGS_PARTIAL), signal:1.
        static constexpr OrcEntry::Type kTypes[] = {OrcEntry::Type::undefined, OrcEntry::Type::end_of_stack,
                                                    OrcEntry::Type::call, OrcEntry::Type::regs,
                                                    OrcEntry::Type::regs_partial};
        const unsigned t = (bits >> 8) & 0x7;
        e.type = t < 5 ? kTypes[t] : OrcEntry::Type::undefined;
        e.signal = (bits >> 11) & 1;
    } else {
        // 6.1: type:2 (CALL, REGS, REGS_PARTIAL), end:1. An undefined sp
        // register is the end of a kthread's stack when `end` is set, and an
        // error otherwise (unwind_next_frame: "End-of-stack check for
        // kernel threads").
        const unsigned t = (bits >> 8) & 0x3;
        const bool end = (bits >> 10) & 1;
        if (e.sp_reg == static_cast<uint8_t>(OrcEntry::Reg::undefined)) {
            e.type = end ? OrcEntry::Type::end_of_stack : OrcEntry::Type::undefined;
        } else {
            e.type = t == 0 ? OrcEntry::Type::call : t == 1 ? OrcEntry::Type::regs : t == 2 ? OrcEntry::Type::regs_partial
                                                                                           : OrcEntry::Type::undefined;
        }
    }
    return e;
}

}  // namespace

Result<OrcTable> OrcTable::from_image(const ElfImage& vmlinux) {
    const auto ip_sec = vmlinux.section_named(".orc_unwind_ip");
    const auto orc_sec = vmlinux.section_named(".orc_unwind");
    if (!ip_sec || !orc_sec) return make_error(vmlinux.path() + " has no ORC tables (.orc_unwind_ip, .orc_unwind)");
    const size_t n = ip_sec->bytes.size() / 4;
    if (n == 0 || ip_sec->bytes.size() % 4 != 0 || orc_sec->bytes.size() != n * kEntrySize) {
        return make_error(vmlinux.path() + ": malformed ORC tables (" + std::to_string(ip_sec->bytes.size()) +
                          " bytes of ips, " + std::to_string(orc_sec->bytes.size()) + " of entries)");
    }
    // Each ip is stored relative to its own slot (unwind_orc.c orc_ip()).
    std::vector<uint64_t> ips(n);
    for (size_t i = 0; i < n; ++i) {
        int32_t rel = 0;
        std::memcpy(&rel, ip_sec->bytes.data() + 4 * i, 4);
        ips[i] = ip_sec->addr + 4 * i + static_cast<int64_t>(rel);
    }
    // 6.4 added .orc_header (a hash of the entry layout) together with the
    // type:3 layout; its absence means the older one.
    return from_ips(std::move(ips), orc_sec->bytes, vmlinux.section_named(".orc_header").has_value());
}

Result<OrcTable> OrcTable::from_ips(std::vector<uint64_t> ips, std::span<const std::byte> entries, bool new_layout) {
    const size_t n = ips.size();
    if (n == 0 || entries.size() != n * kEntrySize) {
        return make_error("malformed ORC table: " + std::to_string(n) + " ips, " + std::to_string(entries.size()) +
                          " bytes of entries");
    }
    OrcTable t;
    t.new_layout_ = new_layout;
    // The kernel sorts the table at boot (unwind_init()); the image may hold
    // it unsorted. Equal ips keep their file order, as the kernel's sort
    // need not: objtool emits one entry per address.
    // Built with CONFIG_BUILDTIME_TABLE_SORT (x86 selects it), the image's
    // table is already in order: sorting it was a tenth of a dump check.
    t.entries_.reserve(n);
    if (std::is_sorted(ips.begin(), ips.end())) {
        for (size_t i = 0; i < n; ++i) t.entries_.push_back(decode(entries.data() + kEntrySize * i, t.new_layout_));
        t.ips_ = std::move(ips);
        return t;
    }
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ips[a] < ips[b]; });
    t.ips_.reserve(n);
    for (size_t i : order) {
        t.ips_.push_back(ips[i]);
        t.entries_.push_back(decode(entries.data() + kEntrySize * i, t.new_layout_));
    }
    return t;
}

std::optional<OrcEntry> OrcTable::find(uint64_t addr) const {
    auto it = std::upper_bound(ips_.begin(), ips_.end(), addr);
    if (it == ips_.begin()) return std::nullopt;
    return entries_[static_cast<size_t>(it - ips_.begin()) - 1];
}

void KernelOrc::add(uint64_t start, uint64_t end, const OrcTable* table, int64_t offset) {
    if (table != nullptr && start < end) ranges_.push_back({start, end, table, offset});
}

std::optional<OrcEntry> KernelOrc::find(uint64_t runtime_addr) const {
    for (const Range& r : ranges_) {
        if (runtime_addr >= r.start && runtime_addr < r.end) {
            return r.table->find(runtime_addr - static_cast<uint64_t>(r.offset));
        }
    }
    return std::nullopt;
}

namespace {

class Walker {
public:
    Walker(const Memory& memory, const KernelOrc& table, const OrcWalkLimits& limits, OrcWalk& out)
        : memory_(memory), table_(table), limits_(limits), out_(out) {}

    void run(const OrcStart& start);

private:
    bool on_stack(uint64_t addr, uint64_t len) const {
        return addr >= limits_.stack_low && len <= limits_.stack_high - limits_.stack_low &&
               addr - limits_.stack_low <= limits_.stack_high - limits_.stack_low - len;
    }
    // deref_stack_reg(): only the task's own stack. A sleeping task's walk
    // never leaves it (interrupt and exception stacks belong to running
    // code), so anything else is refused.
    std::optional<uint64_t> stack_word(uint64_t addr) const {
        if (!on_stack(addr, 8)) return std::nullopt;
        return memory_.read_u64(addr);
    }
    void fail(std::string detail) {
        out_.end = OrcWalk::End::failed;
        out_.detail = std::move(detail);
        out_.failed_at = static_cast<int>(out_.frames.size()) - 1;
    }

    const Memory& memory_;
    const KernelOrc& table_;
    const OrcWalkLimits& limits_;
    OrcWalk& out_;
};

void Walker::run(const OrcStart& start) {
    uint64_t ip = start.ip, sp = start.sp, bp = start.bp;
    bool signal = start.signal;
    for (;;) {
        out_.frames.push_back({ip, sp});
        if (out_.frames.size() > limits_.max_frames) return fail("more than " + std::to_string(limits_.max_frames) + " frames");
        // orc_find(state->signal ? state->ip : state->ip - 1): a return
        // address may follow a call to a noreturn function, at the start of
        // the next function's entries.
        const auto orc = table_.find(signal ? ip : ip - 1);
        if (!orc) return fail("no ORC entry for " + hex_address(ip));
        if (orc->type == OrcEntry::Type::end_of_stack) {
            out_.end = OrcWalk::End::end_of_stack;
            return;
        }
        if (orc->type == OrcEntry::Type::undefined) return fail("the ORC entry for " + hex_address(ip) + " is undefined");
        // "Find the previous frame's stack".
        uint64_t prev_sp = 0;
        switch (static_cast<OrcEntry::Reg>(orc->sp_reg)) {
        case OrcEntry::Reg::sp:
        case OrcEntry::Reg::sp_indirect:
            prev_sp = sp + orc->sp_offset;
            break;
        case OrcEntry::Reg::bp:
        case OrcEntry::Reg::bp_indirect:
            prev_sp = bp + orc->sp_offset;
            break;
        default:
            // R10, R13, DI, DX need full registers of an interrupted frame;
            // a reliable walk of a sleeping task never meets them.
            return fail("the ORC entry for " + hex_address(ip) + " bases the stack on register " +
                        std::to_string(orc->sp_reg) + ", which only an interrupted frame has");
        }
        if (orc->sp_reg == static_cast<uint8_t>(OrcEntry::Reg::sp_indirect) ||
            orc->sp_reg == static_cast<uint8_t>(OrcEntry::Reg::bp_indirect)) {
            const auto v = stack_word(prev_sp);
            if (!v) return fail("the indirect stack pointer at " + hex_address(prev_sp) + " is off the task's stack");
            prev_sp = *v;
        }
        // "Find IP, SP and possibly regs".
        switch (orc->type) {
        case OrcEntry::Type::call: {
            const auto ret = stack_word(prev_sp - 8);
            if (!ret) return fail("the return address slot " + hex_address(prev_sp - 8) + " is off the task's stack");
            ip = *ret;
            sp = prev_sp;
            signal = false;
            break;
        }
        case OrcEntry::Type::regs: {
            // deref_stack_regs(): a whole pt_regs at prev_sp.
            if (!on_stack(prev_sp, limits_.pt_regs_size)) {
                return fail("pt_regs at " + hex_address(prev_sp) + " are off the task's stack");
            }
            const auto cs = memory_.read_u64(prev_sp + limits_.regs_cs);
            const auto rip = memory_.read_u64(prev_sp + limits_.regs_ip);
            const auto rsp = memory_.read_u64(prev_sp + limits_.regs_sp);
            const auto rbp = memory_.read_u64(prev_sp + limits_.regs_bp);
            if (!cs || !rip || !rsp || !rbp) return fail("pt_regs at " + hex_address(prev_sp) + " are unreadable");
            // arch_stack_walk_reliable(): user-mode regs are the success
            // path of a user task; user_mode() is (cs & 3) == 3.
            if ((*cs & 3) == 3) {
                out_.end = OrcWalk::End::user_regs;
                out_.end_regs = prev_sp;
                return;
            }
            // Kernel-mode regs: an interrupt or exception inside the kernel.
            // With ORC the kernel goes on; lpsafe does not (the interrupted
            // frame is not at a call, so return-after-call cannot hold).
            return fail("kernel-mode pt_regs at " + hex_address(prev_sp) + ": the task was interrupted in the kernel at " +
                        hex_address(*rip));
        }
        case OrcEntry::Type::regs_partial:
            return fail("partial (iret) registers at " + hex_address(prev_sp) + ": an interrupted frame");
        default:
            return fail("unknown ORC entry type for " + hex_address(ip));
        }
        // "Find BP".
        switch (static_cast<OrcEntry::Reg>(orc->bp_reg)) {
        case OrcEntry::Reg::undefined:
            break;
        case OrcEntry::Reg::prev_sp: {
            const auto v = stack_word(prev_sp + orc->bp_offset);
            if (!v) return fail("the saved frame pointer at " + hex_address(prev_sp + orc->bp_offset) + " is off the task's stack");
            bp = *v;
            break;
        }
        case OrcEntry::Reg::bp: {
            const auto v = stack_word(bp + orc->bp_offset);
            if (!v) return fail("the saved frame pointer at " + hex_address(bp + orc->bp_offset) + " is off the task's stack");
            bp = *v;
            break;
        }
        default:
            return fail("unknown frame pointer base register " + std::to_string(orc->bp_reg));
        }
        // "Prevent a recursive loop due to bad ORC data".
        if (sp <= out_.frames.back().sp) return fail("stack going in the wrong direction at " + hex_address(ip));
    }
}

}  // namespace

OrcWalk orc_walk(const Memory& memory, const KernelOrc& table, const OrcStart& start, const OrcWalkLimits& limits) {
    OrcWalk out;
    Walker(memory, table, limits, out).run(start);
    return out;
}

}  // namespace lpsafe

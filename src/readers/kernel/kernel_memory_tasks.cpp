#include "readers/kernel/kernel_memory_tasks.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "readers/kernel/kernel_btf.h"
#include "readers/kernel/kernel_cpus.h"
#include "readers/kernel/page_cached_memory.h"

namespace lpsafe::readers {
namespace {

// arch/x86/include/asm/page_64_types.h: THREAD_SIZE = PAGE_SIZE << (2 +
// KASAN_STACK_ORDER). Debian builds without KASAN: 16 KiB. A KASAN kernel
// would have its stacks judged too small and every walk would leave them:
// unreliable, never safe.
constexpr uint64_t kThreadSize = 16384;
constexpr size_t kMaxTasks = 1 << 22;         // pid_max's ceiling
constexpr uint32_t kPfIdle = 0x2;             // include/linux/sched.h PF_IDLE

// Offsets of everything read, from BTF.
struct Layout {
    uint64_t tasks, pid, tgid, comm, state, flags, stack, thread_sp, nvcsw, nivcsw, on_cpu;
    uint64_t thread_group;   // 6.1: every thread of a group on one list
    std::optional<uint64_t> patch_state;  // CONFIG_LIVEPATCH only
    uint64_t frame_size, frame_bp, frame_ret;  // struct inactive_task_frame
    uint64_t regs_size, regs_ip, regs_sp, regs_cs, regs_bp;  // struct pt_regs
    // The spans of task_struct holding every field read (each read in one
    // go), and those of the fields read again after a walk.
    uint64_t fields_lo, fields_hi, still_lo, still_hi;
};

// [lo, hi) around the fields at `offsets`, each `size` bytes long (comm's
// 16 bytes are covered by the caller's own entry).
template <size_t N>
std::pair<uint64_t, uint64_t> span_of(const std::array<std::pair<uint64_t, uint64_t>, N>& fields) {
    uint64_t lo = ~uint64_t{0}, hi = 0;
    for (const auto& [offset, size] : fields) {
        lo = std::min(lo, offset);
        hi = std::max(hi, offset + size);
    }
    return {lo, hi};
}

Result<Layout> layout_from(const KernelBtf& btf) {
    Layout l{};
    const BtfMember needs[] = {
        {&l.tasks, "task_struct", "tasks"},     {&l.pid, "task_struct", "pid"},
        {&l.tgid, "task_struct", "tgid"},       {&l.comm, "task_struct", "comm"},
        {&l.state, "task_struct", "__state"},   {&l.flags, "task_struct", "flags"},
        {&l.stack, "task_struct", "stack"},
        {&l.thread_sp, "task_struct", "thread.sp"},
        {&l.nvcsw, "task_struct", "nvcsw"},     {&l.nivcsw, "task_struct", "nivcsw"},
        {&l.on_cpu, "task_struct", "on_cpu"},   {&l.thread_group, "task_struct", "thread_group"},
        {&l.frame_bp, "inactive_task_frame", "bp"}, {&l.frame_ret, "inactive_task_frame", "ret_addr"},
        {&l.regs_ip, "pt_regs", "ip"},          {&l.regs_sp, "pt_regs", "sp"},
        {&l.regs_cs, "pt_regs", "cs"},          {&l.regs_bp, "pt_regs", "bp"},
    };
    if (auto st = btf.offsets_of(needs); !st)
        return make_error(st.error().message + " (this kernel's layout is not one lpsafe reads yet)");
    auto frame = btf.size_of("inactive_task_frame");
    auto regs = btf.size_of("pt_regs");
    if (!frame || !regs) return make_error("BTF lacks struct inactive_task_frame or pt_regs");
    l.frame_size = *frame;
    l.regs_size = *regs;
    if (auto ps = btf.offset_of("task_struct", "patch_state")) l.patch_state = *ps;
    std::tie(l.fields_lo, l.fields_hi) = span_of(std::array<std::pair<uint64_t, uint64_t>, 13>{{
        {l.tasks, 8}, {l.pid, 4}, {l.tgid, 4}, {l.comm, 16}, {l.state, 4}, {l.flags, 4},
        {l.stack, 8}, {l.thread_sp, 8}, {l.nvcsw, 8}, {l.nivcsw, 8}, {l.on_cpu, 4}, {l.thread_group, 8},
        {l.patch_state.value_or(l.state), 4}}});
    std::tie(l.still_lo, l.still_hi) = span_of(std::array<std::pair<uint64_t, uint64_t>, 4>{{
        {l.state, 4}, {l.nvcsw, 8}, {l.nivcsw, 8}, {l.on_cpu, 4}}});
    return l;
}

// fs/proc/array.c task_state_array[], from __state (exit_state aside).
std::string state_letter(uint32_t s) {
    if (s == 0) return "R";
    if ((s & 0x2) && (s & 0x400)) return "I";  // TASK_IDLE = UNINTERRUPTIBLE | NOLOAD
    if (s & 0x1) return "S";
    if (s & 0x2) return "D";
    if (s & 0x4) return "T";
    if (s & 0x8) return "t";
    if (s & 0x40) return "P";
    if (s & 0x30) return "Z";
    // TASK_DEAD: past do_task_dead(), its stack freed or about to be (a
    // dump can catch one); /proc shows its exit_state, X or Z. Gone.
    if (s & 0x80) return "X";
    return fmt::format("?{:#x}", s);
}

// Where a task's lists go on (read with its fields, to save a read), and its
// livepatch state.
struct TaskLinks {
    std::optional<uint64_t> thread_group, tasks;
    std::optional<int32_t> patch_state;
};

class Reader {
public:
    Reader(const Memory& m, const Layout& l, const KernelOrc& orc, const KernelMemoryOptions& o, uint64_t ret_from_fork,
           std::set<uint64_t> on_cpus)
        : mem_(m), l_(l), orc_(orc), o_(o), ret_from_fork_(ret_from_fork), on_cpus_(std::move(on_cpus)) {}

    // One task, read until it holds still (the same switch counts, state
    // and off its CPU, before and after its stack was walked).
    KernelTask task(uint64_t t, TaskLinks& links) const;

private:
    // The task's context-switch count, state and whether a CPU runs it. A
    // task that wakes while its stack is read is caught by one of them: it
    // is on its CPU (on_cpu) until it has switched away again, which counts
    // a switch (kernel/sched/core.c __schedule(), finish_task()).
    struct Stillness {
        std::optional<uint64_t> switches;
        std::optional<uint32_t> state, on_cpu;
        bool operator==(const Stillness&) const = default;
    };
    Stillness stillness(const Memory& m, uint64_t t) const {
        const auto a = m.read_u64(t + l_.nvcsw), b = m.read_u64(t + l_.nivcsw);
        return {a && b ? std::optional<uint64_t>(*a + *b) : std::nullopt, m.read_u32(t + l_.state),
                m.read_u32(t + l_.on_cpu)};
    }
    // A view of the task_struct's fields, read now in one go.
    PageCachedMemory fields_now(uint64_t t, uint64_t lo, uint64_t hi) const {
        PageCachedMemory view(mem_);
        view.prefetch(t + lo, hi - lo);
        return view;
    }
    void walk(const PageCachedMemory& mem, uint64_t t, KernelTask& out) const;

    const Memory& mem_;
    const Layout& l_;
    const KernelOrc& orc_;
    const KernelMemoryOptions& o_;
    uint64_t ret_from_fork_;
    std::set<uint64_t> on_cpus_;  // every run queue's curr
};

// `mem`: this attempt's page-cached view (page_cached_memory.h).
void Reader::walk(const PageCachedMemory& mem, uint64_t t, KernelTask& out) const {
    const auto stack = mem.read_u64(t + l_.stack);
    const auto sp = mem.read_u64(t + l_.thread_sp);
    if (!stack || !sp) {
        out.status = CaptureStatus::unreadable;
        out.status_reason = "task_struct's stack or thread.sp is unreadable";
        return;
    }
    OrcWalkLimits limits;
    limits.stack_low = *stack;
    limits.stack_high = *stack + kThreadSize;
    limits.pt_regs_size = l_.regs_size;
    limits.regs_ip = l_.regs_ip;
    limits.regs_sp = l_.regs_sp;
    limits.regs_cs = l_.regs_cs;
    limits.regs_bp = l_.regs_bp;
    out.task_pt_regs = limits.stack_high - l_.regs_size;
    const bool sp_inside = *sp >= limits.stack_low && *sp + l_.frame_size <= limits.stack_high;
    // The walk reads from the saved sp up to the user pt_regs at the top.
    if (sp_inside) mem.prefetch(*sp, limits.stack_high - *sp);
    OrcStart start;
    start.sp = *sp + l_.frame_size;
    const auto bp = sp_inside ? mem.read_u64(*sp + l_.frame_bp) : std::nullopt;
    const auto ret = bp ? mem.read_u64(*sp + l_.frame_ret) : std::nullopt;
    OrcWalk w;
    if (!bp || !ret) {
        w.detail = fmt::format("thread.sp {:#x} is not inside the task's stack [{:#x}, {:#x})", *sp, limits.stack_low,
                               limits.stack_high);
        out.walk = std::move(w);
        return;
    }
    start.bp = *bp;
    start.ip = *ret;
    start.signal = *ret == ret_from_fork_;
    out.walk = orc_walk(mem, orc_, start, limits);
}

KernelTask Reader::task(uint64_t t, TaskLinks& links) const {
    KernelTask out;
    // Each attempt reads the fields (the "before" of the stillness test among
    // them) in one view, walks the stack in that view, then reads the
    // stillness fields again, fresh.
    const PageCachedMemory head = fields_now(t, l_.fields_lo, l_.fields_hi);
    links = {head.read_u64(t + l_.thread_group), head.read_u64(t + l_.tasks), std::nullopt};
    if (l_.patch_state) {
        if (auto ps = head.read_u32(t + *l_.patch_state)) links.patch_state = static_cast<int32_t>(*ps);
    }
    const auto pid = head.read_u32(t + l_.pid), tgid = head.read_u32(t + l_.tgid);
    const auto state = head.read_u32(t + l_.state);
    const auto on_cpu = head.read_u32(t + l_.on_cpu);
    const auto flags = head.read_u32(t + l_.flags);
    std::array<std::byte, 16> comm{};
    if (!pid || !tgid || !state || !on_cpu || !flags || head.read(t + l_.comm, comm) != comm.size()) {
        out.status = CaptureStatus::unreadable;
        out.status_reason = fmt::format("task_struct at {:#x} is unreadable", t);
        return out;
    }
    out.tid = static_cast<int>(*pid);
    out.pid = static_cast<int>(*tgid);
    const char* c = reinterpret_cast<const char*>(comm.data());
    out.comm.assign(c, strnlen(c, comm.size()));
    out.state = state_letter(*state);
    out.is_reader = o_.reader_tgid != 0 && out.pid == o_.reader_tgid;
    out.is_idle = (*flags & kPfIdle) != 0;
    // An idle task's state is always TASK_RUNNING: it is on its CPU only
    // when its run queue runs it (the kernel's task_curr() test); otherwise
    // it sleeps in schedule_idle() and its stack is judged like any other.
    const bool runnable = out.state == "R" && !out.is_idle;
    if (*on_cpu != 0 || on_cpus_.count(t) != 0 || runnable || out.is_reader) {
        out.state = "R";  // on a CPU: its stack changes while it is read
        return out;
    }
    for (int attempt = 0; attempt <= o_.retries; ++attempt) {
        std::optional<PageCachedMemory> again;
        if (attempt > 0) again.emplace(mem_).prefetch(t + l_.fields_lo, l_.fields_hi - l_.fields_lo);
        const PageCachedMemory& view = attempt == 0 ? head : *again;
        const Stillness before = stillness(view, t);
        KernelTask try_out = out;
        walk(view, t, try_out);
        const Stillness after = stillness(fields_now(t, l_.still_lo, l_.still_hi), t);
        if (before.switches && before == after && after.state == state && after.on_cpu == 0u) return try_out;
    }
    out.state = "R";
    out.status_reason = "it kept switching while its stack was read";
    return out;
}

}  // namespace

Result<MemoryTasks> read_memory_tasks(const Memory& memory, const Kallsyms& kallsyms,
                                                  const ElfImage& vmlinux, const KernelOrc& orc,
                                                  const KernelMemoryOptions& options) {
    std::optional<KernelBtf> parsed;
    if (options.btf == nullptr) {
        auto made = KernelBtf::of_image(vmlinux);
        if (!made) return made.error();
        parsed = std::move(*made);
    }
    const KernelBtf& btf = options.btf != nullptr ? *options.btf : *parsed;
    auto layout = layout_from(btf);
    if (!layout) return layout.error();
    const auto init_task = kallsyms.vmlinux_address("init_task");
    const auto rff = kallsyms.vmlinux_address("ret_from_fork");
    if (!init_task || !rff) return make_error("kallsyms lacks init_task or ret_from_fork");
    const Layout& l = *layout;
    auto cpus = read_online_cpus(memory, kallsyms, btf);
    if (!cpus) return cpus.error();
    std::set<uint64_t> on_cpus;
    for (const OnlineCpu& c : *cpus) on_cpus.insert(c.curr);
    Reader reader(memory, l, orc, options, *rff, std::move(on_cpus));

    MemoryTasks out;
    const auto add = [&](KernelTask task, const TaskLinks& links) {
        if (l.patch_state && task.status == CaptureStatus::captured) {
            TaskPatchState s{task.pid, task.tid, std::nullopt, {}};
            const auto v = links.patch_state;
            if (v && *v >= -1 && *v <= 1) {
                s.state = static_cast<PatchState>(*v);
            } else {
                s.unreadable = v ? fmt::format("task_struct.patch_state is {}, not -1, 0 or 1", *v)
                                 : std::string("task_struct.patch_state is unreadable");
            }
            out.patch_states.push_back(std::move(s));
        }
        out.tasks.push_back(std::move(task));
    };
    std::set<uint64_t> seen;
    // for_each_process(): init_task.tasks, then every thread of each group.
    uint64_t p = *init_task;
    do {
        uint64_t t = p;
        TaskLinks group_leader;
        do {
            if (!seen.insert(t).second || seen.size() > kMaxTasks) {
                return make_error(fmt::format("the task list loops or is corrupt at {:#x}", t));
            }
            TaskLinks links;
            add(reader.task(t, links), links);
            if (t == p) group_leader = links;
            if (!links.thread_group) return make_error(fmt::format("thread list unreadable at {:#x}", t));
            t = *links.thread_group - l.thread_group;
        } while (t != p);
        if (!group_leader.tasks) return make_error(fmt::format("task list unreadable at {:#x}", p));
        p = *group_leader.tasks - l.tasks;
    } while (p != *init_task);
    // The other CPUs' idle tasks are on no list (fork_idle()).
    for (const OnlineCpu& c : *cpus) {
        TaskLinks links;
        if (seen.insert(c.idle).second) add(reader.task(c.idle, links), links);
    }
    return out;
}

}  // namespace lpsafe::readers

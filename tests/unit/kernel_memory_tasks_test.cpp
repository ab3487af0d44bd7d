// The kernel-memory task reader's stillness guard (issue 12: "never judge a
// stack that changed under the read"), on a hand-built kernel laid out by
// the real Debian image's BTF: one CPU whose idle task is init_task, and a
// sleeping task whose context-switch count moves while its stack is read.
// The walk itself is not under test here (no ORC table is given: every walk
// is unreliable); what is tested is when a walk is kept at all, and that the
// page-at-a-time reads of a walk (page_cached_memory.h) never stand in for
// the fresh reads around it.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "debian_kernel.h"
#include "readers/kernel/kernel_btf.h"
#include "readers/kernel/kernel_memory_tasks.h"
#include "readers/kernel/page_cached_memory.h"

namespace lpsafe {
namespace {

constexpr uint64_t kInitTask = 0xffffffff82a0c940;  // not page-aligned, as in the real kernel
constexpr uint64_t kTask = 0xffff888100000000;
constexpr uint64_t kStack = 0xffffc90000010000;
constexpr uint64_t kPerCpu = 0xffff88813bc00000;
constexpr uint64_t kRunqueues = 0x2f380;
constexpr uint64_t kOffsets = 0xffffffff82b10000, kMask = 0xffffffff82b20000, kNr = 0xffffffff82b30000;
constexpr uint64_t kRetFromFork = 0xffffffff81002950;

// Memory where one field of the task (`size` bytes at `at`: its switch
// count, its on_cpu) is a function of how often the task's stack has been
// read so far (each walk attempt reads it).
class SwitchingMemory final : public Memory {
public:
    SwitchingMemory(const BufferMemory& base, uint64_t at, size_t size, std::function<uint64_t(int)> value)
        : base_(base), at_(at), size_(size), value_(std::move(value)) {}
    size_t read(uint64_t addr, std::span<std::byte> out) const override {
        const size_t n = base_.read(addr, out);
        if (addr - kTask < 0x10000 || addr - kStack < 16384) ++sleeper_reads_;
        if (addr < kStack + 16384 && kStack < addr + n) ++stack_reads_;
        if (addr <= at_ && at_ + size_ <= addr + n) {
            const uint64_t v = value_(stack_reads_);
            std::memcpy(out.data() + (at_ - addr), &v, size_);
        }
        return n;
    }
    int walks() const { return stack_reads_; }
    // Reads of the sleeper's task_struct or stack.
    int sleeper_reads() const { return sleeper_reads_; }

private:
    const BufferMemory& base_;
    uint64_t at_;
    size_t size_;
    std::function<uint64_t(int)> value_;
    mutable int stack_reads_ = 0, sleeper_reads_ = 0;
};

class TaskStillness : public testing::Test {
protected:
    void SetUp() override {
        vmlinux_ = test::debian_vmlinux();
        ASSERT_NE(vmlinux_, nullptr);
        auto btf = readers::KernelBtf::of_image(*vmlinux_);
        ASSERT_TRUE(btf.ok()) << btf.error().message;
        const auto field = [&](const char* path) {
            auto o = btf->offset_of("task_struct", path);
            EXPECT_TRUE(o.ok()) << path;
            return o.ok() ? *o : 0;
        };
        const auto task_size = btf->size_of("task_struct");
        ASSERT_TRUE(task_size.ok());
        nvcsw_ = field("nvcsw");
        on_cpu_ = field("on_cpu");
        patch_state_ = field("patch_state");
        thread_sp_ = field("thread.sp");
        // init_task: CPU 0's idle task, running on it; lists of one.
        add_task(kInitTask, *task_size, field, 0, 0, 0x2 /* PF_IDLE */, kInitTask, "swapper/0");
        // The sleeper, a process of its own after init_task on the task list.
        add_task(kTask, *task_size, field, 42, 1 /* TASK_INTERRUPTIBLE */, 0, kTask, "sleeper");
        put(kInitTask + field("tasks"), kTask + field("tasks"));
        put(kTask + field("tasks"), kInitTask + field("tasks"));
        // Its stack: thread.sp at an inactive_task_frame returning to
        // ret_from_fork's neighbour (any address: the walk has no ORC).
        std::vector<std::byte> stack(16384);
        memory_.add(kStack, stack);
        const uint64_t sp = kStack + 16384 - 0x200;
        put(kTask + field("stack"), kStack);
        put(kTask + thread_sp_, sp);
        put(sp + *btf->offset_of("inactive_task_frame", "ret_addr"), kRetFromFork + 0x10);
        // One CPU online, its run queue running init_task.
        put(kOffsets, kPerCpu - 0);
        put(kMask, 1);
        std::vector<std::byte> nr(4);
        nr[0] = std::byte{1};
        memory_.add(kNr, nr);
        std::vector<std::byte> rq(*btf->size_of("rq"));
        const uint64_t idle = kInitTask;
        std::memcpy(rq.data() + *btf->offset_of("rq", "idle"), &idle, 8);
        std::memcpy(rq.data() + *btf->offset_of("rq", "curr"), &idle, 8);
        memory_.add(kPerCpu + kRunqueues, rq);
        for (auto& [addr, bytes] : pending_) memory_.add(addr, std::move(bytes));
        auto k = Kallsyms::parse(fmt::format(
            "ffffffff81000000 T _text\n{:016x} T ret_from_fork\n{:016x} D init_task\n{:016x} D runqueues\n"
            "{:016x} D __per_cpu_offset\n{:016x} D __cpu_online_mask\n{:016x} D nr_cpu_ids\n",
            kRetFromFork, kInitTask, kRunqueues, kOffsets, kMask, kNr));
        ASSERT_TRUE(k.ok());
        kallsyms_ = std::move(*k);
    }

    // The tasks as read from `memory` with `retries`.
    std::vector<KernelTask> read(const Memory& memory, int retries = 3) { return read_all(memory, retries).tasks; }
    readers::MemoryTasks read_all(const Memory& memory, int retries = 3) {
        readers::KernelMemoryOptions options;
        options.retries = retries;
        const KernelOrc no_orc;
        auto tasks = readers::read_memory_tasks(memory, kallsyms_, *vmlinux_, no_orc, options);
        EXPECT_TRUE(tasks.ok()) << (tasks.ok() ? "" : tasks.error().message);
        return tasks.ok() ? std::move(*tasks) : readers::MemoryTasks{};
    }
    static const KernelTask* sleeper(const std::vector<KernelTask>& tasks) {
        for (const KernelTask& t : tasks) {
            if (t.tid == 42) return &t;
        }
        return nullptr;
    }

    uint64_t nvcsw_ = 0, on_cpu_ = 0, patch_state_ = 0, thread_sp_ = 0;
    BufferMemory memory_;

private:
    void add_task(uint64_t at, uint64_t size, const std::function<uint64_t(const char*)>& field, uint32_t pid,
                  uint32_t state, uint32_t flags, uint64_t self, const char* comm) {
        std::vector<std::byte> t(size);
        const auto set = [&](uint64_t off, const void* v, size_t n) { std::memcpy(t.data() + off, v, n); };
        set(field("pid"), &pid, 4);
        set(field("tgid"), &pid, 4);
        set(field("__state"), &state, 4);
        set(field("flags"), &flags, 4);
        const uint64_t group = self + field("thread_group");
        set(field("thread_group"), &group, 8);
        set(field("comm"), comm, std::strlen(comm));
        pending_.emplace_back(at, std::move(t));
    }
    // Words written into the regions before they are added.
    void put(uint64_t addr, uint64_t value) {
        for (auto& [start, bytes] : pending_) {
            if (addr >= start && addr + 8 <= start + bytes.size()) {
                std::memcpy(bytes.data() + (addr - start), &value, 8);
                return;
            }
        }
        std::vector<std::byte> b(8);
        std::memcpy(b.data(), &value, 8);
        pending_.emplace_back(addr, std::move(b));
    }

    std::shared_ptr<ElfImage> vmlinux_;
    Kallsyms kallsyms_;
    std::vector<std::pair<uint64_t, std::vector<std::byte>>> pending_;
};

TEST_F(TaskStillness, ATaskThatHoldsStillIsWalkedOnce) {
    SwitchingMemory memory(memory_, kTask + nvcsw_, 8, [](int) { return 7; });
    const auto tasks = read(memory);
    ASSERT_EQ(tasks.size(), 2u);
    EXPECT_EQ(tasks[0].state, "R");  // init_task: its CPU runs it
    const KernelTask* t = sleeper(tasks);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, "S");
    EXPECT_EQ(t->comm, "sleeper");
    EXPECT_TRUE(t->walk.has_value());
    EXPECT_EQ(memory.walks(), 1);
    // Three reads of the sleeper: its fields, its stack, its switch count
    // again (page_cached_memory.h).
    EXPECT_EQ(memory.sleeper_reads(), 3);
}

// A task that wakes during the walk and is on its CPU when it is read again
// has not switched yet (its count moves when it switches away): on_cpu
// alone gives it away. Its walk is not kept.
TEST_F(TaskStillness, ATaskOnItsCpuAfterTheWalkIsReadAgain) {
    SwitchingMemory memory(memory_, kTask + on_cpu_, 4, [](int walks) { return walks == 1 ? 1 : 0; });
    const auto tasks = read(memory);
    const KernelTask* t = sleeper(tasks);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, "S");
    EXPECT_TRUE(t->walk.has_value());
    // On its CPU from the first walk until the second: the third is kept.
    EXPECT_EQ(memory.walks(), 3);
}

// task_struct.patch_state as /proc/<pid>/patch_state would print it, for
// every task read: the sleeper patched (1), init_task unpatched (0).
TEST_F(TaskStillness, PatchStatesAreReadWithTheTasks) {
    const SwitchingMemory patched(memory_, kTask + patch_state_, 4, [](int) { return 1; });
    const auto all = read_all(patched);
    ASSERT_EQ(all.patch_states.size(), 2u);
    for (const readers::TaskPatchState& s : all.patch_states) {
        ASSERT_TRUE(s.state.has_value()) << s.unreadable;
        EXPECT_EQ(*s.state, s.tid == 42 ? readers::PatchState::patched : readers::PatchState::unpatched) << s.tid;
    }
    // A value the kernel never writes is reported, not guessed.
    const SwitchingMemory odd_memory(memory_, kTask + patch_state_, 4, [](int) { return 7; });
    const auto odd = read_all(odd_memory);
    for (const readers::TaskPatchState& s : odd.patch_states) {
        if (s.tid != 42) continue;
        EXPECT_FALSE(s.state.has_value());
        EXPECT_NE(s.unreadable.find("is 7"), std::string::npos) << s.unreadable;
    }
}

// The count moves during the first walk only: that walk is dropped and the
// second one kept. Were the count after the walk served from a page read
// before it, the first walk would have been kept.
TEST_F(TaskStillness, AWalkTheTaskSwitchedDuringIsReadAgain) {
    SwitchingMemory memory(memory_, kTask + nvcsw_, 8, [](int walks) { return walks >= 1 ? 6 : 5; });
    const KernelTask* t = nullptr;
    const auto tasks = read(memory);
    t = sleeper(tasks);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, "S");
    EXPECT_TRUE(t->walk.has_value());
    EXPECT_EQ(memory.walks(), 2);
}

// A task that switches during every walk is never judged: running.
TEST_F(TaskStillness, ATaskThatNeverHoldsStillIsRunning) {
    SwitchingMemory memory(memory_, kTask + nvcsw_, 8, [](int walks) { return 100 + walks; });
    const auto tasks = read(memory, 2);
    const KernelTask* t = sleeper(tasks);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, "R");
    EXPECT_FALSE(t->walk.has_value());
    EXPECT_NE(t->status_reason.find("kept switching"), std::string::npos) << t->status_reason;
    EXPECT_EQ(memory.walks(), 3);  // the first read and two retries
}

// A page the memory holds only part of is read through to the memory beneath,
// which says how far it can: never a page-sized answer past its end.
// A prefetched range is one read of the memory beneath; reads inside it then
// cost none, and a page it could not read whole is read again when asked.
TEST(PageCachedMemory, PrefetchIsOneReadOfWholePages) {
    class Counting final : public Memory {
    public:
        explicit Counting(const Memory& m) : m_(m) {}
        size_t read(uint64_t addr, std::span<std::byte> out) const override {
            ++reads;
            return m_.read(addr, out);
        }
        mutable int reads = 0;

    private:
        const Memory& m_;
    };
    BufferMemory base;
    std::vector<std::byte> a(0x2800);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::byte>(i * 13);
    base.add(0x20000, a);  // two whole pages, then half of the third
    const Counting counting(base);
    const readers::PageCachedMemory view(counting);
    view.prefetch(0x20100, 0x2600);  // reaches into the half page
    EXPECT_EQ(counting.reads, 1);
    std::vector<std::byte> out(0x1800);
    EXPECT_EQ(view.read(0x20400, out), out.size());
    EXPECT_EQ(std::memcmp(out.data(), a.data() + 0x400, out.size()), 0);
    EXPECT_EQ(counting.reads, 1);
    // The half page was not cached: its read goes beneath, and says how far.
    EXPECT_EQ(view.read(0x22700, std::span(out).first(0x200)), 0x100u);
    EXPECT_EQ(counting.reads, 3);  // the page tried whole, then the bytes asked for
    EXPECT_EQ(std::memcmp(out.data(), a.data() + 0x2700, 0x100), 0);
}

TEST(PageCachedMemory, PartPagesAndPageBoundaries) {
    BufferMemory base;
    std::vector<std::byte> a(0x1800);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::byte>(i * 7);
    base.add(0x10000, a);  // one whole page, then half of the next
    const readers::PageCachedMemory view(base);
    std::vector<std::byte> out(0x100);
    EXPECT_EQ(view.read(0x10f80, out), 0x100u);  // across the boundary into the half page
    EXPECT_EQ(std::memcmp(out.data(), a.data() + 0xf80, 0x100), 0);
    EXPECT_EQ(view.read(0x11700, out), 0x100u);
    EXPECT_EQ(view.read(0x11780, out), 0x80u);  // stops where the memory does
    EXPECT_EQ(view.read(0x12000, out), 0u);
    EXPECT_EQ(view.read_u64(0x10008), base.read_u64(0x10008));
}

}  // namespace
}  // namespace lpsafe

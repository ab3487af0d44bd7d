// The ORC tables of Debian's real kernel image (lpsafe/orc.h), and the walker
// on hand-made stacks whose every word is chosen from those entries. The
// walk on real stacks is judged by the kernel itself (tests/oracle, run
// "memory").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "debian_kernel.h"
#include "lpsafe/orc.h"

namespace lpsafe {
namespace {

class RealOrc : public testing::Test {
protected:
    static void SetUpTestSuite() {
        const auto vmlinux = test::debian_vmlinux();
        ASSERT_TRUE(vmlinux);
        image_ = new std::shared_ptr<ElfImage>(vmlinux);
        auto t = OrcTable::from_image(**image_);
        ASSERT_TRUE(t.ok()) << t.error().message;
        table_ = new OrcTable(std::move(*t));
    }
    static void TearDownTestSuite() {
        delete table_;
        delete image_;
        table_ = nullptr;
        image_ = nullptr;
    }
    static inline std::shared_ptr<ElfImage>* image_ = nullptr;
    static inline OrcTable* table_ = nullptr;
};

TEST_F(RealOrc, TableIsTheWholeSection) {
    ASSERT_NE(table_, nullptr);
    const auto ips = (*image_)->section_named(".orc_unwind_ip");
    ASSERT_TRUE(ips.has_value());
    EXPECT_EQ(table_->size(), ips->bytes.size() / 4);
    EXPECT_GT(table_->size(), 100000u);  // every instruction boundary objtool annotated
    EXPECT_FALSE(table_->has_header()) << "6.1 predates .orc_header";
}

// The image is stripped (Debian keeps its symbols in the -dbg package), so
// entries are chosen by what they are, not by name.
std::optional<size_t> first_where(const OrcTable& t, auto pred) {
    for (size_t i = 0; i + 1 < t.size(); ++i)
        if (pred(t.entry_at(i)) && t.ip_at(i + 1) > t.ip_at(i) + 1) return i;
    return std::nullopt;
}

// The table alone, over every address it covers, unmoved.
KernelOrc whole(const OrcTable& t) {
    KernelOrc k;
    k.add(t.ip_at(0), ~0ull, &t, 0);
    return k;
}

bool plain_call(const OrcEntry& e) {
    return e.type == OrcEntry::Type::call && e.sp_reg == static_cast<uint8_t>(OrcEntry::Reg::sp) && e.sp_offset > 8 &&
           e.bp_reg == static_cast<uint8_t>(OrcEntry::Reg::undefined);
}

// Sorted, and holding what 6.1 objtool writes: plain call frames on sp, and
// the UNWIND_HINT_EMPTY ends (sp_reg UNDEFINED with `end`) of entry code
// such as ret_from_fork (arch/x86/entry/entry_64.S).
TEST_F(RealOrc, SortedWithCallFramesAndEnds) {
    ASSERT_NE(table_, nullptr);
    size_t calls = 0, ends = 0, regs = 0;
    for (size_t i = 0; i < table_->size(); ++i) {
        if (i > 0) {
            ASSERT_LE(table_->ip_at(i - 1), table_->ip_at(i));
        }
        const OrcEntry& e = table_->entry_at(i);
        calls += e.type == OrcEntry::Type::call;
        ends += e.type == OrcEntry::Type::end_of_stack;
        regs += e.type == OrcEntry::Type::regs;
    }
    std::printf("ORC entries: %zu (call %zu, regs %zu, end %zu)\n", table_->size(), calls, regs, ends);
    EXPECT_GT(calls, table_->size() / 2);
    EXPECT_GT(ends, 0u);
    EXPECT_GT(regs, 0u);
    const auto first = table_->find(table_->ip_at(0));
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(table_->find(table_->ip_at(0) - 1).has_value()) << "below the first entry";
}

// A table given out of order (a module's, or an image built without
// BUILDTIME_TABLE_SORT) is sorted with each entry kept on its ip, equal ips in
// file order; one given in order is the same table.
TEST(OrcTableOrder, UnsortedIpsKeepTheirEntries) {
    const auto entries_for = [](std::initializer_list<int16_t> sp_offsets) {
        std::vector<std::byte> out;
        for (int16_t sp : sp_offsets) {
            std::byte e[6] = {};
            std::memcpy(e, &sp, 2);
            out.insert(out.end(), e, e + 6);
        }
        return out;
    };
    const auto sorted_entries = entries_for({8, 16, 24, 32});
    auto sorted = OrcTable::from_ips({0x10, 0x20, 0x20, 0x30}, sorted_entries, true);
    const auto shuffled_entries = entries_for({32, 16, 8, 24});
    auto shuffled = OrcTable::from_ips({0x30, 0x20, 0x10, 0x20}, shuffled_entries, true);
    ASSERT_TRUE(sorted.ok() && shuffled.ok());
    ASSERT_EQ(shuffled->size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(shuffled->ip_at(i), sorted->ip_at(i)) << i;
        EXPECT_EQ(shuffled->entry_at(i).sp_offset, sorted->entry_at(i).sp_offset) << i;
    }
    EXPECT_EQ(shuffled->find(0x2f)->sp_offset, 24);  // the last of the equal ips
    EXPECT_FALSE(shuffled->find(0xf).has_value());
}

// The walker on a hand-made stack: one real call frame returning into real
// code whose entry is an ORC end, then the same stack with bounds that cut
// off the return address slot.
TEST_F(RealOrc, WalkFollowsEntriesToTheEndAndRefusesOffStackSlots) {
    ASSERT_NE(table_, nullptr);
    const auto call = first_where(*table_, plain_call);
    const auto end = first_where(*table_, [](const OrcEntry& e) { return e.type == OrcEntry::Type::end_of_stack; });
    ASSERT_TRUE(call && end);
    const OrcEntry& e = table_->entry_at(*call);
    const uint64_t ip = table_->ip_at(*call) + 1;      // a return address: looked up at ip - 1
    const uint64_t ret = table_->ip_at(*end) + 1;      // ditto, inside the end entry
    const uint64_t low = 0xffffc90000000000, high = low + 0x4000;
    const uint64_t sp = low + 0x3000;
    BufferMemory mem;
    std::vector<std::byte> stack(0x4000);
    const uint64_t slot = sp + static_cast<uint64_t>(e.sp_offset) - 8;
    std::memcpy(stack.data() + (slot - low), &ret, 8);
    mem.add(low, stack);
    OrcWalkLimits limits;
    limits.stack_low = low;
    limits.stack_high = high;
    const OrcWalk w = orc_walk(mem, whole(*table_), {ip, sp, 0, false}, limits);
    ASSERT_EQ(w.end, OrcWalk::End::end_of_stack) << w.detail;
    ASSERT_EQ(w.frames.size(), 2u);
    EXPECT_EQ(w.frames[1].ip, ret);
    EXPECT_EQ(w.frames[1].sp, sp + static_cast<uint64_t>(e.sp_offset));

    limits.stack_high = slot;  // the slot lies just past the stack's end
    const OrcWalk cut = orc_walk(mem, whole(*table_), {ip, sp, 0, false}, limits);
    EXPECT_EQ(cut.end, OrcWalk::End::failed);
    EXPECT_NE(cut.detail.find("off the task's stack"), std::string::npos) << cut.detail;

    // A return address below every entry has no ORC: the walk fails there.
    const OrcWalk nowhere = orc_walk(mem, whole(*table_), {0x1000, sp, 0, false}, limits);
    EXPECT_EQ(nowhere.end, OrcWalk::End::failed);
    EXPECT_NE(nowhere.detail.find("no ORC entry"), std::string::npos) << nowhere.detail;
}

}  // namespace
}  // namespace lpsafe

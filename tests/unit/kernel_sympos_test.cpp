// Livepatch sympos on kernel patch targets, as kernel/livepatch/core.c
// klp_find_object_symbol() resolves them: on real kallsyms lines of the
// development machine's kernel (the capture fixtures/kernel/6.18.44-fc-v669.lpk),
// where the local name type_show exists ten times in vmlinux.
#include <gtest/gtest.h>

#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

// Every type_show line of that kallsyms with its successor (a symbol's size
// runs to the next address), plus cmdline_proc_show and _text.
constexpr const char* kTypeShow = R"(ffffffff81000000 T _text
ffffffff81000000 T __pi__text
ffffffff813068a0 t type_show
ffffffff81306a00 T __pfx_e820__mapped_any
ffffffff81397930 t type_show
ffffffff81397970 t __pfx_force_show
ffffffff813eaf90 t type_show
ffffffff813eb010 t __pfx_chip_name_show
ffffffff81566eb0 t type_show
ffffffff81566ee0 t __pfx_cpumask_show
ffffffff816a8fc0 t type_show
ffffffff816a9040 t __pfx_nr_filters_show
ffffffff817876b0 t cmdline_proc_show
ffffffff81787700 t __pfx_c_next
ffffffff81d1d740 t type_show
ffffffff81d1d7a0 t __pfx_uartclk_show
ffffffff81d61390 t type_show
ffffffff81d613f0 t __pfx_id_show
ffffffff81dfb9b0 t type_show
ffffffff81dfb9e0 t __pfx_trip_point_hyst_show
ffffffff81e14ce0 t type_show
ffffffff81e14d10 t __pfx_end_show
ffffffff81eb26a0 t type_show
ffffffff81eb2700 t __pfx_group_show
)";

const Kallsyms& kallsyms() {
    static const Kallsyms k = std::move(Kallsyms::parse(kTypeShow)).value();
    return k;
}

Result<ResolvedPatchSet> resolve(const PatchTarget& t) {
    PatchSet set;
    EXPECT_TRUE(set.add_target(t).ok());
    return resolve_kernel_patch_set(set, kallsyms());
}

TEST(KernelSympos, TheNthSymbolOfTheNameInKallsymsOrder) {
    auto third = resolve({"vmlinux", "type_show", 3});
    ASSERT_TRUE(third.ok()) << third.error().message;
    ASSERT_EQ(third->ranges.size(), 1u);
    EXPECT_EQ(third->ranges[0].start, 0xffffffff813eaf90u);
    EXPECT_EQ(third->ranges[0].end, 0xffffffff813eb010u);
    EXPECT_EQ(third->ranges[0].object, "vmlinux");
    auto last = resolve({"vmlinux", "type_show", 10});
    ASSERT_TRUE(last.ok()) << last.error().message;
    ASSERT_EQ(last->ranges.size(), 1u);
    EXPECT_EQ(last->ranges[0].start, 0xffffffff81eb26a0u);
    EXPECT_EQ(last->ranges[0].end, 0xffffffff81eb2700u);
}

TEST(KernelSympos, ZeroNeedsAUniqueNameInTheObject) {
    auto ambiguous = resolve({"vmlinux", "type_show", 0});
    ASSERT_FALSE(ambiguous.ok());
    EXPECT_NE(ambiguous.error().message.find("unresolvable ambiguity"), std::string::npos) << ambiguous.error().message;
    EXPECT_NE(ambiguous.error().message.find("10 symbols"), std::string::npos) << ambiguous.error().message;
    auto unique = resolve({"vmlinux", "cmdline_proc_show", 0});
    ASSERT_TRUE(unique.ok()) << unique.error().message;
    ASSERT_EQ(unique->ranges.size(), 1u);
    EXPECT_EQ(unique->ranges[0].start, 0xffffffff817876b0u);
    // sympos 1 of a unique name is that name (the kernel's sysfs shows ",1").
    auto first = resolve({"vmlinux", "cmdline_proc_show", 1});
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->ranges[0].start, 0xffffffff817876b0u);
}

TEST(KernelSympos, APositionPastTheLastSymbolFails) {
    auto past = resolve({"vmlinux", "type_show", 11});
    ASSERT_FALSE(past.ok());
    EXPECT_NE(past.error().message.find("symbol position 11"), std::string::npos) << past.error().message;
    EXPECT_NE(past.error().message.find("10 symbols"), std::string::npos) << past.error().message;
    auto second = resolve({"vmlinux", "cmdline_proc_show", 2});
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().message.find("1 symbol has"), std::string::npos) << second.error().message;
}

TEST(KernelSympos, WithoutAnObjectEveryMatchIsChecked) {
    PatchSet set;
    ASSERT_TRUE(set.add_spec("type_show").ok());
    auto all = resolve_kernel_patch_set(set, kallsyms());
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(all->ranges.size(), 10u);
    PatchSet positioned;
    ASSERT_TRUE(positioned.add_spec("type_show,2").ok());
    EXPECT_FALSE(resolve_kernel_patch_set(positioned, kallsyms()).ok());
}

TEST(KernelSympos, SpecsReadTheSysfsForm) {
    PatchSet set;
    ASSERT_TRUE(set.add_spec("vmlinux:type_show,3").ok());
    ASSERT_EQ(set.targets().size(), 1u);
    EXPECT_EQ(set.targets()[0].function, "type_show");
    EXPECT_EQ(set.targets()[0].sympos, 3u);
    EXPECT_EQ(set.targets()[0].spec(), "vmlinux:type_show,3");
    EXPECT_FALSE(set.add_spec("vmlinux:type_show,0").ok());
    ASSERT_TRUE(set.add_spec("ns::pair<a,b>::get").ok());  // not digits: part of a C++ name
    EXPECT_EQ(set.targets()[1].function, "ns::pair<a,b>::get");
    EXPECT_EQ(set.targets()[1].sympos, 0u);
}

TEST(KernelSympos, ListingOrderIsKept) {
    const auto named = kallsyms().named_in_listing_order("type_show", "vmlinux");
    ASSERT_EQ(named.size(), 10u);
    for (size_t i = 1; i < named.size(); ++i) EXPECT_LT(named[i - 1]->line, named[i]->line);
}

}  // namespace
}  // namespace lpsafe

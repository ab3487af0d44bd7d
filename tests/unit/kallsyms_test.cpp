// The kallsyms table on real /proc/kallsyms lines (tests/unit/kernel_excerpt.h)
// and on the machine's own /proc/kallsyms when it is readable.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kernel_excerpt.h"
#include "lpsafe/kallsyms.h"

namespace lpsafe {
namespace {

Kallsyms excerpt() {
    auto k = Kallsyms::parse(test::kKallsymsExcerpt);
    EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().message);
    return std::move(*k);
}

TEST(Kallsyms, SizeRunsToTheNextHigherAddress) {
    const Kallsyms k = excerpt();
    const auto pause = k.named("__do_sys_pause", "vmlinux");
    ASSERT_EQ(pause.size(), 1u);
    EXPECT_EQ(pause[0]->addr, 0xffffffff813755d0u);
    // The kernel printed __do_sys_pause+0x2a/0x50: aliases at the same
    // address do not end the symbol.
    EXPECT_EQ(pause[0]->size, 0x50u);
    EXPECT_EQ(k.named("hrtimer_nanosleep", "")[0]->size, 0xf0u);
    EXPECT_EQ(k.named("anon_pipe_read", "")[0]->size, 0x410u);
}

TEST(Kallsyms, LookupPrefersTheFirstAlias) {
    const Kallsyms k = excerpt();
    const KernelSymbol* s = k.at(0xffffffff813755d0u + 0x29);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->name, "__do_sys_pause");
    EXPECT_EQ(k.at(0xffffffff80000000u), nullptr);
}

TEST(Kallsyms, SchedAndLockTextBounds) {
    const Kallsyms k = excerpt();
    ASSERT_EQ(k.sched_ranges().size(), 2u);
    EXPECT_TRUE(k.in_sched_functions(0xffffffff821fa6c0u + 0x10));  // __schedule
    EXPECT_TRUE(k.in_sched_functions(0xffffffff82203150u + 0x4));   // _raw_spin_lock_irqsave
    EXPECT_FALSE(k.in_sched_functions(0xffffffff81421c60u + 0x74)); // hrtimer_nanosleep
    EXPECT_EQ(k.text_start(), 0xffffffff81000000u);
}

TEST(Kallsyms, ModulesAreNamedAndSeparate) {
    const Kallsyms k = excerpt();
    EXPECT_TRUE(k.has_module("__builtin__ftrace"));
    EXPECT_FALSE(k.has_module("ext4"));
    EXPECT_EQ(k.named("ftrace_trampoline", "vmlinux").size(), 0u);
    ASSERT_EQ(k.named("ftrace_trampoline", "__builtin__ftrace").size(), 1u);
    EXPECT_EQ(k.named_anywhere("ftrace_trampoline").size(), 1u);
}

TEST(Kallsyms, RejectsGarbageAndHiddenAddresses) {
    EXPECT_FALSE(Kallsyms::parse("").ok());
    EXPECT_FALSE(Kallsyms::parse("hello world\n").ok());
    EXPECT_FALSE(Kallsyms::parse("ffffffff81000000 TT _text\n").ok());
    EXPECT_FALSE(Kallsyms::parse("ffffffff81000000 T\n").ok());
    EXPECT_FALSE(Kallsyms::parse("ffffffff81000000 T f [mod\n").ok());
    EXPECT_FALSE(Kallsyms::parse("\x01\x02\xff garbage \x7f\n").ok());
    // What an unprivileged reader sees with kptr_restrict: nothing resolvable.
    auto hidden = Kallsyms::parse("0000000000000000 T _text\n0000000000000000 T schedule\n");
    ASSERT_FALSE(hidden.ok());
    EXPECT_NE(hidden.error().message.find("kptr_restrict"), std::string::npos);
}

TEST(Kallsyms, ParsesTheRunningKernel) {
    std::ifstream in("/proc/kallsyms");
    std::stringstream ss;
    ss << in.rdbuf();
    auto k = Kallsyms::parse(ss.str());
    if (!k.ok() && k.error().message.find("kptr_restrict") != std::string::npos) GTEST_SKIP() << k.error().message;
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_GT(k->symbols().size(), 10000u);
    EXPECT_TRUE(k->text_start().has_value());
    EXPECT_FALSE(k->named("schedule", "vmlinux").empty());
}

}  // namespace
}  // namespace lpsafe

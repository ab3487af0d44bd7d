// The kallsyms table on real /proc/kallsyms lines (tests/unit/kernel_excerpt.h)
// and on the machine's own /proc/kallsyms when it is readable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
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

TEST(Kallsyms, RejectsTextWithNoSymbolAndHiddenAddresses) {
    EXPECT_FALSE(Kallsyms::parse("").ok());
    auto garbage = Kallsyms::parse("hello world\n\x01\x02\xff garbage \x7f\n");
    ASSERT_FALSE(garbage.ok());
    EXPECT_NE(garbage.error().message.find("no line lpsafe can read"), std::string::npos) << garbage.error().message;
    // What an unprivileged reader sees with kptr_restrict: nothing resolvable.
    auto hidden = Kallsyms::parse("0000000000000000 T _text\n0000000000000000 T schedule\n");
    ASSERT_FALSE(hidden.ok());
    EXPECT_NE(hidden.error().message.find("kptr_restrict"), std::string::npos);
}

// Lines the kernel really emits beyond plain nm letters: a livepatch
// module's full symtab on 6.1 ('?' for symbols outside allocated sections),
// BPF programs and ftrace/kprobe trampolines as pseudo-modules.
TEST(Kallsyms, ReadsEveryKindOfLineTheKernelEmits) {
    auto k = Kallsyms::parse(
        "ffffffff81000000 T _text\n"
        "ffffffff81100000 T schedule\n"
        "ffffffffc0a00000 t livepatch_hrtimer_nanosleep\t[lp_hrsleep]\n"
        "ffffffffc0a00100 ? __UNIQUE_ID_depends197\t[lp_hrsleep]\n"
        "ffffffffc0a00200 ? ____versions\t[lp_hrsleep]\n"
        "ffffffffc0b00000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]\n"
        "ffffffffc0c00000 t ftrace_trampoline\t[__builtin__ftrace]\n"
        "ffffffffc0d00000 t kprobe_insn_page\t[__builtin__kprobes]\n"
        "ffffffffc0e00000 u __pfx_unique\t[m]\n");
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_EQ(k->symbols().size(), 9u);
    EXPECT_EQ(k->skipped_lines(), 0u);
    const auto q = k->named("__UNIQUE_ID_depends197", "lp_hrsleep");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0]->type, '?');
    EXPECT_FALSE(q[0]->is_text());
    EXPECT_TRUE(k->has_module("bpf"));
    EXPECT_TRUE(k->has_module("__builtin__kprobes"));
}

// One odd line never sinks the table: it is skipped with a note, and its
// name is remembered so that sympos (which counts same-name symbols) fails.
TEST(Kallsyms, SkipsAnOddLineWithANote) {
    auto k = Kallsyms::parse(
        "ffffffff81000000 T _text\n"
        "ffffffff81100000 TT weird_type\n"
        "zzzz T bad_address\n"
        "ffffffff81200000 T f [mod\n"
        "ffffffff81300000 T\n"
        "ffffffff81400000 T schedule extra fields here\n"
        "\x01\x02\xff garbage \x7f\n"
        "ffffffff81500000 T schedule\n");
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_EQ(k->symbols().size(), 2u);
    EXPECT_EQ(k->skipped_lines(), 6u);
    ASSERT_EQ(k->notes().size(), 6u);
    EXPECT_NE(k->notes()[0].find("line 2"), std::string::npos) << k->notes()[0];
    EXPECT_NE(k->notes()[0].find("line skipped"), std::string::npos);
    // Unprintable bytes never reach a note.
    for (const std::string& n : k->notes()) {
        EXPECT_TRUE(std::all_of(n.begin(), n.end(), [](char c) { return std::isprint(static_cast<unsigned char>(c)); }));
    }
    EXPECT_TRUE(k->name_was_skipped("schedule"));
    EXPECT_TRUE(k->name_was_skipped("bad_address"));
    EXPECT_FALSE(k->name_was_skipped("_text"));
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

// A dump's module symbols are appended to its image's table: the result
// must be the very table parsing the two texts as one gives (order, sizes,
// listing order for sympos, notes), or a module frame could resolve to a
// different symbol than /proc's check would.
TEST(Kallsyms, AppendingIsParsingTheWholeText) {
    std::ifstream in("/proc/kallsyms");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string image = ss.str();
    if (!Kallsyms::parse(image).ok()) image = test::kKallsymsExcerpt;  // kptr_restrict: the excerpt
    // Module symbols as /proc lists them: symtab order (not sorted), a name
    // the image also has, a name twice in one module, one odd line.
    const std::string modules =
        "ffffffffc0a02000 t helper\t[lp_a]\n"
        "ffffffffc0a01000 T schedule\t[lp_a]\n"
        "ffffffffc0a03000 t helper\t[lp_a]\n"
        "ffffffffc0a01000 t alias_of_schedule\t[lp_a]\n"
        "zzzz t not_a_symbol\t[lp_a]\n"
        "ffffffffc0900000 T mod_b_fn\t[lp_b]\n"
        "ffffffffc0900040 ? __UNIQUE_ID_depends197\t[lp_b]\n";
    auto whole = Kallsyms::parse(image + modules);
    auto first = Kallsyms::parse(image);
    ASSERT_TRUE(whole.ok() && first.ok());
    first->append(modules);
    const auto& a = whole->symbols();
    const auto& b = first->symbols();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(a[i].addr, b[i].addr) << i;
        ASSERT_EQ(a[i].size, b[i].size) << i;
        ASSERT_EQ(a[i].type, b[i].type) << i;
        ASSERT_EQ(a[i].name, b[i].name) << i;
        ASSERT_EQ(a[i].module, b[i].module) << i;
        ASSERT_EQ(a[i].line, b[i].line) << i;
    }
    EXPECT_EQ(whole->notes(), first->notes());
    EXPECT_EQ(whole->skipped_lines(), first->skipped_lines());
    EXPECT_TRUE(first->name_was_skipped("not_a_symbol"));
    ASSERT_EQ(whole->sched_ranges().size(), first->sched_ranges().size());
    const auto helpers = first->named_in_listing_order("helper", "lp_a");
    ASSERT_EQ(helpers.size(), 2u);
    EXPECT_EQ(helpers[0]->addr, 0xffffffffc0a02000u);  // sympos 1 is the first listed, not the lowest
    EXPECT_EQ(first->at(0xffffffffc0a01010)->name, "schedule");
    EXPECT_EQ(first->named("schedule", "lp_a").size(), 1u);
    EXPECT_EQ(first->named("schedule", "vmlinux").size(), whole->named("schedule", "vmlinux").size());
    EXPECT_TRUE(first->has_module("lp_b"));
    // The last module symbol runs to nothing: size 0, as parse() has it.
    EXPECT_EQ(first->named("mod_b_fn", "lp_b")[0]->size, 0x40u);
}

}  // namespace
}  // namespace lpsafe

// The ranges a livepatch transition really checks (kernel/livepatch/
// transition.c klp_check_stack_func()), on kallsyms lines shaped like a 6.1
// kernel with two livepatch modules loaded (full symtabs, '?' symbols).
#include <gtest/gtest.h>

#include <algorithm>

#include "lpsafe/klp_transition.h"

namespace lpsafe {
namespace {

constexpr const char* kKallsyms =
    "ffffffff81000000 T _text\n"
    "ffffffff81100000 T hrtimer_nanosleep\n"
    "ffffffff81100100 T pipe_read\n"
    "ffffffff81100200 T cmdline_proc_show\n"
    "ffffffff81100300 T vfs_read\n"
    "ffffffffc0a00000 t livepatch_hrtimer_nanosleep\t[lp_a]\n"
    "ffffffffc0a00080 t lp_a_init\t[lp_a]\n"
    "ffffffffc0a00100 ? __UNIQUE_ID_depends197\t[lp_a]\n"
    "ffffffffc0a01000 d lp_a_data\t[lp_a]\n"
    "ffffffffc0b00000 t livepatch_pipe_read\t[lp_b]\n"
    "ffffffffc0b00100 r ____versions\t[lp_b]\n";

Kallsyms table() {
    auto k = Kallsyms::parse(kKallsyms);
    EXPECT_TRUE(k.ok());
    return std::move(*k);
}

PatchTarget vmlinux(const char* fn) { return {"vmlinux", fn, 0}; }

std::vector<std::string> functions(const ResolvedPatchSet& r) {
    std::vector<std::string> out;
    for (const PatchedRange& p : r.ranges) out.push_back(p.object + ":" + p.function);
    std::sort(out.begin(), out.end());
    return out;
}

// Loaded as sysfs lists them: sympos 1 for old_sympos 0.
std::vector<LoadedLivepatch> loaded() {
    return {{"lp_a", true, {{"vmlinux", "hrtimer_nanosleep", 1}}}, {"lp_b", true, {{"vmlinux", "pipe_read", 1}}}};
}

TEST(KlpTransition, AnUnpatchedFunctionIsCheckedAtItsOriginalCode) {
    const Kallsyms k = table();
    KlpTransition t;
    t.targets = {vmlinux("cmdline_proc_show")};
    auto r = resolve_klp_transition(t, loaded(), k);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(functions(*r), std::vector<std::string>{"vmlinux:cmdline_proc_show"});
    EXPECT_TRUE(r->ranges[0].stands_for.empty());
}

// prev->new_func: the loaded patch's code, not the original, is what runs.
TEST(KlpTransition, AnAlreadyPatchedFunctionIsCheckedAtThePreviousNewFunction) {
    const Kallsyms k = table();
    KlpTransition t;
    t.targets = {vmlinux("hrtimer_nanosleep")};
    auto r = resolve_klp_transition(t, loaded(), k);
    ASSERT_TRUE(r.ok()) << r.error().message;
    // Every text symbol of lp_a stands for its new function; '?' and data do not.
    EXPECT_EQ(functions(*r), (std::vector<std::string>{"lp_a:livepatch_hrtimer_nanosleep", "lp_a:lp_a_init"}));
    EXPECT_NE(r->ranges[0].stands_for.find("prev->new_func"), std::string::npos);
}

// .replace: every older function the new patch leaves out gets a nop,
// checked at that older patch's new function.
TEST(KlpTransition, AtomicReplaceAlsoChecksTheFunctionsItReverts) {
    const Kallsyms k = table();
    KlpTransition t;
    t.targets = {vmlinux("cmdline_proc_show")};
    t.replace = true;
    auto r = resolve_klp_transition(t, loaded(), k);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(functions(*r), (std::vector<std::string>{"lp_a:livepatch_hrtimer_nanosleep", "lp_a:lp_a_init",
                                                       "lp_b:livepatch_pipe_read", "vmlinux:cmdline_proc_show"}));
    t.replace = false;
    EXPECT_EQ(functions(*resolve_klp_transition(t, loaded(), k)), std::vector<std::string>{"vmlinux:cmdline_proc_show"});
}

// While its own transition is in progress the patch is loaded and enabled,
// but it is not the previous patch: the kernel still checks the original.
TEST(KlpTransition, ThePatchBeingEnabledIsNotItsOwnPreviousPatch) {
    const Kallsyms k = table();
    KlpTransition t;
    t.targets = {vmlinux("pipe_read")};
    t.own_modules = {"lp_b"};
    auto r = resolve_klp_transition(t, loaded(), k);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(functions(*r), std::vector<std::string>{"vmlinux:pipe_read"});
    t.replace = true;  // and its own functions are no nops either
    EXPECT_EQ(functions(*resolve_klp_transition(t, loaded(), k)),
              (std::vector<std::string>{"lp_a:livepatch_hrtimer_nanosleep", "lp_a:lp_a_init", "vmlinux:pipe_read"}));
}

TEST(KlpTransition, DisablingChecksThePatchsOwnNewFunctions) {
    const Kallsyms k = table();
    KlpTransition t;
    t.direction = KlpTransition::Direction::disable;
    t.module = "lp_b";
    auto r = resolve_klp_transition(t, loaded(), k);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(functions(*r), std::vector<std::string>{"lp_b:livepatch_pipe_read"});
    t.module = "lp_c";
    EXPECT_FALSE(resolve_klp_transition(t, loaded(), k).ok());
}

TEST(KlpTransition, ADisabledPatchNoLongerStandsForTheFunction) {
    const Kallsyms k = table();
    auto l = loaded();
    l[0].enabled = false;
    KlpTransition t;
    t.targets = {vmlinux("hrtimer_nanosleep")};
    EXPECT_EQ(functions(*resolve_klp_transition(t, l, k)), std::vector<std::string>{"vmlinux:hrtimer_nanosleep"});
}

}  // namespace
}  // namespace lpsafe

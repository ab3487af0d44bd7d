// /proc stack parsing and the kernel task checks, on real listings and
// kallsyms lines of the development machine (kernel_excerpt.h), and on the
// ways such input goes wrong.
#include <gtest/gtest.h>

#include "kernel_excerpt.h"
#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

const Kallsyms& kallsyms() {
    static const Kallsyms k = std::move(Kallsyms::parse(test::kKallsymsExcerpt)).value();
    return k;
}

KernelTask sleeping(const char* stack, const char* wchan) {
    KernelTask t;
    t.pid = 100;
    t.tid = 101;
    t.comm = "kparked";
    t.state = "S";
    if (wchan != nullptr) t.wchan = wchan;
    t.stack = stack;
    return t;
}

ResolvedPatchSet patch(std::initializer_list<const char*> specs) {
    PatchSet set;
    for (const char* s : specs) EXPECT_TRUE(set.add_spec(s).ok());
    auto r = resolve_kernel_patch_set(set, kallsyms());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ResolvedPatchSet{};
}

bool has_finding(const TaskVerdict& v, Check c) {
    for (const Finding& f : v.findings) {
        if (f.check == c) return true;
    }
    return false;
}

TEST(ProcStackLine, ParsesRealLines) {
    auto e = parse_stack_line("[<0>] hrtimer_nanosleep+0x74/0xf0");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->function, "hrtimer_nanosleep");
    EXPECT_EQ(e->offset, 0x74u);
    EXPECT_EQ(e->size, 0xf0u);
    EXPECT_EQ(e->module, "");
    auto m = parse_stack_line("[<0>] ep_poll+0x3e9/0x450 [mymod]");
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->module, "mymod");
    auto c = parse_stack_line("[<0>] poll_schedule_timeout.constprop.0+0x4a/0x90");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->function, "poll_schedule_timeout.constprop.0");
    auto raw = parse_stack_line("[<0>] 0xffffffffc0a01234");
    ASSERT_TRUE(raw.ok());
    EXPECT_TRUE(raw->function.empty());
    EXPECT_EQ(raw->raw_address, 0xffffffffc0a01234u);
}

TEST(ProcStackLine, RejectsGarbage) {
    for (const char* bad : {"", "hrtimer_nanosleep+0x74/0xf0", "[<0>] hrtimer_nanosleep", "[<0>] f+0x7g/0x10",
                            "[<0>] f+0x1/0x10 [mod", "[<0>] +0x1/0x2", "\xff\xfe\x00garbage", "[<0>] 0xzz"}) {
        EXPECT_FALSE(parse_stack_line(bad).ok()) << bad;
    }
    auto text = parse_stack_text("[<0>] f+0x1/0x10\nnonsense\n");
    ASSERT_FALSE(text.ok());
    EXPECT_NE(text.error().message.find("line 2"), std::string::npos);
}

TEST(KernelCheck, ParkedInPauseIsBlockedByItsSyscallFunction) {
    const TaskVerdict v = check_kernel_task(sleeping(test::kPauseStack, "__do_sys_pause"), kallsyms(),
                                            patch({"vmlinux:__do_sys_pause"}));
    EXPECT_EQ(v.verdict, VerdictKind::blocked);
    ASSERT_EQ(v.blocked_by.size(), 1u);
    EXPECT_EQ(v.blocked_by[0].frame, 0);
    EXPECT_EQ(v.blocked_by[0].function, "__do_sys_pause");
    ASSERT_EQ(v.frames.size(), 3u);
    EXPECT_EQ(v.frames[0].pc, 0xffffffff813755d0u + 0x2a);
    EXPECT_EQ(v.frames[0].method, UnwindMethod::listed);
    EXPECT_EQ(v.end.kind, StackEnd::Kind::outermost);
    ASSERT_EQ(v.skipped.size(), 1u);
    EXPECT_EQ(v.skipped[0].check, Check::return_after_call);
}

TEST(KernelCheck, SafeWhenNoFrameIsPatched) {
    const auto p = patch({"anon_pipe_read"});
    EXPECT_EQ(check_kernel_task(sleeping(test::kNanosleepStack, "hrtimer_nanosleep"), kallsyms(), p).verdict,
              VerdictKind::safe);
    EXPECT_EQ(check_kernel_task(sleeping(test::kKworkerStack, "worker_thread"), kallsyms(), p).verdict,
              VerdictKind::safe);
    EXPECT_EQ(check_kernel_task(sleeping(test::kPipeStack, nullptr), kallsyms(), p).verdict, VerdictKind::blocked);
}

TEST(KernelCheck, StrictTurnsTheSkippedCheckIntoAFinding) {
    const TaskVerdict v =
        check_kernel_task(sleeping(test::kPauseStack, nullptr), kallsyms(), patch({"anon_pipe_read"}), {nullptr, true});
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(has_finding(v, Check::return_after_call));
}

TEST(KernelCheck, RunningReaderGoneAndUnreadableAreNotJudged) {
    KernelTask t = sleeping(test::kPauseStack, nullptr);
    t.state = "R";
    EXPECT_EQ(check_kernel_task(t, kallsyms(), {}).verdict, VerdictKind::running);
    t.state = "S";
    t.is_reader = true;
    EXPECT_EQ(check_kernel_task(t, kallsyms(), {}).verdict, VerdictKind::running);
    t.is_reader = false;
    t.state = "Z";
    EXPECT_EQ(check_kernel_task(t, kallsyms(), {}).verdict, VerdictKind::gone);
    t.state = "S";
    t.status = CaptureStatus::unreadable;
    t.status_reason = "stack: Operation not permitted";
    const TaskVerdict v = check_kernel_task(t, kallsyms(), {});
    EXPECT_EQ(v.verdict, VerdictKind::unreadable);
    EXPECT_EQ(v.reason, "stack: Operation not permitted");
}

TEST(KernelCheck, EverySleepingStateIsChecked) {
    for (const char* s : {"S", "D", "I", "T", "t"}) {
        KernelTask t = sleeping(test::kPauseStack, nullptr);
        t.state = s;
        EXPECT_EQ(check_kernel_task(t, kallsyms(), {}).verdict, VerdictKind::safe) << s;
    }
    KernelTask odd = sleeping(test::kPauseStack, nullptr);
    odd.state = "?";
    EXPECT_EQ(check_kernel_task(odd, kallsyms(), {}).verdict, VerdictKind::unreliable);
}

TEST(KernelCheck, UnresolvableOrMismatchedEntriesAreUnreliable) {
    const char* unknown = "[<0>] no_such_function+0x10/0x20\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    const char* bad_size = "[<0>] __do_sys_pause+0x2a/0x60\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    const char* past_end = "[<0>] __do_sys_pause+0x51/0x50\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    const char* raw = "[<0>] 0xffffffffc0a01234\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    for (const char* stack : {unknown, bad_size, past_end, raw}) {
        const TaskVerdict v = check_kernel_task(sleeping(stack, nullptr), kallsyms(), {});
        EXPECT_EQ(v.verdict, VerdictKind::unreliable) << stack;
        EXPECT_TRUE(has_finding(v, Check::executable)) << stack;
    }
}

TEST(KernelCheck, BottomMustBeAKnownStackEnd) {
    // A listing that stops inside do_syscall_64 was cut short.
    const char* cut = "[<0>] __do_sys_pause+0x2a/0x50\n[<0>] do_syscall_64+0x71/0x280\n";
    const TaskVerdict v = check_kernel_task(sleeping(cut, nullptr), kallsyms(), {});
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(has_finding(v, Check::bottom));
    EXPECT_EQ(v.end.kind, StackEnd::Kind::failed);
}

TEST(KernelCheck, SixtyFourEntriesAreTruncated) {
    std::string deep;
    for (int i = 0; i < 63; ++i) deep += "[<0>] vfs_read+0x32c/0x360\n";
    deep += "[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    const TaskVerdict v = check_kernel_task(sleeping(deep.c_str(), nullptr), kallsyms(), {});
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_EQ(v.end.kind, StackEnd::Kind::depth_limit);
}

TEST(KernelCheck, TopMustNotBeSchedulerTextAndMustAgreeWithWchan) {
    const char* sched_top = "[<0>] schedule+0x27/0xa0\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
    const TaskVerdict v = check_kernel_task(sleeping(sched_top, nullptr), kallsyms(), {});
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(has_finding(v, Check::top));
    const TaskVerdict moved = check_kernel_task(sleeping(test::kPauseStack, "anon_pipe_read"), kallsyms(), {});
    EXPECT_EQ(moved.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(has_finding(moved, Check::top));
    const TaskVerdict empty = check_kernel_task(sleeping("", nullptr), kallsyms(), {});
    EXPECT_EQ(empty.verdict, VerdictKind::unreliable);
    const TaskVerdict garbage = check_kernel_task(sleeping("\x01\x02 garbage\n", nullptr), kallsyms(), {});
    EXPECT_EQ(garbage.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(has_finding(garbage, Check::unwind));
}

TEST(KernelPatchSet, ResolvesAgainstKallsyms) {
    const auto p = patch({"__do_sys_pause", "vmlinux:hrtimer_nanosleep", "ext4:ext4_file_read_iter"});
    ASSERT_EQ(p.ranges.size(), 2u);
    EXPECT_EQ(p.ranges[0].start, 0xffffffff813755d0u);
    EXPECT_EQ(p.ranges[0].end, 0xffffffff813755d0u + 0x50);
    EXPECT_EQ(p.ranges[0].object, "vmlinux");
    ASSERT_EQ(p.not_loaded.size(), 1u);  // ext4 is not loaded
    PatchSet typo;
    ASSERT_TRUE(typo.add_spec("hrtimer_nanoslep").ok());
    EXPECT_FALSE(resolve_kernel_patch_set(typo, kallsyms()).ok());
}

TEST(KernelCheck, WholeSystemReportCountsEveryTask) {
    std::vector<KernelTask> tasks = {sleeping(test::kPauseStack, nullptr), sleeping(test::kPipeStack, nullptr)};
    tasks[1].tid = 102;
    PatchSet set;
    ASSERT_TRUE(set.add_spec("anon_pipe_read").ok());
    auto r = check_kernel(tasks, kallsyms(), set);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->summary.safe, 1);
    EXPECT_EQ(r->summary.blocked, 1);
    EXPECT_EQ(exit_status(r->summary), 1);
}

}  // namespace
}  // namespace lpsafe

// End-to-end: real programs, real cores (gcore and the kernel), exact
// verdicts per thread against the hand-written parked.expect, frames against
// eu-stack as an independent peer, and the command's exit statuses and JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "lpsafe/arch.h"
#include "overlay_memory.h"
#include "stack_expect.h"
#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;

std::string case_name(const testing::TestParamInfo<CoreCase>& info) {
    return info.param.variant + "_" + info.param.kind;
}

ProcessReport check(const CoreCase& c, const std::vector<std::string>& funcs) {
    auto process = readers::read_core(c.core(), {c.exe(), ""});
    EXPECT_TRUE(process.ok()) << (process.ok() ? "" : process.error().message);
    if (!process.ok()) return {};
    PatchSet patch;
    for (const auto& f : funcs) EXPECT_TRUE(patch.add_spec(f).ok());
    auto report = check_process(*process, patch);
    EXPECT_TRUE(report.ok()) << (report.ok() ? "" : report.error().message);
    return report.ok() ? *report : ProcessReport{};
}

class CoreFixture : public testing::TestWithParam<CoreCase> {
protected:
    void SetUp() override {
        if (fixtures_dir().empty()) GTEST_SKIP() << "LPSAFE_FIXTURES is not set (run through meson test)";
        if (!file_exists(GetParam().core())) {
            ASSERT_NE(GetParam().kind, "gcore") << "fixture core missing: " << GetParam().core();
            GTEST_SKIP() << "no kernel-written core for this variant on this machine: " << GetParam().core();
        }
        roles_ = read_roles(GetParam().roles());
        expect_ = read_expectations(fixtures_dir() + "/parked.expect");
        ASSERT_EQ(roles_.size(), 9u);
    }
    std::map<int, std::string> roles_;
    std::map<std::string, Expectation> expect_;
};

// A patch set that touches no parked chain: every parked thread is safe, and
// the three broken ones are unreliable for exactly their reason.
TEST_P(CoreFixture, VerdictsForAnUntouchedPatchSet) {
    expect_untouched_verdicts(check(GetParam(), {"parked:spin_outer"}), roles_, expect_, GetParam().variant == "nocfi");
}

// The overwritten return address is caught exactly where it sits: the frame
// above smash_inner, whose "return address" is spin_outer's first byte.
TEST_P(CoreFixture, SmashedReturnAddressIsUnreliableAtThatFrame) {
    const ProcessReport r = check(GetParam(), {"parked:smash_outer"});
    for (const TaskVerdict& t : r.tasks) {
        if (roles_.at(t.tid) != "smash") continue;
        const int inner = index_of(t.frames, "smash_inner");
        ASSERT_GE(inner, 0) << dump(t);
        const int bad = inner + 1;
        ASSERT_GT(static_cast<int>(t.frames.size()), bad) << dump(t);
        EXPECT_EQ(t.verdict, VerdictKind::unreliable);
        ASSERT_FALSE(t.findings.empty());
        EXPECT_EQ(t.findings.front().frame, bad) << dump(t);
        const bool ret_after_call = std::any_of(t.findings.begin(), t.findings.end(), [&](const Finding& f) {
            return f.check == Check::return_after_call && f.frame == bad;
        });
        EXPECT_TRUE(ret_after_call) << dump(t);
        // smash_outer really is on the stack but the walk never sees it: an
        // unreliable verdict, not a false "safe".
        EXPECT_EQ(index_of(t.frames, "smash_outer"), -1) << dump(t);
        return;
    }
    FAIL() << "no smash thread";
}

// Each parked thread is blocked by its own innermost function, at the frame
// where that function is, and by no other.
TEST_P(CoreFixture, EachParkedChainBlocksItsThread) {
    for (const std::string& role : kParkedRoles) {
        const std::string fn = expect_.at(role).chain.front();
        const ProcessReport r = check(GetParam(), {"parked:" + fn});
        int blocked = 0;
        for (const TaskVerdict& t : r.tasks) {
            if (t.verdict != VerdictKind::blocked) continue;
            ++blocked;
            EXPECT_EQ(roles_.at(t.tid), role) << dump(t);
            ASSERT_EQ(t.blocked_by.size(), 1u);
            EXPECT_EQ(t.blocked_by[0].function, fn);
            EXPECT_EQ(t.blocked_by[0].frame, index_of(t.frames, fn)) << dump(t);
        }
        EXPECT_EQ(blocked, 1) << "patching " << fn;
        EXPECT_EQ(r.summary.blocked, 1);
        EXPECT_EQ(r.summary.safe, 5);
        EXPECT_EQ(r.summary.unreliable, 3);
    }
}

// glibc's thread descriptors, read through libthread_db's layout objects:
// every thread pthread_create started names its own start function (the
// fixture's `<role>_thread`), the main thread none (its start_routine is 0).
TEST_P(CoreFixture, EveryThreadKnowsItsStartRoutine) {
    auto process = readers::read_core(GetParam().core(), {GetParam().exe(), ""});
    ASSERT_TRUE(process.ok()) << process.error().message;
    const std::map<std::string, std::string> start_of = {
        {"pause", "pause_thread"}, {"nanosleep", "sleep_thread"}, {"piperead", "pipe_thread"},
        {"condvar", "cond_thread"}, {"epoll", "epoll_thread"},    {"smash", "smash_thread"},
        {"spin", "spin_thread"},    {"deep", "deep_thread"},
    };
    for (const ThreadState& t : process->threads) {
        const std::string& role = roles_.at(t.tid);
        if (role == "main") {
            EXPECT_FALSE(t.start_routine.has_value()) << "main thread";
            continue;
        }
        ASSERT_TRUE(t.start_routine.has_value()) << role;
        const Module* m = process->modules.find(*t.start_routine);
        ASSERT_NE(m, nullptr) << role;
        ASSERT_TRUE(m->image);
        const Symbol* s = m->image->symbol_at(*t.start_routine - m->bias);
        ASSERT_NE(s, nullptr) << role;
        EXPECT_EQ(s->name, start_of.at(role));
        EXPECT_EQ(s->start + m->bias, *t.start_routine) << "not the function's entry";
    }
}

// The frame clone3's `call *%rdx` entered (start_thread) must be in a
// function whose address libc's code takes. start_thread's return site
// replaced by __libc_start_call_main's (after its call of main, taken from
// the main thread's own stack) fits the same frame and passes every other
// check; only that rule refuses it (docs/verdict-rules.md, bottom 4).
TEST_P(CoreFixture, ThreadStartEnteringADirectlyCalledFunctionIsUnreliable) {
    auto process = readers::read_core(GetParam().core(), {GetParam().exe(), ""});
    ASSERT_TRUE(process.ok()) << process.error().message;
    const ResolvedPatchSet none;
    std::map<std::string, TaskVerdict> by_role;
    std::map<std::string, const ThreadState*> thread;
    for (const ThreadState& t : process->threads) {
        by_role[roles_.at(t.tid)] = check_thread(*process, t, none);
        thread[roles_.at(t.tid)] = &t;
    }
    const TaskVerdict& main = by_role.at("main");
    ASSERT_EQ(main.verdict, VerdictKind::safe) << dump(main);
    ASSERT_GE(main.frames.size(), 4u);
    // main, __libc_start_call_main, __libc_start_main, _start.
    const Frame& calls_main = main.frames[main.frames.size() - 3];
    const TaskVerdict& pause = by_role.at("pause");
    ASSERT_EQ(pause.verdict, VerdictKind::safe) << dump(pause);
    const size_t last = pause.frames.size() - 1;
    ASSERT_GE(last, 2u);

    const Arch& arch = arch_of(ArchId::x86_64);
    ASSERT_NE(arch.check_address_taken, nullptr);
    const auto entry_of = [&](uint64_t pc) {
        const Module* m = process->modules.find(pc);
        EXPECT_NE(m, nullptr);
        const auto extent = m->image->function_at(pc - 1 - m->bias);
        EXPECT_TRUE(extent.has_value());
        return extent->start + m->bias;
    };
    EXPECT_EQ(arch.check_address_taken(*process, entry_of(pause.frames[last - 1].pc)).kind, RuleOutcome::Kind::pass);
    const RuleOutcome direct = arch.check_address_taken(*process, entry_of(calls_main.pc));
    EXPECT_EQ(direct.kind, RuleOutcome::Kind::fail) << direct.detail;

    // The return address into start_thread lies just below the CFA of the
    // frame start_thread called (x86_64: the call pushed it there).
    auto overlay = std::make_shared<OverlayMemory>(process->memory);
    overlay->patch_u64(pause.frames[last - 2].cfa - 8, calls_main.pc);
    ProcessImage spliced = *process;
    spliced.memory = overlay;
    const TaskVerdict v = check_thread(spliced, *thread.at("pause"), none);
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::bottom, static_cast<int>(last - 1))) << dump(v);
    EXPECT_NE(dump(v).find("entered a function no pointer reaches"), std::string::npos) << dump(v);
}

// A function in libc: every thread parked in pause() is blocked at frame 0.
TEST_P(CoreFixture, LibraryFunctionAtTheTopBlocks) {
    const ProcessReport r = check(GetParam(), {"pause"});
    for (const TaskVerdict& t : r.tasks) {
        const std::string role = roles_.at(t.tid);
        SCOPED_TRACE(role);
        if (role == "pause" || role == "main") {
            EXPECT_EQ(t.verdict, VerdictKind::blocked) << dump(t);
            ASSERT_FALSE(t.blocked_by.empty());
            EXPECT_EQ(t.blocked_by[0].frame, 0);
        } else if (role == "nanosleep" || role == "piperead" || role == "condvar" || role == "epoll") {
            EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
        }
    }
}

// Without CFI for the program's functions, the frame-pointer walker carries
// the walk, each step checked against the function's prologue.
TEST_P(CoreFixture, MethodsMatchHowTheProgramWasBuilt) {
    const ProcessReport r = check(GetParam(), {"parked:spin_outer"});
    int fp_frames = 0;
    for (const TaskVerdict& t : r.tasks) {
        for (const Frame& f : t.frames) fp_frames += f.method == UnwindMethod::fp;
    }
    if (GetParam().variant == "nocfi") {
        EXPECT_GT(fp_frames, 0);
    } else {
        EXPECT_EQ(fp_frames, 0);
    }
}

// Where the program keeps frame pointers and has CFI, every step out of its
// own functions is taken by CFI and confirmed by a frame-pointer step; where
// it omits them, no frame-pointer step is trusted.
TEST_P(CoreFixture, CfiStepsAreCrossCheckedWhereFramePointersExist) {
    const ProcessReport r = check(GetParam(), {"parked:spin_outer"});
    const std::string v = GetParam().variant;
    const bool fp_and_cfi = v == "fp" || v == "debugframe";
    const bool no_fp = v == "nofp" || v == "nog" || v == "static";
    int confirmed = 0;
    for (const TaskVerdict& t : r.tasks) {
        const std::string role = roles_.at(t.tid);
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) == kParkedRoles.end()) continue;
        for (const std::string& fn : expect_.at(role).chain) {
            const int i = index_of(t.frames, fn);
            ASSERT_GE(i, 0) << dump(t);
            if (fp_and_cfi) {
                EXPECT_TRUE(t.frames[i].cross_checked) << fn << "\n" << dump(t);
            }
            if (no_fp) {
                EXPECT_FALSE(t.frames[i].cross_checked) << fn << "\n" << dump(t);
            }
            confirmed += t.frames[i].cross_checked;
        }
    }
    if (fp_and_cfi) {
        EXPECT_EQ(confirmed, 17);  // the chains of parked.expect
    }
}

// eu-stack, an independent unwinder, must find exactly our frames wherever
// our walk reached the real end of the stack.
TEST_P(CoreFixture, FramesAgreeWithEuStack) {
    if (run_command("command -v eu-stack").exit_status != 0) GTEST_SKIP() << "eu-stack not installed";
    const auto peer = eu_stack_pcs(GetParam().core(), GetParam().exe());
    const ProcessReport r = check(GetParam(), {"parked:spin_outer"});
    int compared = 0;
    for (const TaskVerdict& t : r.tasks) {
        if (t.end.kind != StackEnd::Kind::outermost) continue;
        ASSERT_TRUE(peer.count(t.tid)) << "eu-stack has no TID " << t.tid;
        std::vector<unsigned long long> ours;
        for (const Frame& f : t.frames) ours.push_back(f.pc);
        EXPECT_EQ(ours, peer.at(t.tid)) << dump(t);
        ++compared;
    }
    // The six parked threads, and spin unless its innermost frame has no CFI.
    EXPECT_EQ(compared, GetParam().variant == "nocfi" ? 6 : 7);
}

INSTANTIATE_TEST_SUITE_P(Cores, CoreFixture, testing::ValuesIn(all_core_cases()), case_name);

// ---- The command: exit statuses, JSON, errors --------------------------------

std::string fp_args() {
    const std::string d = fixtures_dir() + "/fp";
    return " --core " + d + "/core.gcore --exe " + d + "/parked";
}

class Command : public testing::Test {
protected:
    void SetUp() override {
        if (fixtures_dir().empty() || lpsafe_bin().empty()) GTEST_SKIP() << "run through meson test";
    }
};

TEST_F(Command, BlockedExitsOneWithJsonDetails) {
    const auto r = run_command(lpsafe_bin() + " check" + fp_args() + " --func parked:pause_inner --json");
    EXPECT_EQ(r.exit_status, 1) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["summary"]["safe"], 5);
    EXPECT_EQ(j["summary"]["blocked"], 1);
    EXPECT_EQ(j["summary"]["unreliable"], 3);
    const auto roles = read_roles(fixtures_dir() + "/fp/roles.txt");
    for (const auto& t : j["tasks"]) {
        const std::string role = roles.at(t["tid"].get<int>());
        if (role == "pause") {
            EXPECT_EQ(t["verdict"], "blocked");
            ASSERT_EQ(t["blocked_by"].size(), 1u);
            EXPECT_EQ(t["blocked_by"][0]["function"], "pause_inner");
            EXPECT_EQ(t["blocked_by"][0]["object"], "parked");
            EXPECT_EQ(t["blocked_by"][0]["frame"], 1);
            EXPECT_EQ(t["frames"][1]["function"], "pause_inner");
            EXPECT_EQ(t["frames"][1]["method"], "cfi");
        }
        if (role == "spin") {
            EXPECT_EQ(t["verdict"], "unreliable");
            EXPECT_EQ(t["failed_checks"][0]["check"], "top");
            EXPECT_EQ(t["failed_checks"][0]["frame"], 0);
        }
    }
}

TEST_F(Command, UnreliableOnlyExitsTwo) {
    const auto typo = run_command(lpsafe_bin() + " check" + fp_args() + " --func parked:pause_innr");
    EXPECT_EQ(typo.exit_status, 3) << "a typo must be an error, never a verdict";
    EXPECT_NE(typo.err.find("not found"), std::string::npos) << typo.err;
    const auto u = run_command(lpsafe_bin() + " check" + fp_args() + " --func libc.so.6:epoll_create1");
    EXPECT_EQ(u.exit_status, 2) << u.out << u.err;
}

TEST_F(Command, AllSafeExitsZeroOnARealSystemBinary) {
    const std::string core = fixtures_dir() + "/sleep/core.gcore";
    const auto safe = run_command(lpsafe_bin() + " check --core " + core + " --func libc.so.6:pause");
    EXPECT_EQ(safe.exit_status, 0) << safe.out << safe.err;
    const auto blocked = run_command(lpsafe_bin() + " check --core " + core + " --func libc.so.6:clock_nanosleep --json");
    EXPECT_EQ(blocked.exit_status, 1) << blocked.out << blocked.err;
    const auto j = nlohmann::json::parse(blocked.out);
    EXPECT_EQ(j["tasks"][0]["blocked_by"][0]["frame"], 0);
}

TEST_F(Command, PatchFileAndUsageErrors) {
    const std::string pf = (fs::temp_directory_path() / "lpsafe-e2e.patch").string();
    std::ofstream(pf) << "# functions replaced by the patch\nparked:sleep_outer\n\n  parked:pipe_outer  # two\n";
    const auto r = run_command(lpsafe_bin() + " check" + fp_args() + " --patch-file " + pf + " --json");
    EXPECT_EQ(r.exit_status, 1) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["summary"]["blocked"], 2);
    fs::remove(pf);

    const auto no_func = run_command(lpsafe_bin() + " check" + fp_args());
    EXPECT_EQ(no_func.exit_status, 3);
    EXPECT_NE(no_func.err.find("--func"), std::string::npos) << no_func.err;
    EXPECT_EQ(run_command(lpsafe_bin() + " check --core /nonexistent --func x").exit_status, 3);
    const auto not_core = run_command(lpsafe_bin() + " stack --core /bin/true");
    EXPECT_EQ(not_core.exit_status, 3);
    EXPECT_NE(not_core.err.find("not a core"), std::string::npos) << not_core.err;
}

TEST_F(Command, StackPrintsEveryThreadWithMethods) {
    const auto r = run_command(lpsafe_bin() + " stack" + fp_args() + " --json");
    EXPECT_EQ(r.exit_status, 2) << r.err;  // some stacks are unreliable
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tasks"].size(), 9u);
    EXPECT_EQ(j["summary"]["reliable"], 6);
    EXPECT_EQ(j["tasks"][0]["frames"][0]["method"], "regs");
}

// ---- Bad input: a clear error or unreliable, never a crash, never "safe" ----

class BadInput : public Command {};

TEST_F(BadInput, MismatchedExecutableMakesItsFramesUnreliable) {
    const std::string d = fixtures_dir();
    auto process = readers::read_core(d + "/fp/core.gcore", {d + "/nofp/parked", ""});
    ASSERT_TRUE(process.ok()) << process.error().message;
    PatchSet patch;
    ASSERT_TRUE(patch.add_spec("libc.so.6:pause").ok());
    auto report = check_process(*process, patch);
    ASSERT_TRUE(report.ok());
    for (const TaskVerdict& t : report->tasks) {
        EXPECT_EQ(t.verdict, VerdictKind::unreliable) << dump(t);
        const bool names_build_id = std::any_of(t.findings.begin(), t.findings.end(), [](const Finding& f) {
            return f.check == Check::module && f.detail.find("build-id") != std::string::npos;
        });
        EXPECT_TRUE(names_build_id) << dump(t);
    }
}

TEST_F(BadInput, MissingFilesMakeEveryStackUnreliable) {
    const std::string empty = (fs::temp_directory_path() / "lpsafe-empty-sysroot").string();
    fs::create_directories(empty);
    const auto r = run_command(lpsafe_bin() + " check --core " + fixtures_dir() + "/fp/core.gcore --sysroot " + empty +
                               " --func libc.so.6:pause --json");
    EXPECT_EQ(r.exit_status, 2) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["summary"]["safe"], 0);
    EXPECT_EQ(j["summary"]["unreliable"], 9);
    EXPECT_NE(r.out.find(empty), std::string::npos) << "the message must name the file it tried";
}

// Cut a real core at many points: reading it may fail with an error, and a
// thread may still be judged, but a "safe" or "blocked" thread must have the
// very frames it had in the whole core (anything else is a soundness bug).
TEST_F(BadInput, TruncatedCoresNeverYieldDifferentTrustedStacks) {
    const std::string d = fixtures_dir() + "/fp";
    const std::string whole = d + "/core.gcore";
    auto original = readers::read_core(whole, {d + "/parked", ""});
    ASSERT_TRUE(original.ok());
    PatchSet patch;
    ASSERT_TRUE(patch.add_spec("parked:pause_inner").ok());
    auto base = check_process(*original, patch);
    ASSERT_TRUE(base.ok());
    std::map<int, std::vector<uint64_t>> base_pcs;
    for (const auto& t : base->tasks) {
        for (const auto& f : t.frames) base_pcs[t.tid].push_back(f.pc);
    }
    const auto size = fs::file_size(whole);
    const std::string cut = (fs::temp_directory_path() / "lpsafe-truncated.core").string();
    int errors = 0, judged = 0;
    for (uint64_t at : {uint64_t{0}, uint64_t{10}, uint64_t{64}, uint64_t{200}, uint64_t{4096}, size / 8, size / 4,
                        size / 2, size * 3 / 4, size - 4096, size - 1}) {
        fs::copy_file(whole, cut, fs::copy_options::overwrite_existing);
        fs::resize_file(cut, at);
        auto p = readers::read_core(cut, {d + "/parked", ""});
        if (!p.ok()) {
            ++errors;
            EXPECT_FALSE(p.error().message.empty());
            continue;
        }
        auto rep = check_process(*p, patch);
        ASSERT_TRUE(rep.ok());
        for (const auto& t : rep->tasks) {
            ++judged;
            if (t.verdict == VerdictKind::unreliable) continue;
            std::vector<uint64_t> pcs;
            for (const auto& f : t.frames) pcs.push_back(f.pc);
            EXPECT_EQ(pcs, base_pcs[t.tid]) << "truncated at " << at << "\n" << dump(t);
        }
    }
    fs::remove(cut);
    EXPECT_GT(errors, 0);
    EXPECT_GT(judged, 0);
}

TEST_F(BadInput, GarbageAndEmptyFilesAreClearErrors) {
    const std::string g = (fs::temp_directory_path() / "lpsafe-garbage.core").string();
    {
        std::ofstream out(g, std::ios::binary);
        uint32_t x = 12345;
        for (int i = 0; i < 100000; ++i) {
            x = x * 1103515245u + 12345u;
            out.put(static_cast<char>(x >> 24));
        }
    }
    auto r = readers::read_core(g, {});
    EXPECT_FALSE(r.ok());
    std::ofstream(g, std::ios::trunc).close();
    auto e = readers::read_core(g, {});
    EXPECT_FALSE(e.ok());
    fs::remove(g);
}

}  // namespace
}  // namespace lpsafe::e2e

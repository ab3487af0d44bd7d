#include "foreign_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "lpsafe/arch.h"
#include "overlay_memory.h"
#include "readers/core/core_file.h"

namespace lpsafe::e2e {

std::string ForeignCore::cores_dir() {
    const char* d = std::getenv("LPSAFE_FOREIGN_CORES");
    return d != nullptr ? d : "";
}

std::string ForeignCore::dir() const { return cores_dir() + "/" + arch + "-" + variant; }

std::string ForeignCore::sysroot_for_variant() const { return variant == "host" ? "" : sysroot; }

std::string ForeignCore::cli_input() const {
    return " --core " + dir() + "/core.qemu --exe " + dir() + "/parked" +
           (variant == "host" ? "" : " --sysroot " + sysroot);
}

Status ForeignCore::load() {
    core_path = dir() + "/core.qemu";
    exe_path = dir() + "/parked";
    auto p = readers::read_core(core_path, {exe_path, sysroot_for_variant()});
    if (!p) return p.error();
    process = std::move(*p);
    roles = read_roles(dir() + "/roles.txt");
    expect = read_expectations(std::string(std::getenv("LPSAFE_SOURCE_FIXTURES")) + "/programs/parked.expect");
    return Ok{};
}

ProcessReport ForeignCore::check(const std::string& spec) {
    PatchSet patch;
    EXPECT_TRUE(patch.add_spec(spec));
    auto r = check_process(process, patch);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : ProcessReport{};
}

ResolvedPatchSet ForeignCore::unrelated() {
    PatchSet set;
    EXPECT_TRUE(set.add_spec("parked:spin_outer"));
    auto resolved = resolve_patch_set(set, process.modules);
    EXPECT_TRUE(resolved);
    return resolved ? *resolved : ResolvedPatchSet{};
}

const ThreadState& ForeignCore::thread_of(const std::string& role) {
    for (const ThreadState& t : process.threads)
        if (roles.at(t.tid) == role) return t;
    ADD_FAILURE() << "no thread " << role;
    return process.threads.front();
}

void ForeignCoreTest::SetUp() {
    if (ForeignCore::cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
    core_.arch = arch_;
    core_.variant = GetParam();
    core_.sysroot = sysroot_;
    const Status loaded = core_.load();
    ASSERT_TRUE(loaded) << loaded.error().message;
}

void LeafCoreTest::SetUp() {
    if (ForeignCore::cores_dir().empty()) GTEST_SKIP() << "LPSAFE_FOREIGN_CORES is not set (run through meson test)";
    const Status loaded = core_.load(arch_, sysroot_);
    ASSERT_TRUE(loaded) << loaded.error().message;
}

void expect_spinner_unreliable_at_top(ForeignCore& core) {
    const TaskVerdict v = check_thread(core.process, core.thread_of("spin"), core.unrelated());
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(has_finding(v, Check::top, 0)) << dump(v);
    EXPECT_EQ(v.end.kind, StackEnd::Kind::outermost) << dump(v);
}

void expect_plt_call_reaches_libc_pause(ForeignCore& core) {
    const TaskVerdict v = check_thread(core.process, core.thread_of("pause"), core.unrelated());
    ASSERT_EQ(v.verdict, VerdictKind::safe) << dump(v);
    ASSERT_EQ(v.frames[1].function, "pause_inner") << dump(v);
    const auto target = arch_of(core.process.arch).call_target(core.process, v.frames[1].pc);
    ASSERT_TRUE(target.has_value());
    const Module* libc = core.process.modules.find(*target);
    ASSERT_NE(libc, nullptr);
    EXPECT_EQ(libc->name, "libc.so.6");
    const Symbol* sym = libc->image->symbol_at(*target - libc->bias);
    ASSERT_NE(sym, nullptr);
    EXPECT_EQ(sym->name, "pause");
    EXPECT_EQ(*target, libc->bias + sym->start);
    EXPECT_EQ(v.frames[0].function, "pause");
}

void expect_moved_pc_not_parked(ForeignCore& core, unsigned pc_reg, std::initializer_list<int64_t> deltas) {
    for (const std::string& role : kParkedRoles) {
        SCOPED_TRACE(role);
        for (int64_t delta : deltas) {
            ThreadState t = core.thread_of(role);
            t.regs.set(pc_reg, *t.regs.get(pc_reg) + static_cast<uint64_t>(delta));
            const TaskVerdict v = check_thread(core.process, t, core.unrelated());
            EXPECT_EQ(v.verdict, VerdictKind::unreliable) << delta << "\n" << dump(v);
            EXPECT_TRUE(has_finding(v, Check::top, 0)) << delta << "\n" << dump(v);
        }
    }
}

void expect_link_map_modules(const ProcessImage& p, ArchId arch, std::initializer_list<const char*> names) {
    EXPECT_EQ(p.arch, arch);
    EXPECT_EQ(p.threads.size(), 9u);
    std::vector<std::string> found;
    for (const Module& m : p.modules.modules()) {
        found.push_back(m.name);
        EXPECT_TRUE(m.status.usable()) << m.path << ": " << m.status.detail;
    }
    for (const char* want : names) EXPECT_NE(std::find(found.begin(), found.end(), want), found.end()) << want;
}

void expect_start_routines_known(const ProcessImage& p) {
    int started = 0;
    for (const ThreadState& t : p.threads) started += t.start_routine.has_value();
    EXPECT_GE(started, static_cast<int>(p.threads.size()) - 1);
}

void expect_snapshot_replays(const ForeignCore& core) {
    const std::string snap = testing::TempDir() + core.arch + "-" + core.variant + ".snap";
    const CommandResult rec = run_command(lpsafe_bin() + " record" + core.cli_input() + " -o " + snap);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    const std::string func = " --func parked:sleep_inner --json";
    const CommandResult from_core = run_command(lpsafe_bin() + " check" + core.cli_input() + func);
    const CommandResult from_snapshot = run_command(lpsafe_bin() + " check --snapshot " + snap + func);
    EXPECT_EQ(from_core.exit_status, 1) << from_core.err;  // sleep_inner's thread is blocked
    EXPECT_EQ(from_snapshot.exit_status, from_core.exit_status) << from_snapshot.err;
    EXPECT_EQ(from_snapshot.out, from_core.out);
}

void expect_sleeping_function_blocks(ForeignCore& core) {
    for (const std::string& role : kParkedRoles) {
        SCOPED_TRACE(role);
        const std::string inner = core.expect.at(role).chain.front();
        const ProcessReport r = core.check("parked:" + inner);
        for (const TaskVerdict& t : r.tasks) {
            const std::string& who = core.roles.at(t.tid);
            if (who == role) {
                ASSERT_EQ(t.verdict, VerdictKind::blocked) << dump(t);
                ASSERT_EQ(t.blocked_by.size(), 1u);
                EXPECT_EQ(t.frames[t.blocked_by[0].frame].function, inner);
            } else if (std::find(kParkedRoles.begin(), kParkedRoles.end(), who) != kParkedRoles.end()) {
                EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
            }
        }
    }
}

void expect_cut_stack_unreliable(ForeignCore& core) {
    const ThreadState& t = core.thread_of("main");
    const ResolvedPatchSet patch = core.unrelated();
    const TaskVerdict whole = check_thread(core.process, t, patch);
    ASSERT_EQ(whole.verdict, VerdictKind::safe) << dump(whole);
    ASSERT_GE(whole.frames.size(), 4u);
    auto overlay = std::make_shared<OverlayMemory>(core.process.memory);
    const uint64_t cut = whole.frames[2].cfa;
    overlay->hide(cut - 16, cut + 4096 * 64);
    ProcessImage cut_process = core.process;
    cut_process.memory = overlay;
    const TaskVerdict v = check_thread(cut_process, t, patch);
    EXPECT_EQ(v.verdict, VerdictKind::unreliable) << dump(v);
    EXPECT_TRUE(std::any_of(v.findings.begin(), v.findings.end(),
                            [](const Finding& f) { return f.check == Check::bottom; }))
        << dump(v);
}

void expect_outermost_marks(ForeignCore& core) {
    const ProcessReport r = core.check("parked:spin_outer");
    for (const TaskVerdict& t : r.tasks) {
        if (t.end.kind != StackEnd::Kind::outermost) continue;
        for (const Finding& f : t.findings) EXPECT_NE(f.check, Check::bottom) << dump(t);
    }
}

void expect_frames_equal_eu_stack(ForeignCore& core, int compared_want) {
    const auto peer = eu_stack_pcs(core.core_path, core.exe_path);
    const ProcessReport r = core.check("parked:spin_outer");
    int compared = 0;
    for (const TaskVerdict& t : r.tasks) {
        if (t.verdict != VerdictKind::safe) continue;
        ASSERT_TRUE(peer.count(t.tid)) << t.tid;
        std::vector<unsigned long long> ours;
        for (const Frame& f : t.frames) ours.push_back(f.pc);
        EXPECT_EQ(ours, peer.at(t.tid)) << dump(t);
        ++compared;
    }
    EXPECT_EQ(compared, compared_want);
}

Status LeafCore::load(const std::string& arch, const std::string& sysroot) {
    const std::string dir = ForeignCore::cores_dir() + "/" + arch + "-leaf";
    auto p = readers::read_core(dir + "/core.qemu", {dir + "/leaf_park", sysroot});
    if (!p) return p.error();
    process = std::move(*p);
    roles = read_roles(dir + "/roles.txt");
    return Ok{};
}

ResolvedPatchSet LeafCore::patch(const std::string& spec) {
    PatchSet set;
    EXPECT_TRUE(set.add_spec(spec));
    auto resolved = resolve_patch_set(set, process.modules);
    EXPECT_TRUE(resolved);
    return resolved ? *resolved : ResolvedPatchSet{};
}

void expect_leaf_frame_zero_reliable(LeafCore& core, unsigned lr_reg) {
    const ResolvedPatchSet unrelated = core.patch("leaf_park:leaf_thread");
    ASSERT_EQ(core.process.threads.size(), 2u);
    for (const ThreadState& t : core.process.threads) {
        const TaskVerdict v = check_thread(core.process, t, unrelated);
        SCOPED_TRACE(core.roles.at(t.tid));
        if (core.roles.at(t.tid) == "leaf") {
            EXPECT_EQ(v.verdict, VerdictKind::blocked) << dump(v);  // leaf_thread is on its stack
        } else {
            EXPECT_EQ(v.verdict, VerdictKind::safe) << dump(v);
            EXPECT_TRUE(v.findings.empty()) << dump(v);
        }
        ASSERT_GE(v.frames.size(), 3u);
        EXPECT_EQ(v.frames[0].function, "syscall") << dump(v);
        EXPECT_EQ(v.frames[1].pc, *t.regs.get(lr_reg)) << dump(v);  // the caller came from the link register
        EXPECT_EQ(v.frames[1].sp, v.frames[0].sp) << dump(v);       // and a leaf moved no sp
        expect_chain(v, {"leaf_inner", "leaf_outer"});
        EXPECT_EQ(v.end.kind, StackEnd::Kind::outermost);
    }
}

void expect_leaf_patch_blocks_frame_zero(LeafCore& core) {
    const ResolvedPatchSet leaf = core.patch("libc.so.6:syscall");
    for (const ThreadState& t : core.process.threads) {
        const TaskVerdict v = check_thread(core.process, t, leaf);
        ASSERT_EQ(v.verdict, VerdictKind::blocked) << dump(v);
        ASSERT_EQ(v.blocked_by.size(), 1u);
        EXPECT_EQ(v.blocked_by[0].frame, 0);
    }
}

void expect_wrong_link_register_unreliable(LeafCore& core, unsigned lr_reg) {
    const ResolvedPatchSet unrelated = core.patch("leaf_park:leaf_thread");
    for (const ThreadState& t : core.process.threads) {
        const TaskVerdict good = check_thread(core.process, t, unrelated);
        ASSERT_GE(good.frames.size(), 4u);
        const uint64_t lr = *t.regs.get(lr_reg);
        for (uint64_t lie : {lr + 4, lr - 4, good.frames[2].pc, good.frames[3].pc, uint64_t{0}}) {
            ThreadState bad = t;
            bad.regs.set(lr_reg, lie);
            const TaskVerdict v = check_thread(core.process, bad, unrelated);
            EXPECT_EQ(v.verdict, VerdictKind::unreliable) << std::hex << lie << "\n" << dump(v);
        }
    }
}

}  // namespace lpsafe::e2e

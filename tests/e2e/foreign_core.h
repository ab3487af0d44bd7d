// A qemu-user core of fixtures/programs/parked.c for another architecture
// (fixtures/make-foreign-cores.sh), read with its sysroot, and the checks
// every such core must pass whatever its architecture: the aarch64 and
// ppc64le tests share them and add their architecture's own rules.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <string>

#include "fixture_util.h"
#include "lpsafe/analyze.h"
#include "stack_expect.h"

namespace lpsafe::e2e {

struct ForeignCore {
    std::string arch;     // "aarch64", "ppc64le"
    std::string variant;  // "dist", "fp", "host"
    std::string sysroot;  // /usr/<triple>; not used for -host (its link map names host paths)
    ProcessImage process;
    std::string core_path, exe_path;  // what `process` was read from (for eu-stack)
    std::map<int, std::string> roles;
    std::map<std::string, Expectation> expect;

    static std::string cores_dir();  // $LPSAFE_FOREIGN_CORES, empty when unset
    std::string dir() const;
    std::string sysroot_for_variant() const;
    // " --core DIR/core.qemu --exe DIR/parked [--sysroot ...]" for the command.
    std::string cli_input() const;
    Status load();

    ProcessReport check(const std::string& spec);
    // The patch set the per-thread tests judge against: nothing on a parked chain.
    ResolvedPatchSet unrelated();
    const ThreadState& thread_of(const std::string& role);
};

// The fixture every architecture's qemu-user core test derives from: the
// core of variant GetParam() ("dist", "fp", "host") of `arch`, read with
// `sysroot`; skipped outside meson test (no LPSAFE_FOREIGN_CORES).
class ForeignCoreTest : public testing::TestWithParam<std::string> {
protected:
    ForeignCoreTest(std::string arch, std::string sysroot) : arch_(std::move(arch)), sysroot_(std::move(sysroot)) {}
    void SetUp() override;
    ForeignCore core_;

private:
    std::string arch_, sysroot_;
};

// The core reads as `arch` with parked.c's nine threads, its modules from
// the link map, every one usable and `names` among them.
void expect_link_map_modules(const ProcessImage& p, ArchId arch, std::initializer_list<const char*> names);
// glibc's thread descriptors were found: every thread but main knows the
// function it was started with.
void expect_start_routines_known(const ProcessImage& p);

// A snapshot recorded from the core replays with the same JSON and status.
void expect_snapshot_replays(const ForeignCore& core);
// Patching the function a parked thread sleeps in blocks exactly that
// thread, at that function's frame.
void expect_sleeping_function_blocks(ForeignCore& core);
// main's stack with the words above its third frame hidden is unreliable,
// for the bottom.
void expect_cut_stack_unreliable(ForeignCore& core);
// No outermost frame the walk reaches has a bottom finding.
void expect_outermost_marks(ForeignCore& core);
// eu-stack finds the same pcs for every thread judged safe, `compared` of them.
void expect_frames_equal_eu_stack(ForeignCore& core, int compared);
// The spinning thread is unreliable at the top, though its walk ends well.
void expect_spinner_unreliable_at_top(ForeignCore& core);
// pause_inner's call through the PLT has libc's pause (its symbol's start,
// what the slot holds) as its target, and pause is frame 0.
void expect_plt_call_reaches_libc_pause(ForeignCore& core);
// A parked thread whose pc is moved by any of `deltas` bytes is not parked.
void expect_moved_pc_not_parked(ForeignCore& core, unsigned pc_reg, std::initializer_list<int64_t> deltas);

// leaf_park.c's core (<arch>-leaf): two threads parked in glibc's
// syscall(), a leaf whose caller comes from the link register `lr_reg`.
struct LeafCore {
    ProcessImage process;
    std::map<int, std::string> roles;
    Status load(const std::string& arch, const std::string& sysroot);
    ResolvedPatchSet patch(const std::string& spec);
};

// The fixture of the leaf-core tests of `arch`, read with `sysroot`;
// skipped outside meson test.
class LeafCoreTest : public testing::Test {
protected:
    LeafCoreTest(std::string arch, std::string sysroot) : arch_(std::move(arch)), sysroot_(std::move(sysroot)) {}
    void SetUp() override;
    LeafCore core_;

private:
    std::string arch_, sysroot_;
};

// Frame 0 in the leaf is reliable: its caller is the link register's value
// at the same sp, and the program's chain follows.
void expect_leaf_frame_zero_reliable(LeafCore& core, unsigned lr_reg);
// Patching syscall() blocks both threads at frame 0.
void expect_leaf_patch_blocks_frame_zero(LeafCore& core);
// A wrong link register (off by an instruction, another real return site,
// zero) never yields another reliable stack.
void expect_wrong_link_register_unreliable(LeafCore& core, unsigned lr_reg);

}  // namespace lpsafe::e2e

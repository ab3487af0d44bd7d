// What the tests of the foreign-architecture kernel guests share
// (arm64_kernel_test.cpp, ppc64le_kernel_test.cpp): each reads
// fixtures/<guest>/recorded, made by fixtures/foreign-guest-common.sh under
// that architecture's qemu-system: a kernel-written core of parked.c and
// the guest's /proc capture.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "foreign_core.h"
#include "lpsafe/arch_id.h"

namespace lpsafe::e2e {

// $LPSAFE_SOURCE_FIXTURES/<guest>/recorded; empty when the variable is unset
// (the test is not run through meson).
std::string guest_recorded(const std::string& guest);

// recorded/core.kernel with no sysroot: its NT_FILE names the cross
// sysroot's files by their host paths. Roles from roles-core.txt.
Status load_kernel_core(ForeignCore& core, const std::string& guest, const std::string& arch);

// A test of one guest's kernel-written core (load_kernel_core), skipped
// outside meson and when the cross libc its NT_FILE names is not installed.
class KernelCoreTest : public testing::Test {
protected:
    // From SetUp(): a skip or failure here keeps the test body from running.
    void load(const std::string& guest, const std::string& arch, const std::string& triple);
    ForeignCore core_;
    const ProcessImage& process_ = core_.process;
    const std::map<int, std::string>& roles_ = core_.roles;
};

// A core's bytes as the file has them, read independently of lpsafe's core
// reader, to check what it made of them: the notes of type `type` named
// `name` ("CORE"), each one's descriptor, in the file's byte order.
struct RawCoreNote {
    size_t desc = 0;  // offset of the descriptor in `bytes`
    uint32_t size = 0;
};
struct RawCore {
    std::string bytes;
    bool big_endian = false;
    uint64_t u64(size_t at) const;
    uint32_t u32(size_t at) const;
    std::vector<RawCoreNote> notes(uint32_t type, std::string_view name = "CORE") const;
};
RawCore read_raw_core(const std::string& path);

// A test of one guest's /proc capture (recorded/capture), skipped outside
// meson.
class KernelProcTest : public testing::Test {
protected:
    explicit KernelProcTest(std::string guest) : guest_(std::move(guest)) {}
    void SetUp() override;
    // A fresh copy of the capture to alter, named `name` in the test's
    // temporary directory.
    std::string copy_capture(const std::string& name) const;

private:
    std::string guest_;
};

// The lines of `text`, without their newlines.
std::vector<std::string> lines_of(const std::string& text);

// Every module usable, these paths among them, nine threads of `arch`.
void expect_nt_file_modules(const ProcessImage& process, ArchId arch, const std::vector<std::string>& paths);

// `lpsafe check --kernel --no-kernel-image --json` on a capture tree or
// archive; `status` is its exit status (3, an error, is a failure).
nlohmann::json kernel_check_json(const std::string& root, const std::string& func, int& status);

// Checks the capture against {vmlinux:pipe_read}: every task not running
// ends at one of `arch`'s stack ends and names it as its end; parked's
// piperead threads are blocked, every other task safe.
struct JudgedEnds {
    nlohmann::json check;  // the check's JSON
    std::set<std::string> ends;
    int judged = 0;
    int running = 0;
};
JudgedEnds expect_known_ends(const std::string& capture, ArchId arch);

// The frames' function names of both parked copies' nanosleep threads,
// checked against {vmlinux:hrtimer_nanosleep}: each must be blocked.
std::vector<std::vector<std::string>> nanosleep_listings(const std::string& capture);

// kernel_arch_of() on the capture's own kallsyms.
ArchId capture_arch(const std::string& capture, ArchId fallback);

// The capture recorded into an archive (on this x86_64 host) replays with
// the same verdicts for all `tasks` tasks, none unreliable.
void expect_archive_replays(const std::string& capture, const std::string& archive, size_t tasks);

}  // namespace lpsafe::e2e

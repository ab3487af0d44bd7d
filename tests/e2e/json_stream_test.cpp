// The streamed JSON document (src/report/json_report.cpp): on the fixture
// cores and the kernel capture it is the document the tree builder made,
// byte for byte; names with quotes, control characters and invalid UTF-8
// still give valid JSON; a FILE* gets the same bytes as a string.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "json_tree_reference.h"
#include "pipeline/kernel_run.h"
#include "pipeline/process_run.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using report::Mode;

std::string streamed(std::span<const ProcessReport> reports, Mode mode, const report::JsonExtras& extras = {}) {
    std::string out;
    report::JsonOut to(out);
    report::write_json(to, reports, mode, extras);
    return out;
}

// The document nlohmann's dump(2) makes of `tree`, as the command printed it.
std::string dumped(const json& tree) { return tree.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

std::vector<ProcessReport> check_core(const CoreCase& c, const std::string& func) {
    pipeline::ProcessInput in;
    in.core = c.core();
    in.exe = c.exe();
    PatchSet patch;
    EXPECT_TRUE(pipeline::add_function(patch, func));
    auto reports = pipeline::check_processes(in, patch, pipeline::make_check_options(128, true), [](const std::string&) {});
    EXPECT_TRUE(reports) << c.core() << ": " << (reports ? "" : reports.error().message);
    return reports ? std::move(*reports) : std::vector<ProcessReport>{};
}

TEST(JsonStream, FixtureCoresGiveTheTreeBuiltDocument) {
    int compared = 0;
    for (const CoreCase& c : all_core_cases()) {
        if (!file_exists(c.core())) continue;  // kernel cores need core_pattern
        const auto reports = check_core(c, "libc.so.6:pause");
        ASSERT_FALSE(reports.empty()) << c.core();
        for (Mode mode : {Mode::check, Mode::stack}) {
            const std::string doc = streamed(reports, mode);
            const json tree = reference::process_json(reports, mode);
            EXPECT_EQ(json::parse(doc), tree) << c.core();
            EXPECT_EQ(doc, dumped(tree)) << c.core();
            ++compared;
        }
    }
    EXPECT_GE(compared, 12);
}

TEST(JsonStream, KernelCaptureGivesTheTreeBuiltDocument) {
    const std::string dir = std::getenv("LPSAFE_KERNEL_FIXTURES") ? std::getenv("LPSAFE_KERNEL_FIXTURES") : "";
    ASSERT_FALSE(dir.empty()) << "LPSAFE_KERNEL_FIXTURES is not set";
    int compared = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".lpk") continue;
        pipeline::KernelOptions k;
        k.proc_root = e.path().string();
        PatchSet patch;
        ASSERT_TRUE(pipeline::add_patch_file(patch, dir + "/patch.txt"));
        std::optional<KernelImage> image;
        auto run = pipeline::check_kernel_once(k, patch, image);
        ASSERT_TRUE(run) << run.error().message;
        ASSERT_GT(run->report.tasks.size(), 3u);
        // The capture has no livepatch: give three tasks a patch_state, one unreadable.
        const auto& tasks = run->report.tasks;
        run->patch_states = {{tasks[0].pid, tasks[0].tid, readers::PatchState::idle, ""},
                             {tasks[1].pid, tasks[1].tid, readers::PatchState::patched, ""},
                             {tasks[2].pid, tasks[2].tid, std::nullopt, "No such process"}};
        for (Mode mode : {Mode::check, Mode::stack}) {
            std::string doc;
            report::JsonOut out(doc);
            pipeline::kernel_json(out, *run, mode);
            const json tree = reference::kernel_json(*run, mode);
            EXPECT_EQ(json::parse(doc), tree) << e.path();
            EXPECT_EQ(doc, dumped(tree)) << e.path();
            EXPECT_EQ(json::parse(doc)["tasks"][2]["patch_state_error"], "No such process");
            ++compared;
        }
    }
    EXPECT_GE(compared, 2);
}

// One task whose names hold everything a JSON string must escape, and bytes
// that are not UTF-8 (a comm is 16 bytes cut anywhere; symbols are bytes).
ProcessReport awkward_report() {
    TaskVerdict t;
    t.pid = 7;
    t.tid = 8;
    t.comm = "a\"b\\c\x01\t\xff";                 // quote, backslash, control, tab, invalid
    t.verdict = VerdictKind::unreliable;
    t.reason = "line\nbreak \xc3\xa9";             // newline, valid UTF-8 (e-acute)
    Frame f;
    f.pc = 0x401000;
    f.sp = 0x7ffc0000;
    f.object = "lib\xc3(.so";                      // a lead byte without its continuation
    f.function = "fn\x7f\"\x1f\xe2\x82";           // DEL, quote, unit separator, cut 3-byte sequence
    t.frames.push_back(f);
    t.findings.push_back({Check::unwind, 0, "bad \"step\"\r"});
    t.skipped.push_back({Check::return_after_call, "no code\x80"});
    ProcessReport r;
    r.pid = 7;
    r.tasks.push_back(t);
    r.summary.add(t.verdict);
    return r;
}

TEST(JsonStream, EscapesAndReplacesInvalidUtf8) {
    const ProcessReport r = awkward_report();
    for (Mode mode : {Mode::check, Mode::stack}) {
        const std::string doc = streamed(std::span(&r, 1), mode);
        const json j = json::parse(doc);  // throws on invalid UTF-8 or a bad escape
        const json& t = j["tasks"][0];
        EXPECT_EQ(t["comm"], "a\"b\\c\x01\t\xef\xbf\xbd");
        EXPECT_EQ(t["reason"], "line\nbreak \xc3\xa9");
        EXPECT_EQ(t["frames"][0]["object"], "lib\xef\xbf\xbd(.so");
        EXPECT_EQ(t["frames"][0]["function"], "fn\x7f\"\x1f\xef\xbf\xbd");
        EXPECT_EQ(t["failed_checks"][0]["detail"], "bad \"step\"\r");
        EXPECT_EQ(t["skipped_checks"][0]["reason"], "no code\xef\xbf\xbd");
        EXPECT_NE(doc.find(R"("a\"b\\c\u0001\t)"), std::string::npos) << doc;
        EXPECT_EQ(doc, dumped(reference::process_json(std::span(&r, 1), mode)));
    }
}

TEST(JsonStream, FileGetsTheStringsBytes) {
    // Enough tasks for several 64 KiB writes.
    ProcessReport r = awkward_report();
    for (int i = 0; i < 12; ++i) r.tasks.front().frames.push_back(r.tasks.front().frames.front());
    r.tasks.resize(2000, r.tasks.front());
    const std::string want = streamed(std::span(&r, 1), Mode::check);
    ASSERT_GT(want.size(), 4u * 65536);
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
        report::JsonOut out(f);
        report::write_json(out, std::span(&r, 1), Mode::check);
    }
    std::string got(static_cast<size_t>(std::ftell(f)), '\0');
    std::rewind(f);
    ASSERT_EQ(std::fread(got.data(), 1, got.size(), f), got.size());
    std::fclose(f);
    EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace lpsafe::e2e

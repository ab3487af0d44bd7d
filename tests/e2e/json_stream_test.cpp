// The streamed JSON document (src/report/json_report.cpp). It replaced a
// tree builder, and the commit that made it (307aa60) proved it equal, byte
// for byte, to the tree's dump(2) on these inputs. What stays checked: on the
// fixture cores and the kernel capture it parses, re-dumps to the same bytes
// (so keys, order and layout are nlohmann's dump(2)) and holds the reports'
// values; names with quotes, control characters and invalid UTF-8 still give
// valid JSON; a FILE* gets the same bytes as a string.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
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

std::string hex(uint64_t v) { return fmt::format("{:#x}", v); }

// The document's tasks are the reports' tasks, in order, with their frames.
void expect_tasks(const json& doc, std::span<const ProcessReport> reports, Mode mode) {
    size_t i = 0;
    for (const ProcessReport& r : reports) {
        for (const TaskVerdict& t : r.tasks) {
            ASSERT_LT(i, doc["tasks"].size());
            const json& d = doc["tasks"][i++];
            EXPECT_EQ(d["tid"], t.tid);
            EXPECT_EQ(d["comm"], t.comm);
            EXPECT_EQ(d["reliable"], t.findings.empty() && t.reason.empty());
            EXPECT_EQ(d["failed_checks"].size(), t.findings.size());
            EXPECT_EQ(d.contains("verdict"), mode == Mode::check);
            if (mode == Mode::check) {
                EXPECT_EQ(d["verdict"], verdict_name(t.verdict));
            }
            ASSERT_EQ(d["frames"].size(), t.frames.size());
            for (size_t f = 0; f < t.frames.size(); ++f) {
                EXPECT_EQ(d["frames"][f]["pc"], hex(t.frames[f].pc));
                EXPECT_EQ(d["frames"][f]["function"], t.frames[f].function);
                EXPECT_EQ(d["frames"][f]["offset"], t.frames[f].offset);
            }
        }
    }
    EXPECT_EQ(i, doc["tasks"].size());
}

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

TEST(JsonStream, FixtureCores) {
    int compared = 0;
    for (const CoreCase& c : all_core_cases()) {
        if (!file_exists(c.core())) continue;  // kernel cores need core_pattern
        const auto reports = check_core(c, "libc.so.6:pause");
        ASSERT_FALSE(reports.empty()) << c.core();
        for (Mode mode : {Mode::check, Mode::stack}) {
            const std::string doc = streamed(reports, mode);
            const json j = json::parse(doc);
            EXPECT_EQ(doc, dumped(j)) << c.core();
            expect_tasks(j, reports, mode);
            ++compared;
        }
    }
    EXPECT_GE(compared, 12);
}

TEST(JsonStream, KernelCapture) {
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
            const json j = json::parse(doc);
            EXPECT_EQ(doc, dumped(j)) << e.path();
            expect_tasks(j, std::span(&run->report, 1), mode);
            EXPECT_EQ(j["kernel"]["release"], e.path().stem().string());
            EXPECT_EQ(j["tasks"][0]["patch_state"], "idle");
            EXPECT_EQ(j["tasks"][1]["patch_state"], "patched");
            EXPECT_FALSE(j["tasks"][1].contains("patch_state_error"));
            EXPECT_EQ(j["tasks"][2]["patch_state"], "unreadable");
            EXPECT_EQ(j["tasks"][2]["patch_state_error"], "No such process");
            EXPECT_FALSE(j["tasks"][3].contains("patch_state"));
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
        EXPECT_EQ(doc, dumped(j));
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

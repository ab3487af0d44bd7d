// The JSON document of `check --json` / `stack --json` (docs/json-format.md):
// part of the library, so the C API hands out the very document the command
// prints. Rendering never re-reads memory or re-runs a check.
//
// The tasks and their frames (25,505 frames on the 1,000-thread core, 10,000
// tasks in a kernel dump) are written straight to the output, never built as
// a tree: nlohmann's tree and serializer cost `--json` 3.6 times the text
// report's instructions (docs/performance.md, "JSON output"). Bounded parts (summary, patch, kernel, cross_check) are still
// nlohmann values, dumped in place. The bytes are what nlohmann's dump(2)
// of the whole document would print (keys in sorted order, 2-space indent),
// except that invalid UTF-8 is replaced with U+FFFD instead of throwing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"
#include "readers/kernel/livepatch_sysfs.h"

namespace lpsafe::report {

enum class Mode { check, stack };

// Where a document goes: a string (the C API's result), or a FILE* that is
// written each time 64 KiB have gathered (the command's stdout), so the
// document is never held whole.
class JsonOut {
public:
    explicit JsonOut(std::string& to) : buf_(to) {}
    explicit JsonOut(std::FILE* to) : buf_(own_), file_(to) {}
    JsonOut(const JsonOut&) = delete;
    JsonOut& operator=(const JsonOut&) = delete;
    ~JsonOut() { flush(); }

    std::string& buf() { return buf_; }
    void flush_if_full() {
        if (file_ != nullptr && buf_.size() >= kChunk) flush();
    }
    void flush();

private:
    static constexpr size_t kChunk = 64 * 1024;
    std::string own_;
    std::string& buf_;
    std::FILE* file_ = nullptr;
};

// What a caller adds to the process document.
struct JsonExtras {
    // More top-level members, e.g. "kernel" and "cross_check" (small: they
    // are dumped by nlohmann in place).
    nlohmann::json members = nlohmann::json::object();
    // A kernel check's tasks get "patch_state" (and "patch_state_error")
    // from the entry with their pid and tid.
    std::span<const readers::TaskPatchState> patch_states;
};

// Writes the document and a final newline.
void write_json(JsonOut& out, std::span<const ProcessReport> reports, Mode mode, const JsonExtras& extras = {});

// `value` as nlohmann's dump(2) prints it, nested `depth` levels deep; invalid
// UTF-8 becomes U+FFFD (for the other documents lpsafe prints, e.g. klp-info).
void append_dumped(std::string& out, const nlohmann::json& value, int depth = 0);

Summary total(std::span<const ProcessReport> reports);

// Live capture: how long threads were stopped, over every task with a stop time.
struct StopTotals {
    int threads = 0;
    uint64_t total_ns = 0;
    uint64_t max_ns = 0;
};
StopTotals stop_totals(std::span<const ProcessReport> reports);

}  // namespace lpsafe::report

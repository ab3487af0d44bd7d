// The JSON document of `check --json` / `stack --json` (docs/json-format.md):
// part of the library, so the C API hands out the very document the command
// prints. Rendering never re-reads memory or re-runs a check.
#pragma once

#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"

namespace lpsafe::report {

enum class Mode { check, stack };

nlohmann::json to_json(std::span<const ProcessReport> reports, Mode mode);

Summary total(std::span<const ProcessReport> reports);

// Live capture: how long threads were stopped, over every task with a stop time.
struct StopTotals {
    int threads = 0;
    uint64_t total_ns = 0;
    uint64_t max_ns = 0;
};
StopTotals stop_totals(std::span<const ProcessReport> reports);

}  // namespace lpsafe::report

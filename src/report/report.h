// Reports: the same ProcessReports rendered as text for a person (and the
// libunwind comparison). The JSON document is the library's (json_report.h).
// Rendering never re-reads memory or re-runs a check.
#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"
#include "report/json_report.h"
#include "second_opinion/compare.h"

namespace lpsafe::report {

// `check`: a table with a line per task, then details for every task that is
// not safe. `stack`: every task's frames, each with its method and findings.
std::string render_text(std::span<const ProcessReport> reports, Mode mode);

// A whole-system kernel check (one report): blocked tasks grouped by the
// function that blocks them, then unreliable, unreadable and running tasks.
std::string render_kernel_text(const ProcessReport& report);

// `stack --cross-check`: per thread, whether libunwind found the same frames,
// and where it parted from lpsafe (cross_check_report.cpp).
nlohmann::json cross_check_json(std::span<const second_opinion::ThreadComparison> threads);
std::string render_cross_check_text(std::span<const second_opinion::ThreadComparison> threads);

}  // namespace lpsafe::report

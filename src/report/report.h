// Reports: the same ProcessReports rendered as JSON (docs/json-format.md) or
// as text for a person. Rendering never re-reads memory or re-runs a check.
#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"

namespace lpsafe::report {

enum class Mode { check, stack };

nlohmann::json to_json(std::span<const ProcessReport> reports, Mode mode);

// `check`: a table with a line per task, then details for every task that is
// not safe. `stack`: every task's frames, each with its method and findings.
std::string render_text(std::span<const ProcessReport> reports, Mode mode);

// A whole-system kernel check (one report): blocked tasks grouped by the
// function that blocks them, then unreliable, unreadable and running tasks.
std::string render_kernel_text(const ProcessReport& report);

Summary total(std::span<const ProcessReport> reports);

}  // namespace lpsafe::report

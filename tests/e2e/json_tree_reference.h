// The documents as the tree builder made them before they were streamed
// (json_tree_reference.cpp): what the streamed ones must equal.
#pragma once

#include <span>

#include <nlohmann/json.hpp>

#include "pipeline/kernel_run.h"
#include "report/json_report.h"

namespace lpsafe::e2e::reference {

nlohmann::json process_json(std::span<const ProcessReport> reports, report::Mode mode);
nlohmann::json kernel_json(const pipeline::KernelRun& run, report::Mode mode);

}  // namespace lpsafe::e2e::reference

// What /sys/kernel/livepatch and the tasks' patch_state said during a kernel
// check (docs/json-format.md, "kernel.livepatch"; lpsafe.1 "LIVEPATCH").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lpsafe/analyze.h"
#include "readers/kernel/livepatch_sysfs.h"

namespace lpsafe::report {

// "idle", "patched", ... or "unreadable" (livepatch_json.cpp).
std::string patch_state_label(const readers::TaskPatchState& t);
nlohmann::json livepatch_to_json(const readers::LivepatchStatus& status);
// Loaded patches, then tasks grouped by patch_state; empty without livepatch.
std::string render_livepatch_text(const readers::LivepatchStatus& status,
                                  const std::vector<readers::TaskPatchState>& states, const ProcessReport& report);

}  // namespace lpsafe::report

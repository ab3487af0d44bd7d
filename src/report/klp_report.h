// `lpsafe klp-info`: what a livepatch module replaces, as text or JSON
// (docs/json-format.md, "klp-info").
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "readers/livepatch/klp_module.h"

namespace lpsafe::report {

nlohmann::json klp_to_json(const readers::KlpModule& m, const std::string& file);
std::string render_klp_text(const readers::KlpModule& m, const std::string& file);

}  // namespace lpsafe::report

#include "report/klp_report.h"

#include <fmt/format.h>

namespace lpsafe::report {

nlohmann::json klp_to_json(const readers::KlpModule& m, const std::string& file) {
    nlohmann::json objects = nlohmann::json::array();
    for (const readers::KlpObject& o : m.objects) {
        nlohmann::json funcs = nlohmann::json::array();
        for (const readers::KlpFunc& f : o.funcs) funcs.push_back({{"old_name", f.old_name}, {"old_sympos", f.old_sympos}});
        objects.push_back({{"name", o.name}, {"funcs", funcs}});
    }
    return {{"file", file},
            {"module", m.module},
            {"sizeof_klp_object", m.object_size},
            {"sizeof_klp_func", m.func_size},
            {"replace", m.replace},
            {"objects", objects}};
}

// One line per target in the spelling --func and sysfs use: OBJECT:FUNCTION,
// with ",SYMPOS" when old_sympos picks one of several symbols.
std::string render_klp_text(const readers::KlpModule& m, const std::string& file) {
    size_t funcs = 0;
    for (const readers::KlpObject& o : m.objects) funcs += o.funcs.size();
    std::string out = fmt::format("{} ({}): {} function{} in {} object{}{}\n", m.module, file, funcs,
                                  funcs == 1 ? "" : "s", m.objects.size(), m.objects.size() == 1 ? "" : "s",
                                  m.replace ? ", atomic replace" : "");
    for (const readers::KlpObject& o : m.objects) {
        for (const readers::KlpFunc& f : o.funcs) out += "  " + PatchTarget{o.name, f.old_name, f.old_sympos}.spec() + "\n";
    }
    return out;
}

}  // namespace lpsafe::report

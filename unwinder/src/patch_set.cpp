#include "lpsafe/patch_set.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace lpsafe {
namespace {

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

// Kernel livepatch old_sympos N > 0 selects the Nth symbol of the name,
// counted from 1 (kernel/livepatch/core.c, klp_find_object_symbol()); none
// when the object has fewer, so the target is reported as not found.
std::vector<const Symbol*> nth_symbol(std::vector<const Symbol*> matches, uint64_t sympos) {
    if (sympos == 0) return matches;
    std::sort(matches.begin(), matches.end(), [](const Symbol* a, const Symbol* b) { return a->start < b->start; });
    if (sympos > matches.size()) return {};
    return {matches[sympos - 1]};
}

}  // namespace

Status PatchSet::add_spec(std::string_view spec) {
    spec = trim(spec);
    if (spec.empty()) return make_error("empty function name");
    PatchTarget t;
    // Objects never contain ':', C++ names may ("ns::f"): the object ends at
    // the first ':' that is not half of a "::".
    const auto colon = spec.find(':');
    if (colon != std::string_view::npos && !(colon + 1 < spec.size() && spec[colon + 1] == ':')) {
        t.object = std::string(trim(spec.substr(0, colon)));
        t.function = std::string(trim(spec.substr(colon + 1)));
        if (t.object.empty()) return make_error("'" + std::string(spec) + "': empty object before ':'");
    } else {
        t.function = std::string(spec);
    }
    // "function,N": a livepatch sympos, as PatchTarget::spec() prints it (a
    // comma not followed by digits only stays part of a C++ name).
    if (const auto comma = t.function.rfind(','); comma != std::string::npos) {
        const std::string_view pos = std::string_view(t.function).substr(comma + 1);
        const auto [p, ec] = std::from_chars(pos.data(), pos.data() + pos.size(), t.sympos);
        if (ec == std::errc{} && p == pos.data() + pos.size()) {
            if (t.sympos == 0) return make_error("'" + std::string(spec) + "': symbol positions start at 1");
            t.function.resize(comma);
        } else {
            t.sympos = 0;
        }
    }
    if (auto st = add_target(std::move(t)); !st) return make_error("'" + std::string(spec) + "': " + st.error().message);
    return Ok{};
}

Status PatchSet::add_target(PatchTarget t) {
    if (t.function.empty()) return make_error("empty function name");
    if (t.function.find_first_of(" \t") != std::string::npos) {
        return make_error("a function name cannot contain spaces");
    }
    targets_.push_back(std::move(t));
    return Ok{};
}

Status PatchSet::add_text(std::string_view text, std::string_view origin) {
    size_t line_no = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        if (trim(line).empty()) continue;
        if (auto st = add_spec(line); !st) {
            return make_error(std::string(origin) + ":" + std::to_string(line_no) + ": " + st.error().message);
        }
    }
    return Ok{};
}

Status PatchSet::add_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("cannot read patch file " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return add_text(ss.str(), path);
}

Result<ResolvedPatchSet> resolve_patch_set(const PatchSet& set, const ModuleMap& modules) {
    ResolvedPatchSet out;
    for (const PatchTarget& t : set.targets()) {
        bool object_loaded = false, found = false, unsearched = false;
        for (const Module& m : modules.modules()) {
            if (!t.object.empty() && !m.matches_object(t.object)) continue;
            object_loaded = true;
            if (!m.image || !m.status.usable()) {
                unsearched = true;
                out.unsearched.push_back(t.spec() + " in " + m.path + " (" + m.status.detail + ")");
                continue;
            }
            for (const Symbol* s : nth_symbol(m.image->symbols_named(t.function), t.sympos)) {
                if (s->size == 0) return make_error(t.spec() + ": symbol in " + m.path + " has no size");
                out.ranges.push_back({s->start + m.bias, s->start + m.bias + s->size, m.name, t.function, {}});
                found = true;
            }
        }
        if (found) continue;
        // Only a named object that cannot be read leaves the question open;
        // without an object, a name found nowhere readable is most likely a
        // typo, and a typo must not turn into a "safe" verdict.
        if (unsearched && !t.object.empty()) continue;
        if (!t.object.empty() && !object_loaded) {
            out.not_loaded.push_back(t.spec());
            continue;
        }
        std::string msg = "function " + t.function + (t.sympos ? " (sympos " + std::to_string(t.sympos) + ")" : "") +
                          " not found in " +
                          (t.object.empty() ? std::string("any readable module of the process") : t.object);
        if (unsearched) msg += " (some modules could not be read; name the object as OBJECT:FUNCTION)";
        return make_error(msg);
    }
    return out;
}

}  // namespace lpsafe

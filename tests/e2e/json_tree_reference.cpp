// The tree-built documents as lpsafe printed them before the JSON was
// streamed (json_report.cpp and kernel_run.cpp at 5e20d05, verbatim): the
// reference json_stream_test.cpp compares the streamed document with.
#include "json_tree_reference.h"

#include <fmt/format.h>

#include <map>

#include "report/livepatch_report.h"

namespace lpsafe::e2e::reference {
namespace {

using report::Mode;
using report::stop_totals;
using report::StopTotals;
using report::total;
using nlohmann::json;

// Objects are filled by assignment and arrays moved into place: nlohmann's
// initializer lists copy every value, which made JSON for the 25,505 frames
// of the 1,000-thread core cost ten times the unwinding.
json frame_json(const Frame& f, int index, const std::vector<Finding>& findings) {
    json j = json::object();
    j["pc"] = fmt::format("{:#x}", f.pc);
    j["sp"] = fmt::format("{:#x}", f.sp);
    j["object"] = f.object;
    j["function"] = f.function;
    j["offset"] = f.offset;
    j["method"] = method_name(f.method);
    j["cross_checked"] = f.cross_checked;
    if (f.cfa != 0) j["cfa"] = fmt::format("{:#x}", f.cfa);
    json failed = json::array();
    for (const Finding& x : findings) {
        if (x.frame == index) failed.push_back(check_name(x.check));
    }
    if (!failed.empty()) j["failed_checks"] = std::move(failed);
    return j;
}

json task_json(const TaskVerdict& t, Mode mode) {
    json blocked = json::array();
    for (const BlockedBy& b : t.blocked_by) {
        blocked.push_back({{"frame", b.frame}, {"object", b.object}, {"function", b.function}});
    }
    json failed = json::array();
    for (const Finding& f : t.findings) {
        failed.push_back({{"check", check_name(f.check)}, {"frame", f.frame}, {"detail", f.detail}});
    }
    json frames = json::array();
    for (size_t i = 0; i < t.frames.size(); ++i) frames.push_back(frame_json(t.frames[i], static_cast<int>(i), t.findings));
    json skipped = json::array();
    for (const SkippedCheck& s : t.skipped) skipped.push_back({{"check", check_name(s.check)}, {"reason", s.reason}});
    json j = {{"pid", t.pid}, {"tid", t.tid}, {"comm", t.comm}};
    if (!t.state.empty()) j["state"] = t.state;
    if (mode == Mode::check) {
        j["verdict"] = verdict_name(t.verdict);
        j["blocked_by"] = std::move(blocked);
    }
    if (!t.reason.empty()) j["reason"] = t.reason;
    if (t.forecast) j["forecast"] = {{"kind", forecast_name(t.forecast->kind)}, {"why", t.forecast->why}};
    if (!skipped.empty()) j["skipped_checks"] = std::move(skipped);
    if (t.stop_ns != 0) j["stop_ns"] = t.stop_ns;
    // Only a stack that was read and judged can be reliable (not one that
    // is running, gone or unreadable).
    j["reliable"] = t.findings.empty() && t.reason.empty();
    j["failed_checks"] = std::move(failed);
    j["end"] = t.end.detail;
    j["frames"] = std::move(frames);
    return j;
}

json to_json(std::span<const ProcessReport> reports, Mode mode) {
    json tasks = json::array();
    json patch = {{"functions", json::array()}, {"not_loaded", json::array()}, {"unsearched", json::array()}};
    for (const ProcessReport& r : reports) {
        for (const TaskVerdict& t : r.tasks) tasks.push_back(task_json(t, mode));
        for (const PatchedRange& p : r.patch.ranges) {
            json f = {{"pid", r.pid}, {"object", p.object}, {"function", p.function},
                      {"start", fmt::format("{:#x}", p.start)}, {"end", fmt::format("{:#x}", p.end)}};
            if (!p.stands_for.empty()) f["stands_for"] = p.stands_for;
            patch["functions"].push_back(std::move(f));
        }
        for (const auto& s : r.patch.not_loaded) patch["not_loaded"].push_back(s);
        for (const auto& s : r.patch.unsearched) patch["unsearched"].push_back(s);
    }
    const Summary s = total(reports);
    const StopTotals stops = stop_totals(reports);
    json out = json::object();
    out["tasks"] = std::move(tasks);
    if (mode == Mode::check) {
        out["patch"] = std::move(patch);
        out["summary"] = {{"safe", s.safe},       {"blocked", s.blocked}, {"unreliable", s.unreliable},
                          {"running", s.running}, {"gone", s.gone},       {"unreadable", s.unreadable}};
    } else {
        out["summary"] = {{"reliable", s.safe + s.blocked}, {"unreliable", s.unreliable},
                          {"running", s.running},           {"gone", s.gone},
                          {"unreadable", s.unreadable}};
    }
    if (stops.threads > 0) {
        out["summary"]["stop_ns_total"] = stops.total_ns;
        out["summary"]["stop_ns_max"] = stops.max_ns;
    }
    return out;
}
void add_image_json(nlohmann::json& kernel, const KernelImage* image) {
    kernel["image"] = image != nullptr ? image->path : std::string{};
    kernel["image_format"] = image != nullptr ? image->format : std::string{};
    kernel["image_missing"] = image == nullptr ? std::string("disabled (--no-kernel-image)") : image->missing;
    kernel["image_mismatch"] = image != nullptr ? image->mismatch : std::string{};
    auto modules = nlohmann::json::array();
    if (image != nullptr) {
        for (const KernelModuleCode& m : image->modules) {
            modules.push_back({{"name", m.name},
                               {"path", m.path},
                               {"build_id", m.build_id},
                               {"state", module_code_state_name(m.state)},
                               {"detail", m.detail}});
        }
    }
    kernel["modules"] = modules;
}
void add_patch_states(json& tasks, const std::vector<readers::TaskPatchState>& states) {
    std::map<std::pair<int, int>, const readers::TaskPatchState*> by_task;
    for (const readers::TaskPatchState& s : states) by_task[{s.pid, s.tid}] = &s;
    for (json& t : tasks) {
        const auto it = by_task.find({t["pid"].get<int>(), t["tid"].get<int>()});
        if (it == by_task.end()) continue;
        t["patch_state"] = report::patch_state_label(*it->second);
        if (!it->second->state) t["patch_state_error"] = it->second->unreadable;
    }
}

}  // namespace

nlohmann::json process_json(std::span<const ProcessReport> reports, report::Mode mode) { return to_json(reports, mode); }

nlohmann::json kernel_json(const pipeline::KernelRun& run, report::Mode mode) {
    std::span<const ProcessReport> reports(&run.report, 1);
    auto j = to_json(reports, mode);
    j["kernel"] = {{"source", run.source},
                   {"release", run.release},
                   {"build_id", run.build_id},
                   {"livepatch", report::livepatch_to_json(run.livepatch)},
                   {"notes", run.notes}};
    add_image_json(j["kernel"], run.image);
    add_patch_states(j["tasks"], run.patch_states);
    return j;
}

}  // namespace lpsafe::e2e::reference

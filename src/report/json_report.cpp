#include "report/json_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <utility>

#include "report/livepatch_report.h"

namespace lpsafe::report {
namespace {

using nlohmann::json;

// Bytes a JSON string cannot hold as they are: control characters, '"' and
// '\\'; and bytes of multi-byte UTF-8, which must be checked.
constexpr std::array<bool, 256> kNotPlain = [] {
    std::array<bool, 256> t{};
    for (size_t c = 0; c < t.size(); ++c) t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    return t;
}();

// A JSON string. Names and details are nearly always printable ASCII, which
// is copied as is; anything else (escapes, UTF-8, invalid bytes) goes
// through nlohmann, the same escaping as the rest of the document, with
// invalid UTF-8 replaced by U+FFFD rather than thrown at.
void append_string(std::string& out, std::string_view s) {
    const bool plain =
        std::none_of(s.begin(), s.end(), [](char c) { return kNotPlain[static_cast<unsigned char>(c)]; });
    if (!plain) {
        out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
        return;
    }
    const size_t at = out.size();
    out.resize(at + s.size() + 2);
    out[at] = '"';
    std::memcpy(&out[at + 1], s.data(), s.size());
    out.back() = '"';
}

// "0x..." in lower case, as fmt's {:#x} writes it (three addresses a frame).
void append_hex(std::string& out, uint64_t v) {
    char buf[21];
    char* const end = buf + sizeof buf;
    char* p = end;
    *--p = '"';
    do {
        *--p = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v != 0);
    *--p = 'x';
    *--p = '0';
    *--p = '"';
    out.append(p, end);
}

template <typename Int>
void append_int(std::string& out, Int v) {
    const fmt::format_int s(v);
    out.append(s.data(), s.size());
}

void append_bool(std::string& out, bool v) { out += v ? "true" : "false"; }

void newline(std::string& out, int depth) {
    out += '\n';
    out.append(static_cast<size_t>(2 * depth), ' ');
}

// An object or array being written at `depth`, laid out as dump(2) does:
// one member per line, "[]" / "{}" when empty. Keys must come in sorted
// order (nlohmann::json keeps its objects in a std::map).
class Nest {
public:
    Nest(std::string& out, int depth, char open) : out_(out), depth_(depth), close_(open == '{' ? '}' : ']') {
        out_ += open;
    }
    // ',', the line break and indentation, and `"k": ` in one append: this
    // runs eight times a frame.
    std::string& key(std::string_view k) {
        char buf[96];
        const size_t indent = 2 * static_cast<size_t>(depth_ + 1);
        if (indent + k.size() + 6 > sizeof buf) {
            next();
            out_.append(1, '"').append(k).append("\": ");
            return out_;
        }
        size_t n = 0;
        if (!first_) buf[n++] = ',';
        first_ = false;
        buf[n++] = '\n';
        std::memset(buf + n, ' ', indent);
        n += indent;
        buf[n++] = '"';
        std::memcpy(buf + n, k.data(), k.size());
        n += k.size();
        std::memcpy(buf + n, "\": ", 3);
        out_.append(buf, n + 3);
        return out_;
    }
    std::string& item() {
        next();
        return out_;
    }
    int inner() const { return depth_ + 1; }
    void close() {
        if (!first_) newline(out_, depth_);
        out_ += close_;
    }

private:
    void next() {
        if (!first_) out_ += ',';
        first_ = false;
        newline(out_, depth_ + 1);
    }
    std::string& out_;
    int depth_;
    char close_;
    bool first_ = true;
};

void write_frame(std::string& out, int depth, const Frame& f, int index, const std::vector<Finding>& findings) {
    Nest o(out, depth, '{');
    if (f.cfa != 0) append_hex(o.key("cfa"), f.cfa);
    append_bool(o.key("cross_checked"), f.cross_checked);
    if (std::any_of(findings.begin(), findings.end(), [&](const Finding& x) { return x.frame == index; })) {
        Nest failed(o.key("failed_checks"), o.inner(), '[');
        for (const Finding& x : findings) {
            if (x.frame == index) append_string(failed.item(), check_name(x.check));
        }
        failed.close();
    }
    append_string(o.key("function"), f.function);
    append_string(o.key("method"), method_name(f.method));
    append_string(o.key("object"), f.object);
    append_int(o.key("offset"), f.offset);
    append_hex(o.key("pc"), f.pc);
    append_hex(o.key("sp"), f.sp);
    o.close();
}

// An array of small objects, each written by `members`.
template <typename T, typename Members>
void write_objects(std::string& out, int depth, const std::vector<T>& items, Members members) {
    Nest list(out, depth, '[');
    for (const T& x : items) {
        Nest o(list.item(), list.inner(), '{');
        members(o, x);
        o.close();
    }
    list.close();
}

void blocked_by_members(Nest& o, const BlockedBy& b) {
    append_int(o.key("frame"), b.frame);
    append_string(o.key("function"), b.function);
    append_string(o.key("object"), b.object);
}

void finding_members(Nest& o, const Finding& f) {
    append_string(o.key("check"), check_name(f.check));
    append_string(o.key("detail"), f.detail);
    append_int(o.key("frame"), f.frame);
}

void skipped_members(Nest& o, const SkippedCheck& s) {
    append_string(o.key("check"), check_name(s.check));
    append_string(o.key("reason"), s.reason);
}

void write_frames(std::string& out, int depth, const TaskVerdict& t) {
    Nest list(out, depth, '[');
    for (size_t i = 0; i < t.frames.size(); ++i) {
        write_frame(list.item(), list.inner(), t.frames[i], static_cast<int>(i), t.findings);
    }
    list.close();
}

using PatchStates = std::map<std::pair<int, int>, const readers::TaskPatchState*>;

void write_task(std::string& out, int depth, const TaskVerdict& t, Mode mode, const PatchStates& states) {
    Nest o(out, depth, '{');
    if (mode == Mode::check) write_objects(o.key("blocked_by"), o.inner(), t.blocked_by, blocked_by_members);
    append_string(o.key("comm"), t.comm);
    append_string(o.key("end"), t.end.detail);
    write_objects(o.key("failed_checks"), o.inner(), t.findings, finding_members);
    if (t.forecast) {
        Nest f(o.key("forecast"), o.inner(), '{');
        append_string(f.key("kind"), forecast_name(t.forecast->kind));
        append_string(f.key("why"), t.forecast->why);
        f.close();
    }
    write_frames(o.key("frames"), o.inner(), t);
    if (const auto it = states.find({t.pid, t.tid}); it != states.end()) {
        append_string(o.key("patch_state"), patch_state_label(*it->second));
        if (!it->second->state) append_string(o.key("patch_state_error"), it->second->unreadable);
    }
    append_int(o.key("pid"), t.pid);
    if (!t.reason.empty()) append_string(o.key("reason"), t.reason);
    // Only a stack that was read and judged can be reliable (not one that
    // is running, gone or unreadable).
    append_bool(o.key("reliable"), t.findings.empty() && t.reason.empty());
    if (!t.skipped.empty()) write_objects(o.key("skipped_checks"), o.inner(), t.skipped, skipped_members);
    if (!t.state.empty()) append_string(o.key("state"), t.state);
    if (t.stop_ns != 0) append_int(o.key("stop_ns"), t.stop_ns);
    append_int(o.key("tid"), t.tid);
    if (mode == Mode::check) append_string(o.key("verdict"), verdict_name(t.verdict));
    o.close();
}

void write_tasks(JsonOut& out, int depth, std::span<const ProcessReport> reports, Mode mode,
                 std::span<const readers::TaskPatchState> patch_states) {
    PatchStates states;
    for (const readers::TaskPatchState& s : patch_states) states[{s.pid, s.tid}] = &s;
    Nest list(out.buf(), depth, '[');
    for (const ProcessReport& r : reports) {
        for (const TaskVerdict& t : r.tasks) {
            write_task(list.item(), list.inner(), t, mode, states);
            out.flush_if_full();
        }
    }
    list.close();
}

json patch_json(std::span<const ProcessReport> reports) {
    json patch = {{"functions", json::array()}, {"not_loaded", json::array()}, {"unsearched", json::array()}};
    for (const ProcessReport& r : reports) {
        for (const PatchedRange& p : r.patch.ranges) {
            json f = {{"pid", r.pid}, {"object", p.object}, {"function", p.function},
                      {"start", fmt::format("{:#x}", p.start)}, {"end", fmt::format("{:#x}", p.end)}};
            if (!p.stands_for.empty()) f["stands_for"] = p.stands_for;
            patch["functions"].push_back(std::move(f));
        }
        for (const auto& s : r.patch.not_loaded) patch["not_loaded"].push_back(s);
        for (const auto& s : r.patch.unsearched) patch["unsearched"].push_back(s);
    }
    return patch;
}

json summary_json(std::span<const ProcessReport> reports, Mode mode) {
    const Summary s = total(reports);
    json out;
    if (mode == Mode::check) {
        out = {{"safe", s.safe},       {"blocked", s.blocked}, {"unreliable", s.unreliable},
               {"running", s.running}, {"gone", s.gone},       {"unreadable", s.unreadable}};
    } else {
        out = {{"reliable", s.safe + s.blocked}, {"unreliable", s.unreliable}, {"running", s.running},
               {"gone", s.gone},                 {"unreadable", s.unreadable}};
    }
    const StopTotals stops = stop_totals(reports);
    if (stops.threads > 0) {
        out["stop_ns_total"] = stops.total_ns;
        out["stop_ns_max"] = stops.max_ns;
    }
    return out;
}

}  // namespace

void JsonOut::flush() {
    if (file_ == nullptr || buf_.empty()) return;
    std::fwrite(buf_.data(), 1, buf_.size(), file_);
    buf_.clear();
}

void append_dumped(std::string& out, const json& value, int depth) {
    const std::string s = value.dump(2, ' ', false, json::error_handler_t::replace);
    if (depth == 0) {
        out += s;
        return;
    }
    // A dumped string holds no raw newline (it would be "\n"), so every one
    // is a line break to indent.
    for (char c : s) {
        if (c == '\n') {
            newline(out, depth);
        } else {
            out += c;
        }
    }
}

void write_json(JsonOut& out, std::span<const ProcessReport> reports, Mode mode, const JsonExtras& extras) {
    // The small members, in key order; "tasks" is written in its place.
    json small = extras.members;
    if (mode == Mode::check) small["patch"] = patch_json(reports);
    small["summary"] = summary_json(reports, mode);
    Nest doc(out.buf(), 0, '{');
    bool tasks_written = false;
    const auto tasks = [&] {
        doc.key("tasks");
        write_tasks(out, doc.inner(), reports, mode, extras.patch_states);
        tasks_written = true;
    };
    for (const auto& [key, value] : small.items()) {
        if (!tasks_written && key > "tasks") tasks();
        append_dumped(doc.key(key), value, doc.inner());
    }
    if (!tasks_written) tasks();
    doc.close();
    out.buf() += '\n';
    out.flush();
}

Summary total(std::span<const ProcessReport> reports) {
    Summary s;
    for (const ProcessReport& r : reports) s += r.summary;
    return s;
}

StopTotals stop_totals(std::span<const ProcessReport> reports) {
    StopTotals st;
    for (const ProcessReport& r : reports) {
        for (const TaskVerdict& t : r.tasks) {
            if (t.stop_ns == 0) continue;
            ++st.threads;
            st.total_ns += t.stop_ns;
            st.max_ns = std::max(st.max_ns, t.stop_ns);
        }
    }
    return st;
}

}  // namespace lpsafe::report

// Reads /sys/kernel/livepatch and /proc/*/task/*/patch_state. The layout
// mirrors kernel/livepatch/core.c: klp_init_patch() adds a kobject named
// after the module, klp_init_object() one per object ("vmlinux" or the
// module name), klp_init_func() one per function named "%s,%lu" with
// old_sympos, or 1 when it is 0.
#include "readers/livepatch_sysfs.h"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {  // attributes end in "\n"
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A one-line attribute, read with plain system calls so that errno is the
// real reason (ENOENT/ESRCH tell a task that exited from an unreadable one).
Result<std::string> read_attr(const fs::path& p, int* err = nullptr) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    std::string out;
    ssize_t n = fd < 0 ? -1 : 0;
    char buf[256];
    while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < 4096) out.append(buf, static_cast<size_t>(n));
    const int saved = errno;
    if (fd >= 0) ::close(fd);
    if (n < 0) {
        if (err != nullptr) *err = saved;
        return make_error("cannot read " + p.string() + ": " + std::strerror(saved));
    }
    return trim(std::move(out));
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

Result<bool> read_bool(const fs::path& p) {
    auto s = read_attr(p);
    if (!s) return s.error();
    if (*s == "0") return false;
    if (*s == "1") return true;
    return make_error(p.string() + ": expected 0 or 1, found '" + *s + "'");
}

// Subdirectories of `dir`, sorted by name (readdir order is arbitrary).
std::vector<fs::path> subdirs(const fs::path& dir) {
    std::vector<fs::path> out;
    // The non-throwing increment: a /proc task directory can vanish mid-scan.
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (it->is_directory(ec2)) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<LivepatchObject> read_object(const fs::path& dir) {
    LivepatchObject obj{dir.filename().string(), std::nullopt, {}};
    if (fs::exists(dir / "patched")) {
        auto b = read_bool(dir / "patched");
        if (!b) return b.error();
        obj.patched = *b;
    }
    for (const fs::path& f : subdirs(dir)) {
        const std::string name = f.filename().string();
        const auto comma = name.rfind(',');
        const auto sympos = comma == std::string::npos ? std::nullopt
                                                       : parse_number<uint64_t>(std::string_view(name).substr(comma + 1));
        if (!sympos || comma == 0) return make_error(f.string() + ": expected a <function,sympos> directory");
        obj.funcs.push_back({name.substr(0, comma), *sympos});
    }
    return obj;
}

Result<LoadedPatch> read_patch(const fs::path& dir) {
    LoadedPatch p;
    p.name = dir.filename().string();
    auto enabled = read_bool(dir / "enabled");
    if (!enabled) return enabled.error();
    p.enabled = *enabled;
    if (fs::exists(dir / "transition")) {
        auto t = read_bool(dir / "transition");
        if (!t) return t.error();
        p.transition = *t;
    }
    if (fs::exists(dir / "replace")) {
        auto r = read_bool(dir / "replace");
        if (!r) return r.error();
        p.replace = *r;
    }
    if (fs::exists(dir / "stack_order")) {
        auto s = read_attr(dir / "stack_order");
        if (!s) return s.error();
        p.stack_order = parse_number<uint64_t>(*s);
        if (!p.stack_order) return make_error((dir / "stack_order").string() + ": not a number: '" + *s + "'");
    }
    for (const fs::path& o : subdirs(dir)) {
        auto obj = read_object(o);
        if (!obj) return obj.error();
        p.objects.push_back(std::move(*obj));
    }
    return p;
}

std::optional<int> numeric_name(const fs::path& p) { return parse_number<int>(p.filename().string()); }

}  // namespace

bool LivepatchStatus::in_transition() const {
    return std::any_of(patches.begin(), patches.end(), [](const LoadedPatch& p) { return p.transition; });
}

const char* patch_state_name(PatchState s) {
    switch (s) {
        case PatchState::idle: return "idle";
        case PatchState::unpatched: return "unpatched";
        case PatchState::patched: return "patched";
    }
    return "?";
}

Result<LivepatchStatus> read_livepatch_sysfs(const std::string& root) {
    const fs::path dir = fs::path(root) / "sys/kernel/livepatch";
    LivepatchStatus status;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return status;
    status.available = true;
    for (const fs::path& p : subdirs(dir)) {
        auto patch = read_patch(p);
        if (!patch) return patch.error();
        status.patches.push_back(std::move(*patch));
    }
    return status;
}

Result<std::vector<TaskPatchState>> read_task_patch_states(const std::string& root) {
    std::vector<TaskPatchState> out;
    const fs::path proc = fs::path(root) / "proc";
    std::error_code ec;
    if (!fs::is_directory(proc, ec)) return make_error(proc.string() + " is not a directory");
    for (const fs::path& pid_dir : subdirs(proc)) {
        const auto pid = numeric_name(pid_dir);
        if (!pid) continue;
        for (const fs::path& task_dir : subdirs(pid_dir / "task")) {
            const auto tid = numeric_name(task_dir);
            if (!tid) continue;
            int err = 0;
            auto text = read_attr(task_dir / "patch_state", &err);
            // ENOENT: no CONFIG_LIVEPATCH, or the task exited; ESRCH: exited.
            if (!text && (err == ENOENT || err == ESRCH)) continue;
            TaskPatchState t{*pid, *tid, std::nullopt, {}};
            const auto v = text ? parse_number<int>(*text) : std::nullopt;
            if (!text) {
                t.unreadable = text.error().message;
            } else if (!v || *v < -1 || *v > 1) {
                t.unreadable = (task_dir / "patch_state").string() + ": unexpected value '" + *text + "'";
            } else {
                t.state = static_cast<PatchState>(*v);
            }
            out.push_back(std::move(t));
        }
    }
    return out;
}

}  // namespace lpsafe::readers

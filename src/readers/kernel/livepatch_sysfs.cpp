// Reads /sys/kernel/livepatch and /proc/*/task/*/patch_state. The layout
// mirrors kernel/livepatch/core.c: klp_init_patch() adds a kobject named
// after the module, klp_init_object() one per object ("vmlinux" or the
// module name), klp_init_func() one per function named "%s,%lu" with
// old_sympos, or 1 when it is 0.
#include "readers/kernel/livepatch_sysfs.h"

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

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

// A sysfs attribute through a ProcSource (the live /sys, a capture tree or
// archive): the same text, or the errno that refused it.
Result<std::string> tree_attr(const ProcSource& tree, const std::string& path) {
    FileRead r = tree.read(path);
    if (!r.ok()) return make_error("cannot read " + tree.describe() + "/" + path + ": " + std::strerror(r.error));
    return trim(std::move(r.data));
}

Result<std::optional<bool>> tree_bool(const ProcSource& tree, const std::string& path) {
    FileRead r = tree.read(path);
    if (r.error == ENOENT) return std::optional<bool>{};  // an attribute this kernel version does not have
    if (!r.ok()) return make_error("cannot read " + tree.describe() + "/" + path + ": " + std::strerror(r.error));
    const std::string v = trim(std::move(r.data));
    if (v == "0" || v == "1") return std::optional<bool>{v == "1"};
    return make_error(tree.describe() + "/" + path + ": expected 0 or 1, found '" + v + "'");
}

// Subdirectories of `dir`, sorted (a capture lists them sorted already; the
// live readdir order is arbitrary). A name is a directory when it can be
// listed: attributes are files, and an archive keeps directories as paths.
std::vector<std::string> subdirs(const ProcSource& tree, const std::string& dir) {
    std::vector<std::string> out;
    if (auto names = tree.list(dir)) {
        for (const std::string& n : *names) {
            if (tree.list(join(dir, n))) out.push_back(n);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<LivepatchObject> read_object(const ProcSource& tree, const std::string& dir, const std::string& name) {
    LivepatchObject obj{name, std::nullopt, {}};
    auto patched = tree_bool(tree, join(dir, "patched"));
    if (!patched) return patched.error();
    obj.patched = *patched;
    for (const std::string& f : subdirs(tree, dir)) {
        const auto comma = f.rfind(',');
        const auto sympos = comma == std::string::npos ? std::nullopt
                                                       : parse_number<uint64_t>(std::string_view(f).substr(comma + 1));
        if (!sympos || comma == 0) {
            return make_error(tree.describe() + "/" + join(dir, f) + ": expected a <function,sympos> directory");
        }
        obj.funcs.push_back({f.substr(0, comma), *sympos});
    }
    return obj;
}

Result<LoadedPatch> read_patch(const ProcSource& tree, const std::string& dir, const std::string& name) {
    LoadedPatch p;
    p.name = name;
    auto enabled = tree_bool(tree, join(dir, "enabled"));
    if (!enabled) return enabled.error();
    if (!*enabled) return make_error(tree.describe() + "/" + join(dir, "enabled") + ": missing");
    p.enabled = **enabled;
    auto transition = tree_bool(tree, join(dir, "transition"));
    if (!transition) return transition.error();
    p.transition = transition->value_or(false);
    auto replace = tree_bool(tree, join(dir, "replace"));
    if (!replace) return replace.error();
    p.replace = *replace;
    if (tree.read(join(dir, "stack_order")).error != ENOENT) {
        auto s = tree_attr(tree, join(dir, "stack_order"));
        if (!s) return s.error();
        p.stack_order = parse_number<uint64_t>(*s);
        if (!p.stack_order) return make_error(tree.describe() + "/" + join(dir, "stack_order") + ": not a number: '" + *s + "'");
    }
    for (const std::string& o : subdirs(tree, dir)) {
        auto obj = read_object(tree, join(dir, o), o);
        if (!obj) return obj.error();
        p.objects.push_back(std::move(*obj));
    }
    return p;
}

std::optional<int> numeric_name(const fs::path& p) { return parse_number<int>(p.filename().string()); }

// Subdirectories of a real directory, sorted by name.
std::vector<fs::path> dirs_in(const fs::path& dir) {
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

Result<LivepatchStatus> read_livepatch(const ProcSource& tree, const std::string& dir) {
    LivepatchStatus status;
    if (!tree.list(dir)) return status;
    status.available = true;
    for (const std::string& name : subdirs(tree, dir)) {
        auto patch = read_patch(tree, join(dir, name), name);
        if (!patch) return patch.error();
        status.patches.push_back(std::move(*patch));
    }
    return status;
}

Result<LivepatchStatus> read_livepatch_sysfs(const std::string& root) {
    const fs::path dir = fs::path(root) / "sys/kernel/livepatch";
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return LivepatchStatus{};
    auto tree = open_proc_root(dir.string());
    if (!tree) return tree.error();
    return read_livepatch(**tree, "");
}

TaskPatchState parse_patch_state(int pid, int tid, const FileRead& file, const std::string& where) {
    TaskPatchState t{pid, tid, std::nullopt, {}};
    const std::string text = trim(file.data);
    const auto v = file.ok() ? parse_number<int>(text) : std::nullopt;
    if (!file.ok()) {
        t.unreadable = "cannot read " + where + ": " + std::strerror(file.error);
    } else if (!v || *v < -1 || *v > 1) {
        t.unreadable = where + ": unexpected value '" + text + "'";
    } else {
        t.state = static_cast<PatchState>(*v);
    }
    return t;
}

Result<std::vector<TaskPatchState>> read_task_patch_states(const std::string& root) {
    std::vector<TaskPatchState> out;
    const fs::path proc = fs::path(root) / "proc";
    std::error_code ec;
    if (!fs::is_directory(proc, ec)) return make_error(proc.string() + " is not a directory");
    for (const fs::path& pid_dir : dirs_in(proc)) {
        const auto pid = numeric_name(pid_dir);
        if (!pid) continue;
        for (const fs::path& task_dir : dirs_in(pid_dir / "task")) {
            const auto tid = numeric_name(task_dir);
            if (!tid) continue;
            const fs::path file = task_dir / "patch_state";
            int err = 0;
            auto text = read_attr(file, &err);
            // ENOENT: no CONFIG_LIVEPATCH, or the task exited; ESRCH: exited.
            if (!text && (err == ENOENT || err == ESRCH)) continue;
            TaskPatchState t = parse_patch_state(*pid, *tid, text ? FileRead{*text, 0} : FileRead{{}, err}, file.string());
            out.push_back(std::move(t));
        }
    }
    return out;
}

}  // namespace lpsafe::readers

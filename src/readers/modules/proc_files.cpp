#include "readers/modules/proc_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

namespace lpsafe::readers {
namespace {

// PF_KTHREAD in include/linux/sched.h.
constexpr unsigned kPfKthread = 0x00200000;
// CAP_SYS_PTRACE in include/uapi/linux/capability.h.
constexpr unsigned kCapSysPtrace = 19;

std::optional<int> parse_int(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::vector<int> numeric_entries(const std::string& dir) {
    std::vector<int> out;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return out;
    while (const dirent* e = readdir(d)) {
        if (auto v = parse_int(e->d_name)) out.push_back(*v);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

// The value after "Key:" in a status file, trimmed.
std::string status_field(const std::string& status, std::string_view key) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
        const auto start = line.find_first_not_of(" \t", key.size() + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
    }
    return {};
}

Result<Mapping> parse_maps_line(std::string_view line) {
    // start-end perms offset dev inode [path]
    std::istringstream in{std::string(line)};
    std::string range, perms, offset, dev, inode;
    if (!(in >> range >> perms >> offset >> dev >> inode) || perms.size() < 3)
        return make_error("malformed maps line: " + std::string(line));
    const auto dash = range.find('-');
    Mapping m;
    const char* r = range.data();
    auto a = std::from_chars(r, r + (dash == std::string::npos ? 0 : dash), m.start, 16);
    auto b = std::from_chars(r + dash + 1, r + range.size(), m.end, 16);
    auto c = std::from_chars(offset.data(), offset.data() + offset.size(), m.file_offset, 16);
    if (dash == std::string::npos || a.ec != std::errc() || b.ec != std::errc() || c.ec != std::errc() ||
        m.end <= m.start)
        return make_error("malformed maps line: " + std::string(line));
    m.readable = perms[0] == 'r';
    m.writable = perms[1] == 'w';
    m.executable = perms[2] == 'x';
    std::string path;
    std::getline(in >> std::ws, path);
    if (!path.empty() && path[0] == '/') m.path = std::move(path);
    return m;
}

}  // namespace

Result<std::string> read_proc_file(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
    std::string out;
    char buf[8192];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            close(fd);
            return make_error("cannot read " + path + ": " + std::strerror(err));
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

Result<std::vector<int>> list_tasks(int pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    if (access(dir.c_str(), R_OK) != 0) return make_error("process " + std::to_string(pid) + " does not exist");
    return numeric_entries(dir);
}

std::vector<int> list_processes() { return numeric_entries("/proc"); }

Result<TaskInfo> read_task_info(int pid, int tid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
    auto stat = read_proc_file(dir + "/stat");
    if (!stat) return stat.error();
    // "tid (comm) S ppid pgrp session tty tpgid flags ...": comm may hold
    // spaces and parentheses, so fields are counted from the last ')'.
    const auto open_paren = stat->find('(');
    const auto close_paren = stat->rfind(')');
    if (open_paren == std::string::npos || close_paren == std::string::npos || close_paren < open_paren)
        return make_error(dir + "/stat is malformed");
    TaskInfo info;
    info.comm = stat->substr(open_paren + 1, close_paren - open_paren - 1);
    std::istringstream rest(stat->substr(close_paren + 1));
    std::string state;
    long skip = 0;
    rest >> state >> skip >> skip >> skip >> skip >> skip >> info.flags;
    if (!rest || state.size() != 1) return make_error(dir + "/stat is malformed");
    info.state = state[0];
    auto status = read_proc_file(dir + "/status");
    if (!status) return status.error();
    info.tracer_pid = parse_int(status_field(*status, "TracerPid")).value_or(0);
    return info;
}

bool is_kernel_thread(const TaskInfo& info) { return (info.flags & kPfKthread) != 0; }

Result<std::vector<Mapping>> parse_maps(std::string_view text) {
    std::vector<Mapping> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty()) continue;
        auto m = parse_maps_line(line);
        if (!m) return m.error();
        if (!out.empty() && m->start < out.back().end) return make_error("maps lines overlap or are not sorted");
        out.push_back(std::move(*m));
    }
    return out;
}

Result<Auxv> read_auxv(int pid) {
    auto bytes = read_proc_file("/proc/" + std::to_string(pid) + "/auxv");
    if (!bytes) return bytes.error();
    return parse_auxv(std::as_bytes(std::span(bytes->data(), bytes->size())));
}

std::optional<int> yama_ptrace_scope() {
    auto text = read_proc_file("/proc/sys/kernel/yama/ptrace_scope");
    if (!text) return std::nullopt;
    std::string s = *text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return parse_int(s);
}

bool has_cap_sys_ptrace() {
    auto status = read_proc_file("/proc/self/status");
    if (!status) return false;
    const std::string eff = status_field(*status, "CapEff");
    uint64_t caps = 0;
    std::from_chars(eff.data(), eff.data() + eff.size(), caps, 16);
    return (caps >> kCapSysPtrace) & 1;
}

}  // namespace lpsafe::readers

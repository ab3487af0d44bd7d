// The whole-system scan. For a live /proc each process is held by a pidfd
// from before its first read until after its last, then confirmed alive, so
// a task whose pid was reused mid-scan is reported gone, never mixed up.
#include "readers/kernel/kernel_scan.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <algorithm>
#include <atomic>
#include <thread>

namespace lpsafe::readers {
namespace {

std::optional<int> as_pid(std::string_view name) {
    int v = 0;
    const auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
    if (ec != std::errc{} || p != name.data() + name.size() || v <= 0) return std::nullopt;
    return v;
}

// proc(5) stat: "pid (comm) state ..."; comm may hold spaces and ')'.
struct StatFields {
    std::string comm;
    std::string state;
    std::string starttime;  // field 22, compared as text
};

std::optional<StatFields> parse_stat(std::string_view s) {
    const auto open = s.find('(');
    const auto close = s.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open || close + 3 > s.size()) {
        return std::nullopt;
    }
    StatFields f;
    f.comm = std::string(s.substr(open + 1, close - open - 1));
    std::string_view rest = s.substr(close + 2);
    for (int field = 3; field <= 22; ++field) {
        const auto sp = rest.find_first_of(" \n");
        const std::string_view v = rest.substr(0, sp);
        if (v.empty()) return std::nullopt;
        if (field == 3) f.state = std::string(v);
        if (field == 22) f.starttime = std::string(v);
        if (sp == std::string_view::npos) {
            if (field != 22) return std::nullopt;
            break;
        }
        rest = rest.substr(sp + 1);
    }
    return f;
}

std::string starttime_of(const FileRead& stat) {
    if (!stat.ok()) return {};
    auto f = parse_stat(stat.data);
    return f ? f->starttime : std::string{};
}

// One process of a batch: held from before its task list is read until
// after the last of its tasks' files.
struct HeldProcess {
    std::unique_ptr<ProcessHold> hold;
    std::string lead_start;  // starttime of the leader when the hold was taken
    size_t first = 0, end = 0;  // its tasks in the output
};

std::optional<HeldProcess> hold_process(const ProcSource& source, int pid, std::vector<RawTask>& out) {
    int error = 0;
    HeldProcess p;
    p.hold = source.hold(pid, error);
    if (source.live() && !p.hold) return std::nullopt;  // exited before the scan reached it: nothing to report
    if (p.hold) p.lead_start = starttime_of(source.read(std::to_string(pid) + "/stat"));
    p.first = out.size();
    auto tids = source.list(std::to_string(pid) + "/task");
    if (!tids) {
        out.push_back(RawTask{pid, pid, {{}, ESRCH}, {}, {}, "its task list could not be read: exited?"});
    } else {
        for (const std::string& name : *tids) {
            if (auto tid = as_pid(name)) out.push_back(RawTask{pid, *tid, {}, {}, {}, {}});
        }
    }
    p.end = out.size();
    return p;
}

void confirm_process(const ProcSource& source, const HeldProcess& p, std::vector<RawTask>& out) {
    if (!p.hold || p.first == p.end) return;
    const std::string pid = std::to_string(out[p.first].pid);
    if (p.hold->still_same() && !p.lead_start.empty() && starttime_of(source.read(pid + "/stat")) == p.lead_start) {
        return;
    }
    for (size_t i = p.first; i < p.end; ++i) {
        out[i].gone_reason = "the process exited or its pid was reused during the scan";
    }
}

// Reads tasks [first, end) of `out` with a few threads: the kernel side of
// /proc (stack walks, symbol lookups) is the cost, and it scales with cores.
void read_tasks(const ProcSource& source, std::vector<RawTask>& out, size_t first, bool patch_state) {
    std::atomic<size_t> next{first};
    constexpr size_t kChunk = 64;
    const auto work = [&] {
        for (size_t b; (b = next.fetch_add(kChunk)) < out.size();) {
            for (size_t i = b; i < std::min(b + kChunk, out.size()); ++i) {
                if (!out[i].gone_reason.empty()) continue;
                TaskFiles f = source.read_task(out[i].pid, out[i].tid);
                out[i].stat = std::move(f.stat);
                out[i].wchan = std::move(f.wchan);
                out[i].stack = std::move(f.stack);
                if (patch_state) {
                    out[i].patch_state = source.read(std::to_string(out[i].pid) + "/task/" + std::to_string(out[i].tid) +
                                                     "/patch_state");
                }
            }
        }
    };
    const size_t tasks = out.size() - first;
    const unsigned workers = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 4, tasks / kChunk + 1});
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < workers; ++i) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
}

// Processes are held in batches so that the pidfds stay well under the
// usual 1024 open-file limit.
void capture_batch(const ProcSource& source, std::span<const int> pids, std::vector<RawTask>& out, bool patch_state) {
    std::vector<HeldProcess> held;
    const size_t first = out.size();
    for (int pid : pids) {
        if (auto p = hold_process(source, pid, out)) held.push_back(std::move(*p));
    }
    read_tasks(source, out, first, patch_state);
    for (const HeldProcess& p : held) confirm_process(source, p, out);
}

int reader_pid_from_info(const FileRead& info) {
    if (!info.ok()) return 0;
    const auto pos = info.data.find("reader_pid ");
    if (pos == std::string::npos) return 0;
    return as_pid(std::string_view(info.data).substr(pos + 11, info.data.find('\n', pos) - pos - 11)).value_or(0);
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Why a task's data is missing, as a status; nullopt when it was read.
std::optional<std::pair<CaptureStatus, std::string>> task_status(const RawTask& t) {
    if (!t.gone_reason.empty()) return std::pair{CaptureStatus::gone, t.gone_reason};
    for (const auto& [file, name] : {std::pair{&t.stat, "stat"}, std::pair{&t.stack, "stack"}}) {
        if (file->ok()) continue;
        if (file->error == ENOENT || file->error == ESRCH) return std::pair{CaptureStatus::gone, std::string("exited before it was read")};
        std::string why = std::string(name) + ": " + std::strerror(file->error);
        if (file->error == EPERM || file->error == EACCES) {
            why += " (the stack file needs CAP_SYS_ADMIN and ptrace access: fs/proc/base.c proc_pid_stack)";
        }
        return std::pair{CaptureStatus::unreadable, why};
    }
    return std::nullopt;
}

KernelTask to_task(const RawTask& raw, int reader_pid) {
    KernelTask t;
    t.pid = raw.pid;
    t.tid = raw.tid;
    t.is_reader = reader_pid != 0 && raw.pid == reader_pid;
    if (auto f = raw.stat.ok() ? parse_stat(raw.stat.data) : std::nullopt) {
        t.comm = f->comm;
        t.state = f->state;
    } else if (raw.stat.ok()) {
        t.state = "?";  // garbage stat: not a sleeping state, so unreliable
    }
    if (auto st = task_status(raw)) {
        t.status = st->first;
        t.status_reason = st->second;
        return t;
    }
    if (raw.wchan.ok()) {
        std::string w = trimmed(raw.wchan.data);
        // proc_pid_wchan() prints "0" when it cannot or may not say.
        if (!w.empty() && w != "0") t.wchan = std::move(w);
    }
    t.stack = raw.stack.data;
    return t;
}

constexpr const char* kLivepatchDir = "lpsafe-capture/sys-kernel-livepatch";

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

// Every file under `dir` (patch / object / function: three levels in the
// sysfs ABI), each empty directory as a marker file so that an archive,
// which stores only files, keeps the function directories.
void collect_tree(const ProcSource& tree, const std::string& dir, const std::string& rel, int depth,
                  std::vector<CaptureFile>& out) {
    auto names = tree.list(dir);
    if (!names) return;
    if (names->empty()) out.push_back({join(rel, ".lpsafe-dir"), {}});
    for (const std::string& n : *names) {
        if (n == ".lpsafe-dir") continue;
        if (depth < 4 && tree.list(join(dir, n))) {
            collect_tree(tree, join(dir, n), join(rel, n), depth + 1, out);
        } else {
            out.push_back({join(rel, n), tree.read(join(dir, n))});
        }
    }
}

// /sys/kernel/livepatch on the live system, its copy in a capture.
void capture_livepatch(const ProcSource& source, KernelCapture& c) {
    std::unique_ptr<ProcSource> sys;
    const ProcSource* tree = &source;
    std::string dir = kLivepatchDir;
    if (source.live()) {
        auto opened = open_proc_root("/sys/kernel/livepatch");
        if (!opened) return;  // no CONFIG_LIVEPATCH
        sys = std::move(*opened);
        tree = sys.get();
        dir = "";
    }
    if (!tree->list(dir)) return;
    c.livepatch_files.emplace();
    collect_tree(*tree, dir, "", 0, *c.livepatch_files);
    auto status = read_livepatch(*tree, dir);
    if (status) {
        c.livepatch = std::move(*status);
    } else {
        c.livepatch_error = status.error().message;
    }
}

// The modules kallsyms lists ("addr t name\t[module]"), each once. Only
// names the kernel could have made are kept: they become file names.
std::vector<std::string> kallsyms_modules(std::string_view text) {
    std::vector<std::string> out;
    std::string_view last;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        const auto open = line.rfind('[');
        if (open == std::string_view::npos || !line.ends_with(']')) continue;
        const std::string_view name = line.substr(open + 1, line.size() - open - 2);
        if (name == last || name.empty() || name.size() > 64) continue;
        last = name;
        if (std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }) &&
            std::find(out.begin(), out.end(), name) == out.end()) {
            out.emplace_back(name);
        }
    }
    return out;
}

}  // namespace

Result<KernelCapture> capture_kernel(const ProcSource& source, TaskCapture tasks) {
    KernelCapture c;
    c.source = source.describe();
    c.kallsyms = source.read("kallsyms");
    if (!c.kallsyms.ok()) {
        return make_error("cannot read kallsyms from " + c.source + ": " + std::strerror(c.kallsyms.error));
    }
    c.notes = source.read_meta("sys-kernel-notes");
    for (const std::string& m : kallsyms_modules(c.kallsyms.data)) {
        FileRead note = source.read_meta("sys-module-notes/" + m);
        if (note.ok()) c.module_notes.emplace(m, std::move(note.data));
    }
    c.release = source.read("sys/kernel/osrelease");
    c.info = source.read_meta("info");
    c.reader_pid = source.live() ? static_cast<int>(::getpid()) : reader_pid_from_info(c.info);
    capture_livepatch(source, c);
    if (tasks == TaskCapture::skip) return c;
    auto pids = source.list("");
    if (!pids) return pids.error();
    std::vector<int> numeric;
    for (const std::string& name : *pids) {
        if (auto pid = as_pid(name)) numeric.push_back(*pid);
    }
    constexpr size_t kBatch = 256;
    for (size_t i = 0; i < numeric.size(); i += kBatch) {
        capture_batch(source, std::span(numeric).subspan(i, std::min(kBatch, numeric.size() - i)), c.tasks,
                      c.livepatch_files.has_value());
    }
    return c;
}

std::vector<CaptureFile> capture_files(const KernelCapture& c, const std::string& recorder) {
    std::vector<CaptureFile> files;
    std::string info = "format lpsafe-kernel-capture 1\nrecorder " + recorder + "\nsource " + c.source +
                       "\nrelease " + trimmed(c.release.data) + "\nreader_pid " + std::to_string(c.reader_pid) + "\n";
    files.push_back({"lpsafe-capture/info", {info, 0}});
    files.push_back({"lpsafe-capture/sys-kernel-notes", c.notes});
    for (const auto& [m, note] : c.module_notes) files.push_back({"lpsafe-capture/sys-module-notes/" + m, {note, 0}});
    files.push_back({"sys/kernel/osrelease", c.release});
    files.push_back({"kallsyms", c.kallsyms});
    for (const RawTask& t : c.tasks) {
        const std::string base = std::to_string(t.pid) + "/task/" + std::to_string(t.tid) + "/";
        if (!t.gone_reason.empty() || !t.stat.ok()) {
            files.push_back({base + "stat", {{}, t.stat.ok() ? ESRCH : t.stat.error}});
            continue;
        }
        files.push_back({base + "stat", t.stat});
        files.push_back({base + "wchan", t.wchan});
        files.push_back({base + "stack", t.stack});
        if (t.patch_state.error != ENOENT) files.push_back({base + "patch_state", t.patch_state});
    }
    if (c.livepatch_files) {
        for (const CaptureFile& f : *c.livepatch_files) files.push_back({std::string(kLivepatchDir) + "/" + f.path, f.content});
    }
    return files;
}

Result<KernelInput> to_kernel_input(const KernelCapture& c) {
    auto kallsyms = Kallsyms::parse(c.kallsyms.data);
    if (!kallsyms) return make_error(c.source + ": " + kallsyms.error().message);
    KernelInput in;
    in.kallsyms = std::move(*kallsyms);
    in.build_id = c.notes.ok() ? build_id_from_notes(c.notes.data) : std::string{};
    in.release = trimmed(c.release.data);
    for (const auto& [m, note] : c.module_notes) {
        if (auto id = build_id_from_notes(note); !id.empty()) in.module_build_ids.emplace(m, std::move(id));
    }
    in.tasks.reserve(c.tasks.size());
    for (const RawTask& t : c.tasks) in.tasks.push_back(to_task(t, c.reader_pid));
    if (!c.livepatch_error.empty()) return make_error(c.source + ": " + c.livepatch_error);
    in.livepatch = c.livepatch;
    for (const RawTask& t : c.tasks) {
        // ESRCH: the task exited between its stack and its patch_state.
        if (t.patch_state.error == ENOENT || t.patch_state.error == ESRCH || !t.gone_reason.empty()) continue;
        const std::string file = std::to_string(t.pid) + "/task/" + std::to_string(t.tid) + "/patch_state";
        in.patch_states.push_back(parse_patch_state(t.pid, t.tid, t.patch_state, file));
    }
    return in;
}

namespace {

// The GNU build-id of notes in one byte order, empty when there is none.
std::string build_id_in(std::string_view notes, bool big) {
    // Elf64_Nhdr: namesz, descsz, type (4 bytes each), name and desc padded to 4.
    const auto u32 = [&](size_t off) {
        uint32_t v;
        std::memcpy(&v, notes.data() + off, 4);
        return big ? __builtin_bswap32(v) : v;
    };
    const auto pad = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
    for (size_t off = 0; notes.size() - off >= 12;) {
        const uint64_t namesz = u32(off), descsz = u32(off + 4), type = u32(off + 8);
        const uint64_t name_off = off + 12, desc_off = name_off + pad(namesz);
        if (pad(namesz) > notes.size() - name_off || pad(descsz) > notes.size() - std::min(desc_off, notes.size())) break;
        if (type == 3 && namesz == 4 && notes.substr(name_off, 4) == std::string_view("GNU\0", 4)) {
            std::string hex;
            for (size_t i = 0; i < descsz; ++i) {
                static const char* digits = "0123456789abcdef";
                const auto b = static_cast<unsigned char>(notes[desc_off + i]);
                hex += digits[b >> 4];
                hex += digits[b & 15];
            }
            return hex;
        }
        off = desc_off + pad(descsz);
    }
    return {};
}

}  // namespace

// The notes are in the running kernel's byte order (big-endian on s390x),
// which the file does not say: the one whose walk finds the note.
std::string build_id_from_notes(std::string_view notes) {
    std::string id = build_id_in(notes, false);
    return id.empty() ? build_id_in(notes, true) : id;
}

}  // namespace lpsafe::readers

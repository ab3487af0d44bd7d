// The directory backings of ProcSource: the live /proc and captured trees.
// Reads are openat()+read() on a held root descriptor and getdents64(), so a
// whole-system scan spawns nothing and allocates little.
#include "readers/kernel/proc_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "readers/kernel/kernel_archive.h"

namespace lpsafe::readers {
namespace {

constexpr std::pair<int, const char*> kErrnoNames[] = {
    {EPERM, "EPERM"}, {EACCES, "EACCES"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"},
    {EIO, "EIO"},     {EINVAL, "EINVAL"}, {ENOMEM, "ENOMEM"}, {ENOTDIR, "ENOTDIR"},
};

// `single_record`: the file is a /proc seq_file with one record (stat,
// wchan, stack: single_open()), which seq_read_iter() hands out whole, so
// a read shorter than the buffer is the end and the read() that would
// return 0 can be skipped — a quarter of the scan's system calls.
FileRead read_fd(int fd, bool single_record) {
    FileRead out;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            out.error = errno;
            out.data.clear();
            break;
        }
        if (n == 0) break;
        out.data.append(buf, static_cast<size_t>(n));
        if (single_record && static_cast<size_t>(n) < sizeof buf) break;
    }
    ::close(fd);
    return out;
}

FileRead read_at(int dirfd, const char* path, bool single_record = false) {
    const int fd = ::openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return {{}, errno};
    return read_fd(fd, single_record);
}

class PidfdHold final : public ProcessHold {
public:
    explicit PidfdHold(int fd) : fd_(fd) {}
    ~PidfdHold() override { ::close(fd_); }
    PidfdHold(const PidfdHold&) = delete;
    PidfdHold& operator=(const PidfdHold&) = delete;
    // A pidfd polls readable once the process has exited (pidfd_open(2));
    // pidfd_send_signal(fd, 0) adds ESRCH for a reaped one.
    bool still_same() const override {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) != 0) return false;
        return ::syscall(SYS_pidfd_send_signal, fd_, 0, nullptr, 0) == 0;
    }

private:
    int fd_;
};

class DirSource final : public ProcSource {
public:
    DirSource(int root, std::string path, bool live) : root_(root), path_(std::move(path)), live_(live) {}
    ~DirSource() override { ::close(root_); }
    DirSource(const DirSource&) = delete;
    DirSource& operator=(const DirSource&) = delete;

    FileRead read(const std::string& path) const override {
        FileRead r = read_at(root_, path.c_str());
        // A capture records a refused read as <file>.errno holding the name.
        if (!live_ && r.error == ENOENT) {
            FileRead e = read_at(root_, (path + ".errno").c_str());
            if (e.ok()) return {{}, errno_from_name(e.data)};
        }
        return r;
    }

    Result<std::vector<std::string>> list(const std::string& dir) const override {
        const int fd = ::openat(root_, dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return make_error(path_ + "/" + dir + ": " + std::strerror(errno));
        std::vector<std::string> names;
        alignas(dirent64) char buf[32768];
        for (;;) {
            const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n < 0) {
                const int err = errno;
                ::close(fd);
                return make_error(path_ + "/" + dir + ": " + std::strerror(err));
            }
            if (n == 0) break;
            for (long off = 0; off < n;) {
                const auto* d = reinterpret_cast<const dirent64*>(buf + off);
                off += d->d_reclen;
                if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) names.emplace_back(d->d_name);
            }
        }
        ::close(fd);
        return names;
    }

    FileRead read_meta(const std::string& name) const override {
        if (!live_) return read("lpsafe-capture/" + name);
        if (name == "sys-kernel-notes") return read_at(AT_FDCWD, "/sys/kernel/notes");
        // kernel/module/sysfs.c add_notes_attrs(): one file per SHT_NOTE section.
        if (name.starts_with("sys-module-notes/")) {
            return read_at(AT_FDCWD, ("/sys/module/" + name.substr(17) + "/notes/.note.gnu.build-id").c_str());
        }
        return {{}, ENOENT};
    }

    std::unique_ptr<ProcessHold> hold(int pid, int& error) const override {
        if (!live_) return nullptr;
        const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        if (fd < 0) {
            error = errno;
            return nullptr;
        }
        return std::make_unique<PidfdHold>(fd);
    }

    TaskFiles read_task(int pid, int tid) const override {
        if (!live_) return ProcSource::read_task(pid, tid);
        const std::string dir = std::to_string(pid) + "/task/" + std::to_string(tid);
        const int fd = ::openat(root_, dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return {{{}, errno}, {}, {}};
        TaskFiles t;
        t.stat = read_at(fd, "stat", true);
        if (t.stat.ok()) {
            t.wchan = read_at(fd, "wchan", true);
            t.stack = read_at(fd, "stack", true);
        }
        ::close(fd);
        return t;
    }

    bool live() const override { return live_; }
    std::string describe() const override { return live_ ? "/proc" : path_; }

private:
    int root_;
    std::string path_;
    bool live_;
};

}  // namespace

TaskFiles ProcSource::read_task(int pid, int tid) const {
    const std::string base = std::to_string(pid) + "/task/" + std::to_string(tid) + "/";
    TaskFiles t;
    t.stat = read(base + "stat");
    if (!t.stat.ok()) return t;
    t.wchan = read(base + "wchan");
    t.stack = read(base + "stack");
    return t;
}

std::unique_ptr<ProcessHold> ProcSource::hold(int, int& error) const {
    error = 0;
    return nullptr;
}

std::string errno_name(int error) {
    for (const auto& [n, name] : kErrnoNames) {
        if (n == error) return name;
    }
    return std::to_string(error);
}

int errno_from_name(std::string_view name) {
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.remove_suffix(1);
    for (const auto& [n, s] : kErrnoNames) {
        if (name == s) return n;
    }
    int v = 0;
    for (char c : name) {
        if (c < '0' || c > '9') return EIO;
        v = v * 10 + (c - '0');
        if (v > 4095) return EIO;
    }
    return v == 0 ? EIO : v;
}

std::unique_ptr<ProcSource> open_live_proc() {
    const int fd = ::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return std::make_unique<DirSource>(fd, "/proc", true);
}

Result<std::unique_ptr<ProcSource>> open_proc_root(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return make_error(path + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        auto archive = open_capture_archive(path);
        if (!archive) return archive.error();
        return std::move(*archive);
    }
    const int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return make_error(path + ": " + std::strerror(errno));
    return std::unique_ptr<ProcSource>(std::make_unique<DirSource>(fd, path, false));
}

}  // namespace lpsafe::readers

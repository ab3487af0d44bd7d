// read_core on real cores (gcore, and a kernel core where this machine can
// write one) checked against independent peers (/proc, eu-readelf), and on
// synthetic and damaged cores for every malformed input we can think of.
#include "readers/core/core_file.h"
#include "test_support.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;
using Kind = ModuleStatus::Kind;

// ---- helpers ------------------------------------------------------------

using test::have;
using test::read_file;
using test::run;
using test::TempDir;
using test::write_file;

// A program that parks two threads and its main thread and then says so.
constexpr const char* kProgram = R"(
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static void* sleeper(void* a) { struct timespec ts = {1000000, 0}; (void)a; for (;;) nanosleep(&ts, 0); }
static void* pauser(void* a) { (void)a; for (;;) pause(); }
int main(int argc, char** argv) {
    pthread_t t; char tmp[4096];
    alarm(120);  /* never outlive the test */
    if (argc != 2) return 2;
    pthread_create(&t, 0, sleeper, 0);
    pthread_create(&t, 0, pauser, 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE* f = fopen(tmp, "w"); fputs("ready\n", f); fclose(f); rename(tmp, argv[1]);
    for (;;) pause();
})";

struct Started {
    pid_t pid = -1;
    std::vector<int> tids;  // from /proc, before the core is taken
};

// Spawns `exe ready_file` (in `cwd` with an unlimited core size when asked)
// and waits until it has written its ready file.
Started start_parked(const fs::path& exe, const fs::path& ready, const fs::path& cwd, bool allow_core) {
    Started s;
    s.pid = fork();
    if (s.pid == 0) {
        if (allow_core) {
            rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
            setrlimit(RLIMIT_CORE, &unlimited);
        }
        if (chdir(cwd.c_str()) != 0) _exit(126);
        execl(exe.c_str(), exe.c_str(), ready.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    for (int i = 0; i < 1000 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(s.pid) + "/task"))
        s.tids.push_back(std::stoi(entry.path().filename().string()));
    std::sort(s.tids.begin(), s.tids.end());
    return s;
}

void stop(pid_t pid, int sig = SIGKILL) {
    kill(pid, sig);
    waitpid(pid, nullptr, 0);
}

// Per-thread registers as eu-readelf -n prints them: the independent peer.
struct PeerThread {
    int tid = 0;
    uint64_t rip = 0, rsp = 0;
};

std::vector<PeerThread> eu_readelf_threads(const std::string& notes) {
    std::vector<PeerThread> out;
    std::istringstream lines(notes);
    std::string line;
    bool in_prstatus = false;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
        if (w.size() == 3 && (w[0] == "CORE" || w[0] == "LINUX")) {  // a note header line
            in_prstatus = w[2] == "PRSTATUS";
            if (in_prstatus) out.emplace_back();
            continue;
        }
        if (!in_prstatus) continue;
        for (size_t i = 0; i + 1 < w.size(); ++i) {
            if (w[i] == "pid:") out.back().tid = std::stoi(w[i + 1]);
            if (w[i] == "rip:") out.back().rip = std::stoull(w[i + 1], nullptr, 16);
            if (w[i] == "rsp:") out.back().rsp = std::stoull(w[i + 1], nullptr, 16);
        }
    }
    return out;
}

// NT_FILE start of the offset-0 mapping of the file named `name`, per eu-readelf.
std::optional<uint64_t> eu_readelf_file_start(const std::string& notes, const std::string& name) {
    static const std::regex entry(R"(^\s+([0-9a-f]+)-[0-9a-f]+ ([0-9a-f]+) \d+\s+(\S+)\s*$)");
    std::istringstream lines(notes);
    std::string line;
    std::smatch m;
    while (std::getline(lines, line))
        if (std::regex_match(line, m, entry) && std::stoull(m[2], nullptr, 16) == 0 &&
            fs::path(m[3].str()).filename() == name)
            return std::stoull(m[1], nullptr, 16);
    return std::nullopt;
}

const Module* module_named(const ProcessImage& image, const std::string& name) {
    for (const Module& m : image.modules.modules())
        if (m.name == name) return &m;
    return nullptr;
}

// ---- a real gcore core, taken once for the whole suite ----------------------

struct LiveCore {
    std::string skip;  // why the suite cannot run here
    TempDir temp;
    fs::path dir = temp.path(), exe, core;
    Started proc;
    std::string notes;  // eu-readelf -n core

    LiveCore() {
        for (const char* tool : {"cc", "gcore", "eu-readelf"})
            if (!have(tool)) {
                skip = std::string(tool) + " not found: install gcc, gdb and elfutils to run the core tests";
                return;
            }
        exe = dir / "parked_test";
        write_file(dir / "parked_test.c", kProgram);
        if (std::system(("cc -O1 -g -pthread -o " + exe.string() + " " + (dir / "parked_test.c").string()).c_str())) {
            skip = "cc could not build the test program";
            return;
        }
        proc = start_parked(exe, dir / "ready", dir, false);
        const std::string prefix = (dir / "core").string();
        run("DEBUGINFOD_URLS= gcore -o " + prefix + " " + std::to_string(proc.pid) + " 2>&1");
        stop(proc.pid);
        core = prefix + "." + std::to_string(proc.pid);
        if (!fs::exists(core)) {
            skip = "gcore did not write a core (ptrace not permitted here?)";
            return;
        }
        notes = run("eu-readelf -n " + core.string());
    }
};

const LiveCore& live_core() {
    static const LiveCore live;  // one gcore for the whole suite
    return live;
}

#define REQUIRE_LIVE_CORE()                                 \
    const LiveCore& live = live_core();                     \
    if (!live.skip.empty()) GTEST_SKIP() << live.skip;

TEST(CoreReader, GcoreProcessAndThreads) {
    REQUIRE_LIVE_CORE();
    auto image = read_core(live.core, {});
    ASSERT_TRUE(image.ok()) << image.error().message;
    EXPECT_EQ(image->pid, live.proc.pid);
    EXPECT_EQ(image->comm, "parked_test");
    std::vector<int> tids;
    for (const auto& t : image->threads) tids.push_back(t.tid);
    std::sort(tids.begin(), tids.end());
    EXPECT_EQ(tids, live.proc.tids);
    EXPECT_EQ(tids.size(), 3u);
}

TEST(CoreReader, RegistersMatchEuReadelf) {
    REQUIRE_LIVE_CORE();
    auto image = read_core(live.core, {});
    ASSERT_TRUE(image.ok()) << image.error().message;
    const auto peer = eu_readelf_threads(live.notes);
    ASSERT_EQ(peer.size(), image->threads.size());
    for (size_t i = 0; i < peer.size(); ++i) {  // same order as the file
        const ThreadState& t = image->threads[i];
        EXPECT_EQ(t.tid, peer[i].tid);
        EXPECT_EQ(t.regs.get(16), peer[i].rip) << "rip of thread " << t.tid;  // DWARF 16 = rip
        EXPECT_EQ(t.regs.get(7), peer[i].rsp) << "rsp of thread " << t.tid;   // DWARF 7 = rsp
        EXPECT_TRUE(t.regs.syscall_nr.has_value());
    }
}

TEST(CoreReader, MappingsAndModules) {
    REQUIRE_LIVE_CORE();
    auto image = read_core(live.core, {});
    ASSERT_TRUE(image.ok()) << image.error().message;
    const auto& maps = image->mappings;
    for (size_t i = 1; i < maps.size(); ++i) EXPECT_LE(maps[i - 1].end, maps[i].start) << "sorted, non-overlapping";
    EXPECT_TRUE(std::any_of(maps.begin(), maps.end(), [&](const Mapping& m) { return m.path == live.exe; }));

    const Module* exe = module_named(*image, "parked_test");
    ASSERT_NE(exe, nullptr);
    EXPECT_EQ(exe->status.kind, Kind::ok) << exe->status.detail;

    const Module* libc = module_named(*image, "libc.so.6");
    ASSERT_NE(libc, nullptr);
    EXPECT_EQ(libc->status.kind, Kind::ok) << libc->status.detail;
    const auto start = eu_readelf_file_start(live.notes, "libc.so.6");
    ASSERT_TRUE(start.has_value());
    EXPECT_EQ(libc->bias, *start);  // libc is linked at 0
    ASSERT_NE(libc->image, nullptr);
    const std::string peer = run("eu-readelf -n " + libc->path + " | sed -n 's/.*Build ID: *//p'");
    EXPECT_EQ(libc->image->build_id() + "\n", peer);

    // Every thread's stack pointer is in dumped memory.
    for (const auto& t : image->threads) EXPECT_TRUE(image->memory->read_u64(*t.regs.get(7)).has_value());
}

TEST(CoreReader, WrongExeIsBuildIdMismatch) {
    REQUIRE_LIVE_CORE();
    auto image = read_core(live.core, {.exe = "/bin/true", .sysroot = {}});
    ASSERT_TRUE(image.ok()) << image.error().message;
    const Module* exe = module_named(*image, "parked_test");
    ASSERT_NE(exe, nullptr);
    EXPECT_EQ(exe->status.kind, Kind::build_id_mismatch) << exe->status.detail;
    EXPECT_NE(exe->status.detail.find("/bin/true"), std::string::npos) << exe->status.detail;
}

TEST(CoreReader, SysrootWithoutLibcIsMissingFile) {
    REQUIRE_LIVE_CORE();
    const fs::path root = live.dir / "sysroot";
    fs::create_directories(root);
    auto image = read_core(live.core, {.exe = {}, .sysroot = root.string()});
    ASSERT_TRUE(image.ok()) << image.error().message;
    const Module* libc = module_named(*image, "libc.so.6");
    ASSERT_NE(libc, nullptr);
    EXPECT_EQ(libc->status.kind, Kind::missing_file);
    EXPECT_NE(libc->status.detail.find(root.string()), std::string::npos) << libc->status.detail;
}

// A core cut anywhere opens with a clear error or as an image whose lost
// bytes are unreadable; it never crashes and never invents zeros.
TEST(CoreReader, TruncatedRealCore) {
    REQUIRE_LIVE_CORE();
    const std::string bytes = read_file(live.core);
    Elf64_Ehdr ehdr;
    std::memcpy(&ehdr, bytes.data(), sizeof ehdr);
    std::vector<Elf64_Phdr> phdrs(ehdr.e_phnum);
    std::memcpy(phdrs.data(), bytes.data() + ehdr.e_phoff, phdrs.size() * sizeof(Elf64_Phdr));
    std::vector<size_t> cuts = {1, 10, 63, ehdr.e_phoff + sizeof(Elf64_Phdr) + 7};
    for (const auto& ph : phdrs)
        if (ph.p_type == PT_NOTE) cuts.push_back(ph.p_offset + ph.p_filesz / 2);
    for (const auto& ph : phdrs)
        if (ph.p_type == PT_LOAD && ph.p_filesz > 64) {
            cuts.push_back(ph.p_offset + ph.p_filesz / 2);
            break;
        }
    for (size_t cut : cuts) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        const fs::path path = live.dir / "truncated";
        write_file(path, bytes.substr(0, cut));
        auto image = read_core(path, {});
        if (!image.ok()) {
            EXPECT_NE(image.error().message.find(path.string()), std::string::npos) << image.error().message;
            continue;
        }
        for (const auto& ph : phdrs) {
            if (ph.p_type == PT_LOAD && ph.p_filesz > 0 && ph.p_offset + ph.p_filesz > cut) {
                EXPECT_FALSE(image->memory->read_u64(ph.p_vaddr + ph.p_filesz - 8).has_value());
            }
        }
    }
}

// `--core` naming a FIFO is an error at once; opening it used to wait for a writer.
TEST(CoreReader, FifoIsRefusedWithoutBlocking) {
    const TempDir temp;
    const fs::path fifo = fs::path(temp.path()) / "fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    auto r = read_core(fifo.string(), {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;
}

TEST(CoreReader, NotCoreFiles) {
    const TempDir temp;
    const fs::path dir = temp.path();
    write_file(dir / "empty", "");
    write_file(dir / "garbage", std::string(4096, '\x5a'));
    std::string elfish = "\x7f" "ELF";
    elfish += std::string(200, '\xff');
    write_file(dir / "elfish", elfish);
    const std::pair<std::string, std::string> cases[] = {
        {(dir / "empty").string(), "empty"},
        {(dir / "garbage").string(), "not an ELF file"},
        {(dir / "elfish").string(), "64-bit"},
        {"/bin/true", "not a core"},
        {(dir / "absent").string(), "No such file"},
        {dir.string(), "not a regular file"},
    };
    for (const auto& [path, expect] : cases) {
        auto image = read_core(path, {});
        ASSERT_FALSE(image.ok()) << path;
        EXPECT_NE(image.error().message.find(expect), std::string::npos) << image.error().message;
    }
}

// ---- a kernel-written core (notes first, p_filesz 0 for undumped VMAs) -----

TEST(CoreReader, KernelCore) {
    REQUIRE_LIVE_CORE();
    const std::string pattern = read_file("/proc/sys/kernel/core_pattern");
    if (pattern.empty() || pattern[0] == '|' || pattern.find('/') != std::string::npos)
        GTEST_SKIP() << "core_pattern '" << pattern << "' does not write cores to the working directory";
    const fs::path dir = live.dir / "kernel";
    fs::create_directories(dir);
    Started proc = start_parked(live.exe, dir / "ready", dir, true);
    stop(proc.pid, SIGQUIT);
    fs::path core;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().starts_with("core")) core = e.path();
    if (core.empty()) GTEST_SKIP() << "the kernel wrote no core (core_pattern '" << pattern << "')";

    auto image = read_core(core, {});
    ASSERT_TRUE(image.ok()) << image.error().message;
    EXPECT_EQ(image->pid, proc.pid);
    std::vector<int> tids;
    for (const auto& t : image->threads) tids.push_back(t.tid);
    std::sort(tids.begin(), tids.end());
    EXPECT_EQ(tids, proc.tids);
    const auto peer = eu_readelf_threads(run("eu-readelf -n " + core.string()));
    ASSERT_EQ(peer.size(), image->threads.size());
    for (size_t i = 0; i < peer.size(); ++i) EXPECT_EQ(image->threads[i].regs.get(16), peer[i].rip);
    const Module* libc = module_named(*image, "libc.so.6");
    ASSERT_NE(libc, nullptr);
    EXPECT_EQ(libc->status.kind, Kind::ok) << libc->status.detail;
    // libc's text was not dumped (p_filesz 0): it must read as missing.
    const auto text = std::find_if(image->mappings.begin(), image->mappings.end(), [&](const Mapping& m) {
        return m.path == libc->path && m.executable;
    });
    ASSERT_NE(text, image->mappings.end());
    EXPECT_FALSE(image->memory->read_u64(text->start).has_value());

    // Cut in the middle of the memory: still opens; the rest is unreadable.
    const std::string bytes = read_file(core);
    write_file(dir / "cut", bytes.substr(0, bytes.size() / 2));
    auto cut = read_core((dir / "cut").string(), {});
    ASSERT_TRUE(cut.ok()) << cut.error().message;
    EXPECT_EQ(cut->threads.size(), image->threads.size());
    size_t lost = 0;
    for (const auto& t : image->threads) lost += !cut->memory->read_u64(*t.regs.get(7)).has_value();
    EXPECT_GT(lost, 0u) << "the second half of the core held some stacks";
}

}  // namespace
}  // namespace lpsafe::readers

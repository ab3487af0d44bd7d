// read_core on real cores (gcore, and a kernel core where this machine can
// write one) checked against independent peers (/proc, eu-readelf), and on
// synthetic and damaged cores for every malformed input we can think of.
#include "readers/core_file.h"

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

bool have(const std::string& tool) { return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0; }

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

fs::path make_temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "lpsafe-core-test.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return {};
    return tmpl;
}

// Removed with everything in it when the test program exits.
struct TempDir {
    fs::path path = make_temp_dir();
    TempDir() = default;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) fs::remove_all(path, ec);
    }
};

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

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
    fs::path dir = temp.path, exe, core;
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
    const fs::path fifo = temp.path / "fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    auto r = read_core(fifo.string(), {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;
}

TEST(CoreReader, NotCoreFiles) {
    const TempDir temp;
    const fs::path& dir = temp.path;
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

// ---- synthetic cores: exact control over every field -----------------------

struct Synthetic {
    struct Load {
        uint64_t vaddr, memsz;
        std::string data;  // p_filesz = data.size()
        uint32_t flags = PF_R | PF_W;
    };
    uint16_t machine = EM_X86_64;
    std::string notes;
    std::vector<Load> loads;

    void note(const std::string& name, uint32_t type, const std::string& desc) {
        Elf64_Nhdr h{static_cast<Elf64_Word>(name.size() + 1), static_cast<Elf64_Word>(desc.size()), type};
        notes.append(reinterpret_cast<const char*>(&h), sizeof h);
        notes += name;
        notes.append(4 - name.size() % 4, '\0');  // NUL and padding
        notes += desc;
        notes.append((4 - desc.size() % 4) % 4, '\0');
    }
    void thread(int tid, uint64_t rip, uint64_t rsp) {
        std::string d(336, '\0');
        std::memcpy(&d[32], &tid, 4);
        std::memcpy(&d[112 + 16 * 8], &rip, 8);
        std::memcpy(&d[112 + 19 * 8], &rsp, 8);
        note("CORE", NT_PRSTATUS, d);
    }
    void file_note(const std::vector<std::tuple<uint64_t, uint64_t, uint64_t, std::string>>& files) {
        std::string d;
        auto u64 = [&](uint64_t v) { d.append(reinterpret_cast<const char*>(&v), 8); };
        u64(files.size());
        u64(4096);
        for (const auto& [s, e, pages, path] : files) u64(s), u64(e), u64(pages);
        for (const auto& f : files) d += std::get<3>(f) + '\0';
        note("CORE", NT_FILE, d);
    }
    // Notes first, as the kernel writes them.
    std::string build() const {
        Elf64_Ehdr e{};
        std::memcpy(e.e_ident, ELFMAG, SELFMAG);
        e.e_ident[EI_CLASS] = ELFCLASS64;
        e.e_ident[EI_DATA] = ELFDATA2LSB;
        e.e_ident[EI_VERSION] = EV_CURRENT;
        e.e_type = ET_CORE;
        e.e_machine = machine;
        e.e_phoff = sizeof e;
        e.e_ehsize = sizeof e;
        e.e_phentsize = sizeof(Elf64_Phdr);
        e.e_phnum = static_cast<Elf64_Half>(1 + loads.size());
        std::vector<Elf64_Phdr> ph(e.e_phnum);
        uint64_t off = sizeof e + ph.size() * sizeof(Elf64_Phdr);
        ph[0] = {PT_NOTE, 0, off, 0, 0, notes.size(), 0, 4};
        off += notes.size();
        std::string body = notes;
        for (size_t i = 0; i < loads.size(); ++i) {
            ph[i + 1] = {PT_LOAD, loads[i].flags, off, loads[i].vaddr, 0, loads[i].data.size(), loads[i].memsz, 4096};
            off += loads[i].data.size();
            body += loads[i].data;
        }
        std::string out(reinterpret_cast<const char*>(&e), sizeof e);
        out.append(reinterpret_cast<const char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
        return out + body;
    }
};

Result<ProcessImage> read_synthetic(const std::string& bytes) {
    static const TempDir dir;
    write_file(dir.path / "core", bytes);
    return read_core((dir.path / "core").string(), {});
}

TEST(CoreReader, SyntheticMemoryRules) {
    Synthetic s;
    s.thread(42, 0x1000, 0x7000);
    s.loads.push_back({0x1000, 0x1000, std::string(0x1000, 'a'), PF_R | PF_X});
    s.loads.push_back({0x2000, 0x1000, std::string(0x1000, 'b')});  // adjacent
    s.loads.push_back({0x5000, 0x1000, ""});                        // not dumped (p_filesz 0)
    s.loads.push_back({0x7000, 0x2000, std::string(0x800, 'c')});   // dumped in part
    auto image = read_synthetic(s.build());
    ASSERT_TRUE(image.ok()) << image.error().message;
    const Memory& mem = *image->memory;
    std::byte buf[16];
    EXPECT_EQ(mem.read(0x1ff8, buf), 16u);  // spans two segments
    EXPECT_EQ(buf[7], std::byte{'a'});
    EXPECT_EQ(buf[8], std::byte{'b'});
    EXPECT_EQ(mem.read(0x2ff8, buf), 8u);  // then a hole
    EXPECT_EQ(mem.read(0x5000, buf), 0u);  // p_filesz 0: missing, not zeros
    EXPECT_EQ(mem.read(0x77f8, buf), 8u);
    EXPECT_EQ(mem.read(0x7800, buf), 0u);
    EXPECT_EQ(mem.read(0xfffffffffffffff8, buf), 0u);
    EXPECT_EQ(image->pid, 42);  // no NT_PRPSINFO: the first thread
    ASSERT_EQ(image->mappings.size(), 4u);
    EXPECT_TRUE(image->mappings[0].executable);
    EXPECT_FALSE(image->mappings[1].executable);

    // Cut inside the last PT_LOAD: it keeps what the file holds.
    const std::string full = s.build();
    auto cut = read_synthetic(full.substr(0, full.size() - 0x400));
    ASSERT_TRUE(cut.ok()) << cut.error().message;
    EXPECT_EQ(cut->memory->read(0x73f8, buf), 8u);
    EXPECT_EQ(cut->memory->read(0x7400, buf), 0u);
}

TEST(CoreReader, SyntheticFileNoteGivesPathsAndUndumpedMappings) {
    Synthetic s;
    s.thread(7, 0, 0);
    s.file_note({{0x10000, 0x11000, 0, "/lib/libx.so"},
                 {0x11000, 0x13000, 1, "/lib/libx.so"},  // not in any PT_LOAD
                 {0x13000, 0x14000, 3, "/lib/libx.so"}});
    s.loads.push_back({0x10000, 0x1000, std::string(0x1000, 'h'), PF_R});
    s.loads.push_back({0x13000, 0x2000, std::string(0x2000, 'd')});  // NT_FILE covers only its first page
    auto image = read_synthetic(s.build());
    ASSERT_TRUE(image.ok()) << image.error().message;
    const auto& m = image->mappings;
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0].path, "/lib/libx.so");
    EXPECT_TRUE(m[0].permissions_known);
    EXPECT_EQ(m[1].start, 0x11000u);
    EXPECT_EQ(m[1].end, 0x13000u);
    EXPECT_FALSE(m[1].permissions_known);
    EXPECT_EQ(m[1].file_offset, 0x1000u);
    EXPECT_EQ(m[2].file_offset, 0x3000u);
    EXPECT_TRUE(m[2].writable);
    EXPECT_EQ(m[3].start, 0x14000u);
    EXPECT_TRUE(m[3].path.empty());
}

TEST(CoreReader, SyntheticMalformed) {
    auto expect_error = [](const std::string& bytes, const std::string& text) {
        auto image = read_synthetic(bytes);
        ASSERT_FALSE(image.ok());
        EXPECT_NE(image.error().message.find(text), std::string::npos) << image.error().message;
    };
    Synthetic none;
    none.loads.push_back({0x1000, 0x1000, std::string(0x1000, 'x')});
    expect_error(none.build(), "core has no threads (no NT_PRSTATUS notes)");

    Synthetic arm;
    arm.machine = EM_AARCH64;
    expect_error(arm.build(), "unsupported architecture e_machine=183");

    Synthetic short_status;
    short_status.note("CORE", NT_PRSTATUS, std::string(100, '\0'));
    expect_error(short_status.build(), "NT_PRSTATUS");

    Synthetic bad_file;
    bad_file.thread(1, 0, 0);
    bad_file.file_note({{0x2000, 0x1000, 0, "/inverted"}});
    expect_error(bad_file.build(), "NT_FILE");

    Synthetic bad_names;  // count says 2, only one name
    bad_names.thread(1, 0, 0);
    bad_names.file_note({{0x1000, 0x2000, 0, "/a"}, {0x2000, 0x3000, 0, "/b"}});
    std::string bytes = bad_names.build();
    const size_t b = bytes.find("/b");
    bytes[b + 2] = 'x';  // remove the last NUL: the name runs to the end
    bytes[b + 3] = 'x';
    expect_error(bytes, "NT_FILE");

    // No program headers at all (found by fuzz_core_reader: UB under UBSan).
    Synthetic headless;
    std::string no_phdrs = headless.build();
    const uint16_t zero = 0;
    std::memcpy(&no_phdrs[offsetof(Elf64_Ehdr, e_phnum)], &zero, sizeof zero);
    expect_error(no_phdrs, "core has no threads");

    // A note whose descriptor runs past its segment.
    Synthetic huge;
    huge.thread(1, 0, 0);
    std::string raw = huge.build();
    const uint32_t descsz = 0x7fffffff;
    std::memcpy(&raw[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 4], &descsz, 4);
    expect_error(raw, "past the end of its segment");
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

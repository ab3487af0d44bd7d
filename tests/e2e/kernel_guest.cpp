#include "kernel_guest.h"

#include <gtest/gtest.h>

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "fixture_util.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "readers/core/core_file.h"

namespace lpsafe::e2e {

uint64_t RawCore::u64(size_t at) const {
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return big_endian ? __builtin_bswap64(v) : v;
}

uint32_t RawCore::u32(size_t at) const {
    uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return big_endian ? __builtin_bswap32(v) : v;
}

std::vector<RawCoreNote> RawCore::notes(uint32_t type, std::string_view name) const {
    std::vector<RawCoreNote> out;
    if (bytes.size() < sizeof(Elf64_Ehdr)) return out;
    const uint64_t phoff = u64(offsetof(Elf64_Ehdr, e_phoff));
    uint16_t phnum = 0;
    std::memcpy(&phnum, bytes.data() + offsetof(Elf64_Ehdr, e_phnum), sizeof phnum);
    if (big_endian) phnum = __builtin_bswap16(phnum);
    for (unsigned i = 0; i < phnum; ++i) {
        const size_t ph = phoff + i * sizeof(Elf64_Phdr);
        if (ph + sizeof(Elf64_Phdr) > bytes.size() || u32(ph + offsetof(Elf64_Phdr, p_type)) != PT_NOTE) continue;
        const uint64_t off = u64(ph + offsetof(Elf64_Phdr, p_offset));
        const uint64_t end = std::min<uint64_t>(off + u64(ph + offsetof(Elf64_Phdr, p_filesz)), bytes.size());
        for (size_t at = off; at + 12 <= end;) {
            const uint32_t namesz = u32(at), descsz = u32(at + 4), note_type = u32(at + 8);
            const size_t desc = at + 12 + ((namesz + 3) & ~3u);
            if (desc + descsz > end) break;
            if (note_type == type && namesz == name.size() + 1 && bytes.compare(at + 12, name.size(), name) == 0) {
                out.push_back({desc, descsz});
            }
            at = desc + ((descsz + 3) & ~3u);
        }
    }
    return out;
}

void KernelProcTest::SetUp() {
    if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
}

std::string KernelProcTest::copy_capture(const std::string& name) const {
    const std::string dir = testing::TempDir() + name;
    std::filesystem::remove_all(dir);
    std::filesystem::copy(guest_recorded(guest_) + "/capture", dir, std::filesystem::copy_options::recursive);
    return dir;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

RawCore read_raw_core(const std::string& path) {
    RawCore core{read_file(path), false};
    if (core.bytes.size() < sizeof(Elf64_Ehdr)) {
        ADD_FAILURE() << path << " is too short for an ELF file";
        return core;
    }
    core.big_endian = core.bytes[EI_DATA] == ELFDATA2MSB;
    return core;
}

std::string guest_recorded(const std::string& guest) {
    const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
    return fixtures == nullptr ? std::string() : std::string(fixtures) + "/" + guest + "/recorded";
}

Status load_kernel_core(ForeignCore& core, const std::string& guest, const std::string& arch) {
    const std::string dir = guest_recorded(guest);
    core.arch = arch;
    core.variant = "kernel";
    core.core_path = dir + "/core.kernel";
    core.exe_path = dir + "/parked";
    auto p = readers::read_core(core.core_path, {core.exe_path, ""});
    if (!p) return p.error();
    core.process = std::move(*p);
    core.roles = read_roles(dir + "/roles-core.txt");
    core.expect = read_expectations(std::string(std::getenv("LPSAFE_SOURCE_FIXTURES")) + "/programs/parked.expect");
    return Ok{};
}

void KernelCoreTest::load(const std::string& guest, const std::string& arch, const std::string& triple) {
    if (std::getenv("LPSAFE_SOURCE_FIXTURES") == nullptr) GTEST_SKIP() << "run through meson test";
    if (!std::filesystem::exists("/usr/" + triple + "/lib/libc.so.6"))
        GTEST_SKIP() << "the " << triple << " cross libc is not installed (the core's NT_FILE names its files)";
    const Status loaded = load_kernel_core(core_, guest, arch);
    ASSERT_TRUE(loaded) << loaded.error().message;
}

void expect_nt_file_modules(const ProcessImage& process, ArchId arch, const std::vector<std::string>& paths) {
    EXPECT_EQ(process.arch, arch);
    EXPECT_EQ(process.threads.size(), 9u);
    std::set<std::string> have;
    for (const Module& m : process.modules.modules()) {
        have.insert(m.path);
        EXPECT_TRUE(m.status.usable()) << m.path << ": " << m.status.detail;
    }
    for (const std::string& p : paths) EXPECT_TRUE(have.count(p)) << p << " in " << testing::PrintToString(have);
}

nlohmann::json kernel_check_json(const std::string& root, const std::string& func, int& status) {
    const CommandResult r =
        run_command(lpsafe_bin() + " check --kernel --no-kernel-image --json --proc-root " + root + " --func " + func);
    status = r.exit_status;
    EXPECT_NE(r.exit_status, 3) << r.err;
    return r.exit_status == 3 ? nlohmann::json{} : nlohmann::json::parse(r.out);
}

JudgedEnds expect_known_ends(const std::string& capture, ArchId arch) {
    JudgedEnds out;
    int status = 0;
    out.check = kernel_check_json(capture, "vmlinux:pipe_read", status);
    EXPECT_FALSE(out.check.empty());
    if (out.check.empty()) return out;
    const auto known = arch_of(arch).kernel_stack_ends();
    for (const nlohmann::json& t : out.check["tasks"]) {
        SCOPED_TRACE(int(t["tid"]));
        if (t["verdict"] == "running") {
            EXPECT_EQ(t["state"], "R");
            ++out.running;
            continue;
        }
        ++out.judged;
        if (t["frames"].empty()) {
            ADD_FAILURE() << t.dump(2);
            continue;
        }
        const std::string last = t["frames"].back()["function"];
        out.ends.insert(last);
        EXPECT_TRUE(std::any_of(known.begin(), known.end(), [&](const KernelStackEnd& e) { return e.function == last; }))
            << last;
        EXPECT_EQ(t["end"], "kernel stack end " + last) << t.dump(2);
        // Both copies of parked were parked then; parked names its threads by role.
        EXPECT_EQ(t["verdict"], t["comm"] == "piperead" ? "blocked" : "safe") << t.dump(2);
    }
    return out;
}

std::vector<std::vector<std::string>> nanosleep_listings(const std::string& capture) {
    int status = 0;
    const nlohmann::json check = kernel_check_json(capture, "vmlinux:hrtimer_nanosleep", status);
    std::vector<std::vector<std::string>> out;
    if (check.empty()) return out;
    for (const nlohmann::json& t : check["tasks"]) {
        if (t["comm"] != "nanosleep") continue;
        EXPECT_EQ(t["verdict"], "blocked") << t.dump(2);
        std::vector<std::string>& names = out.emplace_back();
        for (const nlohmann::json& f : t["frames"]) names.push_back(f["function"]);
    }
    EXPECT_EQ(out.size(), 2u);  // both copies of parked
    return out;
}

ArchId capture_arch(const std::string& capture, ArchId fallback) {
    const std::string text = read_file(capture + "/kallsyms");
    auto k = Kallsyms::parse(text);
    EXPECT_TRUE(k) << k.error().message;
    return k ? kernel_arch_of(*k, fallback) : fallback;
}

void expect_archive_replays(const std::string& capture, const std::string& archive, size_t tasks) {
    const std::string path = testing::TempDir() + archive;
    const CommandResult rec = run_command(lpsafe_bin() + " record --kernel --proc-root " + capture + " -o " + path);
    ASSERT_EQ(rec.exit_status, 0) << rec.err;
    int tree_status = 0, archive_status = 0;
    const nlohmann::json tree = kernel_check_json(capture, "vmlinux:pipe_read", tree_status);
    const nlohmann::json replay = kernel_check_json(path, "vmlinux:pipe_read", archive_status);
    EXPECT_EQ(archive_status, tree_status);
    const auto by_tid = [](const nlohmann::json& a, const nlohmann::json& b) { return a["tid"] < b["tid"]; };
    std::vector<nlohmann::json> a(tree["tasks"].begin(), tree["tasks"].end());
    std::vector<nlohmann::json> b(replay["tasks"].begin(), replay["tasks"].end());
    std::sort(a.begin(), a.end(), by_tid);
    std::sort(b.begin(), b.end(), by_tid);
    EXPECT_EQ(a.size(), tasks);
    EXPECT_EQ(a, b);
    EXPECT_EQ(replay["summary"]["unreliable"], 0);
}

}  // namespace lpsafe::e2e

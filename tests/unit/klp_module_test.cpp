// Reading the functions a livepatch module replaces, from the real modules in
// fixtures/livepatch (built from fixtures/livepatch/src/*.c against Debian's
// linux-headers-amd64). Expected targets are the initializers in those
// sources; structure sizes are compared with the DWARF sizes gdb recorded in
// versions.txt when the fixtures were built.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "lpsafe/module.h"
#include "lpsafe/patch_set.h"
#include "readers/livepatch/klp_module.h"
#include "test_support.h"

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
    const char* dir = std::getenv("LPSAFE_SOURCE_FIXTURES");
    EXPECT_NE(dir, nullptr) << "LPSAFE_SOURCE_FIXTURES is not set (tests/meson.build sets it)";
    return std::string(dir != nullptr ? dir : "fixtures") + "/livepatch/" + name;
}

std::vector<std::byte> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
}

// "key=value" from versions.txt.
uint64_t recorded(const std::string& key) {
    std::ifstream in(fixture("versions.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + "=", 0) == 0) return std::stoull(line.substr(key.size() + 1));
    }
    ADD_FAILURE() << key << " missing from versions.txt";
    return 0;
}

using Targets = std::vector<std::tuple<std::string, std::string, uint64_t>>;

Targets as_tuples(const std::vector<PatchTarget>& targets) {
    Targets out;
    for (const auto& t : targets) out.emplace_back(t.object, t.function, t.sympos);
    return out;
}

const Targets kVmlinuxTargets = {{"vmlinux", "cmdline_proc_show", 0}, {"vmlinux", "type_show", 3}};
const Targets kBuildStyleTargets = {
    {"vmlinux", "cmdline_proc_show", 0}, {"vmlinux", "version_proc_show", 2}, {"ext4", "ext4_file_open", 0}};
const Targets kTwoObjectTargets = {{"vmlinux", "meminfo_proc_show", 0},
                                   {"nfsd", "nfsd_open", 0},
                                   {"nfsd", "nfsd_vfs_write", 0},
                                   {"nfsd", "nfsd_proc_getattr", 2}};

TEST(KlpModule, ReadsVmlinuxPatchWithSympos) {
    auto m = read_klp_module(fixture("klp_vmlinux.ko"));
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->module, "klp_vmlinux");
    ASSERT_EQ(m->objects.size(), 1u);
    EXPECT_EQ(m->objects[0].name, "vmlinux");
    EXPECT_EQ(as_tuples(m->targets()), kVmlinuxTargets);
}

TEST(KlpModule, ReadsTwoObjects) {
    auto m = read_klp_module(fixture("klp_two_objects.ko"));
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->module, "klp_two_objects");
    ASSERT_EQ(m->objects.size(), 2u);
    EXPECT_EQ(m->objects[0].name, "vmlinux");
    EXPECT_EQ(m->objects[1].name, "nfsd");
    EXPECT_EQ(as_tuples(m->targets()), kTwoObjectTargets);
}

// klp-build's layout: no static klp_patch, .init.klp_objects ->
// klp_object_ext[] (with callbacks: 64 bytes) -> nr_funcs klp_func_ext.
TEST(KlpModule, ReadsKlpBuildExternalTables) {
    auto m = read_klp_module(fixture("klp_build_style.ko"));
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->module, "klp_build_style");
    EXPECT_EQ(as_tuples(m->targets()), kBuildStyleTargets);
    EXPECT_EQ(m->object_size, 64u);
    EXPECT_EQ(m->func_size, 24u);
}

TEST(KlpModule, StructSizesMatchTheModulesDwarf) {
    for (const char* name : {"klp_vmlinux.ko", "klp_two_objects.ko", "klp_two_objects.nosyms.ko"}) {
        auto m = read_klp_module(fixture(name));
        ASSERT_TRUE(m.ok()) << name << ": " << m.error().message;
        EXPECT_EQ(m->func_size, recorded("sizeof_klp_func")) << name;
        EXPECT_EQ(m->object_size, recorded("sizeof_klp_object")) << name;
    }
}

// Without local symbols the array sizes come from the spacing of entries
// alone; the answer must not change.
TEST(KlpModule, SameTargetsWithoutLocalSymbols) {
    const std::string out = test::run("readelf -s " + fixture("klp_two_objects.nosyms.ko"));
    ASSERT_FALSE(out.empty()) << "readelf unavailable";
    ASSERT_EQ(out.find(" funcs"), std::string::npos) << "fixture still has the array symbols";
    auto m = read_klp_targets(fixture("klp_two_objects.nosyms.ko"));
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(as_tuples(*m), kTwoObjectTargets);
}

TEST(KlpModule, ReadsFromBytesAsFromFile) {
    const auto bytes = file_bytes(fixture("klp_vmlinux.ko"));
    auto m = read_klp_module_bytes(bytes, "mem");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(as_tuples(m->targets()), kVmlinuxTargets);
}

TEST(KlpModule, OrdinaryModuleIsNotALivepatch) {
    auto m = read_klp_module(fixture("not_livepatch.ko"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().message.find("is not a livepatch module"), std::string::npos) << m.error().message;
}

TEST(KlpModule, NonElfAndOtherElfFilesAreErrors) {
    const std::string text = "hello, not an ELF file\n";
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    auto garbage = read_klp_module_bytes({p, text.size()}, "garbage");
    ASSERT_FALSE(garbage.ok());
    EXPECT_NE(garbage.error().message.find("not an ELF file"), std::string::npos) << garbage.error().message;
    EXPECT_FALSE(read_klp_module_bytes({}, "empty").ok());

    auto exe = read_klp_module(test::kLibc);  // ET_DYN, not a module
    ASSERT_FALSE(exe.ok());
    EXPECT_NE(exe.error().message.find("not a kernel module"), std::string::npos) << exe.error().message;
    auto missing = read_klp_module(fixture("no-such.ko"));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("no-such.ko"), std::string::npos);
}

// Every prefix of a real module: an error (the section headers of an ET_REL
// file sit at its end) or, never observed but allowed, the full answer.
TEST(KlpModule, TruncatedModulesAreErrors) {
    for (const char* name : {"klp_vmlinux.ko", "klp_two_objects.ko", "klp_build_style.ko"}) {
        const auto bytes = file_bytes(fixture(name));
        ASSERT_GT(bytes.size(), 1000u);
        auto full = read_klp_module_bytes(bytes, name);
        ASSERT_TRUE(full.ok());
        size_t errors = 0;
        for (size_t len = 0; len < bytes.size(); len += len < 128 ? 1 : 7) {
            auto m = read_klp_module_bytes(std::span(bytes).first(len), name);
            if (!m.ok()) {
                ++errors;
                EXPECT_FALSE(m.error().message.empty());
            } else {
                EXPECT_EQ(as_tuples(m->targets()), as_tuples(full->targets())) << name << " cut at " << len;
            }
        }
        EXPECT_GT(errors, 0u);
    }
}

// Random byte flips must never crash, hang or produce a name the kernel
// could not hold; most either fail or leave the answer unchanged.
TEST(KlpModule, ByteFlipsNeverCrash) {
    std::mt19937_64 rng(20261125);
    for (const char* name :
         {"klp_vmlinux.ko", "klp_two_objects.ko", "klp_two_objects.nosyms.ko", "klp_build_style.ko"}) {
        const auto original = file_bytes(fixture(name));
        size_t ok = 0, failed = 0;
        for (int round = 0; round < 1500; ++round) {
            auto bytes = original;
            const int flips = 1 + static_cast<int>(rng() % 8);
            for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] ^= std::byte(1u << (rng() % 8));
            auto m = read_klp_module_bytes(bytes, name);
            if (!m.ok()) {
                ++failed;
                continue;
            }
            ++ok;
            for (const auto& t : m->targets()) {
                ASSERT_FALSE(t.function.empty());
                ASSERT_LT(t.function.size(), 512u);
                ASSERT_FALSE(t.object.empty());
            }
        }
        EXPECT_GT(ok, 0u) << name;
        EXPECT_GT(failed, 0u) << name;
    }
}

TEST(KlpModule, TargetsGoIntoAPatchSet) {
    auto targets = read_klp_targets(fixture("klp_vmlinux.ko"));
    ASSERT_TRUE(targets.ok()) << targets.error().message;
    PatchSet set;
    for (const auto& t : *targets) ASSERT_TRUE(set.add_target(t).ok());
    ASSERT_EQ(set.targets().size(), 2u);
    EXPECT_EQ(set.targets()[0].spec(), "vmlinux:cmdline_proc_show");
    EXPECT_EQ(set.targets()[1].spec(), "vmlinux:type_show,3");
    // A user-space process never has vmlinux loaded: reported, not failed.
    auto resolved = resolve_patch_set(set, ModuleMap{});
    ASSERT_TRUE(resolved.ok()) << resolved.error().message;
    EXPECT_TRUE(resolved->ranges.empty());
    EXPECT_EQ(resolved->not_loaded, (std::vector<std::string>{"vmlinux:cmdline_proc_show", "vmlinux:type_show,3"}));
}

// old_sympos N picks the Nth symbol of the name in address order
// (klp_find_object_symbol()). A real shared object with two static `dup`
// functions (two translation units), addresses from nm.
TEST(KlpSympos, SelectsTheNthSymbolOfTheName) {
    const fs::path dir = fs::temp_directory_path() / ("lpsafe-sympos-" + std::to_string(getpid()));
    fs::create_directories(dir);
    for (const char* unit : {"a", "b"}) {
        std::ofstream(dir / (std::string(unit) + ".c"))
            << "static int __attribute__((noinline)) dup(int x) { return x * " << (unit[0] == 'a' ? 3 : 5)
            << "; }\nint call_" << unit << "(int x) { return dup(x) + 1; }\n";
    }
    const std::string so = (dir / "libdup.so").string();
    test::run("gcc -O1 -shared -fPIC -o " + so + " " + (dir / "a.c").string() + " " + (dir / "b.c").string());
    const std::string nm = test::run("nm -S --defined-only " + so + " | awk '$4 == \"dup\" {print $1}' | sort");
    std::vector<uint64_t> expected;
    std::istringstream lines(nm);
    for (std::string addr; lines >> addr;) expected.push_back(std::stoull(addr, nullptr, 16));
    if (expected.size() != 2) {
        fs::remove_all(dir);
        GTEST_SKIP() << "gcc/nm could not build the two-dup library";
    }
    auto image = ElfImage::open(so);
    ASSERT_TRUE(image.ok()) << image.error().message;
    ModuleMap modules;
    modules.add(Module{so, "libdup.so", 0x10000, 0x20000, 0x10000, *image, {}});
    for (uint64_t pos : {1, 2, 3}) {
        PatchSet set;
        ASSERT_TRUE(set.add_target({"libdup.so", "dup", pos}).ok());
        auto r = resolve_patch_set(set, modules);
        if (pos == 3) {
            ASSERT_FALSE(r.ok());
            EXPECT_NE(r.error().message.find("sympos 3"), std::string::npos) << r.error().message;
            continue;
        }
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_EQ(r->ranges.size(), 1u);
        EXPECT_EQ(r->ranges[0].start, expected[pos - 1] + 0x10000) << "sympos " << pos;
    }
    PatchSet all;
    ASSERT_TRUE(all.add_target({"libdup.so", "dup", 0}).ok());
    auto r = resolve_patch_set(all, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->ranges.size(), 2u);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace lpsafe::readers

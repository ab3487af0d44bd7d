// PatchSet parsing, and resolve_patch_set against modules built from the real
// libc.so.6. Symbol ranges are checked against `nm -D -S` (binutils), an
// independent reader of the same file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>

#include "test_support.h"
#include "lpsafe/patch_set.h"

namespace lpsafe {
namespace {

::testing::AssertionResult contains(const std::string& haystack, const std::string& needle) {
    if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' does not contain '" << needle << "'";
}

PatchTarget only_target(std::string_view spec) {
    PatchSet set;
    auto st = set.add_spec(spec);
    EXPECT_TRUE(st.ok()) << spec << ": " << (st.ok() ? "" : st.error().message);
    EXPECT_EQ(set.targets().size(), 1u);
    return set.targets().empty() ? PatchTarget{} : set.targets()[0];
}

TEST(PatchSetParse, FunctionOnly) {
    const auto t = only_target("pause");
    EXPECT_EQ(t.object, "");
    EXPECT_EQ(t.function, "pause");
    EXPECT_EQ(t.spec(), "pause");
}

TEST(PatchSetParse, ObjectAndFunction) {
    const auto t = only_target("libc.so.6:pause");
    EXPECT_EQ(t.object, "libc.so.6");
    EXPECT_EQ(t.function, "pause");
    EXPECT_EQ(t.spec(), "libc.so.6:pause");
    const auto u = only_target("prog:work");
    EXPECT_EQ(u.object, "prog");
    EXPECT_EQ(u.function, "work");
}

TEST(PatchSetParse, SurroundingBlanksAreTrimmed) {
    const auto t = only_target("  libc.so.6 : pause \t");
    EXPECT_EQ(t.object, "libc.so.6");
    EXPECT_EQ(t.function, "pause");
}

TEST(PatchSetParse, CppQualifiedNames) {
    const auto t = only_target("ns::f");
    EXPECT_EQ(t.object, "");
    EXPECT_EQ(t.function, "ns::f");
    const auto u = only_target("lib.so:ns::f");
    EXPECT_EQ(u.object, "lib.so");
    EXPECT_EQ(u.function, "ns::f");
    const auto v = only_target("libx.so.1:a::b::C::m");
    EXPECT_EQ(v.object, "libx.so.1");
    EXPECT_EQ(v.function, "a::b::C::m");
}

TEST(PatchSetParse, Errors) {
    PatchSet set;
    EXPECT_FALSE(set.add_spec("").ok());
    EXPECT_FALSE(set.add_spec("   ").ok());
    EXPECT_FALSE(set.add_spec(":pause").ok());      // empty object
    EXPECT_FALSE(set.add_spec("libc.so.6:").ok());  // empty function
    EXPECT_FALSE(set.add_spec("libc.so.6:  ").ok());
    EXPECT_FALSE(set.add_spec("two words").ok());
    EXPECT_TRUE(set.empty());
}

TEST(PatchSetParse, TextWithCommentsAndBlankLines) {
    PatchSet set;
    const std::string text =
        "# functions the fix replaces\n"
        "\n"
        "libc.so.6:pause   # the one that sleeps\n"
        "   \t\n"
        "worker\r\n"
        "lib.so:ns::f\n"
        "# done";
    auto st = set.add_text(text, "fix.txt");
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_EQ(set.targets().size(), 3u);
    EXPECT_EQ(set.targets()[0].spec(), "libc.so.6:pause");
    EXPECT_EQ(set.targets()[1].spec(), "worker");
    EXPECT_EQ(set.targets()[2].object, "lib.so");
    EXPECT_EQ(set.targets()[2].function, "ns::f");
}

TEST(PatchSetParse, TextErrorsCarryTheLineNumber) {
    PatchSet set;
    auto st = set.add_text("pause\n# comment\n\nlibc.so.6:\nother\n", "fix.txt");
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(contains(st.error().message, "fix.txt:4:")) << st.error().message;

    PatchSet set2;
    auto st2 = set2.add_text("a\n:b\n", "spec");
    ASSERT_FALSE(st2.ok());
    EXPECT_TRUE(contains(st2.error().message, "spec:2:"));
}

class TempFile {
public:
    explicit TempFile(const std::string& content) {
        char tmpl[] = "/tmp/lpsafe_patch_set_testXXXXXX";
        const int fd = mkstemp(tmpl);
        EXPECT_GE(fd, 0);
        path_ = tmpl;
        if (fd >= 0) {
            EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
            close(fd);
        }
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TEST(PatchSetParse, File) {
    TempFile f("# header\nlibc.so.6:pause\n\nns::f\n");
    PatchSet set;
    auto st = set.add_file(f.path());
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_EQ(set.targets().size(), 2u);
    EXPECT_EQ(set.targets()[0].spec(), "libc.so.6:pause");
    EXPECT_EQ(set.targets()[1].spec(), "ns::f");
}

TEST(PatchSetParse, FileErrorsNameTheFileAndLine) {
    TempFile f("pause\n\n  :oops\n");
    PatchSet set;
    auto st = set.add_file(f.path());
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(contains(st.error().message, f.path() + ":3:"));
}

TEST(PatchSetParse, MissingFile) {
    PatchSet set;
    auto st = set.add_file("/nonexistent/lpsafe/patch.txt");
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(contains(st.error().message, "/nonexistent/lpsafe/patch.txt"));
}

// ---- resolve_patch_set against libc.so.6

using test::kLibc;
constexpr uint64_t kBias = 0x7f3a12300000;

using test::run;

struct NmSymbol {
    uint64_t addr = 0;
    uint64_t size = 0;
};

// `nm -D -S` line: "00000000000d3dc0 000000000000007b W pause@@GLIBC_2.2.5".
std::optional<NmSymbol> nm_symbol(const std::string& file, const std::string& name) {
    const std::string out = run("nm -D -S " + file + " 2>/dev/null");
    std::smatch m;
    const std::regex re("(?:^|\\n)([0-9a-f]+) ([0-9a-f]+) [TtWi] " + name + "(?:@|\\n)");
    if (!std::regex_search(out, m, re)) return std::nullopt;
    return NmSymbol{std::stoull(m[1], nullptr, 16), std::stoull(m[2], nullptr, 16)};
}

Module libc_module(std::shared_ptr<ElfImage> image, std::string path = kLibc) {
    Module m;
    m.path = path;
    m.name = path.substr(path.rfind('/') + 1);
    m.start = kBias;
    m.end = kBias + 0x200000;
    m.bias = kBias;
    m.image = std::move(image);
    return m;
}

Module other_module(const std::string& path, uint64_t start) {
    Module m;
    m.path = path;
    m.name = path.substr(path.rfind('/') + 1);
    m.start = start;
    m.end = start + 0x1000;
    m.bias = start;
    return m;
}

class ResolveTest : public ::testing::Test {
protected:
    void SetUp() override {
        pause_ = nm_symbol(kLibc, "pause");
        if (!pause_) GTEST_SKIP() << "nm or " << kLibc << " unavailable";
        auto img = ElfImage::open(kLibc);
        ASSERT_TRUE(img.ok()) << img.error().message;
        image_ = *img;
    }
    Result<ResolvedPatchSet> resolve(std::initializer_list<const char*> specs, const ModuleMap& modules) {
        PatchSet set;
        for (const char* s : specs) EXPECT_TRUE(set.add_spec(s).ok()) << s;
        return resolve_patch_set(set, modules);
    }
    std::optional<NmSymbol> pause_;
    std::shared_ptr<ElfImage> image_;
};

TEST_F(ResolveTest, ObjectAndFunctionResolveToTheSymbolPlusBias) {
    ModuleMap modules;
    modules.add(other_module("/usr/bin/prog", 0x400000));
    modules.add(libc_module(image_));
    auto r = resolve({"libc.so.6:pause"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->ranges.size(), 1u);
    EXPECT_EQ(r->ranges[0].start, kBias + pause_->addr);
    EXPECT_EQ(r->ranges[0].end, kBias + pause_->addr + pause_->size);
    EXPECT_EQ(r->ranges[0].function, "pause");
    EXPECT_EQ(r->ranges[0].object, "libc.so.6");
    EXPECT_TRUE(r->not_loaded.empty());
    EXPECT_TRUE(r->unsearched.empty());
}

TEST_F(ResolveTest, FunctionWithoutObject) {
    ModuleMap modules;
    modules.add(libc_module(image_));
    auto r = resolve({"pause"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->ranges.size(), 1u);
    EXPECT_EQ(r->ranges[0].start, kBias + pause_->addr);
    EXPECT_EQ(r->ranges[0].end, kBias + pause_->addr + pause_->size);
}

// The object is matched by soname too: a distribution may install libc under
// a versioned file name.
TEST_F(ResolveTest, ObjectMatchedBySoname) {
    ModuleMap modules;
    modules.add(libc_module(image_, "/opt/glibc/lib/libc-2.99.so"));
    auto r = resolve({"libc.so.6:pause"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->ranges.size(), 1u);
    EXPECT_EQ(r->ranges[0].start, kBias + pause_->addr);
}

TEST_F(ResolveTest, SeveralTargets) {
    const auto getpid = nm_symbol(kLibc, "getpid");
    ASSERT_TRUE(getpid.has_value());
    ModuleMap modules;
    modules.add(libc_module(image_));
    auto r = resolve({"libc.so.6:pause", "getpid"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->ranges.size(), 2u);
    EXPECT_EQ(r->ranges[1].start, kBias + getpid->addr);
    EXPECT_EQ(r->ranges[1].end, kBias + getpid->addr + getpid->size);
}

TEST_F(ResolveTest, ObjectNotLoaded) {
    ModuleMap modules;
    modules.add(libc_module(image_));
    auto r = resolve({"libfoo.so.1:bar"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->ranges.empty());
    EXPECT_EQ(r->not_loaded, (std::vector<std::string>{"libfoo.so.1:bar"}));
}

TEST_F(ResolveTest, MissingFunctionInALoadedObjectIsAnError) {
    ModuleMap modules;
    modules.add(libc_module(image_));
    auto r = resolve({"libc.so.6:no_such_function_lpsafe"}, modules);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "no_such_function_lpsafe"));
}

TEST_F(ResolveTest, MissingFunctionAnywhereIsAnError) {
    ModuleMap modules;
    modules.add(libc_module(image_));
    EXPECT_FALSE(resolve({"no_such_function_lpsafe"}, modules).ok());
    // A typo must not pass just because another target resolves.
    EXPECT_FALSE(resolve({"pause", "paus"}, modules).ok());
}

TEST_F(ResolveTest, UnusableModuleIsUnsearchedNotAnError) {
    ModuleMap modules;
    Module libc = libc_module(image_);
    libc.status.kind = ModuleStatus::Kind::build_id_mismatch;
    libc.status.detail = "build-id differs";
    modules.add(libc);
    auto r = resolve({"libc.so.6:pause"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->ranges.empty());
    ASSERT_EQ(r->unsearched.size(), 1u);
    EXPECT_TRUE(contains(r->unsearched[0], kLibc));
    EXPECT_TRUE(r->not_loaded.empty());
}

TEST_F(ResolveTest, ModuleWithoutImageIsUnsearched) {
    ModuleMap modules;
    Module missing = other_module("/usr/lib/libgone.so.2", 0x500000);
    missing.status.kind = ModuleStatus::Kind::missing_file;
    missing.status.detail = "file not found";
    modules.add(missing);
    auto r = resolve({"libgone.so.2:f"}, modules);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->unsearched.size(), 1u);
}

}  // namespace
}  // namespace lpsafe

// The command line for livepatch modules: `lpsafe klp-info` on the real
// fixture modules (fixtures/livepatch), and `check --klp-module` on a real
// gcore of fixtures/programs/parked.c. Expected targets are the initializers
// in fixtures/livepatch/src/*.c.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

std::string ko(const std::string& name) {
    const char* d = std::getenv("LPSAFE_SOURCE_FIXTURES");
    return std::string(d != nullptr ? d : "fixtures") + "/livepatch/" + name;
}

std::string core_args() {
    const std::string d = fixtures_dir() + "/fp";
    return " --core " + d + "/core.gcore --exe " + d + "/parked";
}

TEST(KlpCli, InfoListsTargetsAsText) {
    const auto r = run_command(lpsafe_bin() + " klp-info " + ko("klp_two_objects.ko"));
    ASSERT_EQ(r.exit_status, 0) << r.err;
    EXPECT_EQ(r.out, "klp_two_objects (" + ko("klp_two_objects.ko") +
                         "): 4 functions in 2 objects\n"
                         "  vmlinux:meminfo_proc_show\n"
                         "  nfsd:nfsd_open\n"
                         "  nfsd:nfsd_vfs_write\n"
                         "  nfsd:nfsd_proc_getattr,2\n");
}

TEST(KlpCli, InfoJson) {
    const auto r = run_command(lpsafe_bin() + " klp-info --json " + ko("klp_vmlinux.ko"));
    ASSERT_EQ(r.exit_status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["module"], "klp_vmlinux");
    ASSERT_EQ(j["objects"].size(), 1u);
    EXPECT_EQ(j["objects"][0]["name"], "vmlinux");
    const auto& funcs = j["objects"][0]["funcs"];
    ASSERT_EQ(funcs.size(), 2u);
    EXPECT_EQ(funcs[0]["old_name"], "cmdline_proc_show");
    EXPECT_EQ(funcs[0]["old_sympos"], 0);
    EXPECT_EQ(funcs[1]["old_name"], "type_show");
    EXPECT_EQ(funcs[1]["old_sympos"], 3);
}

TEST(KlpCli, BadModulesExitWithError) {
    const auto plain = run_command(lpsafe_bin() + " klp-info " + ko("not_livepatch.ko"));
    EXPECT_EQ(plain.exit_status, 3);
    EXPECT_NE(plain.err.find("is not a livepatch module"), std::string::npos) << plain.err;
    const auto text = run_command(lpsafe_bin() + " klp-info " + ko("versions.txt"));
    EXPECT_EQ(text.exit_status, 3);
    EXPECT_NE(text.err.find("not an ELF file"), std::string::npos) << text.err;
}

class KlpCheck : public ::testing::Test {
protected:
    void SetUp() override {
        if (fixtures_dir().empty()) GTEST_SKIP() << "LPSAFE_FIXTURES is not set (run through meson test)";
    }
};

// A user-space process has neither vmlinux nor nfsd: every target is a note,
// and the verdicts are what they are without a patch.
TEST_F(KlpCheck, KernelTargetsAreNotLoadedInAUserProcess) {
    const auto r = run_command(lpsafe_bin() + " check --json" + core_args() + " --klp-module " +
                               ko("klp_two_objects.ko"));
    ASSERT_NE(r.exit_status, 3) << r.err;
    EXPECT_NE(r.exit_status, 1) << "nothing of a kernel patch can block a user process";
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["patch"]["not_loaded"], nlohmann::json({"vmlinux:meminfo_proc_show", "nfsd:nfsd_open",
                                                        "nfsd:nfsd_vfs_write", "nfsd:nfsd_proc_getattr,2"}));
    EXPECT_TRUE(j["patch"]["functions"].empty());
}

TEST_F(KlpCheck, CombinesWithFunc) {
    const auto r = run_command(lpsafe_bin() + " check --json" + core_args() + " --klp-module " +
                               ko("klp_vmlinux.ko") + " --func libc.so.6:pause");
    ASSERT_EQ(r.exit_status, 1) << r.err;  // the threads parked in pause() block
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["patch"]["not_loaded"], nlohmann::json({"vmlinux:cmdline_proc_show", "vmlinux:type_show,3"}));
}

// A report that cannot be written is an error, whatever the verdict: the
// same check exits 1 (blocked) when its output can be written.
TEST_F(KlpCheck, AnUnwritableReportIsAnError) {
    const std::string check = lpsafe_bin() + " check" + core_args() + " --func libc.so.6:pause";
    for (const char* json : {"", " --json"}) {
        const auto r = run_command("sh -c '" + check + json + " >/dev/full'");
        EXPECT_EQ(r.exit_status, 3) << json << r.err;
        EXPECT_NE(r.err.find("could not be written"), std::string::npos) << r.err;
        EXPECT_EQ(run_command(check + json).exit_status, 1) << json;
    }
}

TEST_F(KlpCheck, NotALivepatchIsAnError) {
    const auto r = run_command(lpsafe_bin() + " check" + core_args() + " --klp-module " + ko("not_livepatch.ko"));
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("--klp-module"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lpsafe::e2e

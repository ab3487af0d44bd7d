// The kernel image found without being told: `check --kernel` on a committed
// capture looks for vmlinuz-<release> (here under --boot-dir) and verifies
// it against the capture's build-id. Debian 12's real vmlinuz, named as the
// capture's kernel, is found, unpacked and refused as another build; an
// empty boot directory, or --no-kernel-image, leaves return-after-call
// skipped with the reason; module frames are not in these captures.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "../unit/debian_kernel.h"
#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string capture() {
    const char* v = std::getenv("LPSAFE_KERNEL_FIXTURES");
    EXPECT_NE(v, nullptr);
    for (const auto& e : fs::directory_iterator(v != nullptr ? v : ".")) {
        if (e.path().extension() == ".lpk") return e.path().string();
    }
    ADD_FAILURE() << "no capture in " << v;
    return {};
}

// vfs_read: patching a scheduler function (schedule) would make every task
// unreliable from /proc alone (check `elided`), whatever the image.
json check(const std::string& args) {
    const CommandResult r = run_command(lpsafe_bin() + " check --kernel --json --func vfs_read --proc-root " + capture() +
                                        " " + args);
    EXPECT_TRUE(r.exit_status == 0 || r.exit_status == 1 || r.exit_status == 2) << r.err;
    return json::parse(r.out, nullptr, false);
}

// Every task with frames either got the check (and a finding if it failed)
// or lists it as skipped: counts of each.
struct CallCheck {
    int finding = 0, skipped = 0;
    std::string first_reason;
};
CallCheck call_check(const json& j) {
    CallCheck c;
    for (const json& t : j["tasks"]) {
        for (const json& f : t.value("failed_checks", json::array())) {
            if (f["check"] == "return-after-call") {
                ++c.finding;
                if (c.first_reason.empty()) c.first_reason = f["detail"];
            }
        }
        for (const json& s : t.value("skipped_checks", json::array())) {
            if (s["check"] == "return-after-call") {
                ++c.skipped;
                if (c.first_reason.empty()) c.first_reason = s["reason"];
            }
        }
    }
    return c;
}

std::string release_of(const std::string& lpk) { return fs::path(lpk).stem().string(); }

TEST(KernelImageDiscovery, VmlinuzOfTheReleaseIsFoundAndAnotherBuildIsRefused) {
    const test::DebianKernel& k = test::debian_kernel();
    ASSERT_TRUE(k.ok());
    test::TempDir boot;
    const std::string named = boot.path() + "/vmlinuz-" + release_of(capture());
    fs::create_symlink(k.vmlinuz(), named);
    const json j = check("--boot-dir " + boot.path());
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["kernel"]["image"], named);
    EXPECT_EQ(j["kernel"]["image_format"], "bzImage (xz payload)");
    const std::string running = j["kernel"]["build_id"];
    ASSERT_EQ(running.size(), 40u);
    const std::string mismatch = j["kernel"]["image_mismatch"];
    EXPECT_NE(mismatch.find("but the running kernel has " + running), std::string::npos) << mismatch;
    const CallCheck c = call_check(j);
    EXPECT_GT(c.finding, 100);
    EXPECT_EQ(c.skipped, 0);
    EXPECT_EQ(c.first_reason, mismatch);
    EXPECT_EQ(j["summary"]["safe"], 0);
}

TEST(KernelImageDiscovery, NoImageLeavesTheCheckSkippedWithTheReason) {
    test::TempDir boot;
    const json j = check("--boot-dir " + boot.path());
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["kernel"]["image"], "");
    const std::string missing = j["kernel"]["image_missing"];
    EXPECT_NE(missing.find(boot.path() + "/vmlinuz-" + release_of(capture()) + " not found"), std::string::npos) << missing;
    const CallCheck c = call_check(j);
    EXPECT_EQ(c.finding, 0);
    EXPECT_GT(c.skipped, 100);
    EXPECT_EQ(c.first_reason, "vmlinux frames: " + missing);
    EXPECT_GT(j["summary"]["safe"].get<int>(), 100);

    const json off = check("--no-kernel-image");
    EXPECT_EQ(off["kernel"]["image_missing"], "disabled (--no-kernel-image)");
    const CallCheck c_off = call_check(off);
    EXPECT_GT(c_off.skipped, 100);
    EXPECT_EQ(c_off.first_reason, "no kernel image was given (--no-kernel-image)");
}

TEST(KernelImageDiscovery, VmlinuxOptionTakesACompressedImageAndOverridesTheSearch) {
    const test::DebianKernel& k = test::debian_kernel();
    ASSERT_TRUE(k.ok());
    test::TempDir boot;
    const json j = check("--boot-dir " + boot.path() + " --vmlinux " + k.vmlinuz());
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["kernel"]["image"], k.vmlinuz());
    EXPECT_NE(j["kernel"]["image_mismatch"].get<std::string>().find("has build-id"), std::string::npos);
    const CommandResult both = run_command(lpsafe_bin() + " check --kernel --func vfs_read --no-kernel-image --vmlinux " +
                                           k.vmlinuz());
    EXPECT_EQ(both.exit_status, 3);
    EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace lpsafe::e2e

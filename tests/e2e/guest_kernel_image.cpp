#include "guest_kernel_image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "fixture_util.h"

namespace lpsafe::e2e {

nlohmann::json check_with_image(const std::string& capture, const std::string& image) {
    const CommandResult r = run_command(lpsafe_bin() + " check --kernel --json --proc-root " + capture +
                                        (image.empty() ? " --no-kernel-image" : " --vmlinux " + image) +
                                        " --func vmlinux:pipe_read");
    EXPECT_NE(r.exit_status, 3) << r.err;
    return r.exit_status == 3 ? nlohmann::json{} : nlohmann::json::parse(r.out);
}

bool skips_return_after_call(const nlohmann::json& task) {
    if (!task.contains("skipped_checks")) return false;
    return std::any_of(task["skipped_checks"].begin(), task["skipped_checks"].end(),
                       [](const nlohmann::json& s) { return s["check"] == "return-after-call"; });
}

nlohmann::json expect_image_keeps_verdicts(const std::string& capture, const GuestImage& image, int judged) {
    const nlohmann::json without = check_with_image(capture, "");
    const nlohmann::json with = check_with_image(capture, image.path);
    EXPECT_FALSE(without.empty());
    EXPECT_FALSE(with.empty());
    if (with.empty() || without.empty()) return with;
    EXPECT_EQ(with["kernel"]["image_format"], image.format);
    EXPECT_EQ(with["kernel"]["image_missing"], "");
    // The running kernel's build-id (the capture's lpsafe-capture/
    // sys-kernel-notes, /sys/kernel/notes of the guest) is the image's.
    EXPECT_EQ(with["kernel"]["build_id"], image.build_id);
    EXPECT_EQ(with["kernel"]["image_mismatch"], "");
    std::map<int, std::string> before;
    int skipped_before = 0;
    for (const nlohmann::json& t : without["tasks"]) {
        before[t["tid"]] = t["verdict"];
        skipped_before += skips_return_after_call(t) ? 1 : 0;
    }
    EXPECT_EQ(skipped_before, judged);
    EXPECT_EQ(with["tasks"].size(), before.size());
    for (const nlohmann::json& t : with["tasks"]) {
        SCOPED_TRACE(int(t["tid"]));
        EXPECT_EQ(t["verdict"], before[t["tid"]]);
        EXPECT_FALSE(skips_return_after_call(t)) << t.dump(2);
    }
    EXPECT_EQ(with["summary"], without["summary"]);
    return with;
}

void expect_moved_return_caught(const std::string& copy, const std::string& stack_file, int tid, const MovedReturn& m,
                                const std::string& image) {
    SCOPED_TRACE(m.to);
    std::string stack = read_file(copy + stack_file);
    const size_t at = stack.find(m.from);
    ASSERT_NE(at, std::string::npos) << stack;
    stack.replace(at, std::string(m.from).size(), m.to);
    std::ofstream(copy + stack_file, std::ios::trunc) << stack;
    const nlohmann::json with = check_with_image(copy, image);
    const nlohmann::json without = check_with_image(copy, "");
    std::filesystem::remove_all(copy);
    ASSERT_FALSE(with.empty());
    ASSERT_FALSE(without.empty());
    EXPECT_EQ(with["summary"]["unreliable"], 1) << with["summary"].dump();
    for (const nlohmann::json& t : with["tasks"]) {
        if (t["verdict"] != "unreliable") continue;
        EXPECT_EQ(t["tid"], tid);
        ASSERT_EQ(t["failed_checks"].size(), 1u) << t.dump();
        EXPECT_EQ(t["failed_checks"][0]["check"], "return-after-call") << t.dump();
        EXPECT_EQ(t["failed_checks"][0]["frame"], m.frame) << t.dump();
    }
    EXPECT_EQ(without["summary"]["unreliable"], 0) << without["summary"].dump();
}

void expect_other_build_id_caught(const std::string& copy, const GuestImage& image, int judged) {
    const std::string notes_file = copy + "/lpsafe-capture/sys-kernel-notes";
    std::string notes = read_file(notes_file);
    ASSERT_GE(notes.size(), 36u);
    notes[20] = static_cast<char>(notes[20] ^ 0xff);  // inside the 20-byte id at 16 of the first note
    std::ofstream(notes_file, std::ios::trunc | std::ios::binary) << notes;
    const nlohmann::json with = check_with_image(copy, image.path);
    std::filesystem::remove_all(copy);
    ASSERT_FALSE(with.empty());
    EXPECT_NE(std::string(with["kernel"]["image_mismatch"]).find(image.build_id), std::string::npos)
        << with["kernel"].dump();
    EXPECT_EQ(with["summary"]["unreliable"], judged) << with["summary"].dump();
}

}  // namespace lpsafe::e2e

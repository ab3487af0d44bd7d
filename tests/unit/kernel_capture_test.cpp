// Kernel captures: the archive format (round trip and every way a file can
// be cut or corrupted), captured directory trees with recorded errnos, and
// the build-id note of /sys/kernel/notes.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "kernel_excerpt.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/kernel_scan.h"

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;

std::vector<CaptureFile> sample_files() {
    return {
        {"kallsyms", {test::kKallsymsExcerpt, 0}},
        {"sys/kernel/osrelease", {"6.18.44-fc-v669\n", 0}},
        {"lpsafe-capture/info", {"format lpsafe-kernel-capture 1\nreader_pid 300\n", 0}},
        {"100/task/100/stat", {"100 (kparked) S 1 100 100 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 248406 0\n", 0}},
        {"100/task/100/wchan", {"__do_sys_pause", 0}},
        {"100/task/100/stack", {test::kPauseStack, 0}},
        {"1/task/1/stat", {"1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0\n", 0}},
        {"1/task/1/wchan", {"0", 0}},
        {"1/task/1/stack", {{}, EPERM}},
        {"300/task/300/stat", {"300 (lpsafe) R 1 300 300 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 900 0\n", 0}},
        {"300/task/300/wchan", {"0", 0}},
        {"300/task/300/stack", {"", 0}},
        {"200/task/200/stat", {{}, ESRCH}},
    };
}

std::map<int, VerdictKind> verdicts_of(const ProcSource& source) {
    auto capture = capture_kernel(source);
    EXPECT_TRUE(capture.ok()) << (capture.ok() ? "" : capture.error().message);
    auto input = to_kernel_input(*capture);
    EXPECT_TRUE(input.ok()) << (input.ok() ? "" : input.error().message);
    PatchSet set;
    EXPECT_TRUE(set.add_spec("__do_sys_pause").ok());
    auto report = check_kernel(input->tasks, input->kallsyms, set);
    EXPECT_TRUE(report.ok());
    std::map<int, VerdictKind> out;
    for (const TaskVerdict& t : report->tasks) out[t.tid] = t.verdict;
    return out;
}

const std::map<int, VerdictKind> kExpected = {{100, VerdictKind::blocked},
                                              {1, VerdictKind::unreadable},
                                              {300, VerdictKind::running},
                                              {200, VerdictKind::gone}};

TEST(CaptureArchive, RoundTripsFilesAndErrnos) {
    const auto bytes = encode_capture_archive(sample_files());
    auto files = decode_capture_archive(bytes);
    ASSERT_TRUE(files.ok()) << files.error().message;
    ASSERT_EQ(files->size(), sample_files().size());
    EXPECT_EQ((*files)[8].path, "1/task/1/stack");
    EXPECT_EQ((*files)[8].content.error, EPERM);
    EXPECT_EQ((*files)[5].content.data, test::kPauseStack);
}

TEST(CaptureArchive, ReplaysToExactVerdicts) {
    const fs::path file = fs::path(testing::TempDir()) / "sample.lpk";
    ASSERT_TRUE(write_capture_archive(file, sample_files()).ok());
    auto source = open_proc_root(file);
    ASSERT_TRUE(source.ok()) << source.error().message;
    EXPECT_EQ(verdicts_of(**source), kExpected);
}

TEST(CaptureArchive, RejectsEveryTruncation) {
    const auto bytes = encode_capture_archive(sample_files());
    for (size_t n = 0; n < bytes.size(); n += 7) {
        EXPECT_FALSE(decode_capture_archive(std::span(bytes).first(n)).ok()) << n;
    }
}

TEST(CaptureArchive, RejectsBadMagicVersionAndCorruption) {
    auto bytes = encode_capture_archive(sample_files());
    auto bad_magic = bytes;
    bad_magic[0] = std::byte{'X'};
    EXPECT_FALSE(decode_capture_archive(bad_magic).ok());
    auto bad_version = bytes;
    bad_version[8] = std::byte{2};
    auto v = decode_capture_archive(bad_version);
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("version 2"), std::string::npos);
    auto flipped = bytes;
    flipped[bytes.size() / 2] ^= std::byte{0x55};
    EXPECT_FALSE(decode_capture_archive(flipped).ok());
    auto huge = bytes;
    huge[23] = std::byte{0x7f};  // payload size far beyond any system
    EXPECT_FALSE(decode_capture_archive(huge).ok());
}

long peak_rss_kib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// Found by fuzz_procfs: a header claiming a 2 GiB payload made the decoder
// allocate and zero 2 GiB before zlib could say the stream is far shorter.
TEST(CaptureArchive, RefusesAPayloadSizeTheCompressedBytesCannotHold) {
    auto bytes = encode_capture_archive(sample_files());
    const uint64_t claim = uint64_t{1} << 31;  // the largest size the format allows
    for (int i = 0; i < 8; ++i) bytes[16 + i] = static_cast<std::byte>(claim >> (8 * i));
    const long before = peak_rss_kib();
    auto files = decode_capture_archive(bytes);
    ASSERT_FALSE(files.ok());
    EXPECT_NE(files.error().message.find("compressed bytes can hold"), std::string::npos) << files.error().message;
    EXPECT_LT(peak_rss_kib() - before, 64 * 1024) << "the claimed size was allocated";
}

TEST(CaptureArchive, SaysWhenThePayloadIsShorterThanItsHeaderSays) {
    auto bytes = encode_capture_archive(sample_files());
    bytes[16] = static_cast<std::byte>(static_cast<uint8_t>(bytes[16]) + 1);  // one byte more than was stored
    auto files = decode_capture_archive(bytes);
    ASSERT_FALSE(files.ok());
    EXPECT_NE(files.error().message.find("not the"), std::string::npos) << files.error().message;
}

TEST(CaptureArchive, RejectsPathsThatEscapeTheTree) {
    for (const char* p : {"../etc/passwd", "/etc/passwd", "a//b", "a/./b", ""}) {
        const auto bytes = encode_capture_archive({{p, {"x", 0}}});
        EXPECT_FALSE(decode_capture_archive(bytes).ok()) << p;
    }
}

TEST(CaptureDir, ReplaysRecordedErrnos) {
    const fs::path dir = fs::path(testing::TempDir()) / "capture-tree";
    fs::remove_all(dir);
    ASSERT_TRUE(write_capture_dir(dir, sample_files()).ok());
    EXPECT_TRUE(fs::exists(dir / "1/task/1/stack.errno"));
    auto source = open_proc_root(dir);
    ASSERT_TRUE(source.ok()) << source.error().message;
    EXPECT_EQ(verdicts_of(**source), kExpected);
}

TEST(CaptureDir, MissingKallsymsIsAnError) {
    const fs::path dir = fs::path(testing::TempDir()) / "no-kallsyms";
    fs::remove_all(dir);
    auto files = sample_files();
    files.erase(files.begin());
    ASSERT_TRUE(write_capture_dir(dir, files).ok());
    auto source = open_proc_root(dir);
    ASSERT_TRUE(source.ok());
    auto capture = capture_kernel(**source);
    ASSERT_FALSE(capture.ok());
    EXPECT_NE(capture.error().message.find("kallsyms"), std::string::npos);
}

TEST(CaptureDir, GarbageProcTextIsUnreliableNotACrash) {
    auto files = sample_files();
    files[3].content.data = "garbage without parentheses";
    files[5].content.data = "\x01\x02\x03 not a stack\n";
    const fs::path file = fs::path(testing::TempDir()) / "garbage.lpk";
    ASSERT_TRUE(write_capture_archive(file, files).ok());
    auto source = open_proc_root(file);
    ASSERT_TRUE(source.ok());
    auto expected = kExpected;
    expected[100] = VerdictKind::unreliable;
    EXPECT_EQ(verdicts_of(**source), expected);
}

TEST(KernelNotes, FindsTheGnuBuildId) {
    // The layout of /sys/kernel/notes on the development machine: a GNU
    // build-id note (type 3) followed by Xen notes.
    const unsigned char notes[] = {0x04, 0, 0, 0, 0x14, 0, 0, 0, 0x03, 0, 0, 0, 'G', 'N', 'U', 0,
                                   0x4a, 0x5a, 0x9b, 0x0a, 0xff, 0xb6, 0x6c, 0x43, 0x7a, 0xbc, 0xd4, 0x55,
                                   0xd2, 0x73, 0x8a, 0xf8, 0x79, 0x98, 0x5f, 0xa9, 0x06, 0, 0, 0, 0x04, 0, 0, 0,
                                   0x01, 0x01, 0, 0, 'L', 'i', 'n', 'u', 'x', 0, 0, 0, 0, 0, 0, 0};
    const std::string_view text(reinterpret_cast<const char*>(notes), sizeof notes);
    EXPECT_EQ(build_id_from_notes(text), "4a5a9b0affb66c437abcd455d2738af879985fa9");
    EXPECT_EQ(build_id_from_notes(text.substr(0, 20)), "");  // cut inside the desc
    EXPECT_EQ(build_id_from_notes("garbage"), "");
}

}  // namespace
}  // namespace lpsafe::readers

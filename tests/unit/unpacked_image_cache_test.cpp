// The unpacked kernel image cache on Debian 12's real vmlinuz: the second
// open maps the copy the first one kept, byte for byte what unpacking gives;
// a copy changed on disk, a directory others may write to, or a planted file
// is never used; old entries are pruned.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "debian_kernel.h"
#include "readers/kernel/kernel_image_file.h"
#include "readers/kernel/unpacked_image_cache.h"
#include "test_support.h"

namespace lpsafe::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> entries(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
    return out;
}

bool same_bytes(const ElfImage& a, const ElfImage& b) {
    return a.file_bytes().size() == b.file_bytes().size() &&
           std::memcmp(a.file_bytes().data(), b.file_bytes().data(), a.file_bytes().size()) == 0;
}

class ImageCache : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(debian_kernel().ok());
        vmlinuz_ = debian_kernel().vmlinuz();
        dir_ = fs::path(tmp_.path()) / "cache";
    }
    Result<readers::OpenedKernelImage> open() const {
        const readers::UnpackedImageCache cache(dir_.string());
        return readers::open_kernel_image(vmlinuz_, &cache);
    }

    std::string vmlinuz_;
    TempDir tmp_;
    fs::path dir_;
};

TEST_F(ImageCache, TheSecondOpenMapsTheCopyTheFirstKept) {
    auto first = open();
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->note, "kernel image: unpacked, a copy kept in " + dir_.string());
    ASSERT_EQ(entries(dir_).size(), 1u);
    // Made private to its owner, as the cache requires of a directory.
    EXPECT_EQ(fs::status(dir_).permissions() & (fs::perms::group_write | fs::perms::others_write), fs::perms::none);

    auto second = open();
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(second->note, "kernel image: read from its unpacked copy in " + dir_.string());
    // What a report says of the image does not depend on the cache.
    EXPECT_EQ(second->format, first->format);
    EXPECT_EQ(second->elf->path(), vmlinuz_);
    EXPECT_EQ(second->elf->build_id(), first->elf->build_id());
    EXPECT_TRUE(same_bytes(*first->elf, *second->elf));
}

// One byte of the copy changed on disk: its content no longer hashes to its
// name, so it is removed and the image unpacked again.
TEST_F(ImageCache, ACopyChangedOnDiskIsNeverUsed) {
    ASSERT_TRUE(open().ok());
    const fs::path copy = entries(dir_).at(0);
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(0x200000);
        f.put('\xcc');
    }
    auto again = open();
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->note, "kernel image: unpacked, a copy kept in " + dir_.string());
    auto third = open();
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->note, "kernel image: read from its unpacked copy in " + dir_.string());
    EXPECT_TRUE(same_bytes(*again->elf, *third->elf));
}

// A copy cut short is no copy either.
TEST_F(ImageCache, ATruncatedCopyIsNeverUsed) {
    ASSERT_TRUE(open().ok());
    fs::resize_file(entries(dir_).at(0), 4096);
    auto again = open();
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->note, "kernel image: unpacked, a copy kept in " + dir_.string());
    EXPECT_GT(again->elf->file_bytes().size(), 1u << 20);
}

// A directory others may write to could hold a planted image whose hashes
// are right: it is not read, and nothing is written there.
TEST_F(ImageCache, ADirectoryOthersMayWriteToIsNotUsed) {
    ASSERT_TRUE(open().ok());
    fs::permissions(dir_, fs::perms::others_write, fs::perm_options::add);
    auto opened = open();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_NE(opened->note.find("not cached (" + dir_.string() + " is writable by others)"), std::string::npos)
        << opened->note;
}

TEST(UnpackedImageCache, KeepsTheNewestEntries) {
    TempDir tmp;
    const fs::path dir = fs::path(tmp.path()) / "c";
    const readers::UnpackedImageCache cache(dir.string());
    const auto now = fs::file_time_type::clock::now();
    std::set<fs::path> seen;
    for (int i = 0; i < 5; ++i) {
        const std::string packed = "packed " + std::to_string(i), unpacked = "unpacked " + std::to_string(i);
        ASSERT_TRUE(cache.store(std::as_bytes(std::span(packed)), std::as_bytes(std::span(unpacked))).ok());
        // Entry i written i hours after the first (file times, not the
        // order of the names, decide).
        for (const fs::path& e : entries(dir)) {
            if (seen.insert(e).second) fs::last_write_time(e, now - std::chrono::hours(10 - i));
        }
    }
    const auto left = entries(dir);
    ASSERT_EQ(left.size(), readers::UnpackedImageCache::kKeep);
    for (const fs::path& e : left) EXPECT_GE(fs::last_write_time(e), now - std::chrono::hours(8)) << e;
}

TEST(UnpackedImageCache, NoDirectoryNoCache) {
    const readers::UnpackedImageCache none("");
    const std::string packed = "p", unpacked = "u";
    EXPECT_TRUE(none.store(std::as_bytes(std::span(packed)), std::as_bytes(std::span(unpacked))).ok());
    EXPECT_EQ(none.find(std::as_bytes(std::span(packed)), "x"), nullptr);
}

}  // namespace
}  // namespace lpsafe::test

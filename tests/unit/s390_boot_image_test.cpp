// s390 boot images as Debian ships its s390x kernel (/boot/vmlinuz-*-s390x:
// the kernel's decompressor, arch/s390/boot, with the raw kernel in it as an
// xz stream), on real data: the committed excerpt (fixtures/
// make-image-excerpt.py: the vmlinuz's head, then the raw kernel in xz with
// the capture's functions kept, zeros elsewhere) and, when the s390x guest's
// cache holds it, the real vmlinuz. Then the payload search on containers
// made around the excerpt's own stream: a candidate that does not decode
// first, one that decodes to too little, a stream cut short, a head without
// the entry table.
#include <elf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "readers/kernel/kernel_image_file.h"
#include "readers/kernel/kernel_scan.h"
#include "readers/kernel/raw_kernel_image.h"
#include "test_support.h"

namespace lpsafe::test {
namespace {

constexpr const char* kBuildId = "64191809e7272da77af306133aa6c566be0be242";
constexpr uint64_t kRawBytes = 18406488;  // the raw 6.1.0-50-s390x kernel
constexpr size_t kHead = 0x10010;         // the excerpt's stream starts after the entry table

std::string fixtures() {
    const char* f = std::getenv("LPSAFE_SOURCE_FIXTURES");
    return f == nullptr ? std::string() : f;
}
std::string excerpt_path() { return fixtures() + "/s390x-guest/recorded/vmlinuz-excerpt"; }
const std::string& excerpt() {
    static const std::string bytes = read_file(excerpt_path());
    return bytes;
}
std::string cached_vmlinuz() {
    const char* cache = std::getenv("LPSAFE_CACHE");
    return std::string(cache != nullptr ? cache : "/var/cache/lpsafe") +
           "/s390x-guest/kernel-6.1.0-50-s390x/boot/vmlinuz-6.1.0-50-s390x";
}

std::string hex_of(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

Result<readers::UnpackedKernel> unpack(const std::string& bytes) {
    return readers::unpack_kernel_image(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

std::string code_at(const ElfImage& elf, uint64_t addr, size_t n) {
    std::string out(n, '\0');
    EXPECT_EQ(elf.read(addr, std::as_writable_bytes(std::span(out.data(), n))), n);
    return out;
}

// A big-endian EM_S390 ELF whose one R+X segment puts the raw kernel's
// offset 0 at its `_text` (kallsyms of the guest: 0x100000, no KASLR), with
// the kernel's own build-id.
void expect_s390_kernel(const ElfImage& elf) {
    EXPECT_EQ(elf.machine(), EM_S390);
    EXPECT_EQ(static_cast<unsigned char>(elf.file_bytes()[EI_DATA]), ELFDATA2MSB);
    EXPECT_EQ(elf.build_id(), kBuildId);
    ASSERT_EQ(elf.segments().size(), 1u);
    const ElfSegment& text = elf.segments().front();
    EXPECT_EQ(text.vaddr, readers::kS390ImageLinkBase);
    EXPECT_EQ(text.filesz, kRawBytes);
    EXPECT_EQ(text.flags, uint32_t{PF_R | PF_X});
    // pipe_read (0x41fd00 in the capture's kallsyms, on every piperead
    // stack) starts with the 6-byte `brcl 0,0` ftrace patches.
    EXPECT_EQ(code_at(elf, 0x41fd00, 6), std::string("\xc0\x04\0\0\0\0", 6));
}

TEST(S390BootImage, ExcerptOpensAsABigEndianS390Kernel) {
    ASSERT_FALSE(excerpt().empty()) << excerpt_path();
    ASSERT_TRUE(readers::is_s390_boot_image(std::as_bytes(std::span(excerpt().data(), excerpt().size()))));
    auto opened = readers::open_kernel_image(excerpt_path());
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(opened->format, "s390 boot image (xz stream at offset 0x10010)");
    EXPECT_EQ(opened->note, "");
    expect_s390_kernel(*opened->elf);
}

// The real vmlinuz: its first xz magic (0x18ac6, in the decompressor's code)
// starts no valid stream; the second (0x2e818) is the kernel. The raw kernel
// holds three GNU build-id notes: the kernel's at 0xc62ea8 and the vDSOs'
// (vdso64, vdso32: ELF files page-aligned in its data), which are passed over.
TEST(S390BootImage, RealVmlinuzSkipsTheCorruptCandidateAndTheVdsoBuildIds) {
    if (!std::filesystem::exists(cached_vmlinuz()))
        GTEST_SKIP() << cached_vmlinuz() << " is not cached: fixtures/s390x-guest/make-s390x-fixtures.sh downloads it";
    const auto start = std::chrono::steady_clock::now();
    auto opened = readers::open_kernel_image(cached_vmlinuz());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    std::cout << "unpacked " << cached_vmlinuz() << " (" << opened->format << ") in " << ms << " ms\n";
    RecordProperty("unpack_ms", static_cast<int>(ms));
    EXPECT_EQ(opened->format, "s390 boot image (xz stream at offset 0x2e818)");
    EXPECT_EQ(opened->note, "");
    expect_s390_kernel(*opened->elf);
    // __schedule (0xa296d8 in the guest's full kallsyms) starts with
    // `stmg %r6,%r15,72(%r15)`; the excerpt keeps the same bytes as the
    // kernel for every function it kept.
    EXPECT_EQ(code_at(*opened->elf, 0xa296d8, 6), std::string("\xeb\x6f\xf0\x48\x00\x24", 6));
    auto from_excerpt = readers::open_kernel_image(excerpt_path());
    ASSERT_TRUE(from_excerpt.ok()) << from_excerpt.error().message;
    EXPECT_EQ(code_at(*opened->elf, 0x41fd00, 0x470), code_at(*from_excerpt->elf, 0x41fd00, 0x470));  // pipe_read
}

// Candidates are tried in order and the first that decodes to a kernel is
// kept: an xz magic followed by no stream, and a valid stream that decodes
// to a few bytes (no kernel), are passed over.
TEST(S390BootImage, CandidatesThatDoNotDecodeToAKernelAreSkipped) {
    ASSERT_GT(excerpt().size(), kHead);
    const std::string head = excerpt().substr(0, kHead), stream = excerpt().substr(kHead);
    const std::string corrupt = std::string("\xfd" "7zXZ\0", 6) + std::string(64, '\x55');
    auto after_corrupt = unpack(head + corrupt + stream);
    ASSERT_TRUE(after_corrupt.ok()) << after_corrupt.error().message;
    EXPECT_EQ(after_corrupt->format, "s390 boot image (xz stream at offset 0x10056)");
    auto elf = ElfImage::from_bytes("after-corrupt", std::move(after_corrupt->elf));
    ASSERT_TRUE(elf.ok()) << elf.error().message;
    expect_s390_kernel(**elf);

    const std::string tiny = run("printf 'not a kernel' | xz -c --check=crc32");
    ASSERT_FALSE(tiny.empty());
    auto after_tiny = unpack(head + tiny + stream);
    ASSERT_TRUE(after_tiny.ok()) << after_tiny.error().message;
    EXPECT_EQ(after_tiny->format, "s390 boot image (xz stream at offset " + hex_of(kHead + tiny.size()) + ")");
}

// A stream cut short, or none at all: an error value naming the container
// and why, never a crash or a guess.
TEST(S390BootImage, TruncatedStreamIsAnError) {
    const std::string head = excerpt().substr(0, kHead), stream = excerpt().substr(kHead);
    auto cut = unpack(head + stream.substr(0, stream.size() / 2));
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.error().message.find("s390 boot image: no compressed stream in it decodes to the kernel"),
              std::string::npos)
        << cut.error().message;
    EXPECT_NE(cut.error().message.find("xz stream is truncated"), std::string::npos) << cut.error().message;
    auto none = unpack(head);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("no compressed stream found"), std::string::npos) << none.error().message;
    // Only too little: "too few for an s390 kernel".
    auto tiny = unpack(head + run("printf 'not a kernel' | xz -c --check=crc32"));
    ASSERT_FALSE(tiny.ok());
    EXPECT_NE(tiny.error().message.find("too few for an s390 kernel"), std::string::npos) << tiny.error().message;
}

// Without the "S390EP" entry table the file is no s390 boot image, and the
// raw kernel its stream holds (no header of its own) is not taken for one.
TEST(S390BootImage, WithoutTheEntryTableTheRawKernelIsRefused) {
    std::string no_table = excerpt();
    ASSERT_GT(no_table.size(), kHead);
    no_table[0x10008] = 'X';
    EXPECT_FALSE(readers::is_s390_boot_image(std::as_bytes(std::span(no_table.data(), no_table.size()))));
    auto out = unpack(no_table);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.error().message.find("is not an ELF vmlinux"), std::string::npos) << out.error().message;
}

// The s390 kernel writes /sys/kernel/notes in its own (big-endian) byte
// order; the capture's gives the build-id the image has.
TEST(S390BootImage, BigEndianKernelNotesGiveTheBuildId) {
    const std::string notes = read_file(fixtures() + "/s390x-guest/recorded/capture/lpsafe-capture/sys-kernel-notes");
    ASSERT_EQ(notes.substr(0, 4), std::string("\0\0\0\x04", 4));  // namesz 4, big-endian
    EXPECT_EQ(readers::build_id_from_notes(notes), kBuildId);
    const std::string arm64 = read_file(fixtures() + "/arm64-guest/recorded/capture/lpsafe-capture/sys-kernel-notes");
    EXPECT_EQ(readers::build_id_from_notes(arm64), "d34ebfe0b641cdfdc5460d84a5d1f9380050eb97");
}

}  // namespace
}  // namespace lpsafe::test

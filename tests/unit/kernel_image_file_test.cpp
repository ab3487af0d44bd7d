// Kernel images as distributions ship them, on real data: Debian 12's
// vmlinuz (a bzImage with an xz payload) against the ELF that xz(1) itself
// decompresses from it, and the same real vmlinux recompressed with each
// compression tool the kernel's build uses, raw and wrapped as the x86 boot
// protocol wraps a payload; then truncated and corrupted copies.
#include <elf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>

#include "debian_kernel.h"
#include "readers/kernel/decompress.h"
#include "readers/kernel/kernel_image_file.h"
#include "readers/kernel/raw_kernel_image.h"
#include "test_support.h"

namespace lpsafe::test {
namespace {

using readers::Compression;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string as_string(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

void put_le(std::string& s, size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A bzImage as arch/x86/boot builds one: setup sectors with the header
// (Documentation/arch/x86/boot.rst), protected-mode code, then the payload
// (mkpiggy: payload_offset/length) that ends with the uncompressed size
// (scripts/Makefile.lib size_append).
std::string bzimage(const std::string& stream, uint64_t raw_size, uint16_t version = 0x020f) {
    constexpr uint8_t kSetupSects = 3;
    constexpr uint32_t kPayloadOffset = 0x3b0;  // after some "code"
    std::string f((kSetupSects + 1) * 512 + kPayloadOffset, '\x90');
    f[0x1f1] = static_cast<char>(kSetupSects);
    std::memcpy(&f[0x202], "HdrS", 4);
    put_le(f, 0x206, version, 2);
    put_le(f, 0x248, kPayloadOffset, 4);
    put_le(f, 0x24c, stream.size() + 4, 4);
    f += stream;
    f += std::string(4, '\0');
    put_le(f, f.size() - 4, raw_size, 4);
    return f + std::string(64, '\0');  // the kernel pads the file after the payload
}

// The real vmlinux, decompressed from the real vmlinuz by xz(1) itself: the
// stream starts at the first xz magic (the kernel's scripts/extract-vmlinux).
struct RealVmlinux {
    TempDir tmp;
    std::string path;
    std::string bytes;
    RealVmlinux() {
        const DebianKernel& k = debian_kernel();
        if (!k.ok()) return;
        path = tmp.path() + "/vmlinux";
        run("off=$(LC_ALL=C grep -obUaP '\\xfd7zXZ\\x00' " + k.vmlinuz() + " | head -n1 | cut -d: -f1) && tail -c +$((off+1)) " +
            k.vmlinuz() + " | xz -dc --single-stream > " + path);
        bytes = read_file(path);
        EXPECT_GT(bytes.size(), 1u << 20) << "xz could not decompress " << k.vmlinuz();
    }
};

const RealVmlinux& real_vmlinux() {
    static const RealVmlinux v;
    return v;
}

// Each (tool, input) is compressed once for all the tests that use it.
std::string compressed_with(const std::string& tool, const std::string& input) {
    static std::map<std::string, std::string> done;
    const std::string cmd = tool + " -c < " + input;
    auto it = done.find(cmd);
    if (it == done.end()) it = done.emplace(cmd, run(cmd)).first;
    return it->second;
}

TEST(KernelImageFile, DebianVmlinuzUnpacksToTheElfXzGivesWithItsBuildId) {
    const DebianKernel& k = debian_kernel();
    ASSERT_TRUE(k.ok());
    const RealVmlinux& v = real_vmlinux();
    ASSERT_FALSE(v.bytes.empty());
    const auto start = std::chrono::steady_clock::now();
    auto opened = readers::open_kernel_image(k.vmlinuz());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    std::cout << "unpacked " << k.vmlinuz() << " (" << opened->format << ", " << v.bytes.size() << " bytes) in " << ms
              << " ms\n";
    RecordProperty("unpack_ms", static_cast<int>(ms));
    EXPECT_EQ(opened->format, "bzImage (xz payload)");
    EXPECT_TRUE(opened->elf->file_bytes().size() == v.bytes.size() &&
                std::memcmp(opened->elf->file_bytes().data(), v.bytes.data(), v.bytes.size()) == 0)
        << "the unpacked image differs from what xz(1) decompresses";
    const std::string readelf = run("readelf -n " + v.path + " | awk '/Build ID/ { print $3; exit }'");
    ASSERT_EQ(readelf.size(), 41u) << readelf;
    EXPECT_EQ(opened->elf->build_id(), readelf.substr(0, 40));
    EXPECT_FALSE(opened->elf->segments().empty());
}

// One real stream per format the kernel's build can write for x86, each made
// by that format's own tool from a real ELF.
struct FormatCase {
    const char* tool;
    Compression c;
    bool big;  // the 60+ MiB vmlinux (lz4: several 8 MiB blocks) or the test binary (faster)
};

class KernelImageFormats : public testing::TestWithParam<FormatCase> {
protected:
    void SetUp() override {
        const FormatCase& f = GetParam();
        input_ = f.big ? real_vmlinux().path : std::filesystem::read_symlink("/proc/self/exe").string();
        ASSERT_FALSE(input_.empty());
        static std::map<std::string, std::string> files;  // read once for all cases
        auto it = files.find(input_);
        if (it == files.end()) it = files.emplace(input_, read_file(input_)).first;
        raw_ = it->second;
        stream_ = compressed_with(f.tool, input_);
        ASSERT_FALSE(stream_.empty()) << f.tool << " produced nothing";
    }
    std::string input_, raw_, stream_;
};

TEST_P(KernelImageFormats, RawStreamIsFoundByItsMagic) {
    ASSERT_EQ(readers::compression_at(as_bytes(stream_)), GetParam().c);
    auto out = readers::unpack_kernel_image(as_bytes(std::string(100, 'x') + stream_));
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(out->format, std::string(readers::compression_name(GetParam().c)) + " stream at offset 0x64");
    EXPECT_TRUE(as_string(out->elf) == raw_) << "decompressed bytes differ from " << input_;
}

TEST_P(KernelImageFormats, BzImagePayloadIsFoundByTheSetupHeader) {
    auto out = readers::unpack_kernel_image(as_bytes(bzimage(stream_, raw_.size())));
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(out->format, "bzImage (" + std::string(readers::compression_name(GetParam().c)) + " payload)");
    EXPECT_TRUE(as_string(out->elf) == raw_) << "decompressed bytes differ from " << input_;
}

TEST_P(KernelImageFormats, TruncatedStreamIsNamedTruncated) {
    const std::string cut = stream_.substr(0, stream_.size() / 2);
    auto out = readers::decompress(GetParam().c, as_bytes(cut));
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.error().message.find("truncated"), std::string::npos) << out.error().message;
    // In a bzImage the payload length then runs past the end of the file.
    std::string bz = bzimage(stream_, raw_.size());
    auto cut_file = readers::unpack_kernel_image(as_bytes(bz.substr(0, bz.size() / 2)));
    ASSERT_FALSE(cut_file.ok());
    EXPECT_NE(cut_file.error().message.find("outside the"), std::string::npos) << cut_file.error().message;
}

TEST_P(KernelImageFormats, OutputAboveTheLimitIsRefused) {
    auto out = readers::decompress(GetParam().c, as_bytes(stream_), 1 << 20);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.error().message.find("more than the 1 MiB limit"), std::string::npos) << out.error().message;
}

INSTANTIATE_TEST_SUITE_P(Tools, KernelImageFormats,
                         testing::Values(FormatCase{"gzip -1", Compression::gzip, false},
                                         FormatCase{"xz -0 --check=crc32", Compression::xz, false},
                                         FormatCase{"zstd -q -3", Compression::zstd, false},
                                         FormatCase{"lz4 -q -l", Compression::lz4_legacy, true},
                                         FormatCase{"bzip2 -1", Compression::bzip2, false}),
                         [](const auto& info) {
                             std::string n(readers::compression_name(info.param.c));
                             return n.substr(0, n.find(' '));
                         });

// Formats with a checksum or strict coding catch flipped bytes in the data.
TEST(KernelImageFile, CorruptStreamsAreNamedCorrupt) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    for (const auto& [tool, c] : {std::pair{"gzip -1", Compression::gzip}, std::pair{"xz -0", Compression::xz},
                                  std::pair{"zstd -q -3", Compression::zstd}, std::pair{"bzip2 -1", Compression::bzip2}}) {
        std::string s = compressed_with(tool, exe);
        ASSERT_GT(s.size(), 4096u) << tool;
        for (size_t i = s.size() / 2; i < s.size() / 2 + 64; ++i) s[i] = static_cast<char>(~s[i]);
        auto out = readers::decompress(c, as_bytes(s));
        ASSERT_FALSE(out.ok()) << tool;
        EXPECT_NE(out.error().message.find("corrupt"), std::string::npos) << tool << ": " << out.error().message;
    }
    // The legacy lz4 frame has no checksum: a block size that runs past the
    // input is what it can catch.
    std::string lz4 = compressed_with("lz4 -q -l", exe);
    put_le(lz4, 4, 0x7ffffff0, 4);
    auto out = readers::decompress(Compression::lz4_legacy, as_bytes(lz4));
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.error().message.find("truncated"), std::string::npos) << out.error().message;
}

TEST(KernelImageFile, BadBzImageHeadersAreNamed) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    const std::string raw = read_file(exe);
    const std::string gz = compressed_with("gzip -1", exe);
    auto old = readers::unpack_kernel_image(as_bytes(bzimage(gz, raw.size(), 0x0206)));
    ASSERT_FALSE(old.ok());
    EXPECT_NE(old.error().message.find("2.08 or later"), std::string::npos) << old.error().message;
    auto plain = readers::unpack_kernel_image(as_bytes(bzimage(std::string(4096, 'z'), 4096)));
    ASSERT_FALSE(plain.ok());
    EXPECT_NE(plain.error().message.find("no known compression magic"), std::string::npos) << plain.error().message;
    // A stream that is fine but holds no ELF is not a kernel image.
    auto text = readers::unpack_kernel_image(as_bytes(run("printf 'hello kernel' | gzip")));
    ASSERT_FALSE(text.ok());
    EXPECT_NE(text.error().message.find("is not an ELF vmlinux"), std::string::npos) << text.error().message;
    EXPECT_FALSE(readers::unpack_kernel_image({}).ok());
}

TEST(KernelImageFile, UncompressedElfIsTakenAsItIs) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    auto opened = readers::open_kernel_image(exe);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(opened->format, "ELF");
    EXPECT_EQ(opened->elf->file_bytes().size(), std::filesystem::file_size(exe));
}

// arm64: Debian's arm64 vmlinuz is a raw Image (Documentation/arch/arm64/
// booting.rst), wrapped as an ELF. The committed excerpt of Debian's
// 6.1.0-57-arm64 Image (fixtures/arm64-guest/make-image-excerpt.py: the same
// size, its first page, the build-id note and the functions the capture's
// stacks name) stands for it.
constexpr const char* kArm64BuildId = "d34ebfe0b641cdfdc5460d84a5d1f9380050eb97";
constexpr uint64_t kArm64ImageBytes = 32956352;

std::string arm64_excerpt() {
    const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
    return fixtures == nullptr ? std::string() : std::string(fixtures) + "/arm64-guest/recorded/vmlinuz-excerpt.xz";
}

// The raw Image inside the excerpt, decompressed by xz(1) itself.
const std::string& arm64_raw_image() {
    static const std::string raw = run("xz -dc < " + arm64_excerpt());
    return raw;
}

void expect_arm64_image(const readers::OpenedKernelImage& opened) {
    EXPECT_EQ(opened.elf->machine(), EM_AARCH64);
    EXPECT_EQ(opened.elf->build_id(), kArm64BuildId);
    EXPECT_EQ(opened.note, "");
    ASSERT_EQ(opened.elf->segments().size(), 1u);
    const ElfSegment& text = opened.elf->segments().front();
    EXPECT_EQ(text.vaddr, readers::kArm64ImageLinkBase);  // offset 0 is _text
    EXPECT_EQ(text.filesz, kArm64ImageBytes);
    EXPECT_EQ(text.flags, uint32_t{PF_R | PF_X});
    // _stext from the EFI header's .text section, 64 KiB on (kallsyms says
    // ffff800008010000); primary_entry from the header's branch (kallsyms
    // of the full guest run: ffff800009668d5c).
    const auto stext = opened.elf->symbols_named("_stext");
    ASSERT_EQ(stext.size(), 1u);
    EXPECT_EQ(stext.front()->start, readers::kArm64ImageLinkBase + 0x10000);
    const auto entry = opened.elf->symbols_named("primary_entry");
    ASSERT_EQ(entry.size(), 1u);
    EXPECT_EQ(entry.front()->start, readers::kArm64ImageLinkBase + 0x1668d5c);
    // The code is there: pipe_read (ffff8000083b8fe0 in the capture's
    // kallsyms) starts with `paciasp` or a `stp x29, x30` / `bti`: not zero.
    uint32_t first = 0;
    ASSERT_EQ(opened.elf->read(0xffff8000083b8fe0, std::as_writable_bytes(std::span(&first, 1))), 4u);
    EXPECT_NE(first, 0u);
}

TEST(KernelImageFile, Arm64ImageExcerptOpensWithTheKernelsBuildId) {
    TempDir tmp;
    const std::string raw_path = tmp.path() + "/Image";
    write_file(raw_path, arm64_raw_image());
    ASSERT_EQ(arm64_raw_image().size(), kArm64ImageBytes);
    for (const auto& [path, format] : std::vector<std::pair<std::string, std::string>>{
             {arm64_excerpt(), "arm64 Image (xz stream)"},
             {raw_path, "arm64 Image"},
         }) {
        SCOPED_TRACE(path);
        auto opened = readers::open_kernel_image(path);
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        EXPECT_EQ(opened->format, format);
        expect_arm64_image(*opened);
    }
}

// Image.gz, Image.zst as other distributions ship them.
TEST(KernelImageFile, Arm64ImageInsideGzipAndZstdStreams) {
    TempDir tmp;
    const std::string raw_path = tmp.path() + "/Image";
    write_file(raw_path, arm64_raw_image());
    for (const auto& [tool, name] : std::vector<std::pair<std::string, std::string>>{{"gzip -1", "gzip"},
                                                                                      {"zstd -1 -q", "zstd"}}) {
        SCOPED_TRACE(tool);
        const std::string packed = tmp.path() + "/Image." + name;
        write_file(packed, compressed_with(tool, raw_path));
        auto opened = readers::open_kernel_image(packed);
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        EXPECT_EQ(opened->format, "arm64 Image (" + name + " stream)");
        expect_arm64_image(*opened);
    }
}

// The real Image (when the arm64 guest's cache has it) holds three GNU
// build-id notes: the vDSO's, the compat vDSO's and the kernel's. The
// vDSOs' belong to ELF files embedded in .rodata and are passed over.
TEST(KernelImageFile, RealArm64ImageSkipsTheVdsoBuildIds) {
    const char* cache = std::getenv("LPSAFE_CACHE");
    const std::string image = std::string(cache != nullptr ? cache : "/var/cache/lpsafe") +
                              "/arm64-guest/kernel-6.1.0-57-arm64/boot/vmlinuz-6.1.0-57-arm64";
    if (!std::filesystem::exists(image)) GTEST_SKIP() << image << " is not cached (make-arm64-fixtures.sh)";
    auto opened = readers::open_kernel_image(image);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(opened->format, "arm64 Image");
    EXPECT_EQ(opened->elf->build_id(), kArm64BuildId);
    EXPECT_EQ(opened->note, "");
}

// A build-id note the Image holds twice (or not at all) is not guessed at.
TEST(KernelImageFile, Arm64ImageWithTwoOrNoBuildIdsHasNone) {
    std::string image = arm64_raw_image();
    const std::string header("\x04\0\0\0\x14\0\0\0\x03\0\0\0GNU\0", 16);
    const size_t note = image.find(header);
    ASSERT_NE(note, std::string::npos);
    std::string twice = image;
    twice.replace(0x2000, 36, image.substr(note, 36));  // inside the zeros of the excerpt's first pages
    auto two = readers::unpack_kernel_image(as_bytes(twice));
    ASSERT_TRUE(two.ok()) << two.error().message;
    EXPECT_NE(two->note.find("2 GNU build-id notes"), std::string::npos) << two->note;
    auto elf = ElfImage::from_bytes("two", std::move(two->elf));
    ASSERT_TRUE(elf.ok()) << elf.error().message;
    EXPECT_EQ((*elf)->build_id(), "");

    // The same second note inside an ELF file embedded page-aligned (as the
    // vDSOs are): its own PT_NOTE names it, so it is passed over.
    std::string embedded = image;
    constexpr size_t kElf = 0x3000;
    embedded.replace(kElf, 4, "\x7f" "ELF");
    embedded[kElf + EI_CLASS] = ELFCLASS64;
    put_le(embedded, kElf + 0x20, 64, 8);                // e_phoff
    put_le(embedded, kElf + 0x38, 1, 2);                 // e_phnum
    put_le(embedded, kElf + 64, PT_NOTE, 4);             // p_type
    put_le(embedded, kElf + 64 + 8, 0x100, 8);           // p_offset
    embedded.replace(kElf + 0x100, 36, image.substr(note, 36));
    auto vdso = readers::unpack_kernel_image(as_bytes(embedded));
    ASSERT_TRUE(vdso.ok()) << vdso.error().message;
    EXPECT_EQ(vdso->note, "");
    auto vdso_elf = ElfImage::from_bytes("vdso", std::move(vdso->elf));
    ASSERT_TRUE(vdso_elf.ok()) << vdso_elf.error().message;
    EXPECT_EQ((*vdso_elf)->build_id(), kArm64BuildId);

    std::string none = image;
    none[note + 12] = 'X';  // "XNU"
    auto zero = readers::unpack_kernel_image(as_bytes(none));
    ASSERT_TRUE(zero.ok()) << zero.error().message;
    EXPECT_NE(zero->note.find("no GNU build-id note"), std::string::npos) << zero->note;
}

// Corrupt or truncated headers: a clear error, never a crash.
TEST(KernelImageFile, CorruptArm64HeadersAreNamed) {
    const std::string& image = arm64_raw_image();
    const auto expect_error = [](const std::string& bytes, const std::string& words) {
        auto out = readers::unpack_kernel_image(as_bytes(bytes));
        ASSERT_FALSE(out.ok());
        EXPECT_NE(out.error().message.find(words), std::string::npos) << out.error().message;
    };
    // Cut inside the header, after the magic.
    expect_error(image.substr(0, 0x3c), "header shorter than 64 bytes");
    // image_size (offset 16) smaller than the file.
    std::string small = image;
    put_le(small, 16, 0x1000, 8);
    expect_error(small, "corrupt header");
    // flags bit 0: a big-endian kernel.
    std::string big = image;
    put_le(big, 24, 0xb, 8);
    expect_error(big, "big-endian");
    // The same inside an xz stream, and an xz stream cut short.
    TempDir tmp;
    write_file(tmp.path() + "/head", image.substr(0, 0x3c));
    expect_error(run("xz -c < " + tmp.path() + "/head"), "xz stream: not an arm64 Image");
    const std::string xz = read_file(arm64_excerpt());
    auto cut = readers::unpack_kernel_image(as_bytes(xz.substr(0, xz.size() / 2)));
    ASSERT_FALSE(cut.ok());
}

}  // namespace
}  // namespace lpsafe::test

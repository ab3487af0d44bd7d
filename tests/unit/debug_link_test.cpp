// The pieces of the debug-symbol search (docs/symbols.md) on real files made
// by binutils and xz at test time: .gnu_debuglink and .gnu_debugdata as
// objcopy writes them, the CRC-32 they use, bounded xz decoding, and what
// ElfImage::add_symbols keeps.
#include "readers/modules/debug_link.h"
#include "readers/kernel/decompress.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "lpsafe/module.h"
#include "test_support.h"

namespace lpsafe::readers {
namespace {

using test::run;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(DebugLink, Crc32IsZlibsCheckValue) {
    test::TempDir dir;
    // The CRC-32 check value of "123456789" (the one binutils' debuglink uses).
    const auto crc = file_crc32(dir.file("check", "123456789"));
    ASSERT_TRUE(crc.ok());
    EXPECT_EQ(*crc, 0xCBF43926u);
    EXPECT_FALSE(file_crc32(dir.path() + "/missing").ok());
}

TEST(DebugLink, ReadsTheLinkAndTheDebugdataObjcopyAdds) {
    if (!test::have("objcopy")) GTEST_SKIP() << "objcopy not installed";
    test::TempDir dir;
    const std::string debug = dir.file("prog.debug", std::string(5000, 'd'));
    const std::string data = dir.file("data.xz", "not really xz, just bytes");
    const std::string prog = dir.path() + "/prog";
    std::filesystem::copy_file("/bin/true", prog);
    // Debian's binaries already carry a link (see below): replace it.
    run("objcopy --remove-section .gnu_debuglink " + prog);
    run("objcopy --add-gnu-debuglink=" + debug + " --add-section .gnu_debugdata=" + data + " " + prog);
    const std::string bytes = test::read_file(prog);
    const auto sections = read_debug_sections(as_bytes(bytes));
    ASSERT_TRUE(sections.ok()) << sections.error().message;
    ASSERT_TRUE(sections->link.has_value());
    EXPECT_EQ(sections->link->name, "prog.debug");
    EXPECT_EQ(sections->link->crc, *file_crc32(debug));
    const std::string got(reinterpret_cast<const char*>(sections->debugdata.data()), sections->debugdata.size());
    EXPECT_EQ(got, test::read_file(data));

    // /bin/true as Debian ships it: dh_strip links its -dbgsym file by the
    // build-id's tail, and there is no MiniDebugInfo.
    const std::string plain = test::read_file("/bin/true");
    const auto debian = read_debug_sections(as_bytes(plain));
    ASSERT_TRUE(debian.ok());
    auto image = ElfImage::open("/bin/true");
    ASSERT_TRUE(image.ok());
    const std::string& id = (*image)->build_id();
    ASSERT_GT(id.size(), 2u);
    ASSERT_TRUE(debian->link.has_value());
    EXPECT_EQ(debian->link->name, id.substr(2) + ".debug");
    EXPECT_TRUE(debian->debugdata.empty());
}

TEST(DebugLink, XzDecodingIsBoundedAndRefusesCorruption) {
    if (!test::have("xz")) GTEST_SKIP() << "xz not installed";
    test::TempDir dir;
    const std::string raw = dir.path() + "/raw";
    run("seq 1 200000 > " + raw + " && xz -k " + raw);
    const std::string plain = test::read_file(raw);
    const std::string packed = test::read_file(raw + ".xz");
    ASSERT_GT(plain.size(), 1000000u);
    ASSERT_LT(packed.size(), plain.size() / 4);

    const auto whole = decompress(Compression::xz, as_bytes(packed), plain.size());
    ASSERT_TRUE(whole.ok()) << whole.error().message;
    ASSERT_EQ(whole->size(), plain.size());
    EXPECT_EQ(std::memcmp(whole->data(), plain.data(), plain.size()), 0);

    const auto capped = decompress(Compression::xz, as_bytes(packed), plain.size() - 1);
    ASSERT_FALSE(capped.ok());
    EXPECT_NE(capped.error().message.find("decodes to more than"), std::string::npos) << capped.error().message;
    EXPECT_FALSE(decompress(Compression::xz, as_bytes(packed.substr(0, packed.size() / 2)), plain.size()).ok());
    EXPECT_FALSE(decompress(Compression::xz, as_bytes(std::string(4096, 'x')), plain.size()).ok());
    std::string flipped = packed;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x55);
    EXPECT_FALSE(decompress(Compression::xz, as_bytes(flipped), plain.size()).ok());
}

TEST(DebugLink, AddSymbolsKeepsOnlyNewFunctionsInsideExecutableSegments) {
    auto image = ElfImage::open("/bin/true");
    ASSERT_TRUE(image.ok());
    ElfImage& e = **image;
    ASSERT_FALSE(e.has_symtab()) << "Debian's /bin/true is stripped";
    const ElfSegment* text = nullptr;
    const ElfSegment* rodata = nullptr;
    for (const ElfSegment& s : e.segments()) {
        if ((s.flags & PF_X) != 0) text = &s;
        else if (rodata == nullptr) rodata = &s;
    }
    ASSERT_NE(text, nullptr);
    ASSERT_NE(rodata, nullptr);
    const size_t before = e.symbols().size();
    const Symbol in_text{"lpsafe_local_fn", text->vaddr + 16, 32, false};
    const Symbol past_end{"lpsafe_overhangs", text->vaddr + text->memsz - 8, 64, false};
    const Symbol in_data{"lpsafe_in_rodata", rodata->vaddr, 16, false};
    EXPECT_EQ(e.add_symbols({in_text, past_end, in_data, in_text}), 1u);
    EXPECT_EQ(e.symbols().size(), before + 1);
    const Symbol* found = e.symbol_at(text->vaddr + 20);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->name, "lpsafe_local_fn");
    EXPECT_TRUE(e.symbols_named("lpsafe_overhangs").empty());
    EXPECT_TRUE(e.symbols_named("lpsafe_in_rodata").empty());
    EXPECT_EQ(e.add_symbols({in_text}), 0u);
}

}  // namespace
}  // namespace lpsafe::readers

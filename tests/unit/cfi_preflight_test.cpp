// The pass that keeps hostile CFI away from libdw (cfi_preflight.h).
// Hostile tables are written with the GNU assembler's .cfi_escape, so each
// is a real shared object with the bytes a corrupt file would carry; real
// tables are every shared library of the distribution.
#include <gelf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "cfi_preflight.h"
#include "lpsafe/module.h"
#include "test_support.h"

namespace lpsafe {
namespace {

using test::run;
using test::TempDir;

// One shared object with two functions: `lpsafe_plain`, ordinary, and
// `lpsafe_odd`, whose CFI carries `escape` (raw DW_CFA bytes) after its
// prologue. `sections` is the .cfi_sections directive's argument.
std::string build_pair(const TempDir& dir, const std::string& escape, const std::string& sections = ".eh_frame") {
    const std::string src = dir.file("pair.s",
                                     "  .cfi_sections " + sections +
                                         "\n"
                                         "  .text\n"
                                         "  .globl lpsafe_plain\n"
                                         "  .type lpsafe_plain, @function\n"
                                         "lpsafe_plain:\n"
                                         "  .cfi_startproc\n"
                                         "  push %rbp\n"
                                         "  .cfi_def_cfa_offset 16\n"
                                         "  .cfi_offset %rbp, -16\n"
                                         "  pop %rbp\n"
                                         "  .cfi_def_cfa_offset 8\n"
                                         "  ret\n"
                                         "  .cfi_endproc\n"
                                         "  .size lpsafe_plain, .-lpsafe_plain\n"
                                         "  .globl lpsafe_odd\n"
                                         "  .type lpsafe_odd, @function\n"
                                         "lpsafe_odd:\n"
                                         "  .cfi_startproc\n"
                                         "  push %rbx\n"
                                         "  .cfi_def_cfa_offset 16\n" +
                                         escape +
                                         "\n"
                                         "  pop %rbx\n"
                                         "  .cfi_def_cfa_offset 8\n"
                                         "  ret\n"
                                         "  .cfi_endproc\n"
                                         "  .size lpsafe_odd, .-lpsafe_odd\n"
                                         "  .section .note.GNU-stack,\"\",@progbits\n");
    const std::string so = dir.path() + "/pair.so";
    const std::string out = run("cc -shared -nostdlib -o " + so + " " + src + " 2>&1");
    if (!std::filesystem::exists(so)) ADD_FAILURE() << "cc failed: " << out;
    return so;
}

struct Pair {
    CfiLookup plain;
    CfiLookup odd;
};

Pair look_up(const std::string& so) {
    auto img = ElfImage::open(so);
    EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error().message);
    if (!img.ok()) return {};
    const auto& elf = **img;
    const auto plain = elf.symbols_named("lpsafe_plain");
    const auto odd = elf.symbols_named("lpsafe_odd");
    EXPECT_EQ(plain.size(), 1u);
    EXPECT_EQ(odd.size(), 1u);
    if (plain.size() != 1 || odd.size() != 1) return {};
    // Past each prologue's push, where the escape has been executed.
    return {elf.cfi_at(plain[0]->start + 1), elf.cfi_at(odd[0]->start + 1)};
}

bool have_cc() { return std::system("cc --version >/dev/null 2>&1") == 0; }

// DW_CFA_offset_extended naming register 2^27 (uleb 80 80 80 40): libdw
// alone would allocate and zero 1 GiB for the lookup.
constexpr const char* kHugeRegister = "  .cfi_escape 0x05, 0x80, 0x80, 0x80, 0x40, 0x01";

TEST(CfiPreflight, HugeRegisterInEhFrameRefusesTheTable) {
    if (!have_cc()) GTEST_SKIP() << "no C compiler";
    TempDir dir;
    const Pair p = look_up(build_pair(dir, kHugeRegister));
    ASSERT_EQ(p.odd.status, CfiLookup::Status::error);
    EXPECT_NE(p.odd.detail.find(".eh_frame: the FDE at 0x"), std::string::npos) << p.odd.detail;
    EXPECT_NE(p.odd.detail.find("names DWARF register 134217728"), std::string::npos) << p.odd.detail;
    // The whole table is refused: which entry libdw would pick for an
    // address is its business, and a table with one corrupt entry is corrupt.
    EXPECT_EQ(p.plain.status, CfiLookup::Status::error) << p.plain.detail;
}

TEST(CfiPreflight, HugeRegisterInDebugFrameRefusesTheTable) {
    if (!have_cc()) GTEST_SKIP() << "no C compiler";
    TempDir dir;
    const Pair p = look_up(build_pair(dir, kHugeRegister, ".debug_frame"));
    ASSERT_EQ(p.odd.status, CfiLookup::Status::error);
    EXPECT_NE(p.odd.detail.find(".debug_frame: the FDE at 0x"), std::string::npos) << p.odd.detail;
    EXPECT_NE(p.odd.detail.find("names DWARF register 134217728"), std::string::npos) << p.odd.detail;
}

TEST(CfiPreflight, RegisterLimitIsExact) {
    if (!have_cc()) GTEST_SKIP() << "no C compiler";
    TempDir dir;
    // DW_CFA_undefined 4095 (uleb ff 1f) is allowed; 4096 (uleb 80 20) is not.
    const Pair at_limit = look_up(build_pair(dir, "  .cfi_escape 0x07, 0xff, 0x1f"));
    ASSERT_EQ(at_limit.odd.status, CfiLookup::Status::found) << at_limit.odd.detail;
    EXPECT_EQ(at_limit.plain.status, CfiLookup::Status::found) << at_limit.plain.detail;
    TempDir dir2;
    const Pair past = look_up(build_pair(dir2, "  .cfi_escape 0x07, 0x80, 0x20"));
    ASSERT_EQ(past.odd.status, CfiLookup::Status::error);
    EXPECT_NE(past.odd.detail.find("names DWARF register 4096"), std::string::npos) << past.odd.detail;
}

TEST(CfiPreflight, RememberStateBombIsRefused) {
    if (!have_cc()) GTEST_SKIP() << "no C compiler";
    std::string nest;
    for (unsigned i = 0; i <= kMaxCfiRememberDepth; ++i) nest += "  .cfi_remember_state\n";
    TempDir dir;
    const Pair p = look_up(build_pair(dir, nest));
    ASSERT_EQ(p.odd.status, CfiLookup::Status::error);
    EXPECT_NE(p.odd.detail.find("remembers its state more than this check allows (257 deep"), std::string::npos)
        << p.odd.detail;

    // Remember/restore pairs as compilers emit them (one per epilogue) are fine.
    std::string pairs;
    for (unsigned i = 0; i < 2 * kMaxCfiRememberDepth; ++i) pairs += "  .cfi_remember_state\n  .cfi_restore_state\n";
    TempDir dir2;
    const Pair ok = look_up(build_pair(dir2, pairs));
    EXPECT_EQ(ok.odd.status, CfiLookup::Status::found) << ok.odd.detail;
}

// Every shared library the distribution installed: none is refused.
TEST(CfiPreflight, DistributionLibrariesPass) {
    elf_version(EV_CURRENT);
    size_t files = 0, with_hdr = 0;
    std::vector<std::string> refused;
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/x86_64-linux-gnu", ec)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_regular_file() || name.find(".so") == std::string::npos) continue;
        FILE* f = std::fopen(entry.path().c_str(), "rb");
        if (f == nullptr) continue;
        Elf* elf = elf_begin(fileno(f), ELF_C_READ_MMAP, nullptr);
        GElf_Ehdr eh;
        if (elf != nullptr && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &eh) != nullptr) {
            ++files;
            for (bool eh_frame : {true, false}) {
                if (auto why = cfi_table_refusal(elf, eh_frame);
                    why && why->find("without a section header") == std::string::npos)
                    refused.push_back(entry.path().string() + ": " + *why);
            }
            size_t shstrndx = 0;
            Elf_Scn* scn = nullptr;
            if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
                while ((scn = elf_nextscn(elf, scn)) != nullptr) {
                    GElf_Shdr sh;
                    const char* n = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
                    if (n != nullptr && std::string(n) == ".eh_frame_hdr") ++with_hdr;
                }
            }
        }
        if (elf != nullptr) elf_end(elf);
        std::fclose(f);
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    std::printf("checked %zu libraries (%zu with .eh_frame_hdr) in %.0f ms\n", files, with_hdr, ms);
    EXPECT_GE(files, 50u);
    EXPECT_GE(with_hdr, 50u);
    EXPECT_TRUE(refused.empty()) << refused.size() << " refused, first: " << refused.front();
}

}  // namespace
}  // namespace lpsafe

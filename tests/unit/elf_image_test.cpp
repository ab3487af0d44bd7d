// ElfImage on real files. Expected values come from elfutils' eu-readelf and
// binutils' nm/readelf run on the same file (independent readers), from the
// file's raw bytes, and from the x86_64 psABI (at a function's entry the CFA
// is rsp+8 and the return address is at [rsp]).
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "test_support.h"
#include "lpsafe/cfi.h"
#include "lpsafe/module.h"

namespace lpsafe {
namespace {

using test::kLibc;
constexpr unsigned kRbp = 6, kRsp = 7, kRip = 16;

using test::run;

std::vector<std::byte> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    std::memcpy(out.data(), c.data(), c.size());
    return out;
}

std::vector<std::byte> le64(std::initializer_list<uint64_t> words) {
    std::vector<std::byte> out;
    for (uint64_t w : words) {
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((w >> (8 * i)) & 0xff));
    }
    return out;
}

struct NmSymbol {
    uint64_t addr = 0;
    uint64_t size = 0;
};

// `nm -D -S` (or `nm -S`) line: "00000000000d3dc0 000000000000007b W pause@@GLIBC_2.2.5".
std::optional<NmSymbol> nm_symbol(const std::string& nm_output, const std::string& name) {
    std::smatch m;
    const std::regex re("(?:^|\\n)([0-9a-f]+) ([0-9a-f]+) [TtWi] " + name + "(?:@|\\n)");
    if (!std::regex_search(nm_output, m, re)) return std::nullopt;
    return NmSymbol{std::stoull(m[1], nullptr, 16), std::stoull(m[2], nullptr, 16)};
}

// Names nm lists at `addr` (aliases).
std::vector<std::string> nm_names_at(const std::string& nm_output, uint64_t addr) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(addr));
    std::vector<std::string> out;
    const std::regex re(std::string("(?:^|\\n)") + hex + " [0-9a-f]+ [TtWi] ([^@\\n]+)");
    for (auto it = std::sregex_iterator(nm_output.begin(), nm_output.end(), re); it != std::sregex_iterator(); ++it) {
        out.push_back((*it)[1]);
    }
    return out;
}

// `readelf -lW` LOAD lines.
std::vector<ElfSegment> readelf_loads(const std::string& path) {
    const std::string out = run("readelf -lW " + path);
    const std::regex re(R"(LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x)");
    std::vector<ElfSegment> segs;
    for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
        ElfSegment s;
        s.offset = std::stoull((*it)[1], nullptr, 16);
        s.vaddr = std::stoull((*it)[2], nullptr, 16);
        s.filesz = std::stoull((*it)[3], nullptr, 16);
        s.memsz = std::stoull((*it)[4], nullptr, 16);
        const std::string f = (*it)[5];
        s.flags = (f.find('R') != std::string::npos ? PF_R : 0) | (f.find('W') != std::string::npos ? PF_W : 0) |
                  (f.find('E') != std::string::npos ? PF_X : 0);
        segs.push_back(s);
    }
    return segs;
}

class LibcTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        nm_ = new std::string(run(std::string("nm -D -S ") + kLibc + " 2>/dev/null"));
        auto img = ElfImage::open(kLibc);
        if (img.ok()) image_ = new std::shared_ptr<ElfImage>(*img);
    }
    static void TearDownTestSuite() {
        delete nm_;
        delete image_;
        nm_ = nullptr;
        image_ = nullptr;
    }
    void SetUp() override {
        ASSERT_NE(image_, nullptr) << "cannot open " << kLibc;
        pause_ = nm_symbol(*nm_, "pause");
        if (!pause_) GTEST_SKIP() << "nm unavailable";
    }
    const ElfImage& libc() const { return **image_; }

    static std::string* nm_;
    static std::shared_ptr<ElfImage>* image_;
    std::optional<NmSymbol> pause_;
};
std::string* LibcTest::nm_ = nullptr;
std::shared_ptr<ElfImage>* LibcTest::image_ = nullptr;

TEST_F(LibcTest, BuildIdMatchesEuReadelf) {
    const std::string notes = run(std::string("eu-readelf -n ") + kLibc + " 2>/dev/null");
    std::smatch m;
    if (!std::regex_search(notes, m, std::regex("Build ID: ([0-9a-f]+)"))) GTEST_SKIP() << "eu-readelf unavailable";
    EXPECT_EQ(libc().build_id(), m[1].str());
}

TEST_F(LibcTest, SonameMatchesEuReadelf) {
    EXPECT_EQ(libc().soname(), "libc.so.6");
    const std::string dyn = run(std::string("eu-readelf -d ") + kLibc + " 2>/dev/null");
    std::smatch m;
    if (std::regex_search(dyn, m, std::regex(R"(Library soname: \[([^\]]+)\])"))) {
        EXPECT_EQ(libc().soname(), m[1].str());
    }
}

TEST_F(LibcTest, Header) {
    EXPECT_EQ(libc().machine(), EM_X86_64);
    EXPECT_FALSE(libc().is_executable_type());  // ET_DYN
    EXPECT_EQ(libc().path(), kLibc);
    EXPECT_TRUE(libc().has_cfi());
}

TEST_F(LibcTest, SegmentsMatchReadelf) {
    const auto want = readelf_loads(kLibc);
    ASSERT_FALSE(want.empty());
    const auto& got = libc().segments();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].vaddr, want[i].vaddr) << i;
        EXPECT_EQ(got[i].memsz, want[i].memsz) << i;
        EXPECT_EQ(got[i].offset, want[i].offset) << i;
        EXPECT_EQ(got[i].filesz, want[i].filesz) << i;
        EXPECT_EQ(got[i].flags, want[i].flags) << i;
    }
}

TEST_F(LibcTest, SymbolAtInsidePause) {
    for (uint64_t off : {uint64_t{0}, uint64_t{5}, pause_->size - 1}) {
        const Symbol* s = libc().symbol_at(pause_->addr + off);
        ASSERT_NE(s, nullptr) << "offset " << off;
        EXPECT_EQ(s->start, pause_->addr);
        EXPECT_EQ(s->size, pause_->size);
        const auto aliases = nm_names_at(*nm_, pause_->addr);
        EXPECT_NE(std::find(aliases.begin(), aliases.end(), s->name), aliases.end()) << s->name;
    }
    // Just past the end: some other function or none, but not pause.
    const Symbol* after = libc().symbol_at(pause_->addr + pause_->size);
    if (after != nullptr) {
        EXPECT_NE(after->start, pause_->addr);
    }
}

TEST_F(LibcTest, SymbolsNamed) {
    const auto syms = libc().symbols_named("pause");
    ASSERT_EQ(syms.size(), 1u);
    EXPECT_EQ(syms[0]->start, pause_->addr);
    EXPECT_EQ(syms[0]->size, pause_->size);
    EXPECT_TRUE(syms[0]->global);  // a weak symbol counts as global
    EXPECT_TRUE(libc().symbols_named("no_such_function_lpsafe").empty());
}

TEST_F(LibcTest, ReadGivesTheFileBytesAtTheSegmentOffset) {
    const auto segs = readelf_loads(kLibc);
    const ElfSegment* text = nullptr;
    for (const auto& s : segs) {
        if (pause_->addr >= s.vaddr && pause_->addr < s.vaddr + s.filesz) text = &s;
    }
    ASSERT_NE(text, nullptr);
    const uint64_t file_off = text->offset + (pause_->addr - text->vaddr);
    const auto file = file_bytes(kLibc);
    ASSERT_GE(file.size(), file_off + 64);

    std::vector<std::byte> got(64);
    ASSERT_EQ(libc().read(pause_->addr, got), got.size());
    EXPECT_EQ(0, std::memcmp(got.data(), file.data() + file_off, got.size()));
}

TEST_F(LibcTest, ReadStopsWhereFileContentsEnd) {
    // The data segment's .bss part (memsz > filesz) has no file contents.
    const auto segs = readelf_loads(kLibc);
    const ElfSegment* bss = nullptr;
    for (const auto& s : segs) {
        if (s.memsz > s.filesz) bss = &s;
    }
    if (bss == nullptr) GTEST_SKIP() << "no segment with .bss";
    std::vector<std::byte> buf(32);
    EXPECT_EQ(libc().read(bss->vaddr + bss->filesz - 8, buf), 8u);
    EXPECT_EQ(libc().read(bss->vaddr + bss->filesz, buf), 0u);
    EXPECT_EQ(libc().read(0x7fffffff0000, buf), 0u);
}

TEST_F(LibcTest, CfiAtPauseEntry) {
    const CfiLookup l = libc().cfi_at(pause_->addr);
    ASSERT_EQ(l.status, CfiLookup::Status::found) << l.detail;
    EXPECT_EQ(l.row.ra_column, kRip);
    EXPECT_FALSE(l.row.from_debug_frame);
    EXPECT_FALSE(l.row.signal_frame);
    EXPECT_LE(l.row.start, pause_->addr);
    EXPECT_GT(l.row.end, pause_->addr);
    EXPECT_LE(l.row.end, pause_->addr + pause_->size);

    // psABI: at entry, CFA = rsp + 8 and the return address is at [rsp].
    Regs regs(ArchId::x86_64);
    regs.set(kRsp, 0x7ffc1000);
    regs.set(kRip, pause_->addr);
    BufferMemory stack;
    stack.add(0x7ffc1000, le64({0x5555deadbeef}));
    auto step = apply_cfi_row(l.row, regs, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->cfa, 0x7ffc1008u);
    EXPECT_EQ(step->caller.get(kRip), 0x5555deadbeefu);
    EXPECT_EQ(step->caller.get(kRsp), 0x7ffc1008u);
}

// glibc's vfork pops its return address into rdi (`cfi_register(%rip,
// %rdi)`, sysdeps/unix/sysv/linux/x86_64/vfork.S): DW_CFA_register, which
// libdw gives as a lone DW_OP_regx. The caller's rip is rdi's value, not
// the word at the address rdi holds (lpsafe read it as one before the s390x
// FP-register leaves showed it).
TEST_F(LibcTest, VforkKeepsTheReturnAddressInRdi) {
    const auto vfork = nm_symbol(*nm_, "vfork");
    ASSERT_TRUE(vfork);
    const CfiLookup l = libc().cfi_at(vfork->addr + 1);  // after `popq %rdi`
    ASSERT_EQ(l.status, CfiLookup::Status::found) << l.detail;
    ASSERT_EQ(l.row.rule(kRip).kind, RegRule::Kind::value);

    constexpr unsigned kRdi = 5;
    Regs regs(ArchId::x86_64);
    regs.set(kRsp, 0x7ffc1000);
    regs.set(kRip, vfork->addr + 1);
    regs.set(kRdi, 0x5555deadbeef);
    BufferMemory stack;
    stack.add(0x7ffc1000, le64({0x1111}));
    auto step = apply_cfi_row(l.row, regs, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->caller.get(kRip), 0x5555deadbeefu);
    EXPECT_EQ(step->cfa, 0x7ffc1000u);
}

TEST_F(LibcTest, CfiRowIsCachedConsistently) {
    const CfiLookup a = libc().cfi_at(pause_->addr + 1);
    const CfiLookup b = libc().cfi_at(pause_->addr + 1);
    ASSERT_EQ(a.status, CfiLookup::Status::found);
    ASSERT_EQ(b.status, CfiLookup::Status::found);
    EXPECT_EQ(a.row.start, b.row.start);
    EXPECT_EQ(a.row.end, b.row.end);
    EXPECT_EQ(a.row.cfa.size(), b.row.cfa.size());
}

TEST_F(LibcTest, NoCfiOutsideCode) {
    // The ELF header (vaddr 0x10) is covered by no FDE.
    EXPECT_EQ(libc().cfi_at(0x10).status, CfiLookup::Status::no_entry);
    EXPECT_EQ(libc().cfi_at(0x7fffffff0000).status, CfiLookup::Status::no_entry);
}

// ---- not ELF, truncated ELF

using test::TempDir;

TEST(ElfImageErrors, NotElfEmptyDirectoryMissing) {
    TempDir dir;
    EXPECT_FALSE(ElfImage::open(dir.file("text", "this is not an ELF file\n")).ok());
    EXPECT_FALSE(ElfImage::open(dir.file("empty", "")).ok());
    EXPECT_FALSE(ElfImage::open(dir.path()).ok());
    EXPECT_FALSE(ElfImage::open(dir.path() + "/missing").ok());
    auto r = ElfImage::open(dir.path() + "/missing");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("/missing"), std::string::npos) << r.error().message;
}

// A FIFO (a core's NT_FILE can name one) is refused at once, not waited on.
TEST(ElfImageErrors, FifoIsRefusedWithoutBlocking) {
    TempDir dir;
    const std::string fifo = dir.path() + "/fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    auto r = ElfImage::open(fifo);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;
}

TEST(ElfImageErrors, ElfMagicOnly) {
    EXPECT_FALSE(ElfImage::from_bytes("magic", {std::byte{0x7f}, std::byte{'E'}, std::byte{'L'}, std::byte{'F'}}).ok());
    EXPECT_FALSE(ElfImage::from_bytes("empty", {}).ok());
}

TEST(ElfImageErrors, RelocatableObjectIsRejected) {
    // An ET_REL object is neither an executable nor a shared object.
    auto bytes = file_bytes(kLibc);
    ASSERT_GE(bytes.size(), 64u);
    bytes[16] = std::byte{ET_REL};  // e_type, little-endian
    bytes[17] = std::byte{0};
    bytes.resize(4096);
    EXPECT_FALSE(ElfImage::from_bytes("rel", bytes).ok());
}

// A truncated copy must be rejected or give sane, bounded answers (this is
// what the vDSO path does with bytes read out of a core).
TEST(ElfImageErrors, TruncatedLibc) {
    const auto full = file_bytes(kLibc);
    ASSERT_GT(full.size(), 0x30000u);
    for (size_t size : {size_t{16}, size_t{64}, size_t{100}, size_t{4096}, size_t{0x30000}}) {
        std::vector<std::byte> bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size));
        auto img = ElfImage::from_bytes("truncated", bytes);
        if (!img.ok()) continue;
        const ElfImage& e = **img;
        std::vector<std::byte> buf(256);
        // Nothing past the truncation point can be read.
        EXPECT_EQ(e.read(0x100000, buf), 0u) << size;
        const size_t n = e.read(0, buf);
        EXPECT_LE(n, std::min(size, buf.size())) << size;
        if (n > 0) {
            EXPECT_EQ(0, std::memcmp(buf.data(), full.data(), n)) << size;
        }
        (void)e.symbol_at(0xd3dc0);
        (void)e.symbols_named("pause");
        const auto l = e.cfi_at(0xd3dc0);
        EXPECT_NE(l.status, CfiLookup::Status::found) << size;  // .eh_frame is far beyond the cut
    }
}

TEST(ElfImageErrors, FromBytesOfTheWholeFileEqualsOpen) {
    auto opened = ElfImage::open(kLibc);
    ASSERT_TRUE(opened.ok());
    auto copied = ElfImage::from_bytes("libc copy", file_bytes(kLibc));
    ASSERT_TRUE(copied.ok()) << copied.error().message;
    EXPECT_EQ((*copied)->build_id(), (*opened)->build_id());
    EXPECT_EQ((*copied)->soname(), "libc.so.6");
    EXPECT_EQ((*copied)->path(), "libc copy");
    EXPECT_EQ((*copied)->symbols_named("pause").size(), 1u);
}

// ---- .debug_frame from a freshly compiled object

TEST(ElfImageDebugFrame, FunctionCfiComesFromDebugFrame) {
    if (std::system("cc --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no C compiler";
    TempDir dir;
    const std::string src = dir.file("probe.c", "int lpsafe_probe(int x) { return x * 3 + 1; }\n");
    const std::string so = dir.path() + "/probe.so";
    // -fno-asynchronous-unwind-tables with -g: GCC puts the CFI in
    // .debug_frame instead of .eh_frame.
    const std::string cmd = "cc -fno-asynchronous-unwind-tables -fno-omit-frame-pointer -g -O0 -shared -fPIC -o " +
                            so + " " + src + " 2>&1";
    const std::string out = run(cmd);
    if (!std::filesystem::exists(so)) GTEST_SKIP() << "cc failed: " << out;

    const auto sym = nm_symbol(run("nm -S " + so), "lpsafe_probe");
    ASSERT_TRUE(sym.has_value());
    auto img = ElfImage::open(so);
    ASSERT_TRUE(img.ok()) << img.error().message;
    ASSERT_TRUE((*img)->has_cfi());

    const CfiLookup entry = (*img)->cfi_at(sym->addr);
    ASSERT_EQ(entry.status, CfiLookup::Status::found) << entry.detail;
    EXPECT_TRUE(entry.row.from_debug_frame);
    EXPECT_EQ(entry.row.ra_column, kRip);

    // At entry: CFA = rsp + 8, return address at [rsp].
    Regs regs(ArchId::x86_64);
    regs.set(kRsp, 0x7ffc1000);
    BufferMemory stack;
    // [0x7ffc0ff8] = the rbp the prologue will save, [0x7ffc1000] = return address.
    stack.add(0x7ffc0ff8, le64({0x7ffc2000, 0x401777}));
    auto step = apply_cfi_row(entry.row, regs, kRsp, stack);
    ASSERT_TRUE(step.ok()) << step.error().message;
    EXPECT_EQ(step->cfa, 0x7ffc1008u);
    EXPECT_EQ(step->caller.get(kRip), 0x401777u);

    // After `push %rbp; mov %rsp,%rbp` (4 bytes at -O0 without endbr64, or
    // 8 with it): CFA = rbp + 16, return address at [rbp+8].
    std::vector<std::byte> head(4);
    ASSERT_EQ((*img)->read(sym->addr, head), 4u);
    const uint64_t body = sym->addr + (head[0] == std::byte{0xf3} ? 8 : 4);
    const CfiLookup in_body = (*img)->cfi_at(body);
    ASSERT_EQ(in_body.status, CfiLookup::Status::found) << in_body.detail;
    EXPECT_TRUE(in_body.row.from_debug_frame);
    regs.set(kRbp, 0x7ffc0ff8);  // push %rbp moved rsp down by 8; mov copied it
    regs.set(kRsp, 0x7ffc0ff8);
    auto step2 = apply_cfi_row(in_body.row, regs, kRsp, stack);
    ASSERT_TRUE(step2.ok()) << step2.error().message;
    EXPECT_EQ(step2->cfa, 0x7ffc1008u);
    EXPECT_EQ(step2->caller.get(kRip), 0x401777u);
    EXPECT_EQ(step2->caller.get(kRbp), 0x7ffc2000u);
}

}  // namespace
}  // namespace lpsafe

// ---- function extents: symbol, else FDE (fde_index.h) ----------------------
namespace lpsafe {
namespace {

// binutils' readelf lists every FDE of .eh_frame as "pc=BEGIN..END"; where
// the file has no symbol over an FDE (libc keeps only exported ones),
// function_at must give exactly that range, through the .eh_frame_hdr table.
TEST(FunctionExtent, UnnamedFunctionsAreBoundedByTheirFde) {
    auto img = ElfImage::open(kLibc);
    ASSERT_TRUE(img.ok()) << img.error().message;
    const std::string frames = run("readelf --debug-dump=frames " + std::string(kLibc) + " 2>/dev/null");
    const std::regex fde(R"(FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+))");
    size_t unnamed = 0, named = 0;
    for (auto it = std::sregex_iterator(frames.begin(), frames.end(), fde); it != std::sregex_iterator(); ++it) {
        const uint64_t begin = std::stoull((*it)[1], nullptr, 16), end = std::stoull((*it)[2], nullptr, 16);
        if (end <= begin) continue;
        const uint64_t mid = begin + (end - begin) / 2;
        const auto fn = (*img)->function_at(mid);
        ASSERT_TRUE(fn.has_value()) << std::hex << "no extent at 0x" << mid;
        if ((*img)->symbol_at(mid) != nullptr) {
            EXPECT_EQ(fn->symbol, (*img)->symbol_at(mid));
            ++named;
            continue;
        }
        EXPECT_EQ(fn->symbol, nullptr);
        EXPECT_EQ(fn->start, begin) << std::hex << "at 0x" << mid;
        EXPECT_EQ(fn->size, end - begin) << std::hex << "at 0x" << mid;
        ++unnamed;
    }
    // A stripped distribution libc: most functions have no symbol.
    EXPECT_GT(unnamed, 500u);
    EXPECT_GT(named, 500u);
    // Outside every FDE and symbol (the ELF header) there is no extent.
    EXPECT_FALSE((*img)->function_at(0x10).has_value());
}

}  // namespace
}  // namespace lpsafe

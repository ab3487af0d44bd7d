// read_core on synthetic cores built field by field: the memory rules
// (unsaved bytes read as missing, never as zero), NT_FILE paths and
// undumped mappings, and every malformed header or note we can think of.
// Real gcore and kernel cores are in core_reader_test.cpp.
#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "readers/core/core_file.h"
#include "test_support.h"

namespace lpsafe::readers {
namespace {

using test::TempDir;
using Kind = ModuleStatus::Kind;

struct Synthetic {
    struct Load {
        uint64_t vaddr, memsz;
        std::string data;  // p_filesz = data.size()
        uint32_t flags = PF_R | PF_W;
    };
    uint16_t machine = EM_X86_64;
    std::string notes;
    std::vector<Load> loads;

    void note(const std::string& name, uint32_t type, const std::string& desc) {
        Elf64_Nhdr h{static_cast<Elf64_Word>(name.size() + 1), static_cast<Elf64_Word>(desc.size()), type};
        notes.append(reinterpret_cast<const char*>(&h), sizeof h);
        notes += name;
        notes.append(4 - name.size() % 4, '\0');  // NUL and padding
        notes += desc;
        notes.append((4 - desc.size() % 4) % 4, '\0');
    }
    void thread(int tid, uint64_t rip, uint64_t rsp) {
        std::string d(336, '\0');
        std::memcpy(&d[32], &tid, 4);
        std::memcpy(&d[112 + 16 * 8], &rip, 8);
        std::memcpy(&d[112 + 19 * 8], &rsp, 8);
        note("CORE", NT_PRSTATUS, d);
    }
    void file_note(const std::vector<std::tuple<uint64_t, uint64_t, uint64_t, std::string>>& files) {
        std::string d;
        auto u64 = [&](uint64_t v) { d.append(reinterpret_cast<const char*>(&v), 8); };
        u64(files.size());
        u64(4096);
        for (const auto& [s, e, pages, path] : files) u64(s), u64(e), u64(pages);
        for (const auto& f : files) d += std::get<3>(f) + '\0';
        note("CORE", NT_FILE, d);
    }
    // Notes first, as the kernel writes them.
    std::string build() const {
        Elf64_Ehdr e{};
        std::memcpy(e.e_ident, ELFMAG, SELFMAG);
        e.e_ident[EI_CLASS] = ELFCLASS64;
        e.e_ident[EI_DATA] = ELFDATA2LSB;
        e.e_ident[EI_VERSION] = EV_CURRENT;
        e.e_type = ET_CORE;
        e.e_machine = machine;
        e.e_phoff = sizeof e;
        e.e_ehsize = sizeof e;
        e.e_phentsize = sizeof(Elf64_Phdr);
        e.e_phnum = static_cast<Elf64_Half>(1 + loads.size());
        std::vector<Elf64_Phdr> ph(e.e_phnum);
        uint64_t off = sizeof e + ph.size() * sizeof(Elf64_Phdr);
        ph[0] = {PT_NOTE, 0, off, 0, 0, notes.size(), 0, 4};
        off += notes.size();
        std::string body = notes;
        for (size_t i = 0; i < loads.size(); ++i) {
            ph[i + 1] = {PT_LOAD, loads[i].flags, off, loads[i].vaddr, 0, loads[i].data.size(), loads[i].memsz, 4096};
            off += loads[i].data.size();
            body += loads[i].data;
        }
        std::string out(reinterpret_cast<const char*>(&e), sizeof e);
        out.append(reinterpret_cast<const char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
        return out + body;
    }
};

Result<ProcessImage> read_synthetic(const std::string& bytes) {
    static const TempDir dir;
    return read_core(dir.file("core", bytes), {});
}

TEST(SyntheticCore, MemoryRules) {
    Synthetic s;
    s.thread(42, 0x1000, 0x7000);
    s.loads.push_back({0x1000, 0x1000, std::string(0x1000, 'a'), PF_R | PF_X});
    s.loads.push_back({0x2000, 0x1000, std::string(0x1000, 'b')});  // adjacent
    s.loads.push_back({0x5000, 0x1000, ""});                        // not dumped (p_filesz 0)
    s.loads.push_back({0x7000, 0x2000, std::string(0x800, 'c')});   // dumped in part
    auto image = read_synthetic(s.build());
    ASSERT_TRUE(image.ok()) << image.error().message;
    const Memory& mem = *image->memory;
    std::byte buf[16];
    EXPECT_EQ(mem.read(0x1ff8, buf), 16u);  // spans two segments
    EXPECT_EQ(buf[7], std::byte{'a'});
    EXPECT_EQ(buf[8], std::byte{'b'});
    EXPECT_EQ(mem.read(0x2ff8, buf), 8u);  // then a hole
    EXPECT_EQ(mem.read(0x5000, buf), 0u);  // p_filesz 0: missing, not zeros
    EXPECT_EQ(mem.read(0x77f8, buf), 8u);
    EXPECT_EQ(mem.read(0x7800, buf), 0u);
    EXPECT_EQ(mem.read(0xfffffffffffffff8, buf), 0u);
    EXPECT_EQ(image->pid, 42);  // no NT_PRPSINFO: the first thread
    ASSERT_EQ(image->mappings.size(), 4u);
    EXPECT_TRUE(image->mappings[0].executable);
    EXPECT_FALSE(image->mappings[1].executable);

    // Cut inside the last PT_LOAD: it keeps what the file holds.
    const std::string full = s.build();
    auto cut = read_synthetic(full.substr(0, full.size() - 0x400));
    ASSERT_TRUE(cut.ok()) << cut.error().message;
    EXPECT_EQ(cut->memory->read(0x73f8, buf), 8u);
    EXPECT_EQ(cut->memory->read(0x7400, buf), 0u);
}

TEST(SyntheticCore, FileNoteGivesPathsAndUndumpedMappings) {
    Synthetic s;
    s.thread(7, 0, 0);
    s.file_note({{0x10000, 0x11000, 0, "/lib/libx.so"},
                 {0x11000, 0x13000, 1, "/lib/libx.so"},  // not in any PT_LOAD
                 {0x13000, 0x14000, 3, "/lib/libx.so"}});
    s.loads.push_back({0x10000, 0x1000, std::string(0x1000, 'h'), PF_R});
    s.loads.push_back({0x13000, 0x2000, std::string(0x2000, 'd')});  // NT_FILE covers only its first page
    auto image = read_synthetic(s.build());
    ASSERT_TRUE(image.ok()) << image.error().message;
    const auto& m = image->mappings;
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0].path, "/lib/libx.so");
    EXPECT_TRUE(m[0].permissions_known);
    EXPECT_EQ(m[1].start, 0x11000u);
    EXPECT_EQ(m[1].end, 0x13000u);
    EXPECT_FALSE(m[1].permissions_known);
    EXPECT_EQ(m[1].file_offset, 0x1000u);
    EXPECT_EQ(m[2].file_offset, 0x3000u);
    EXPECT_TRUE(m[2].writable);
    EXPECT_EQ(m[3].start, 0x14000u);
    EXPECT_TRUE(m[3].path.empty());
}

TEST(SyntheticCore, Malformed) {
    auto expect_error = [](const std::string& bytes, const std::string& text) {
        auto image = read_synthetic(bytes);
        ASSERT_FALSE(image.ok());
        EXPECT_NE(image.error().message.find(text), std::string::npos) << image.error().message;
    };
    Synthetic none;
    none.loads.push_back({0x1000, 0x1000, std::string(0x1000, 'x')});
    expect_error(none.build(), "core has no threads (no NT_PRSTATUS notes)");

    Synthetic sparc;  // aarch64 (183) is supported since arch/aarch64
    sparc.machine = EM_SPARCV9;
    expect_error(sparc.build(), "unsupported architecture e_machine=43");

    Synthetic short_status;
    short_status.note("CORE", NT_PRSTATUS, std::string(100, '\0'));
    expect_error(short_status.build(), "NT_PRSTATUS");

    Synthetic bad_file;
    bad_file.thread(1, 0, 0);
    bad_file.file_note({{0x2000, 0x1000, 0, "/inverted"}});
    expect_error(bad_file.build(), "NT_FILE");

    Synthetic bad_names;  // count says 2, only one name
    bad_names.thread(1, 0, 0);
    bad_names.file_note({{0x1000, 0x2000, 0, "/a"}, {0x2000, 0x3000, 0, "/b"}});
    std::string bytes = bad_names.build();
    const size_t b = bytes.find("/b");
    bytes[b + 2] = 'x';  // remove the last NUL: the name runs to the end
    bytes[b + 3] = 'x';
    expect_error(bytes, "NT_FILE");

    // No program headers at all (found by fuzz_core_reader: UB under UBSan).
    Synthetic headless;
    std::string no_phdrs = headless.build();
    const uint16_t zero = 0;
    std::memcpy(&no_phdrs[offsetof(Elf64_Ehdr, e_phnum)], &zero, sizeof zero);
    expect_error(no_phdrs, "core has no threads");

    // A note whose descriptor runs past its segment.
    Synthetic huge;
    huge.thread(1, 0, 0);
    std::string raw = huge.build();
    const uint32_t descsz = 0x7fffffff;
    std::memcpy(&raw[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 4], &descsz, 4);
    expect_error(raw, "past the end of its segment");
}

}  // namespace
}  // namespace lpsafe::readers

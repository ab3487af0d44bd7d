// load_modules / compute_bias / build_id_in_memory on hand-built mappings and
// BufferMemory holding real ELF header pages (/bin/true, this process's vDSO).
#include "readers/modules/module_loader.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/auxv.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace lpsafe::readers {
namespace {

constexpr uint64_t kBase = 0x555555554000;
constexpr uint64_t kPage = 4096;

std::vector<std::byte> file_prefix(const std::string& path, size_t size) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> chars(size);
    in.read(chars.data(), static_cast<std::streamsize>(size));
    chars.resize(static_cast<size_t>(in.gcount()));
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
}

// The mappings ld.so would create for `elf` loaded at `base` under `path`.
std::vector<Mapping> mappings_for(const std::string& elf, uint64_t base, const std::string& path) {
    auto image = ElfImage::open(elf);
    EXPECT_TRUE(image.ok()) << (image ? "" : image.error().message);
    std::vector<Mapping> maps;
    if (!image) return maps;
    for (const ElfSegment& s : (*image)->segments()) {
        Mapping m;
        m.start = base + (s.vaddr & ~(kPage - 1));
        m.end = base + ((s.vaddr + s.memsz + kPage - 1) & ~(kPage - 1));
        m.file_offset = s.offset & ~(kPage - 1);
        m.path = path;
        m.readable = s.flags & PF_R;
        m.writable = s.flags & PF_W;
        m.executable = s.flags & PF_X;
        maps.push_back(m);
    }
    return maps;
}

std::string build_id_of(const std::string& elf) {
    auto image = ElfImage::open(elf);
    return image ? (*image)->build_id() : "";
}

struct Loaded {
    BufferMemory memory;
    std::vector<Mapping> maps;
};

// /bin/true mapped at kBase, with its first page in memory (what a kernel
// core's ELF-header dump or gcore keeps).
Loaded true_at_base(const std::string& path = "/bin/true") {
    Loaded l;
    l.maps = mappings_for("/bin/true", kBase, path);
    l.memory.add(kBase, file_prefix("/bin/true", kPage));
    return l;
}

const Module* only_module(const ModuleMap& map) {
    EXPECT_EQ(map.modules().size(), 1u);
    return map.modules().empty() ? nullptr : &map.modules().front();
}

TEST(ModuleLoader, BiasOfPieIsLoadBase) {
    auto image = ElfImage::open("/bin/true");
    ASSERT_TRUE(image.ok());
    const auto maps = mappings_for("/bin/true", kBase, "/bin/true");
    ASSERT_FALSE(maps.empty());
    auto bias = compute_bias(**image, maps.front());
    ASSERT_TRUE(bias.ok()) << bias.error().message;
    EXPECT_EQ(*bias, kBase);
    // From a mapping that is not at file offset 0 (the text segment) too.
    auto text = std::find_if(maps.begin(), maps.end(), [](const Mapping& m) { return m.executable; });
    ASSERT_NE(text, maps.end());
    EXPECT_EQ(compute_bias(**image, *text).value(), kBase);
}

TEST(ModuleLoader, BiasFailsWhenNoSegmentStartsInTheMappedPage) {
    auto image = ElfImage::open("/bin/true");
    ASSERT_TRUE(image.ok());
    Mapping m;
    m.start = kBase;
    m.end = kBase + kPage;
    m.file_offset = 0x100000;  // past every segment of /bin/true
    auto bias = compute_bias(**image, m);
    ASSERT_FALSE(bias.ok());
    EXPECT_NE(bias.error().message.find("not the file the process loaded"), std::string::npos);
}

TEST(ModuleLoader, BuildIdFromMemoryMatchesFile) {
    BufferMemory memory;
    memory.add(kBase, file_prefix("/bin/true", kPage));
    auto id = build_id_in_memory(memory, kBase);
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_EQ(*id, build_id_of("/bin/true"));
    EXPECT_FALSE(id->empty());
}

TEST(ModuleLoader, VerifiedExecutable) {
    auto l = true_at_base();
    const uint64_t entry = l.maps[1].start + 16;  // somewhere in the text
    auto map = load_modules(l.maps, l.memory, {{AT_ENTRY, entry}}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::ok) << mod->status.detail;
    EXPECT_EQ(mod->name, "true");
    EXPECT_EQ(mod->bias, kBase);
    EXPECT_EQ(mod->start, l.maps.front().start);
    EXPECT_EQ(mod->end, l.maps.back().end);
    ASSERT_NE(mod->image, nullptr);
}

TEST(ModuleLoader, DifferentFileIsBuildIdMismatch) {
    // The process loaded /bin/true, the path names /bin/false.
    ASSERT_NE(build_id_of("/bin/true"), build_id_of("/bin/false"));
    auto l = true_at_base("/bin/false");
    auto map = load_modules(l.maps, l.memory, {}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::build_id_mismatch) << mod->status.detail;
    EXPECT_NE(mod->status.detail.find(build_id_of("/bin/false")), std::string::npos) << mod->status.detail;
    EXPECT_NE(mod->status.detail.find(build_id_of("/bin/true")), std::string::npos) << mod->status.detail;
    EXPECT_NE(mod->image, nullptr);  // still there for symbolization
    EXPECT_FALSE(mod->status.usable());
}

TEST(ModuleLoader, ExeOptionReplacesTheMainExecutablesPath) {
    auto l = true_at_base("/old/build/true");
    const uint64_t entry = l.maps[1].start;
    auto map = load_modules(l.maps, l.memory, {{AT_ENTRY, entry}}, {.exe = "/bin/true", .sysroot = "/nonexistent"});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::ok) << mod->status.detail;
    EXPECT_EQ(mod->path, "/old/build/true");  // as the process named it
}

TEST(ModuleLoader, HeaderNotInMemoryIsUnverified) {
    auto l = true_at_base();
    BufferMemory empty;
    auto map = load_modules(l.maps, empty, {}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::build_id_unverified) << mod->status.detail;
    EXPECT_NE(mod->status.detail.find("ELF header"), std::string::npos) << mod->status.detail;
}

TEST(ModuleLoader, NotesNotInMemoryIsUnverified) {
    auto l = true_at_base();
    BufferMemory partial;  // Ehdr and program headers only: the notes are cut off
    auto header = file_prefix("/bin/true", kPage);
    Elf64_Ehdr ehdr;
    std::memcpy(&ehdr, header.data(), sizeof ehdr);
    header.resize(ehdr.e_phoff + ehdr.e_phnum * sizeof(Elf64_Phdr));
    partial.add(kBase, header);
    auto map = load_modules(l.maps, partial, {}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::build_id_unverified) << mod->status.detail;
}

TEST(ModuleLoader, GarbageHeaderInMemoryIsUnverified) {
    auto l = true_at_base();
    BufferMemory garbage;
    garbage.add(kBase, std::vector<std::byte>(kPage, std::byte{0x7f}));
    auto map = load_modules(l.maps, garbage, {}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::build_id_unverified) << mod->status.detail;
}

// Found by fuzz_core_reader: e_phnum 0 passed a null pointer to memcpy.
TEST(ModuleLoader, HeaderWithoutProgramHeadersIsAnError) {
    auto header = file_prefix("/bin/true", kPage);
    header[offsetof(Elf64_Ehdr, e_phnum)] = std::byte{0};
    header[offsetof(Elf64_Ehdr, e_phnum) + 1] = std::byte{0};
    BufferMemory memory;
    memory.add(kBase, header);
    auto id = build_id_in_memory(memory, kBase);
    ASSERT_FALSE(id.ok());
    EXPECT_NE(id.error().message.find("no program headers"), std::string::npos) << id.error().message;
}

TEST(ModuleLoader, MissingFiles) {
    BufferMemory memory;
    auto lib = mappings_for("/bin/true", kBase, "/usr/lib/libgone.so.1");
    auto data = mappings_for("/bin/true", kBase + 0x100000, "/var/lib/gone.dat");
    for (auto& m : data) m.executable = false;  // plain data: not a module
    std::vector<Mapping> maps = lib;
    maps.insert(maps.end(), data.begin(), data.end());
    auto map = load_modules(maps, memory, {}, {.exe = {}, .sysroot = "/nonexistent-root/"});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->name, "libgone.so.1");
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::missing_file);
    EXPECT_NE(mod->status.detail.find("/nonexistent-root/usr/lib/libgone.so.1"), std::string::npos)
        << mod->status.detail;
    EXPECT_EQ(mod->image, nullptr);
}

TEST(ModuleLoader, NonElfFilesAreNotModules) {
    BufferMemory memory;
    Mapping m;
    m.start = kBase;
    m.end = kBase + kPage;
    m.path = "/etc/passwd";  // exists, not ELF
    m.readable = m.executable = true;
    auto map = load_modules({m}, memory, {}, {});
    EXPECT_TRUE(map.modules().empty());
}

TEST(ModuleLoader, SameFileMappedTwiceIsTwoModules) {
    auto first = true_at_base();
    const uint64_t second_base = kBase + 0x1000000;
    auto second = mappings_for("/bin/true", second_base, "/bin/true");
    first.memory.add(second_base, file_prefix("/bin/true", kPage));
    first.maps.insert(first.maps.end(), second.begin(), second.end());
    auto map = load_modules(first.maps, first.memory, {}, {});
    ASSERT_EQ(map.modules().size(), 2u);
    EXPECT_EQ(map.modules()[0].bias, kBase);
    EXPECT_EQ(map.modules()[1].bias, second_base);
    EXPECT_EQ(map.modules()[1].status.kind, ModuleStatus::Kind::ok) << map.modules()[1].status.detail;
}

// This process's own vDSO, copied into a BufferMemory as a core would hold it.
TEST(ModuleLoader, VdsoFromMemory) {
    const uint64_t base = getauxval(AT_SYSINFO_EHDR);
    if (base == 0) GTEST_SKIP() << "this process has no vDSO";
    std::ifstream maps("/proc/self/maps");
    std::string line;
    uint64_t start = 0, end = 0;
    while (std::getline(maps, line))
        if (line.find("[vdso]") != std::string::npos) {
            std::sscanf(line.c_str(), "%lx-%lx", &start, &end);
            break;
        }
    ASSERT_EQ(start, base);
    std::vector<std::byte> bytes(end - start);
    std::memcpy(bytes.data(), reinterpret_cast<const void*>(start), bytes.size());
    BufferMemory memory;
    memory.add(start, bytes);
    Mapping vdso;
    vdso.start = start;
    vdso.end = end;
    vdso.readable = vdso.executable = true;

    auto map = load_modules({vdso}, memory, {{AT_SYSINFO_EHDR, base}}, {});
    const Module* mod = only_module(map);
    ASSERT_NE(mod, nullptr);
    EXPECT_EQ(mod->name, "[vdso]");
    EXPECT_EQ(mod->status.kind, ModuleStatus::Kind::ok) << mod->status.detail;
    EXPECT_EQ(mod->bias, base);  // the vDSO is linked at 0
    ASSERT_NE(mod->image, nullptr);
    EXPECT_FALSE(mod->image->build_id().empty());

    // Not in memory: no module, no error.
    BufferMemory empty;
    EXPECT_TRUE(load_modules({vdso}, empty, {{AT_SYSINFO_EHDR, base}}, {}).modules().empty());
}

}  // namespace
}  // namespace lpsafe::readers

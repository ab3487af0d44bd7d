// VMCOREINFO and the kallsyms tables read out of kernel memory. The format
// is kernel/kallsyms.c's (and scripts/kallsyms.c's, which writes it): the
// tables here are built by the test the way scripts/kallsyms.c lays them out;
// the same decoder against a real kernel's /proc/kallsyms runs in the oracle
// guest (tests/oracle/dump_kallsyms_check.cpp).
#include <gtest/gtest.h>

#include <cstring>

#include "lpsafe/kallsyms.h"
#include "readers/kernel/dump_kallsyms.h"
#include "readers/kernel/kernel_core_memory.h"
#include "readers/kernel/vmcoreinfo.h"

namespace lpsafe::readers {
namespace {

TEST(VmcoreInfo, KeysSymbolsAndOffsets) {
    const auto info = VmcoreInfo::parse(
        "OSRELEASE=6.1.0-57-amd64\nBUILD-ID=5E0c\nPAGESIZE=4096\nSYMBOL(init_task)=ffffffff9f615940\n"
        "OFFSET(list_head.next)=0\nKERNELOFFSET=1e000000\nthis line has no equals sign\n=novalue\n"
        "SYMBOL(bad)=xyz\n\0\0");
    EXPECT_EQ(info.value("OSRELEASE"), "6.1.0-57-amd64");
    EXPECT_EQ(info.symbol("init_task"), 0xffffffff9f615940u);
    EXPECT_EQ(info.hex("KERNELOFFSET"), 0x1e000000u);
    EXPECT_EQ(info.value("OFFSET(list_head.next)"), "0");
    EXPECT_FALSE(info.symbol("bad").has_value());
    EXPECT_FALSE(info.symbol("missing").has_value());
    EXPECT_EQ(info.skipped_lines(), 2u);
}

TEST(VmcoreInfo, NotesWithoutItAreAnError) {
    // One NT_GNU_BUILD_ID note: namesz 4, descsz 4, type 3, "GNU\0", desc.
    std::vector<std::byte> notes(20);
    const uint32_t head[3] = {4, 4, 3};
    std::memcpy(notes.data(), head, 12);
    std::memcpy(notes.data() + 12, "GNU\0\1\2\3\4", 8);
    auto info = VmcoreInfo::from_notes(notes);
    ASSERT_FALSE(info.ok());
    EXPECT_NE(info.error().message.find("no VMCOREINFO"), std::string::npos);
}

// The tables of scripts/kallsyms.c for a few symbols: token i is the single
// character i except for two multi-character tokens, names are "type char +
// name" spelt in token indices, a 2-byte length for names of 128 tokens
// and more, offsets with --absolute-percpu.
struct Tables {
    BufferMemory memory;
    VmcoreInfo info;
};

constexpr uint64_t kNames = 0xffffffff82000000, kCount = 0xffffffff82100000, kTable = 0xffffffff82200000,
                   kIndex = 0xffffffff82300000, kOffsets = 0xffffffff82400000, kBase = 0xffffffff82500000;
constexpr uint64_t kRelativeBase = 0xffffffff9e000000;

std::vector<std::byte> bytes_of(const void* p, size_t n) {
    std::vector<std::byte> out(n);
    std::memcpy(out.data(), p, n);
    return out;
}

// `count`: what kallsyms_num_syms says (0: the truth).
Tables make_tables(const std::vector<std::pair<int32_t, std::string>>& symbols, uint32_t count = 0) {
    Tables t;
    std::vector<std::string> tokens(256);
    for (int i = 0; i < 256; ++i) tokens[i] = std::string(1, static_cast<char>(i == 0 ? 1 : i));
    tokens[1] = "sched";  // multi-character tokens, as the compressor makes them
    tokens[2] = "T__";
    std::string table;
    std::vector<uint16_t> index(256);
    for (int i = 0; i < 256; ++i) {
        index[i] = static_cast<uint16_t>(table.size());
        table += tokens[i];
        table += '\0';
    }
    std::vector<std::byte> names;
    std::vector<int32_t> offsets;
    for (const auto& [offset, name] : symbols) {
        std::vector<uint8_t> spelt;
        for (size_t i = 0; i < name.size();) {
            if (name.compare(i, 5, "sched") == 0) spelt.push_back(1), i += 5;
            else if (name.compare(i, 3, "T__") == 0) spelt.push_back(2), i += 3;
            else spelt.push_back(static_cast<uint8_t>(name[i])), ++i;
        }
        if (spelt.size() >= 0x80) {
            names.push_back(std::byte(0x80 | (spelt.size() & 0x7f)));
            names.push_back(std::byte(spelt.size() >> 7));
        } else {
            names.push_back(std::byte(spelt.size()));
        }
        for (uint8_t b : spelt) names.push_back(std::byte(b));
        offsets.push_back(offset);
    }
    if (count == 0) count = static_cast<uint32_t>(symbols.size());
    t.memory.add(kNames, names);
    t.memory.add(kCount, bytes_of(&count, 4));
    t.memory.add(kTable, bytes_of(table.data(), table.size()));
    t.memory.add(kIndex, bytes_of(index.data(), 512));
    t.memory.add(kOffsets, bytes_of(offsets.data(), offsets.size() * 4));
    t.memory.add(kBase, bytes_of(&kRelativeBase, 8));
    char text[512];
    std::snprintf(text, sizeof text,
                  "SYMBOL(kallsyms_names)=%lx\nSYMBOL(kallsyms_num_syms)=%lx\nSYMBOL(kallsyms_token_table)=%lx\n"
                  "SYMBOL(kallsyms_token_index)=%lx\nSYMBOL(kallsyms_offsets)=%lx\nSYMBOL(kallsyms_relative_base)=%lx\n",
                  kNames, kCount, kTable, kIndex, kOffsets, kBase);
    t.info = VmcoreInfo::parse(text);
    return t;
}

TEST(DumpKallsyms, DecodesNamesTypesAndAddresses) {
    const std::string big = "t" + std::string(200, 'x');
    Tables t = make_tables({{0x2a000, "Afixed_percpu_data"},  // >= 0: absolute (per-CPU)
                            {-1, "T_text"},                    // relative_base - 1 - (-1)
                            {-0x1000001, "T__schedule"},
                            {-0x1000101, big}});
    auto text = kallsyms_from_memory(t.memory, t.info);
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_EQ(*text,
              "000000000002a000 A fixed_percpu_data\n"
              "ffffffff9e000000 T _text\n"
              "ffffffff9f000000 T __schedule\n"
              "ffffffff9f000100 t " + std::string(200, 'x') + "\n");
    auto parsed = Kallsyms::parse(*text);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->text_start(), 0xffffffff9e000000u);
    EXPECT_EQ(parsed->vmlinux_address("__schedule"), 0xffffffff9f000000u);
}

TEST(DumpKallsyms, MissingOrCutTablesAreErrors) {
    Tables t = make_tables({{-1, "T_text"}, {-2, "Tother"}});
    ASSERT_TRUE(kallsyms_from_memory(t.memory, t.info).ok());
    auto none = kallsyms_from_memory(t.memory, VmcoreInfo::parse("OSRELEASE=6.1\n"));
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("names no kallsyms tables"), std::string::npos);
    // A count larger than the tables: the offsets array is cut short.
    Tables cut = make_tables({{-1, "T_text"}, {-2, "Tother"}}, 3);
    auto text = kallsyms_from_memory(cut.memory, cut.info);
    ASSERT_FALSE(text.ok());
    EXPECT_NE(text.error().message.find("kallsyms_offsets"), std::string::npos) << text.error().message;
    // An absurd count is refused before anything is read.
    Tables u = make_tables({{-1, "T_text"}}, 0xffffffff);
    auto refused = kallsyms_from_memory(u.memory, u.info);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("not a symbol table"), std::string::npos);
}

// The fuzz seed (fixtures/fuzz-seeds/make-seeds.sh kernel_dump) is a whole
// dump in miniature: ELF core, VMCOREINFO note, kallsyms tables in a PT_LOAD.
TEST(DumpKallsyms, TheFuzzSeedIsAWholeDump) {
    const char* fixtures = std::getenv("LPSAFE_SOURCE_FIXTURES");
    ASSERT_NE(fixtures, nullptr);
    auto memory = KernelCoreMemory::open(std::string(fixtures) + "/fuzz-seeds/kernel_dump/tiny.vmcore");
    ASSERT_TRUE(memory.ok()) << memory.error().message;
    auto info = VmcoreInfo::from_notes((*memory)->notes());
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->value("OSRELEASE"), "6.1.0-fuzz");
    auto text = kallsyms_from_memory(**memory, *info);
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_EQ(*text,
              "ffffffff9e000000 T _text\n"
              "ffffffff9f000000 T __schedule\n"
              "000000000002a000 A fixed_percpu_data\n");
}

}  // namespace
}  // namespace lpsafe::readers

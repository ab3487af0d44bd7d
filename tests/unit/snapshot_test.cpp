// Snapshot building blocks on a real file (libc): an ImageRecord taken from
// it and rebuilt as an in-memory ELF answers exactly like the file for what
// was recorded (symbols, soname, build-id, segments, CFI rows of the
// looked-up pcs), and fails closed (an error, never "no entry") for a pc
// whose .eh_frame entry was pruned away. The codec round-trips, and refuses
// lengths and counts its input cannot hold.
#include <gtest/gtest.h>

#include "lpsafe/module.h"
#include "readers/snapshot/snapshot_bytes.h"
#include "readers/snapshot/snapshot_elf.h"
#include "readers/snapshot/snapshot_model.h"
#include "readers/snapshot/snapshot_tables.h"
#include "test_support.h"

namespace lpsafe::readers::snapshot {
namespace {

std::shared_ptr<ElfImage> libc() {
    auto image = ElfImage::open(test::kLibc);
    EXPECT_TRUE(image.ok());
    return image.ok() ? *image : nullptr;
}

// Start addresses of a few libc functions with CFI, by name.
uint64_t start_of(const ElfImage& image, const char* name) {
    const auto syms = image.symbols_named(name);
    return syms.empty() ? 0 : syms.front()->start;
}

std::string describe(const CfiLookup& l) {
    std::string s = std::to_string(static_cast<int>(l.status)) + " [" + std::to_string(l.row.start) + "," +
                    std::to_string(l.row.end) + ") ra " + std::to_string(l.row.ra_column) + " cfa";
    for (const DwarfOp& op : l.row.cfa) s += " " + std::to_string(op.atom) + ":" + std::to_string(op.number);
    for (const RegRule& r : l.row.regs) {
        s += " |" + std::to_string(static_cast<int>(r.kind));
        for (const DwarfOp& op : r.expr) s += " " + std::to_string(op.atom) + ":" + std::to_string(op.number);
    }
    return s;
}

TEST(SnapshotImage, RebuiltImageAnswersLikeTheFileAndFailsClosedElsewhere) {
    auto file = libc();
    ASSERT_NE(file, nullptr);
    std::vector<uint64_t> lookups;
    for (const char* fn : {"pause", "epoll_wait", "__libc_start_main"}) {
        const uint64_t a = start_of(*file, fn);
        ASSERT_NE(a, 0u) << fn;
        lookups.push_back(a + 4);
    }
    ImageRecord rec;
    rec.machine = file->machine();
    rec.soname = file->soname();
    rec.build_id = file->build_id();
    for (const ElfSegment& s : file->segments()) rec.segments.push_back({s.vaddr, s.memsz, 0, 0, s.flags});
    auto sections = unwind_sections(*file, lookups);
    ASSERT_TRUE(sections.ok()) << sections.error().message;
    rec.sections = *sections;
    rec.symbols = file->symbols();
    auto bytes = build_elf(rec);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    auto rebuilt = ElfImage::from_bytes("rebuilt", std::move(*bytes));
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
    const ElfImage& r = **rebuilt;

    EXPECT_EQ(r.soname(), "libc.so.6");
    EXPECT_EQ(r.build_id(), file->build_id());
    EXPECT_EQ(r.symbols().size(), file->symbols().size());
    EXPECT_EQ(r.symbol_at(lookups[0])->name, file->symbol_at(lookups[0])->name);
    ASSERT_EQ(r.segments().size(), file->segments().size());
    for (uint64_t pc : lookups) {
        const CfiLookup want = file->cfi_at(pc);
        ASSERT_EQ(want.status, CfiLookup::Status::found);
        EXPECT_EQ(describe(r.cfi_at(pc)), describe(want));
    }
    // The pruned .eh_frame keeps a few entries out of thousands; a function
    // whose entry was dropped must not read as "no CFI here" (that would let
    // a frame-pointer step stand in for the missing table).
    const uint64_t other = start_of(*file, "qsort") + 4;
    ASSERT_EQ(file->cfi_at(other).status, CfiLookup::Status::found);
    EXPECT_EQ(r.cfi_at(other).status, CfiLookup::Status::error) << describe(r.cfi_at(other));
    size_t kept = 0;
    for (const Section& s : rec.sections)
        for (const Bytes& p : s.pieces) kept += p.bytes.size();
    EXPECT_LT(kept, 4096u) << "pruning kept too much";
    // No file bytes were recorded, so none are served.
    std::byte code[4];
    EXPECT_EQ(r.read(lookups[0], code), 0u);
}

TEST(SnapshotCodec, RoundTripsAndRefusesImpossibleCounts) {
    SnapshotData d;
    d.pid = 42;
    d.comm = "demo";
    d.mappings.push_back({0x1000, 0x3000, 0, "/bin/demo", true, false, true, true});
    ThreadRecord t;
    t.state.tid = 43;
    t.state.regs.set(7, 0x2000);
    t.state.regs.syscall_nr = 34;
    d.threads.push_back(t);
    d.memory.push_back({0x2000, std::vector<std::byte>(16, std::byte{7})});
    for (bool compress : {true, false}) {
        auto back = decode(encode(d, {compress}));
        ASSERT_TRUE(back.ok()) << back.error().message;
        EXPECT_EQ(back->pid, 42);
        EXPECT_EQ(back->comm, "demo");
        ASSERT_EQ(back->threads.size(), 1u);
        EXPECT_EQ(back->threads[0].state.regs.get(7), 0x2000u);
        EXPECT_EQ(back->threads[0].state.regs.syscall_nr, 34);
        EXPECT_FALSE(back->threads[0].state.regs.has(6));
        ASSERT_EQ(back->memory.size(), 1u);
        EXPECT_EQ(back->memory[0].bytes.size(), 16u);
    }
    ByteWriter w;
    w.u32(1000000);  // a count of 8-byte elements, with 4 bytes left
    w.u32(0);
    ByteReader r(w.data());
    EXPECT_EQ(r.count(8), 0u);
    EXPECT_FALSE(r.ok());
}

// ppc64le's LR (65) and pc (67) lie past the first register mask: a thread
// record then carries a second mask; one without them is written as 1.1 was.
TEST(SnapshotCodec, RegistersPast63RoundTrip) {
    SnapshotData d;
    d.arch = ArchId::ppc64le;
    d.pid = 42;
    d.mappings.push_back({0x1000, 0x3000, 0, "/bin/demo", true, false, true, true});
    ThreadRecord t;
    t.state.tid = 43;
    t.state.regs = Regs(ArchId::ppc64le);
    t.state.regs.set(1, 0x2000);
    t.state.regs.set(65, 0x1234);
    t.state.regs.set(67, 0x1100);
    d.threads.push_back(t);
    const auto with_high = encode(d, {false});
    auto back = decode(with_high);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->arch, ArchId::ppc64le);
    EXPECT_EQ(back->threads[0].state.regs.get(1), 0x2000u);
    EXPECT_EQ(back->threads[0].state.regs.get(65), 0x1234u);
    EXPECT_EQ(back->threads[0].state.regs.get(67), 0x1100u);
    EXPECT_FALSE(back->threads[0].state.regs.has(66));
    d.threads[0].state.regs.clear(65);
    d.threads[0].state.regs.clear(67);
    EXPECT_EQ(encode(d, {false}).size() + 8 + 2 * 8, with_high.size());  // the mask and two values
}

}  // namespace
}  // namespace lpsafe::readers::snapshot

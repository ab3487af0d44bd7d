// Encoding of the snapshot file (docs/snapshot-format.md): the records,
// then optionally deflated, behind the header.
#include <cstdlib>

#include <zlib.h>

#include "readers/snapshot/snapshot_bytes.h"
#include "readers/snapshot/zlib_codec.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe::readers::snapshot {
namespace {

template <typename Fn>
void record(ByteWriter& w, RecordType type, Fn&& body) {
    w.u16(static_cast<uint16_t>(type));
    w.u16(0);
    const size_t at = w.size();
    w.u32(0);
    body();
    w.patch_u32(at, static_cast<uint32_t>(w.size() - at - 4));
}

void put_bytes(ByteWriter& w, const Bytes& b) {
    w.u64(b.addr);
    w.blob(b.bytes);
}

// Registers [first, first + 64) as a mask and the values of its set bits.
uint64_t regs_mask(const Regs& regs, unsigned first) {
    uint64_t mask = 0;
    for (unsigned r = first; r < kMaxDwarfRegs && r < first + 64; ++r)
        if (regs.has(r)) mask |= uint64_t{1} << (r - first);
    return mask;
}

void put_mask_values(ByteWriter& w, const Regs& regs, unsigned first) {
    const uint64_t mask = regs_mask(regs, first);
    w.u64(mask);
    for (unsigned r = first; r < kMaxDwarfRegs && r < first + 64; ++r)
        if (regs.has(r)) w.u64(*regs.get(r));
}

void put_regs(ByteWriter& w, const Regs& regs) {
    put_mask_values(w, regs, 0);
    w.u8(regs.syscall_nr.has_value());
    w.i64(regs.syscall_nr.value_or(0));
}

void put_image(ByteWriter& w, const ImageRecord& im) {
    w.u16(im.machine);
    w.u8(im.executable_type);
    w.str(im.soname);
    w.str(im.build_id);
    w.u32(static_cast<uint32_t>(im.segments.size()));
    for (const ElfSegment& s : im.segments) {
        w.u64(s.vaddr);
        w.u64(s.memsz);
        w.u32(s.flags);
    }
    w.u32(static_cast<uint32_t>(im.sections.size()));
    for (const Section& s : im.sections) {
        w.u8(static_cast<uint8_t>(s.kind));
        w.u64(s.addr);
        w.u64(s.size);
        w.u32(static_cast<uint32_t>(s.pieces.size()));
        for (const Bytes& p : s.pieces) put_bytes(w, p);
    }
    w.u32(static_cast<uint32_t>(im.code.size()));
    for (const Bytes& c : im.code) put_bytes(w, c);
    w.u32(static_cast<uint32_t>(im.symbols.size()));
    for (const Symbol& s : im.symbols) {
        w.str(s.name);
        w.u64(s.start);
        w.u64(s.size);
        w.u8(s.global);
    }
}

void put_module(ByteWriter& w, const ModuleRecord& m) {
    w.str(m.path);
    w.str(m.name);
    w.u64(m.start);
    w.u64(m.end);
    w.u64(m.bias);
    w.u8(static_cast<uint8_t>(m.status.kind));
    w.str(m.status.detail);
    w.u8(m.has_image);
    if (m.has_image) put_image(w, m.image);
}

void put_thread(ByteWriter& w, const ThreadRecord& t) {
    const ThreadState& s = t.state;
    w.u32(static_cast<uint32_t>(s.tid));
    w.u8(static_cast<uint8_t>(s.status));
    w.str(s.comm);
    w.str(s.state);
    w.str(s.status_reason);
    w.u64(s.stop_ns);
    put_regs(w, s.regs);
    w.u64(t.stack_low);
    w.u64(t.stack_end);
    w.u8(t.stack_truncated);
    w.u8(s.start_routine.has_value());
    w.u64(s.start_routine.value_or(0));
    // Registers numbered 64 and up (ppc64's LR 65): only when one is set,
    // so records of other architectures stay as version 1.1 wrote them.
    if (regs_mask(s.regs, 64) != 0) put_mask_values(w, s.regs, 64);
}

void put_mapping(ByteWriter& w, const Mapping& m) {
    w.u64(m.start);
    w.u64(m.end);
    w.u64(m.file_offset);
    w.u8(static_cast<uint8_t>(m.readable | m.writable << 1 | m.executable << 2 | m.permissions_known << 3));
    w.str(m.path);
}

// The stream behind its u64 uncompressed size (docs/snapshot-format.md).
std::vector<std::byte> deflate(std::span<const std::byte> raw) {
    const std::vector<std::byte> stream = zlib_compress(raw);
    std::vector<std::byte> out(8);
    const uint64_t raw_size = raw.size();
    std::memcpy(out.data(), &raw_size, 8);
    out.insert(out.end(), stream.begin(), stream.end());
    return out;
}

}  // namespace

std::vector<std::byte> encode(const SnapshotData& d, const EncodeOptions& options) {
    ByteWriter w;
    record(w, RecordType::process, [&] {
        w.u16(static_cast<uint16_t>(d.arch));
        w.u32(static_cast<uint32_t>(d.pid));
        w.str(d.comm);
    });
    for (const Mapping& m : d.mappings) record(w, RecordType::mapping, [&] { put_mapping(w, m); });
    for (const ThreadRecord& t : d.threads) {
        record(w, RecordType::thread, [&] { put_thread(w, t); });
        // Since 1.2, right after its thread: an aarch64 thread's PAC mask.
        // A separate record, so a 1.1 reader skips it (and then leaves
        // signed return addresses unstripped: unreliable, never wrong).
        const PointerAuthMask& pac = t.state.pac;
        if (pac.source != PointerAuthMask::Source::none) {
            record(w, RecordType::pointer_auth, [&] {
                w.u32(static_cast<uint32_t>(t.state.tid));
                w.u8(static_cast<uint8_t>(pac.source));
                w.u64(pac.data_mask);
                w.u64(pac.insn_mask);
            });
        }
    }
    for (const Bytes& b : d.memory) record(w, RecordType::memory, [&] { put_bytes(w, b); });
    for (const ModuleRecord& m : d.modules) record(w, RecordType::module, [&] { put_module(w, m); });
    const std::vector<std::byte> body = options.compress ? deflate(w.data()) : std::move(w.data());
    ByteWriter out;
    out.bytes(std::as_bytes(std::span(kUserMagic)));
    out.u16(kVersionMajor);
    out.u16(kVersionMinor);
    out.u32(options.compress ? kFlagDeflate : 0);
    out.u32(0);  // CRC-32, below
    out.u32(0);  // reserved
    out.bytes(body);
    std::vector<std::byte> file = std::move(out.data());
    const uint32_t crc = file_crc32(file);
    for (size_t i = 0; i < 4; ++i) file[kCrcOffset + i] = static_cast<std::byte>(crc >> (8 * i));
    return file;
}


uint32_t crc32(std::span<const std::byte> bytes, uint32_t crc) {
    return static_cast<uint32_t>(::crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

// Every byte but the CRC field itself: a flipped version or flag byte is
// corruption too, not a newer format.
uint32_t file_crc32(std::span<const std::byte> file) {
    uint32_t crc = crc32(file.first(kCrcOffset));
    crc = crc32(file.subspan(kCrcOffset + 4, kHeaderSize - kCrcOffset - 4), crc);
    return crc32(file.subspan(kHeaderSize), crc);
}

}  // namespace lpsafe::readers::snapshot

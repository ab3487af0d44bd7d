// Bounds-checked decoding of the snapshot file (docs/snapshot-format.md).
// Decoding checks structure only (sizes, counts, order); whether the
// content makes a trustworthy stack is the engine's job.
#include <algorithm>


#include "readers/snapshot/snapshot_bytes.h"
#include "readers/snapshot/zlib_codec.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe::readers::snapshot {
namespace {

constexpr uint64_t kMaxSectionSize = 64ull << 20;  // a pruned section is rebuilt this large
constexpr size_t kMaxBuildIdHex = 128;

Bytes get_bytes(ByteReader& r) {
    Bytes b;
    b.addr = r.u64();
    auto s = r.blob();
    if (r.ok() && b.addr + s.size() < b.addr) r.fail();  // wraps the address space
    b.bytes.assign(s.begin(), s.end());
    return b;
}

// A mask of registers [first, first + 64) and the values of its set bits.
void get_mask_values(ByteReader& r, Regs& regs, unsigned first) {
    const uint64_t mask = r.u64();
    const unsigned known = kMaxDwarfRegs - first;  // registers of this block lpsafe has
    if (known < 64 && mask >> known != 0) r.fail();
    for (unsigned i = 0; i < 64 && i < known && r.ok(); ++i)
        if (mask >> i & 1) regs.set(first + i, r.u64());
}

Regs get_regs(ByteReader& r, ArchId arch) {
    Regs regs(arch);
    get_mask_values(r, regs, 0);
    const bool has_nr = r.u8() != 0;
    const int64_t nr = r.i64();
    if (has_nr) regs.syscall_nr = nr;
    return regs;
}

Section get_section(ByteReader& r) {
    Section s;
    const uint8_t kind = r.u8();
    if (kind < 1 || kind > 3) r.fail();
    s.kind = static_cast<SectionKind>(kind);
    s.addr = r.u64();
    s.size = r.u64();
    if (s.size > kMaxSectionSize) r.fail();
    const uint32_t n = r.count(16);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
        Bytes p = get_bytes(r);
        // A piece lies inside its section, and pieces come in order.
        if (p.addr > s.size || p.bytes.size() > s.size - p.addr) r.fail();
        if (!s.pieces.empty() && p.addr < s.pieces.back().addr + s.pieces.back().bytes.size()) r.fail();
        s.pieces.push_back(std::move(p));
    }
    return s;
}

ImageRecord get_image(ByteReader& r) {
    ImageRecord im;
    im.machine = r.u16();
    im.executable_type = r.u8() != 0;
    im.soname = r.str();
    im.build_id = r.str(kMaxBuildIdHex);
    const uint32_t nseg = r.count(20);
    for (uint32_t i = 0; i < nseg && r.ok(); ++i) {
        ElfSegment s;
        s.vaddr = r.u64();
        s.memsz = r.u64();
        s.flags = r.u32();
        im.segments.push_back(s);
    }
    const uint32_t nsec = r.count(21);
    for (uint32_t i = 0; i < nsec && r.ok(); ++i) im.sections.push_back(get_section(r));
    const uint32_t ncode = r.count(16);
    for (uint32_t i = 0; i < ncode && r.ok(); ++i) im.code.push_back(get_bytes(r));
    const uint32_t nsym = r.count(25);
    for (uint32_t i = 0; i < nsym && r.ok(); ++i) {
        Symbol s;
        s.name = r.str();
        s.start = r.u64();
        s.size = r.u64();
        s.global = r.u8() != 0;
        im.symbols.push_back(std::move(s));
    }
    return im;
}

ModuleRecord get_module(ByteReader& r) {
    ModuleRecord m;
    m.path = r.str();
    m.name = r.str();
    m.start = r.u64();
    m.end = r.u64();
    m.bias = r.u64();
    const uint8_t kind = r.u8();
    if (kind > static_cast<uint8_t>(ModuleStatus::Kind::not_elf)) r.fail();
    m.status.kind = static_cast<ModuleStatus::Kind>(kind);
    m.status.detail = r.str();
    m.has_image = r.u8() != 0;
    if (m.has_image) m.image = get_image(r);
    if (m.start >= m.end) r.fail();
    return m;
}

ThreadRecord get_thread(ByteReader& r, ArchId arch) {
    ThreadRecord t;
    ThreadState& s = t.state;
    s.tid = r.i32();
    const uint8_t status = r.u8();
    if (status > static_cast<uint8_t>(CaptureStatus::unreadable)) r.fail();
    s.status = static_cast<CaptureStatus>(status);
    s.comm = r.str();
    s.state = r.str();
    s.status_reason = r.str();
    s.stop_ns = r.u64();
    s.regs = get_regs(r, arch);
    t.stack_low = r.u64();
    t.stack_end = r.u64();
    t.stack_truncated = r.u8() != 0;
    // Since 1.1: where the thread started. A 1.0 file ends here, and its
    // threads' stacks that need this anchor are judged unreliable.
    if (!r.at_end()) {
        const bool known = r.u8() != 0;
        const uint64_t start = r.u64();
        if (known) s.start_routine = start;
    }
    // Registers numbered 64 and up, when any is set (ppc64's LR).
    if (!r.at_end()) get_mask_values(r, s.regs, 64);
    return t;
}

Mapping get_mapping(ByteReader& r) {
    Mapping m;
    m.start = r.u64();
    m.end = r.u64();
    m.file_offset = r.u64();
    const uint8_t flags = r.u8();
    if (flags >> 4 != 0 || m.start >= m.end) r.fail();
    m.readable = flags & 1;
    m.writable = flags & 2;
    m.executable = flags & 4;
    m.permissions_known = flags & 8;
    m.path = r.str();
    return m;
}

const char* record_name(RecordType t) {
    switch (t) {
    case RecordType::process: return "process";
    case RecordType::mapping: return "mapping";
    case RecordType::thread: return "thread";
    case RecordType::memory: return "memory";
    case RecordType::module: return "module";
    case RecordType::pointer_auth: return "pointer_auth";
    }
    return "unknown";
}

// One record's payload into `d`; false when the payload is malformed.
bool decode_record(RecordType type, ByteReader& r, SnapshotData& d, bool& have_process) {
    switch (type) {
    case RecordType::process: {
        const uint16_t arch = r.u16();
        // Any architecture with a row in the table (arch_name knows it).
        if (arch_name(static_cast<ArchId>(arch)) == "unknown" || have_process) return false;
        d.arch = static_cast<ArchId>(arch);
        d.pid = r.i32();
        d.comm = r.str();
        have_process = true;
        break;
    }
    case RecordType::mapping: d.mappings.push_back(get_mapping(r)); break;
    case RecordType::thread: d.threads.push_back(get_thread(r, d.arch)); break;
    case RecordType::memory: d.memory.push_back(get_bytes(r)); break;
    case RecordType::module: d.modules.push_back(get_module(r)); break;
    case RecordType::pointer_auth: {
        // Belongs to the thread record just before it.
        const int32_t tid = r.i32();
        const uint8_t source = r.u8();
        if (d.threads.empty() || d.threads.back().state.tid != tid || source == 0 ||
            source > static_cast<uint8_t>(PointerAuthMask::Source::derived))
            return false;
        PointerAuthMask& pac = d.threads.back().state.pac;
        if (pac.source != PointerAuthMask::Source::none) return false;  // one per thread
        pac.source = static_cast<PointerAuthMask::Source>(source);
        pac.data_mask = r.u64();
        pac.insn_mask = r.u64();
        break;
    }
    }
    return r.ok() && r.at_end();
}

template <typename T, typename Start, typename End>
bool sorted_disjoint(const std::vector<T>& v, Start start, End end) {
    for (size_t i = 1; i < v.size(); ++i)
        if (start(v[i]) < end(v[i - 1])) return false;
    return true;
}

Status check_order(const SnapshotData& d) {
    if (!sorted_disjoint(d.mappings, [](const Mapping& m) { return m.start; }, [](const Mapping& m) { return m.end; }))
        return make_error("mappings overlap or are out of order");
    if (!sorted_disjoint(d.memory, [](const Bytes& b) { return b.addr; },
                         [](const Bytes& b) { return b.addr + b.bytes.size(); }))
        return make_error("memory regions overlap or are out of order");
    if (d.threads.empty()) return make_error("no threads");
    return Ok{};
}

}  // namespace

namespace {

Result<SnapshotData> decode_records(std::span<const std::byte> body, uint16_t minor) {
    SnapshotData d;
    bool have_process = false;
    ByteReader r(body);
    while (!r.at_end()) {
        const size_t at = r.position();
        const uint16_t type = r.u16();
        r.u16();
        const auto payload = r.take(r.u32());
        if (!r.ok()) return make_error("truncated record at offset " + std::to_string(at) + " of the records");
        if (type < 1 || type > kLastRecordType) {
            if (minor > kVersionMinor) continue;  // a later minor version's addition
            return make_error("unknown record type " + std::to_string(type) + " at offset " + std::to_string(at) + " of the records");
        }
        if (type != 1 && !have_process) return make_error("the first record is not the process record");
        ByteReader pr(payload);
        if (!decode_record(static_cast<RecordType>(type), pr, d, have_process))
            return make_error(std::string("malformed ") + record_name(static_cast<RecordType>(type)) +
                              " record at offset " + std::to_string(at) + " of the records");
    }
    if (!have_process) return make_error("no process record");
    if (auto st = check_order(d); !st) return make_error("malformed snapshot: " + st.error().message);
    return d;
}

Result<std::vector<std::byte>> inflate(std::span<const std::byte> body) {
    const auto raw_size = load<uint64_t>(body, 0);
    if (!raw_size) return make_error("truncated compressed body");
    auto raw = zlib_inflate(body.subspan(8), *raw_size, kMaxInflated);
    if (!raw) return make_error("compressed body " + raw.error().message);
    return raw;
}

}  // namespace

Result<SnapshotData> decode(std::span<const std::byte> file, const DecodeOptions& options) {
    if (file.size() < sizeof kUserMagic) return make_error("too short to be an lpsafe snapshot (" + std::to_string(file.size()) + " bytes)");
    if (std::memcmp(file.data(), kKernelMagic, sizeof kKernelMagic) == 0)
        return make_error("this is a kernel capture, not a user-space process snapshot: read it with the kernel reader (lpsafe --kernel --proc-root ...)");
    if (std::memcmp(file.data(), kUserMagic, sizeof kUserMagic) != 0) return make_error("not an lpsafe snapshot (bad magic)");
    ByteReader header(file.first(std::min(file.size(), kHeaderSize)));
    header.take(sizeof kUserMagic);
    const uint16_t major = header.u16();
    const uint16_t minor = header.u16();
    const uint32_t flags = header.u32();
    const uint32_t crc = header.u32();
    if (!header.ok() || file.size() < kHeaderSize) return make_error("truncated inside the snapshot header");
    if (major != kVersionMajor)
        return make_error("snapshot format version " + std::to_string(major) + "." + std::to_string(minor) +
                          " is not supported (this lpsafe reads version " + std::to_string(kVersionMajor) + ".x)");
    const auto body = file.subspan(kHeaderSize);
    if (options.verify_checksum && file_crc32(file) != crc)
        return make_error("checksum mismatch: the snapshot is truncated or corrupt");
    if ((flags & ~kFlagDeflate) != 0) return make_error("unknown header flags " + std::to_string(flags));
    std::vector<std::byte> inflated;
    if ((flags & kFlagDeflate) != 0) {
        auto raw = inflate(body);
        if (!raw) return raw.error();
        inflated = std::move(*raw);
    }
    return decode_records(flags & kFlagDeflate ? std::span<const std::byte>(inflated) : body, minor);
}

}  // namespace lpsafe::readers::snapshot

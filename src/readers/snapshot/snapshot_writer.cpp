#include "readers/snapshot/snapshot_writer.h"

#include <elf.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "lpsafe/arch.h"
#include "readers/snapshot/snapshot_model.h"
#include "readers/snapshot/snapshot_tables.h"

namespace lpsafe::readers {
namespace {

using snapshot::Bytes;
using snapshot::ImageRecord;
using snapshot::ModuleRecord;
using snapshot::SnapshotData;

// x86_64 psABI 3.2.2: the 128 bytes below rsp are the leaf functions' red
// zone, live data a signal handler must not clobber; keep them with the stack.
constexpr uint64_t kRedZone = 128;
constexpr uint64_t kCodeAroundPc = 64;

struct Range {
    uint64_t addr = 0;
    uint64_t size = 0;
};

// Logs every range the engine asks for; answers from the real memory.
class RecordingMemory final : public Memory {
public:
    explicit RecordingMemory(std::shared_ptr<const Memory> inner) : inner_(std::move(inner)) {
        if (inner_) set_big_endian(inner_->big_endian());
    }
    size_t read(uint64_t addr, std::span<std::byte> out) const override {
        {
            std::lock_guard lock(mutex_);
            reads_.push_back({addr, out.size()});
        }
        return inner_ ? inner_->read(addr, out) : 0;
    }
    std::vector<Range> reads() const {
        std::lock_guard lock(mutex_);
        return reads_;
    }

private:
    std::shared_ptr<const Memory> inner_;
    mutable std::mutex mutex_;
    mutable std::vector<Range> reads_;
};

// Sorted, merged (overlapping or touching) ranges.
std::vector<Range> merge(std::vector<Range> ranges) {
    std::erase_if(ranges, [](const Range& r) { return r.size == 0; });
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.addr < b.addr; });
    std::vector<Range> out;
    for (const Range& r : ranges) {
        if (!out.empty() && r.addr <= out.back().addr + out.back().size) {
            const uint64_t end = std::max(out.back().addr + out.back().size, r.addr + r.size);
            out.back().size = end - out.back().addr;
        } else {
            out.push_back(r);
        }
    }
    return out;
}

// Copies merged ranges out of a source. Every range is a union of prefixes
// the source returned, so it reads whole; should a source stop early anyway,
// the rest is left out, and replay fails closed on it.
template <typename ReadFn>
std::vector<Bytes> copy_ranges(const std::vector<Range>& ranges, ReadFn read) {
    std::vector<Bytes> out;
    for (const Range& r : merge(ranges)) {
        std::vector<std::byte> buf(r.size);
        buf.resize(read(r.addr, std::span(buf)));
        if (!buf.empty()) out.push_back({r.addr, std::move(buf)});
    }
    return out;
}

struct Capture {
    std::vector<Range> data;                              // what process memory returned
    std::map<const Module*, std::vector<Range>> code;     // file bytes read_code fell back to (file addresses)
    std::map<const Module*, std::vector<uint64_t>> lookups;  // file addresses of frames (touched modules)
    std::map<const Module*, std::vector<uint64_t>> read_at;  // file addresses of every read (symbol hints)
};

// Runs the checks once through a RecordingMemory and sorts what they read
// into process memory and module-file bytes, mirroring ProcessImage::read_code:
// memory first, the verified module's file for the rest.
Capture capture_reads(const ProcessImage& process, const CheckOptions& options) {
    auto recorder = std::make_shared<RecordingMemory>(process.memory);
    ProcessImage probe = process;
    probe.memory = recorder;
    Capture c;
    // Function extents the checks look up (a call's target, the functions
    // its tail calls reach) come from symbols or FDEs of modules no frame
    // may run through: keep those FDEs and symbols too, or replay would find
    // no extent where the source found one.
    std::mutex lookups_lock;
    probe.on_function_lookup = [&](const Module& in_probe, uint64_t file_addr) {
        const Module* m = process.modules.find(in_probe.start);
        if (m == nullptr) return;
        std::lock_guard lock(lookups_lock);
        c.lookups[m].push_back(file_addr);
    };
    // Sites a check found by searching a module's image (and confirmed
    // through memory, which may be where the read was served from): kept in
    // the image too, or replay's search of the image would find nothing.
    probe.on_image_search_hit = [&](const Module& in_probe, uint64_t file_addr, size_t size) {
        const Module* m = process.modules.find(in_probe.start);
        if (m == nullptr) return;
        std::lock_guard lock(lookups_lock);
        c.code[m].push_back({file_addr, size});
    };
    for (const ThreadState& t : probe.threads) {
        const TaskVerdict v = check_thread(probe, t, ResolvedPatchSet{}, options);
        for (const Frame& f : v.frames) {
            const Module* m = process.modules.find(f.lookup_address());
            if (m != nullptr) c.lookups[m].push_back(f.lookup_address() - m->bias);
        }
    }
    probe.on_function_lookup = nullptr;
    probe.on_image_search_hit = nullptr;
    std::vector<Range> reads = recorder->reads();
    // Code around each thread's pc too, for whoever reads the snapshot in a
    // bug report: only bytes the source has, so no replayed read changes.
    const Arch& arch = arch_of(process.arch);
    for (const ThreadState& t : process.threads)
        if (const auto pc = t.regs.get(arch.pc_reg); pc && *pc >= kCodeAroundPc)
            reads.push_back({*pc - kCodeAroundPc, 2 * kCodeAroundPc});
    for (const Range& r : reads) {
        if (const Module* at = process.modules.find(r.addr)) c.read_at[at].push_back(r.addr - at->bias);
        std::vector<std::byte> buf(r.size);
        const size_t n = process.memory ? process.memory->read(r.addr, buf) : 0;
        c.data.push_back({r.addr, n});
        const Module* m = process.modules.find(r.addr + n);
        if (n == r.size || m == nullptr || !m->status.usable() || !m->image) continue;
        // What ProcessImage::read_code would take from the file: its readable prefix.
        const size_t got = m->image->read(r.addr + n - m->bias, std::span(buf).subspan(n));
        c.code[m].push_back({r.addr + n - m->bias, got});
    }
    return c;
}

// Each thread's stack from sp (with the red zone) to the end of its mapping.
void capture_stacks(const ProcessImage& process, const RecordOptions& options, SnapshotData& d,
                    std::vector<Range>& data, RecordStats& stats) {
    const Arch& arch = arch_of(process.arch);
    for (const ThreadState& t : process.threads) {
        snapshot::ThreadRecord rec{t, 0, 0, false};
        const auto sp = t.regs.get(arch.sp_reg);
        const Mapping* m = sp ? process.mapping_at(*sp) : nullptr;
        if (m != nullptr && process.memory) {
            const uint64_t low = std::max(m->start, *sp >= kRedZone ? *sp - kRedZone : 0);
            const uint64_t want = std::min(m->end - low, options.max_stack_bytes);
            std::vector<std::byte> buf(want);
            const size_t n = process.memory->read(low, buf);
            data.push_back({low, n});
            rec.stack_low = low;
            rec.stack_end = m->end;
            rec.stack_truncated = low + n < m->end;
            stats.truncated_stacks += rec.stack_truncated;
        }
        d.threads.push_back(std::move(rec));
    }
}

// The symbols that contain one of `lookups` (every one, not just the one
// symbol_at picks, so that a patch naming an alias or an overlapping symbol
// still finds the frame).
// The symbols a replay looks up: those holding a frame, and those holding
// an address a check read (a call's target, a function swept for tail
// calls): a check that reads code at an address also asks which function
// it is in.
std::vector<Symbol> symbols_containing(const ElfImage& image, const std::vector<uint64_t>& lookups,
                                       const std::vector<uint64_t>& read_at) {
    std::vector<Symbol> out;
    const auto holds = [](const Symbol& s, const std::vector<uint64_t>& at) {
        return std::any_of(at.begin(), at.end(), [&](uint64_t a) { return s.contains(a); });
    };
    for (const Symbol& s : image.symbols())
        if (holds(s, lookups) || holds(s, read_at)) out.push_back(s);
    return out;
}

ImageRecord image_record(const Module& m, const std::vector<Range>* code, const std::vector<uint64_t>* lookups,
                         const std::vector<uint64_t>& read_at, bool all_symbols, Status& status) {
    ImageRecord im;
    const ElfImage& image = *m.image;
    im.machine = image.machine();
    im.executable_type = image.is_executable_type();
    im.soname = image.soname();
    im.build_id = image.build_id();
    // Segments without permissions are a replayed snapshot's code chunks
    // (snapshot_elf.h), not the object's own.
    for (const ElfSegment& s : image.segments())
        if (s.flags != 0) im.segments.push_back({s.vaddr, s.memsz, 0, 0, s.flags});
    if (lookups == nullptr || !m.status.usable()) return im;  // named only: no frame uses its tables
    auto sections = snapshot::unwind_sections(image, *lookups);
    if (!sections) {
        status = sections.error();
        return im;
    }
    im.sections = std::move(*sections);
    im.symbols = all_symbols ? image.symbols() : symbols_containing(image, *lookups, read_at);
    if (code != nullptr)
        im.code = copy_ranges(*code, [&](uint64_t at, std::span<std::byte> out) { return image.read(at, out); });
    return im;
}

ModuleRecord module_record(const Module& m, const Capture& c, bool all_symbols, Status& status) {
    ModuleRecord r{m.path, m.name, m.start, m.end, m.bias, m.status, m.image != nullptr, {}};
    const auto lookups = c.lookups.find(&m);
    const auto code = c.code.find(&m);
    const bool touched = lookups != c.lookups.end() || code != c.code.end();
    if (!touched && m.status.usable()) {
        r.status = {ModuleStatus::Kind::missing_file,
                    m.path + " is not recorded in the snapshot: no recorded frame runs through it"};
    }
    if (r.has_image) {
        static const std::vector<uint64_t> kNoLookups;
        const std::vector<uint64_t>* used = lookups != c.lookups.end() ? &lookups->second : &kNoLookups;
        const auto read_at = c.read_at.find(&m);
        r.image = image_record(m, code != c.code.end() ? &code->second : nullptr, touched ? used : nullptr,
                               read_at != c.read_at.end() ? read_at->second : kNoLookups, all_symbols, status);
    }
    return r;
}

}  // namespace

Result<std::vector<std::byte>> record_snapshot(const ProcessImage& process, const RecordOptions& options,
                                               RecordStats* stats_out) {
    RecordStats stats;
    SnapshotData d;
    d.arch = process.arch;
    d.pid = process.pid;
    d.comm = process.comm;
    d.mappings = process.mappings;
    Capture c = capture_reads(process, options.check);
    capture_stacks(process, options, d, c.data, stats);
    d.memory = copy_ranges(c.data, [&](uint64_t at, std::span<std::byte> out) {
        return process.memory ? process.memory->read(at, out) : 0;
    });
    for (const Bytes& b : d.memory) stats.memory_bytes += b.bytes.size();
    Status status = Ok{};
    for (const Module& m : process.modules.modules()) {
        d.modules.push_back(module_record(m, c, options.all_symbols, status));
        if (!status) return make_error("cannot record " + m.path + ": " + status.error().message);
        const ImageRecord& im = d.modules.back().image;
        const bool full = !im.sections.empty() || !im.symbols.empty() || !im.code.empty();
        (full ? stats.modules_recorded : stats.modules_listed) += 1;
        for (const Bytes& b : im.code) stats.code_bytes += b.bytes.size();
        for (const auto& s : im.sections)
            for (const Bytes& p : s.pieces) stats.table_bytes += p.bytes.size();
    }
    stats.threads = d.threads.size();
    if (stats_out != nullptr) *stats_out = stats;
    return snapshot::encode(d, {options.compress});
}

Status write_file(const std::string& path, std::span<const std::byte> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return make_error("cannot create " + path);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return make_error("cannot write " + path);
    return Ok{};
}

}  // namespace lpsafe::readers

#include "readers/snapshot/snapshot_reader.h"

#include <algorithm>
#include <cstring>

#include "lpsafe/arch.h"
#include "lpsafe/pointer_auth.h"
#include "readers/core/core_file.h"
#include "readers/modules/mapped_file.h"
#include "readers/snapshot/snapshot_elf.h"
#include "readers/snapshot/snapshot_model.h"

namespace lpsafe::readers {
namespace {

using snapshot::ModuleRecord;

// The recorded memory: regions sorted and disjoint (decode checks them),
// served by the core reader's segment lookup (binary search), so that a
// snapshot with many regions stays fast.
class SnapshotMemory final : public Memory {
public:
    explicit SnapshotMemory(std::vector<snapshot::Bytes> regions)
        : regions_(std::move(regions)), view_(nullptr, segments(regions_)) {}
    size_t read(uint64_t addr, std::span<std::byte> out) const override { return view_.read(addr, out); }

private:
    static std::vector<CoreMemory::Segment> segments(const std::vector<snapshot::Bytes>& regions) {
        std::vector<CoreMemory::Segment> out;
        for (const auto& r : regions) out.push_back({r.addr, r.bytes.size(), r.bytes});
        return out;
    }
    std::vector<snapshot::Bytes> regions_;  // owns the bytes view_ points into
    CoreMemory view_;
};

// A module whose recorded image cannot be rebuilt is kept, unusable: frames
// through it are unreliable rather than missing.
Module rebuild_module(ModuleRecord&& r) {
    Module m;
    m.path = std::move(r.path);
    m.name = std::move(r.name);
    m.start = r.start;
    m.end = r.end;
    m.bias = r.bias;
    m.status = std::move(r.status);
    if (!r.has_image) return m;
    auto bytes = snapshot::build_elf(r.image);
    auto image = bytes ? ElfImage::from_bytes(m.path, std::move(*bytes)) : Result<std::shared_ptr<ElfImage>>(bytes.error());
    if (!image) {
        m.status = {ModuleStatus::Kind::not_elf, "snapshot: cannot rebuild " + m.path + ": " + image.error().message};
        return m;
    }
    if ((*image)->build_id() != r.image.build_id) {
        m.status = {ModuleStatus::Kind::build_id_mismatch, "snapshot: the rebuilt image of " + m.path + " lost its build-id"};
    }
    m.image = std::move(*image);
    return m;
}

}  // namespace

SnapshotKind snapshot_kind(std::span<const std::byte> head) {
    if (head.size() < sizeof snapshot::kUserMagic) return SnapshotKind::not_a_snapshot;
    if (std::memcmp(head.data(), snapshot::kUserMagic, sizeof snapshot::kUserMagic) == 0) return SnapshotKind::user_process;
    if (std::memcmp(head.data(), snapshot::kKernelMagic, sizeof snapshot::kKernelMagic) == 0) return SnapshotKind::kernel;
    return SnapshotKind::not_a_snapshot;
}

Result<ProcessImage> read_snapshot_bytes(std::span<const std::byte> bytes, const SnapshotReadOptions& options) {
    auto decoded = snapshot::decode(bytes, {options.verify_checksum});
    if (!decoded) return decoded.error();
    snapshot::SnapshotData& d = *decoded;
    ProcessImage p;
    p.arch = d.arch;
    p.pid = d.pid;
    p.comm = std::move(d.comm);
    p.mappings = std::move(d.mappings);
    for (auto& t : d.threads) {
        // A recorded mask is held to the same rule as a core's.
        if (auto st = check_pac_mask(t.state.pac, p.mappings); !st)
            return make_error("pointer_auth record of thread " + std::to_string(t.state.tid) + ": " + st.error().message);
        p.threads.push_back(std::move(t.state));
    }
    auto memory = std::make_shared<SnapshotMemory>(std::move(d.memory));
    // The snapshot keeps memory as the target wrote it (big-endian on s390x).
    memory->set_big_endian(arch_of(d.arch).big_endian);
    p.memory = std::move(memory);
    // In address order, each add is an append (ModuleMap keeps them sorted).
    std::stable_sort(d.modules.begin(), d.modules.end(),
                     [](const ModuleRecord& a, const ModuleRecord& b) { return a.start < b.start; });
    for (auto& r : d.modules) p.modules.add(rebuild_module(std::move(r)));
    return p;
}

Result<ProcessImage> read_snapshot(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    auto image = read_snapshot_bytes((*file)->bytes());
    if (!image) return make_error(path + ": " + image.error().message);
    return image;
}

}  // namespace lpsafe::readers

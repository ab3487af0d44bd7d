#include "readers/kernel/kernel_btf.h"

#include <bpf/btf.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

namespace lpsafe::readers {
namespace {

std::optional<uint32_t> struct_id(const struct btf* b, std::string_view name) {
    const int id = btf__find_by_name_kind(b, std::string(name).c_str(), BTF_KIND_STRUCT);
    if (id <= 0) return std::nullopt;
    return static_cast<uint32_t>(id);
}

// The member `name` of composite type `id`, searched through anonymous
// members; returns its bit offset and its type id.
std::optional<std::pair<uint64_t, uint32_t>> member(const struct btf* b, uint32_t id, std::string_view name, int depth = 0) {
    if (depth > 8) return std::nullopt;
    const struct btf_type* t = btf__type_by_id(b, id);
    if (t == nullptr || !btf_is_composite(t)) return std::nullopt;
    const struct btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
        const char* n = btf__name_by_offset(b, m->name_off);
        const uint64_t bits = btf_member_bit_offset(t, i);
        if (n != nullptr && *n != '\0') {
            if (name == n) return std::pair{bits, m->type};
            continue;
        }
        const int inner = btf__resolve_type(b, m->type);
        if (inner <= 0) continue;
        if (auto found = member(b, static_cast<uint32_t>(inner), name, depth + 1)) {
            return std::pair{bits + found->first, found->second};
        }
    }
    return std::nullopt;
}

}  // namespace

void KernelBtf::Free::operator()(struct btf* b) const { btf__free(b); }

Result<KernelBtf> KernelBtf::from_bytes(std::span<const std::byte> data) {
    struct btf* b = btf__new(data.data(), static_cast<uint32_t>(data.size()));
    if (b == nullptr) return make_error(std::string("BTF does not parse: ") + std::strerror(errno));
    KernelBtf k;
    k.btf_.reset(b);
    return k;
}

Result<KernelBtf> KernelBtf::of_image(const ElfImage& vmlinux, std::span<const std::byte> bytes) {
    if (!bytes.empty()) return from_bytes(bytes);
    const auto sec = vmlinux.section_named(".BTF");
    if (!sec) return make_error(vmlinux.path() + " has no .BTF section (and no BTF was given)");
    return from_bytes(sec->bytes);
}

Result<uint64_t> KernelBtf::offset_of(std::string_view type, std::string_view path) const {
    auto id = struct_id(btf_.get(), type);
    if (!id) return make_error("BTF has no struct " + std::string(type));
    uint64_t bits = 0;
    uint32_t cur = *id;
    size_t from = 0;
    while (from <= path.size()) {
        const size_t dot = path.find('.', from);
        const std::string_view part = path.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from);
        const int resolved = btf__resolve_type(btf_.get(), cur);
        if (resolved <= 0) return make_error("BTF: cannot resolve a member type on the way to " + std::string(path));
        auto m = member(btf_.get(), static_cast<uint32_t>(resolved), part);
        if (!m) return make_error("BTF: struct " + std::string(type) + " has no member " + std::string(path));
        bits += m->first;
        cur = m->second;
        if (dot == std::string_view::npos) break;
        from = dot + 1;
    }
    if (bits % 8 != 0) return make_error("BTF: " + std::string(type) + "." + std::string(path) + " is a bit-field");
    return bits / 8;
}

Status KernelBtf::offsets_of(std::span<const BtfMember> members) const {
    for (const BtfMember& m : members) {
        auto off = offset_of(m.type, m.path);
        if (!off) return off.error();
        *m.out = *off;
    }
    return Ok{};
}

Result<uint64_t> KernelBtf::size_of(std::string_view type) const {
    auto id = struct_id(btf_.get(), type);
    if (!id) return make_error("BTF has no struct " + std::string(type));
    const long long size = btf__resolve_size(btf_.get(), *id);
    if (size <= 0) return make_error("BTF: struct " + std::string(type) + " has no size");
    return static_cast<uint64_t>(size);
}

}  // namespace lpsafe::readers

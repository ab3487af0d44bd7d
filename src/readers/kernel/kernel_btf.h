// Kernel structure layouts from BTF (the image's .BTF section, or
// /sys/kernel/btf/vmlinux), read with libbpf: no hard-coded offsets, so one
// lpsafe reads many kernel builds (issue: kernel memory).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "lpsafe/module.h"
#include "lpsafe/result.h"

struct btf;

namespace lpsafe::readers {

// One member offset a reader needs: where to store it, the struct, the path.
struct BtfMember {
    uint64_t* out;
    const char* type;
    const char* path;
};

class KernelBtf {
public:
    static Result<KernelBtf> from_bytes(std::span<const std::byte> data);
    // `bytes` when given, else the image's .BTF section.
    static Result<KernelBtf> of_image(const ElfImage& vmlinux, std::span<const std::byte> bytes = {});
    // Byte offset of the member path "a.b.c" in struct `type`, looking
    // through anonymous structs and unions as C does.
    Result<uint64_t> offset_of(std::string_view type, std::string_view path) const;
    Result<uint64_t> size_of(std::string_view type) const;
    // Every member's offset into its `out`; the first one missing is the error.
    Status offsets_of(std::span<const BtfMember> members) const;
    bool has(std::string_view type, std::string_view path) const { return offset_of(type, path).ok(); }

private:
    struct Free {
        void operator()(struct btf* b) const;
    };
    std::unique_ptr<struct btf, Free> btf_;
};

}  // namespace lpsafe::readers

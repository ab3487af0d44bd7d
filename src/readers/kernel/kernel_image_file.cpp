#include "readers/kernel/kernel_image_file.h"

#include <cstring>

#include <fmt/format.h>

#include "readers/kernel/raw_kernel_image.h"
#include "readers/modules/elf_bytes.h"
#include "readers/modules/mapped_file.h"

namespace lpsafe::readers {
namespace {

bool is_elf(std::span<const std::byte> b) { return b.size() >= 4 && std::memcmp(b.data(), kElfMagic, 4) == 0; }

// x86 boot protocol (Documentation/arch/x86/boot.rst): "HdrS" at 0x202, the
// version at 0x206; from 2.08 on, payload_offset (0x248) and payload_length
// (0x24c) locate the compressed vmlinux relative to the protected-mode code,
// which starts after (setup_sects + 1) 512-byte sectors (setup_sects 0 means 4).
struct BzPayload {
    uint64_t offset = 0;
    uint64_t length = 0;
};

Result<std::optional<BzPayload>> bzimage_payload(std::span<const std::byte> file) {
    const auto magic = load<uint32_t>(file, 0x202);
    if (!magic || *magic != 0x53726448) return std::optional<BzPayload>{};  // "HdrS": not a bzImage
    const auto version = load<uint16_t>(file, 0x206);
    const auto setup_sects = load<uint8_t>(file, 0x1f1);
    const auto offset = load<uint32_t>(file, 0x248);
    const auto length = load<uint32_t>(file, 0x24c);
    if (!version || !setup_sects || !offset || !length) return make_error("bzImage setup header is truncated");
    if (*version < 0x0208) {
        return make_error(fmt::format("bzImage boot protocol {}.{:02} has no payload fields (2.08 or later needed)",
                                      *version >> 8, *version & 0xff));
    }
    const uint64_t pm_start = (uint64_t{*setup_sects == 0 ? uint8_t{4} : *setup_sects} + 1) * 512;
    const uint64_t start = pm_start + *offset;
    if (*length == 0 || !in_bounds(start, *length, file.size())) {
        return make_error(fmt::format("bzImage payload ({:#x} bytes at {:#x}) lies outside the {:#x}-byte file "
                                      "(truncated?)", *length, start, file.size()));
    }
    return std::optional<BzPayload>{BzPayload{start, *length}};
}

// A raw image (an arm64 Image, an s390 kernel binary) as an ELF.
UnpackedKernel from_wrapped(WrappedImage w, std::string format) {
    return UnpackedKernel{std::move(w.elf), std::move(format), std::move(w.anchors), std::move(w.note)};
}

Result<UnpackedKernel> from_arm64_image(std::span<const std::byte> image, std::string format) {
    auto w = wrap_arm64_image(image);
    if (!w) return w.error();
    return from_wrapped(std::move(*w), std::move(format));
}

std::string payload_format(Compression c) { return fmt::format("bzImage ({} payload)", compression_name(c)); }

Result<UnpackedKernel> from_payload(std::span<const std::byte> payload, uint64_t max_out) {
    const auto c = compression_at(payload);
    if (!c) {
        if (is_elf(payload)) return UnpackedKernel{{payload.begin(), payload.end()}, "bzImage (uncompressed payload)", {}, {}};
        return make_error("bzImage payload starts with no known compression magic (gzip, xz, zstd, lz4, bzip2; "
                          "lzma and lzo are not supported)");
    }
    // The payload ends with the uncompressed size (size_append): a hint only,
    // the stream itself says where it ends.
    const uint64_t expected = load<uint32_t>(payload, payload.size() - 4).value_or(0);
    auto out = decompress(*c, payload, max_out, expected <= max_out ? expected : 0);
    if (!out) return make_error("bzImage payload: " + out.error().message);
    if (!is_elf(*out)) return make_error("bzImage payload decompresses to something that is not an ELF vmlinux");
    return UnpackedKernel{std::move(*out), payload_format(*c), {}, {}};
}

// What a bzImage's compressed payload is, without unpacking it: the format a
// cached copy reports (the same as unpacking says). Null for any other file.
std::optional<std::string> compressed_bzimage_format(std::span<const std::byte> file) {
    auto bz = bzimage_payload(file);
    if (!bz || !*bz) return std::nullopt;
    const auto c = compression_at(file.subspan((*bz)->offset, (*bz)->length));
    if (!c) return std::nullopt;
    return payload_format(*c);
}

// The smallest raw s390 kernel believed: what the decompressor's blob
// decodes to is the kernel from `_text` to its data's end (18 MB for
// Debian's 6.1), far above any chance match of a magic in the decompressor
// that happens to decode.
constexpr uint64_t kMinS390Kernel = uint64_t{1} << 20;

// No setup header: the first stream, among the first few magic matches,
// that decompresses to an ELF file or an arm64 Image (Image.gz, Image.xz);
// inside an s390 boot image (`s390`), to at least kMinS390Kernel bytes,
// which are the raw kernel (the container says so: the binary has no header
// of its own). Chance matches that do not decode are passed over: Debian's
// 6.1 s390x vmlinuz has a corrupt xz "stream" in its decompressor's code
// before the real one. Which stream it was is trusted only as far as the
// build-id check goes.
Result<UnpackedKernel> scan_for_stream(std::span<const std::byte> file, uint64_t max_out, bool s390) {
    constexpr int kMaxTries = 8;  // a magic can occur by chance; do not decode every one
    int tries = 0;
    std::string last_error = "no compressed stream found (gzip, xz, zstd, lz4, bzip2)";
    for (size_t at = 0; at + 4 <= file.size() && tries < kMaxTries; ++at) {
        const auto c = compression_at(file.subspan(at));
        if (!c) continue;
        ++tries;
        auto out = decompress(*c, file.subspan(at), max_out);
        if (!out) {
            last_error = fmt::format("{} stream at offset {:#x}: {}", compression_name(*c), at, out.error().message);
            continue;
        }
        const auto stream = at == 0 ? fmt::format("{} stream", compression_name(*c))
                                    : fmt::format("{} stream at offset {:#x}", compression_name(*c), at);
        if (s390) {
            if (out->size() < kMinS390Kernel) {
                last_error = fmt::format("{} decodes to {} bytes, too few for an s390 kernel", stream, out->size());
                continue;
            }
            return from_wrapped(wrap_raw_image(*out, kS390Image), "s390 boot image (" + stream + ")");
        }
        if (is_arm64_image(*out)) {
            auto wrapped = from_arm64_image(*out, "arm64 Image (" + stream + ")");
            if (!wrapped) return make_error(stream + ": " + wrapped.error().message);
            return wrapped;
        }
        if (!is_elf(*out)) {
            last_error = fmt::format("{} stream at offset {:#x} is not an ELF vmlinux (nor an arm64 Image)",
                                     compression_name(*c), at);
            continue;
        }
        return UnpackedKernel{std::move(*out), fmt::format("{} stream at offset {:#x}", compression_name(*c), at), {}, {}};
    }
    if (s390) return make_error("s390 boot image: no compressed stream in it decodes to the kernel; " + last_error);
    return make_error("not an ELF vmlinux, a bzImage, an arm64 Image nor an s390 boot image; " + last_error);
}

}  // namespace

Result<UnpackedKernel> unpack_kernel_image(std::span<const std::byte> file, uint64_t max_out) {
    if (file.empty()) return make_error("the file is empty");
    if (is_elf(file)) return UnpackedKernel{{file.begin(), file.end()}, "ELF", {}, {}};
    auto bz = bzimage_payload(file);
    if (!bz) return bz.error();
    if (*bz) return from_payload(file.subspan((*bz)->offset, (*bz)->length), max_out);
    if (is_arm64_image(file)) return from_arm64_image(file, "arm64 Image");
    return scan_for_stream(file, max_out, is_s390_boot_image(file));
}

Result<OpenedKernelImage> open_kernel_image(const std::string& path, const UnpackedImageCache* cache) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    if (is_elf((*file)->bytes())) {
        // An ELF vmlinux is used where it lies, mapped: copying its 60+ MB
        // was a third of a whole dump check (docs/performance.md).
        file->reset();
        auto elf = ElfImage::open(path);
        if (!elf) return elf.error();
        return OpenedKernelImage{std::move(*elf), "ELF", {}};
    }
    const auto packed = (*file)->bytes();
    // Only a bzImage's compressed payload is cached: its format is known
    // without unpacking, and it is what x86 distributions install.
    const auto cacheable = cache != nullptr ? compressed_bzimage_format(packed) : std::nullopt;
    if (cacheable) {
        if (auto elf = cache->find(packed, path)) {
            return OpenedKernelImage{std::move(elf), *cacheable, "kernel image: read from its unpacked copy in " + cache->dir()};
        }
    }
    auto unpacked = unpack_kernel_image(packed);
    if (!unpacked) return make_error(path + ": " + unpacked.error().message);
    std::string note;
    if (cacheable) {
        auto stored = cache->store(packed, unpacked->elf);
        note = stored ? "kernel image: unpacked, a copy kept in " + cache->dir()
                      : "kernel image: unpacked; not cached (" + stored.error().message + ")";
    }
    auto elf = ElfImage::from_bytes(path, std::move(unpacked->elf));
    if (!elf) return elf.error();
    (*elf)->add_symbols(unpacked->anchors);
    if (!unpacked->note.empty()) note += (note.empty() ? "" : "; ") + unpacked->note;
    return OpenedKernelImage{std::move(*elf), std::move(unpacked->format), std::move(note)};
}

Result<std::vector<std::byte>> read_module_file(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    const auto bytes = (*file)->bytes();
    if (is_elf(bytes)) return std::vector<std::byte>(bytes.begin(), bytes.end());
    const auto c = compression_at(bytes);
    if (!c) return make_error(path + ": neither an ELF module nor a compressed one (xz, zstd, gzip)");
    auto out = decompress(*c, bytes, kMaxDecompressed);
    if (!out) return make_error(path + ": " + out.error().message);
    if (!is_elf(*out)) return make_error(path + ": decompresses to something that is not ELF");
    return out;
}

}  // namespace lpsafe::readers

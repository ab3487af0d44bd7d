// Kernel images unpacked once and kept on disk, so the next check maps the
// ELF vmlinux instead of decompressing /boot/vmlinuz again.
//
// Why: unpacking Debian's xz bzImage (8 MB into 66 MB) is about 1 s, two
// thirds of a whole-system check on this machine and 4-5 s under TCG
// (docs/performance.md); a cached copy maps in milliseconds.
//
// Soundness: an entry is found by a hash of the packed file's whole content
// (XXH3-64; not its name, size or date) and is named
// <packed hash>-<unpacked hash>.vmlinux. Before use its content is hashed
// again and must match the second half of its name, so a copy that was cut
// short or changed on disk is never read as the kernel's code; it is
// removed and the packed file unpacked again. The directory must belong to
// this user and be writable by no one else, and so must each entry, or the
// cache is not used. The image's build-id is then
// checked against the running kernel as for any image. Entries are written
// to a temporary file and renamed, so a reader never sees half of one; at
// most kKeep are kept (the oldest are removed).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

class UnpackedImageCache {
public:
    static constexpr size_t kKeep = 3;  // kernels installed side by side, typically

    explicit UnpackedImageCache(std::string dir) : dir_(std::move(dir)) {}

    // The unpacked image of `packed`, opened (mapped) from the cache and
    // named `name`; null when the cache holds no valid copy.
    std::shared_ptr<ElfImage> find(std::span<const std::byte> packed, const std::string& name) const;
    // Keeps `unpacked` as the image of `packed`. Fails (a reason, never
    // fatal to the check) when the directory cannot be written.
    Status store(std::span<const std::byte> packed, std::span<const std::byte> unpacked) const;

    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
};

// The default directory: $LPSAFE_IMAGE_CACHE when set (empty: no cache),
// else /var/cache/lpsafe/vmlinux for root and
// ${XDG_CACHE_HOME:-$HOME/.cache}/lpsafe/vmlinux for anyone else; empty
// when none can be named.
std::string default_image_cache_dir();

}  // namespace lpsafe::readers

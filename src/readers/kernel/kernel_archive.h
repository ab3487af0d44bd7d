// Kernel captures on disk: one archive file (docs/kernel-capture-format.md)
// or a directory tree laid out like /proc. Both hold the same files, each
// with its bytes or the errno that refused the read when it was recorded.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/result.h"
#include "readers/kernel/proc_source.h"

namespace lpsafe::readers {

struct CaptureFile {
    std::string path;  // relative, '/'-separated, no "." or ".." components
    FileRead content;
};

inline constexpr char kCaptureMagic[8] = {'L', 'P', 'S', 'K', 'C', 'A', 'P', '\n'};
inline constexpr uint32_t kCaptureVersion = 1;

std::vector<std::byte> encode_capture_archive(const std::vector<CaptureFile>& files);
// Bounds-checked: any truncation, corruption or unknown version is an error.
Result<std::vector<CaptureFile>> decode_capture_archive(std::span<const std::byte> bytes);

Status write_capture_archive(const std::string& path, const std::vector<CaptureFile>& files);
// A refused read becomes "<file>.errno" holding the errno name.
Status write_capture_dir(const std::string& dir, const std::vector<CaptureFile>& files);

Result<std::unique_ptr<ProcSource>> open_capture_archive(const std::string& path);

}  // namespace lpsafe::readers

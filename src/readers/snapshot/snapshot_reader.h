// Replaying a snapshot file (docs/snapshot-format.md) as a ProcessImage that
// needs none of the original files: memory from the recorded bytes, modules
// rebuilt as in-memory ELF objects (snapshot_elf.h) read by the same
// ElfImage code as files on disk.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// What a file is, by its magic: lets the command dispatch kernel captures to
// the kernel reader and refuse anything else clearly.
enum class SnapshotKind { user_process, kernel, not_a_snapshot };
SnapshotKind snapshot_kind(std::span<const std::byte> head);

struct SnapshotReadOptions {
    // Off only for fuzzing: corrupt bytes then reach the parser and the
    // engine instead of stopping at the checksum.
    bool verify_checksum = true;
};

Result<ProcessImage> read_snapshot(const std::string& path);
Result<ProcessImage> read_snapshot_bytes(std::span<const std::byte> bytes, const SnapshotReadOptions& options = {});

}  // namespace lpsafe::readers

// Recording a process as a snapshot file (docs/snapshot-format.md). Takes a
// ProcessImage from any reader (core file now, a live process later), so
// `lpsafe record --core` and `--pid` share everything below.
//
// What is recorded is what the engine read: the process is unwound and
// checked once through a memory wrapper that logs every range asked for, and
// exactly those bytes (plus each thread's stack from sp to the end of its
// stack mapping) are stored. Replaying the same checks therefore reads the
// same bytes, by construction.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "lpsafe/analyze.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct RecordOptions {
    // The checks run while recording. Replaying with a larger depth limit may
    // read bytes that were not recorded: those reads fail and the stack is
    // unreliable, never different.
    CheckOptions check;
    // Bytes kept per thread stack, from sp (minus the red zone) upwards.
    uint64_t max_stack_bytes = 1 << 20;
    // Deflate the records. Off for fuzz seeds, so that mutations reach the
    // record parser rather than the decompressor.
    bool compress = true;
    // Every function symbol of a module a frame runs through, so that any
    // patch naming it resolves on replay as on the source. Off: only the
    // symbols that contain a frame (much smaller); a patch naming another
    // function then fails to resolve on replay, an error and never "safe".
    bool all_symbols = true;
};

struct RecordStats {
    size_t threads = 0;
    size_t modules_recorded = 0;  // with tables, symbols and code
    size_t modules_listed = 0;    // no frame runs through them: named only
    size_t memory_bytes = 0;
    size_t code_bytes = 0;
    size_t table_bytes = 0;
    size_t truncated_stacks = 0;
};

Result<std::vector<std::byte>> record_snapshot(const ProcessImage& process, const RecordOptions& options = {},
                                               RecordStats* stats = nullptr);

Status write_file(const std::string& path, std::span<const std::byte> bytes);

}  // namespace lpsafe::readers

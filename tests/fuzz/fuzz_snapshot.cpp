// libFuzzer target: the snapshot reader on arbitrary bytes (checksum off, so
// mutations reach the parser and the rebuilt ELF images), then the whole
// pipeline (unwind, every check, verdict) on whatever it accepts.
// Seeds: fixtures/fuzz-seeds/snapshot (fixtures/snapshots/make-snapshots.sh).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "lpsafe/analyze.h"
#include "readers/snapshot/snapshot_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    auto process = lpsafe::readers::read_snapshot_bytes(bytes, {.verify_checksum = false});
    if (!process) {
        if (process.error().message.empty()) std::abort();  // errors must say why
        return 0;
    }
    lpsafe::PatchSet patch;
    if (!patch.add_spec("pause").ok()) std::abort();
    auto report = lpsafe::check_process(*process, patch);
    if (!report) return 0;  // e.g. no module names `pause`
    // A verdict of safe or blocked needs frames that reached the real end.
    for (const lpsafe::TaskVerdict& t : report->tasks) {
        const bool trusted = t.verdict == lpsafe::VerdictKind::safe || t.verdict == lpsafe::VerdictKind::blocked;
        if (trusted && (t.frames.empty() || t.end.kind != lpsafe::StackEnd::Kind::outermost)) std::abort();
    }
    return 0;
}

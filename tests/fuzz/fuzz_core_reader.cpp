// libFuzzer target: the ELF core reader on arbitrary bytes, then the whole
// pipeline (modules, unwind, every check, verdict) on whatever it accepts.
// Seeds: fixtures/fuzz-seeds/core_reader (a real gcore of fixtures/programs/
// tiny.c). The reader takes a path, so each input goes through one memfd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "lpsafe/analyze.h"
#include "readers/core/core_file.h"

namespace {

// The seed core names tiny by the path it was recorded from; --exe points at
// the committed copy, and a sysroot that does not exist keeps every other
// path the input names away from the host's files (deterministic, and no
// device files).
constexpr const char* kNoSysroot = "/nonexistent/lpsafe-fuzz-sysroot";

struct Setup {
    int fd = memfd_create("fuzz-core", MFD_CLOEXEC);
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    Setup() {
        if (fd < 0) std::abort();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Setup setup;
    if (ftruncate(setup.fd, 0) != 0 || pwrite(setup.fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
    auto process = lpsafe::readers::read_core(setup.path, {LPSAFE_FUZZ_SEEDS "/elf_image/tiny", kNoSysroot});
    if (!process) return 0;
    lpsafe::PatchSet patch;
    if (!patch.add_spec("tiny_outer").ok()) std::abort();
    auto report = lpsafe::check_process(*process, patch);
    if (!report) return 0;
    // A verdict of safe or blocked needs frames that reached the real end.
    for (const lpsafe::TaskVerdict& t : report->tasks) {
        const bool reliable = t.verdict == lpsafe::VerdictKind::safe || t.verdict == lpsafe::VerdictKind::blocked;
        if (reliable && (t.frames.empty() || t.end.kind != lpsafe::StackEnd::Kind::outermost)) std::abort();
    }
    return 0;
}

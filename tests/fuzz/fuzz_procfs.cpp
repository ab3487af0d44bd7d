// libFuzzer target: the kernel's /proc texts and kernel capture archives, from
// the parsers to the verdicts: kallsyms, stat, wchan and stack files, the
// archive decoder, the capture scan over a decoded archive, and
// check_kernel_task() on every task. Three input shapes:
//   "LPSKCAP\n..."  a capture archive file as `lpsafe record --kernel` writes it;
//   "records\n..."  an archive's uncompressed payload, wrapped into an archive
//                   here, so that mutations reach the record parser;
//   anything else   NUL-separated texts: kallsyms, then stat, wchan, stack
//                   for each task (the seeds are real files of this machine).
// Seeds: fixtures/fuzz-seeds/procfs (fixtures/fuzz-seeds/make-seeds.sh).
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "lpsafe/kernel_stack.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/kernel_scan.h"

namespace {

using lpsafe::readers::CaptureFile;

constexpr std::string_view kRecords = "records\n";

// A verdict that trusts a stack needs a listing that reached a real end with
// no finding; the fuzzer fails on anything else.
void check_tasks(const lpsafe::readers::KernelInput& in, bool strict) {
    lpsafe::PatchSet patch;
    if (!patch.add_spec("hrtimer_nanosleep").ok() || !patch.add_spec("ksys_read").ok()) std::abort();
    auto resolved = lpsafe::resolve_kernel_patch_set(patch, in.kallsyms);
    if (!resolved && resolved.error().message.empty()) std::abort();
    const lpsafe::ResolvedPatchSet none;
    const lpsafe::KernelCheckOptions options{.image = nullptr, .strict = strict};
    for (const lpsafe::KernelTask& task : in.tasks) {
        const auto v = lpsafe::check_kernel_task(task, in.kallsyms, resolved ? *resolved : none, options);
        const bool trusted = v.verdict == lpsafe::VerdictKind::safe || v.verdict == lpsafe::VerdictKind::blocked;
        if (trusted && (!v.findings.empty() || v.frames.empty() || v.end.kind != lpsafe::StackEnd::Kind::outermost)) {
            std::abort();
        }
        if (v.verdict == lpsafe::VerdictKind::blocked && v.blocked_by.empty()) std::abort();
        if (trusted && strict) std::abort();  // return-after-call never ran: --strict must refuse
    }
}

void check_capture(const lpsafe::readers::KernelCapture& capture, bool strict) {
    auto in = lpsafe::readers::to_kernel_input(capture);
    if (!in) {
        if (in.error().message.empty()) std::abort();  // errors must say why
        return;
    }
    check_tasks(*in, strict);
}

// The archive through the same path as `--proc-root FILE`: the file is
// mapped, decoded and scanned like /proc. One memfd stands for the file.
void check_archive(std::span<const std::byte> bytes) {
    static const int fd = memfd_create("fuzz-capture", MFD_CLOEXEC);
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (fd < 0 || ftruncate(fd, 0) != 0) std::abort();
    if (pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) std::abort();
    auto source = lpsafe::readers::open_capture_archive(path);
    if (!source) {
        if (source.error().message.empty()) std::abort();
        return;
    }
    auto capture = lpsafe::readers::capture_kernel(**source);
    if (!capture) return;
    check_capture(*capture, !bytes.empty() && (static_cast<uint8_t>(bytes.back()) & 1));
}

// "records\n" + payload: compressed and given the version-1 header here.
void check_records(std::span<const uint8_t> payload) {
    uLongf stored = compressBound(payload.size());
    std::vector<std::byte> file(32 + stored);
    if (compress2(reinterpret_cast<Bytef*>(file.data() + 32), &stored, payload.data(), payload.size(), 1) != Z_OK) {
        std::abort();
    }
    file.resize(32 + stored);
    const auto put = [&](size_t off, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; ++i) file[off + i] = static_cast<std::byte>(v >> (8 * i));
    };
    for (size_t i = 0; i < 8; ++i) file[i] = static_cast<std::byte>(lpsafe::readers::kCaptureMagic[i]);
    put(8, lpsafe::readers::kCaptureVersion, 4);
    put(12, 1, 4);  // zlib
    put(16, payload.size(), 8);
    put(24, stored, 8);
    auto files = lpsafe::readers::decode_capture_archive(file);
    if (files) {
        // What decodes must survive its own encoder unchanged.
        auto again = lpsafe::readers::decode_capture_archive(lpsafe::readers::encode_capture_archive(*files));
        if (!again || again->size() != files->size()) std::abort();
        for (size_t i = 0; i < files->size(); ++i) {
            const CaptureFile &a = (*files)[i], &b = (*again)[i];
            if (a.path != b.path || a.content.data != b.content.data || a.content.error != b.content.error) std::abort();
        }
    }
    check_archive(file);
}

// kallsyms \0 stat \0 wchan \0 stack [\0 stat \0 wchan \0 stack ...]
void check_texts(std::string_view in) {
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        const auto nul = in.find('\0', start);
        parts.push_back(in.substr(start, nul == std::string_view::npos ? nul : nul - start));
        if (nul == std::string_view::npos) break;
        start = nul + 1;
    }
    lpsafe::readers::KernelCapture capture;
    capture.source = "fuzz";
    capture.kallsyms.data = std::string(parts[0]);
    for (size_t i = 1; i < parts.size(); i += 3) {
        lpsafe::readers::RawTask t{.pid = static_cast<int>(i), .tid = static_cast<int>(i)};
        t.stat.data = std::string(parts[i]);
        if (i + 1 < parts.size()) t.wchan.data = std::string(parts[i + 1]);
        if (i + 2 < parts.size()) t.stack.data = std::string(parts[i + 2]);
        // The stack parser on its own as well: every entry it accepts is
        // either a named function or a raw address.
        if (auto entries = lpsafe::parse_stack_text(t.stack.data)) {
            for (const auto& e : *entries) {
                if (e.function.empty() && !e.module.empty()) std::abort();
            }
        }
        capture.tasks.push_back(std::move(t));
    }
    check_capture(capture, in.size() % 2 == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    if (in.starts_with(std::string_view(lpsafe::readers::kCaptureMagic, 8))) {
        check_archive(std::as_bytes(std::span(data, size)));
    } else if (in.starts_with(kRecords)) {
        check_records(std::span(data, size).subspan(kRecords.size()));
    } else {
        check_texts(in);
    }
    return 0;
}

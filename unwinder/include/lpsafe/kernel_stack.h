// Kernel stacks as /proc lists them (fs/proc/base.c proc_pid_stack(): one
// "[<0>] %pB" line per entry, at most MAX_STACK_TRACE_DEPTH = 64) and the
// checks lpsafe runs on them (docs/verdict-rules.md, "/proc kernel stacks").
// No I/O: the text, kallsyms and the optional kernel image come from readers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/analyze.h"
#include "lpsafe/kallsyms.h"
#include "lpsafe/patch_set.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"
#include "lpsafe/verdict.h"

namespace lpsafe {

// fs/proc/base.c: MAX_STACK_TRACE_DEPTH. A listing this long may be cut off.
inline constexpr size_t kProcStackDepth = 64;

// One line: "[<0>] func+0xoff/0xsize [module]" (%pB), or "[<0>] 0x..." when
// the kernel could not name the address (kernel/kallsyms.c __sprint_symbol).
struct ListedEntry {
    std::string function;  // empty when the kernel printed a raw address
    uint64_t offset = 0;   // from the function start, of the return address
    uint64_t size = 0;     // the function size the kernel's kallsyms lookup saw
    std::string module;    // empty for vmlinux
    uint64_t raw_address = 0;  // only when function is empty
};

Result<ListedEntry> parse_stack_line(std::string_view line);
// Every non-empty line; the error names the first line that is not %pB.
Result<std::vector<ListedEntry>> parse_stack_text(std::string_view text);

// One task as a reader found it (stat, wchan and stack files).
struct KernelTask {
    int pid = 0;
    int tid = 0;
    std::string comm;
    std::string state;                 // /proc stat field 3
    std::optional<std::string> wchan;  // absent when unreadable or "0"
    std::string stack;                 // the stack file's text
    CaptureStatus status = CaptureStatus::captured;
    std::string status_reason;
    bool is_reader = false;  // one of the reading tool's own threads
};

// The kernel image (vmlinux) relocated to the running kernel: a ProcessImage
// with the image as its only module, so the arch's check_call_before() reads
// kernel code exactly as it reads user code.
struct KernelImage {
    ProcessImage process;
    std::string path;
    int64_t kaslr_offset = 0;  // runtime _text - image _text
    // Why the image is not the running kernel's (build-id mismatch); every
    // verdict is then unreliable, naming the file. Empty when it matches.
    std::string mismatch;
};

// `running_build_id` from /sys/kernel/notes (lower-case hex, empty when
// unknown): an image with another build-id fails here, naming the file.
Result<KernelImage> make_kernel_image(std::shared_ptr<ElfImage> vmlinux, const Kallsyms& kallsyms,
                                      std::string_view running_build_id);

struct KernelCheckOptions {
    const KernelImage* image = nullptr;  // null: return-after-call is skipped
    bool strict = false;                 // a skipped check becomes a finding
    ArchId arch = ArchId::x86_64;        // the kernel's architecture
};

// Resolves [OBJECT:]FUNCTION against kallsyms; OBJECT is "vmlinux" or a
// module name. A function found nowhere fails (a typo must not read as safe);
// a module that is not loaded is listed in `not_loaded`. With an OBJECT the
// target's sympos picks the symbol as livepatch does (klp_find_object_symbol():
// 0 = the name must be unique in the object, N = its Nth symbol in kallsyms
// order); an ambiguous or missing position fails, as the kernel refuses it.
Result<ResolvedPatchSet> resolve_kernel_patch_set(const PatchSet& set, const Kallsyms& kallsyms);

// For a blocked kernel task (its verdict, frames and state as judged): will
// the kernel's own retries and fake signals move it to the new code?
Forecast forecast_kernel_task(const TaskVerdict& task);

TaskVerdict check_kernel_task(const KernelTask& task, const Kallsyms& kallsyms, const ResolvedPatchSet& patch,
                              const KernelCheckOptions& options = {});

// The whole system as one report (pid 0, comm "kernel").
Result<ProcessReport> check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms,
                                   const PatchSet& patch, const KernelCheckOptions& options = {});
// The same against ranges already resolved (e.g. resolve_klp_transition()).
ProcessReport check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms, ResolvedPatchSet patch,
                           const KernelCheckOptions& options = {});

}  // namespace lpsafe

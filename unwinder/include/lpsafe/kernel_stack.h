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
#include "lpsafe/memory.h"
#include "lpsafe/orc.h"
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
    bool is_idle = false;    // a CPU's idle task (PF_IDLE, pid 0), read from kernel memory
    // Read from kernel memory (/proc/kcore, a crash dump): lpsafe's own ORC
    // walk from the task's saved context, which sees every frame; `stack`
    // is then unused.
    std::optional<OrcWalk> walk;
    uint64_t task_pt_regs = 0;  // where a user task's entry registers lie (task_pt_regs())
};

// A loaded module's code as its .ko file holds it, or why it is not used.
struct KernelModuleCode {
    enum class State {
        used,        // the file's build-id is the loaded module's: its frames are checked
        not_found,   // no file for it: its frames skip return-after-call
        unverified,  // the loaded module's build-id is unknown: skipped
        mismatch,    // the file is another build: its frames are unreliable
        unreadable,  // the file is malformed or cannot be placed: skipped
    };
    std::string name;  // as kallsyms names it ("[ext4]")
    std::string path;  // the file read; empty when none was found
    std::string build_id;
    State state = State::not_found;
    std::string detail;  // why it is not used
    size_t linked_calls = 0;  // PC-relative relocations applied (call targets known)
};
std::string_view module_code_state_name(KernelModuleCode::State s);

// Bytes of a module's code section at its runtime address.
struct CodeRegion {
    uint64_t start = 0;
    std::vector<std::byte> bytes;
    std::string section;  // for messages
};

// The kernel's code relocated to the running kernel: a ProcessImage with
// the image (vmlinux) as its module and the loaded modules' code sections
// in its memory, so the arch's check_call_before() reads kernel code
// exactly as it reads user code.
struct KernelImage {
    ProcessImage process;
    std::string path;    // the vmlinux file; empty when there is none
    std::string format;  // how it was stored ("ELF", "bzImage (xz payload)")
    // Why there is no vmlinux (path empty): vmlinux frames skip the check.
    std::string missing;
    int64_t kaslr_offset = 0;  // runtime _text - image _text
    // Why the image is not the running kernel's (build-id mismatch); every
    // verdict is then unreliable, naming the file. Empty when it matches.
    std::string mismatch;
    std::vector<KernelModuleCode> modules;
    // What reading the files said that changes no check (e.g. where the
    // unpacked image was kept), for the report.
    std::vector<std::string> notes;
    // The used modules' ORC tables, at runtime addresses, each over its
    // module's code (--kernel-memory walks through module frames with them).
    struct ModuleOrc {
        std::string module;
        uint64_t start = 0, end = 0;
        OrcTable table;
    };
    std::vector<ModuleOrc> module_orc;
    // vmlinux's ORC table, made when a kernel-memory walk first needs it.
    std::optional<OrcTable> vmlinux_orc;
    std::shared_ptr<BufferMemory> module_memory;  // process.memory: the used modules' code

    bool has_vmlinux() const { return !path.empty(); }
    const KernelModuleCode* module(std::string_view name) const;
};

// `running_build_id` from /sys/kernel/notes (lower-case hex, empty when
// unknown): an image with another build-id fails here, naming the file.
Result<KernelImage> make_kernel_image(std::shared_ptr<ElfImage> vmlinux, const Kallsyms& kallsyms,
                                      std::string_view running_build_id);
// No vmlinux (`why`): only modules can be added.
KernelImage kernel_image_without_vmlinux(ArchId arch, std::string why);
// Records a module; a used one's regions become readable at their addresses
// (the regions must not overlap the image or each other).
void add_kernel_module(KernelImage& image, KernelModuleCode module, std::vector<CodeRegion> regions);

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

// The architecture of the kernel whose symbols these are: the row with the
// most of its own kernel stack ends (names no other row lists, e.g. arm64's
// el0t_64_sync, x86_64's entry_SYSCALL_64) among the image's text symbols;
// `fallback` when no row has one (a capture trimmed to a few symbols).
ArchId kernel_arch_of(const Kallsyms& kallsyms, ArchId fallback);

// The whole system as one report (pid 0, comm "kernel").
Result<ProcessReport> check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms,
                                   const PatchSet& patch, const KernelCheckOptions& options = {});
// The same against ranges already resolved (e.g. resolve_klp_transition()).
ProcessReport check_kernel(const std::vector<KernelTask>& tasks, const Kallsyms& kallsyms, ResolvedPatchSet patch,
                           const KernelCheckOptions& options = {});

}  // namespace lpsafe

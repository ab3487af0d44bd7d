/* lpsafe: is it safe to live-patch these threads? The stable C API of
 * liblpsafe.so.0 (lpsafe(3), docs/library.md).
 *
 * Everything crosses this boundary as C: opaque handles, status codes, plain
 * structs of integers and borrowed strings. No C++ type and no exception
 * ever reaches the caller, so any language with a C FFI can use it and the
 * ABI is this file alone.
 *
 * Rules that hold for every function:
 *   - It returns an lpsafe_status. On failure lpsafe_last_error() returns a
 *     message for the calling thread, and output parameters are untouched
 *     except handle outputs, which are set to NULL.
 *   - A NULL handle or output pointer is LPSAFE_ERR_INVALID, never a crash.
 *   - A handle from lpsafe_*_open/new/check is freed with its lpsafe_*_free;
 *     strings and views (lpsafe_process, lpsafe_task) handed out by a result
 *     belong to that result and stay valid until lpsafe_result_free.
 *   - Verdicts are never optimistic: a check that could not run makes a task
 *     LPSAFE_VERDICT_UNRELIABLE, never LPSAFE_VERDICT_SAFE.
 */
#ifndef LPSAFE_H
#define LPSAFE_H

#include <stddef.h>
#include <stdint.h>

#include "lpsafe_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Only the functions below are exported from liblpsafe.so (the rest is
 * hidden, see capi/lpsafe.map). */
#if defined(__GNUC__)
#define LPSAFE_API __attribute__((visibility("default")))
#else
#define LPSAFE_API
#endif

/* ---- Status and errors ------------------------------------------------ */

typedef enum lpsafe_status {
    LPSAFE_OK = 0,
    LPSAFE_ERR_INVALID = 1,      /* NULL handle or pointer, bad value */
    LPSAFE_ERR_USAGE = 2,        /* calls in the wrong order or combination */
    LPSAFE_ERR_INPUT = 3,        /* a source, patch file or module cannot be read */
    LPSAFE_ERR_PATCH = 4,        /* a function spec is malformed or does not resolve */
    LPSAFE_ERR_CHECK = 5,        /* the check could not run */
    LPSAFE_ERR_RANGE = 6,        /* an index past the end */
    LPSAFE_ERR_NO_MEMORY = 7,
    LPSAFE_ERR_INTERNAL = 8,     /* a bug in lpsafe: please report it */
    /* Not a status: makes the type as wide as int, so any int a caller
     * passes (lpsafe_status_name(999)) is a valid value in C++ too. */
    LPSAFE_STATUS_MAX_ENUM = 0x7fffffff
} lpsafe_status;

/* "ok", "invalid argument", ...; never NULL. */
LPSAFE_API const char *lpsafe_status_name(lpsafe_status status);

/* The message of the last failing call made by this thread ("" if none).
 * Valid until the thread's next failing call. */
LPSAFE_API const char *lpsafe_last_error(void);

/* The library's version, "MAJOR.MINOR.PATCH" (compare with LPSAFE_VERSION). */
LPSAFE_API const char *lpsafe_version(void);

/* ---- Sources: what to check ------------------------------------------- */

typedef struct lpsafe_source lpsafe_source;

/* A core dump (gcore or kernel). exe: the main executable when the core's
 * path is wrong (NULL: from the core); sysroot: prefix for every file the
 * core names (NULL: none). Reads the core now: a bad core fails here. */
LPSAFE_API lpsafe_status lpsafe_source_open_core(const char *core, const char *exe, const char *sysroot,
                                                 lpsafe_source **out);

/* Where a process's files are found, for the *_with openers below (the
 * command's --exe, --sysroot and --debug-dir). Any member may be 0/NULL. */
typedef struct lpsafe_file_options {
    const char *exe;                /* cores only: the main executable when the core's path is wrong */
    const char *sysroot;            /* prefix for every file the core (or /proc/PID/maps) names */
    const char *const *debug_dirs;  /* roots of separate debug files (.build-id/, .gnu_debuglink), */
    size_t debug_dir_count;         /* searched instead of <sysroot>/usr/lib/debug (docs/symbols.md) */
} lpsafe_file_options;

/* lpsafe_source_open_core with every file option; options may be NULL. */
LPSAFE_API lpsafe_status lpsafe_source_open_core_with(const char *core, const lpsafe_file_options *options,
                                                      lpsafe_source **out);

/* A snapshot recorded by lpsafe_record or `lpsafe record`, or a kernel
 * capture (`record --kernel`), which checks kernel stacks. */
LPSAFE_API lpsafe_status lpsafe_source_open_snapshot(const char *path, lpsafe_source **out);

/* Live processes, through ptrace: each is captured (threads stopped one at a
 * time, only while copied) when checked, never left stopped. */
LPSAFE_API lpsafe_status lpsafe_source_open_pids(const int *pids, size_t count, const char *sysroot,
                                                 lpsafe_source **out);
/* Every process the caller may trace, kernel threads excepted; processes
 * that cannot be captured are skipped and named in the result's notes. */
LPSAFE_API lpsafe_status lpsafe_source_open_all_user(const char *sysroot, lpsafe_source **out);
/* The same two with every file option (options->exe must be NULL: a live
 * process names its own executable); options may be NULL. Live processes
 * are read when checked: a function not found in one of them makes
 * lpsafe_check fail with LPSAFE_ERR_CHECK, naming it. */
LPSAFE_API lpsafe_status lpsafe_source_open_pids_with(const int *pids, size_t count,
                                                      const lpsafe_file_options *options, lpsafe_source **out);
LPSAFE_API lpsafe_status lpsafe_source_open_all_user_with(const lpsafe_file_options *options, lpsafe_source **out);

typedef struct lpsafe_kernel_options {
    const char *vmlinux;     /* kernel image (ELF or vmlinuz); NULL: the running release's */
    const char *boot_dir;    /* where vmlinuz-R is looked for; NULL: /boot and debug places */
    const char *modules_dir; /* holds R/ with module files; NULL: /lib/modules */
    int no_kernel_image;     /* nonzero: read no code; return-after-call is skipped */
} lpsafe_kernel_options;

/* Every task's kernel stack from /proc (proc_root NULL) or from a capture
 * (a directory or archive written by `record --kernel`). options may be
 * NULL. The live /proc is re-read at every check. */
LPSAFE_API lpsafe_status lpsafe_source_open_kernel(const char *proc_root, const lpsafe_kernel_options *options,
                                                   lpsafe_source **out);

/* Every task read from the running kernel's memory (kcore: "/proc/kcore",
 * root) instead of /proc/PID/stack, each sleeping task's stack walked with
 * the image's ORC tables (the command's --kernel-memory). Symbols, modules
 * and loaded patches still come from /proc and /sys. Needs the image. */
LPSAFE_API lpsafe_status lpsafe_source_open_kernel_memory(const char *kcore, const lpsafe_kernel_options *options,
                                                          lpsafe_source **out);

/* A kernel judged from a dump alone (the command's --vmcore): an ELF core
 * with a VMCOREINFO note (kdump's vmcore, QEMU dump-guest-memory with or
 * without paging, /proc/kcore). Release, build-id, KASLR, symbols, modules
 * and loaded patches come from the dump; the image is found by its release
 * (or options->vmlinux). A file without VMCOREINFO fails here. */
LPSAFE_API lpsafe_status lpsafe_source_open_kernel_dump(const char *dump, const lpsafe_kernel_options *options,
                                                        lpsafe_source **out);


LPSAFE_API void lpsafe_source_free(lpsafe_source *source);

/* ---- Patch sets: what the patch replaces ------------------------------- */

typedef struct lpsafe_patch lpsafe_patch;

LPSAFE_API lpsafe_status lpsafe_patch_new(lpsafe_patch **out);
/* "[OBJECT:]FUNCTION", as the command's --func. */
LPSAFE_API lpsafe_status lpsafe_patch_add_function(lpsafe_patch *patch, const char *spec);
/* One [OBJECT:]FUNCTION per line, # comments (--patch-file). */
LPSAFE_API lpsafe_status lpsafe_patch_add_file(lpsafe_patch *patch, const char *path);
/* A livepatch module: its klp_funcs, and for kernel checks its name and
 * .replace (--klp-module). */
LPSAFE_API lpsafe_status lpsafe_patch_add_klp_module(lpsafe_patch *patch, const char *ko_path);
/* Kernel checks only: predict disabling the loaded livepatch `module`
 * (--klp-disable): the kernel then checks its new functions. A patch set
 * that disables holds no functions of its own. */
LPSAFE_API lpsafe_status lpsafe_patch_set_klp_disable(lpsafe_patch *patch, const char *module);
LPSAFE_API void lpsafe_patch_free(lpsafe_patch *patch);

/* ---- Checking ---------------------------------------------------------- */

typedef struct lpsafe_options {
    unsigned max_frames;  /* depth limit; deeper stacks are unreliable (default 128) */
    int no_cross_check;   /* nonzero: do not compare CFI with frame-pointer steps */
    int strict;           /* kernel: a skipped check makes the verdict unreliable */
} lpsafe_options;

/* Fills the defaults, those of the lpsafe command. */
LPSAFE_API lpsafe_status lpsafe_options_init(lpsafe_options *options);

typedef struct lpsafe_result lpsafe_result;

/* Decides safe / blocked / unreliable for every task of the source against
 * the patch set (options NULL: defaults). An empty patch set is
 * LPSAFE_ERR_USAGE: a check with nothing to look for is not "safe". */
LPSAFE_API lpsafe_status lpsafe_check(lpsafe_source *source, const lpsafe_patch *patch, const lpsafe_options *options,
                                      lpsafe_result **out);
/* Unwinds and checks every task without a patch set (`lpsafe stack`):
 * verdicts are SAFE for a reliable stack, the JSON has no verdicts. */
LPSAFE_API lpsafe_status lpsafe_stack(lpsafe_source *source, const lpsafe_options *options, lpsafe_result **out);

/* Records the source to a file that replays without the original binaries:
 * a snapshot of one process (core, snapshot or a single pid) or, for a
 * kernel source, a capture archive (a directory when path ends in '/'). */
LPSAFE_API lpsafe_status lpsafe_record(lpsafe_source *source, const char *path, const lpsafe_options *options);

/* ---- Results ----------------------------------------------------------- */

typedef enum lpsafe_verdict {
    LPSAFE_VERDICT_SAFE = 0,       /* no patched function on a reliable stack */
    LPSAFE_VERDICT_BLOCKED = 1,    /* a patched function is on the stack */
    LPSAFE_VERDICT_UNRELIABLE = 2, /* the stack cannot be trusted (see findings) */
    LPSAFE_VERDICT_RUNNING = 3,    /* on a CPU: no stable stack (the kernel refuses it too) */
    LPSAFE_VERDICT_GONE = 4,       /* exited while being read */
    LPSAFE_VERDICT_UNREADABLE = 5, /* permission or I/O error: the check is incomplete */
    LPSAFE_VERDICT_MAX_ENUM = 0x7fffffff /* not a verdict: as wide as int */
} lpsafe_verdict;

/* "safe", "blocked", ... as in the JSON; never NULL. */
LPSAFE_API const char *lpsafe_verdict_name(lpsafe_verdict verdict);

typedef struct lpsafe_summary {
    int safe, blocked, unreliable, running, gone, unreadable;
    /* The lpsafe command's exit status for this result: 0 every task safe,
     * 1 some blocked, 2 none blocked but some unreliable or running,
     * 4 none of those but some unreadable. */
    int exit_status;
} lpsafe_summary;

LPSAFE_API lpsafe_status lpsafe_result_summary(const lpsafe_result *result, lpsafe_summary *out);

/* The JSON document `lpsafe check --json` (or `stack --json`) prints for
 * the same input (docs/json-format.md). Owned by the result. */
LPSAFE_API lpsafe_status lpsafe_result_json(const lpsafe_result *result, const char **json);

/* Notes: what did not stop the check but is worth telling (a process
 * skipped, a debug file refused, kallsyms lines skipped). */
LPSAFE_API lpsafe_status lpsafe_result_note_count(const lpsafe_result *result, size_t *count);
LPSAFE_API lpsafe_status lpsafe_result_note(const lpsafe_result *result, size_t index, const char **note);

typedef struct lpsafe_process lpsafe_process;
typedef struct lpsafe_task lpsafe_task;

/* Processes checked (a kernel check is one process of every task, pid 0). */
LPSAFE_API lpsafe_status lpsafe_result_process_count(const lpsafe_result *result, size_t *count);
LPSAFE_API lpsafe_status lpsafe_result_process(const lpsafe_result *result, size_t index,
                                               const lpsafe_process **out);

typedef struct lpsafe_process_info {
    int pid;
    const char *comm;
    size_t task_count;
} lpsafe_process_info;

LPSAFE_API lpsafe_status lpsafe_process_info_get(const lpsafe_process *process, lpsafe_process_info *out);
LPSAFE_API lpsafe_status lpsafe_process_task(const lpsafe_process *process, size_t index, const lpsafe_task **out);

typedef struct lpsafe_task_info {
    int pid;
    int tid;
    const char *comm;
    const char *state;  /* scheduler state letter when the input has it, else "" */
    lpsafe_verdict verdict;
    const char *reason; /* why running / gone / unreadable, else "" */
    const char *end;    /* how the walk ended */
    int reliable;       /* nonzero: the stack was read and every check passed */
    size_t frame_count;
    size_t blocked_count;
    size_t finding_count;
    size_t skipped_count;
} lpsafe_task_info;

LPSAFE_API lpsafe_status lpsafe_task_info_get(const lpsafe_task *task, lpsafe_task_info *out);

/* Where a patched function is on the stack. */
typedef struct lpsafe_blocked_by {
    int frame;
    const char *object;
    const char *function;
} lpsafe_blocked_by;
LPSAFE_API lpsafe_status lpsafe_task_blocked_by(const lpsafe_task *task, size_t index, lpsafe_blocked_by *out);

/* Why a stack is unreliable: the check that failed, where (-1: the whole stack). */
typedef struct lpsafe_finding {
    const char *check;
    int frame;
    const char *detail;
} lpsafe_finding;
LPSAFE_API lpsafe_status lpsafe_task_finding(const lpsafe_task *task, size_t index, lpsafe_finding *out);

/* A check that did not run (e.g. no kernel image); strict makes it a finding. */
typedef struct lpsafe_skipped_check {
    const char *check;
    const char *reason;
} lpsafe_skipped_check;
LPSAFE_API lpsafe_status lpsafe_task_skipped(const lpsafe_task *task, size_t index, lpsafe_skipped_check *out);

typedef struct lpsafe_frame {
    uint64_t pc;
    uint64_t sp;
    uint64_t cfa;         /* 0 when the walk stopped here */
    const char *object;   /* module file name, "" when none */
    const char *function; /* "" when no symbol covers the address */
    uint64_t offset;      /* from the function's start */
    const char *method;   /* how it was found: "regs", "cfi", "fp", "procfs", "inferred" */
    int cross_checked;    /* nonzero: CFI step confirmed by a frame-pointer step */
} lpsafe_frame;
LPSAFE_API lpsafe_status lpsafe_task_frame(const lpsafe_task *task, size_t index, lpsafe_frame *out);

LPSAFE_API void lpsafe_result_free(lpsafe_result *result);

#ifdef __cplusplus
}
#endif

#endif /* LPSAFE_H */

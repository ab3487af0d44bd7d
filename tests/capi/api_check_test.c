/* The C API on real input: the committed snapshots and kernel capture
 * (fixtures/), a live child process, and calls in the wrong order. Its JSON
 * must be the command's, byte for byte: one code path. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capi_test.h"

static char tmpdir[] = "/tmp/lpsafe-capi-check-XXXXXX";

/* The standard output of a shell command, malloc'd. */
static char *run(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (p == NULL) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

static lpsafe_result *check(lpsafe_source *s, const char *func, const char *ko) {
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    if (func != NULL) EXPECT_OK(lpsafe_patch_add_function(p, func));
    if (ko != NULL) EXPECT_OK(lpsafe_patch_add_klp_module(p, ko));
    EXPECT_OK(lpsafe_check(s, p, NULL, &r));
    lpsafe_patch_free(p);
    return r;
}

static void same_json_as_command(lpsafe_result *r, const char *args) {
    char *cmd = capi_str("%s %s --json 2>/dev/null", capi_env("LPSAFE_BIN"), args);
    char *want = run(cmd);
    const char *got = NULL;
    EXPECT_OK(lpsafe_result_json(r, &got));
    if (want == NULL || got == NULL || strcmp(want, got) != 0) {
        fprintf(stderr, "JSON differs from `%s`\n", cmd);
        ++capi_failures;
    }
    free(want);
}

/* fp.snap (fixtures/snapshots/cases.txt): parked:pause_inner blocks one
 * thread; the API's tasks, frames and summary agree with each other. */
static void snapshot_check(const char *snapshots) {
    char *snap = capi_str("%s/fp.snap", snapshots);
    lpsafe_source *s = NULL;
    EXPECT_OK(lpsafe_source_open_snapshot(snap, &s));
    if (s == NULL) return;
    lpsafe_result *r = check(s, "parked:pause_inner", NULL);
    if (r == NULL) return;
    same_json_as_command(r, capi_str("check --snapshot %s --func parked:pause_inner", snap));

    lpsafe_summary sum;
    EXPECT_OK(lpsafe_result_summary(r, &sum));
    EXPECT(sum.blocked >= 1);
    EXPECT(sum.exit_status == 1);
    size_t np = 0, blocked = 0, safe = 0;
    EXPECT_OK(lpsafe_result_process_count(r, &np));
    EXPECT(np == 1);
    const lpsafe_process *proc = NULL;
    EXPECT_OK(lpsafe_result_process(r, 0, &proc));
    lpsafe_process_info pi;
    EXPECT_OK(lpsafe_process_info_get(proc, &pi));
    EXPECT(strcmp(pi.comm, "parked") == 0);
    for (size_t i = 0; i < pi.task_count; ++i) {
        const lpsafe_task *t = NULL;
        lpsafe_task_info ti;
        EXPECT_OK(lpsafe_process_task(proc, i, &t));
        EXPECT_OK(lpsafe_task_info_get(t, &ti));
        EXPECT(ti.frame_count > 0);
        if (ti.verdict == LPSAFE_VERDICT_SAFE) {
            ++safe;
            EXPECT(ti.reliable && ti.finding_count == 0 && ti.blocked_count == 0);
        }
        if (ti.verdict == LPSAFE_VERDICT_BLOCKED) {
            ++blocked;
            lpsafe_blocked_by b;
            lpsafe_frame f;
            EXPECT_OK(lpsafe_task_blocked_by(t, 0, &b));
            EXPECT(strcmp(b.function, "pause_inner") == 0);
            EXPECT_OK(lpsafe_task_frame(t, (size_t)b.frame, &f));
            EXPECT(strcmp(f.function, "pause_inner") == 0);
            EXPECT(f.pc != 0 && f.sp != 0);
        }
        lpsafe_frame f;
        EXPECT_STATUS(LPSAFE_ERR_RANGE, lpsafe_task_frame(t, ti.frame_count, &f));
        lpsafe_finding fi;
        EXPECT_STATUS(LPSAFE_ERR_RANGE, lpsafe_task_finding(t, ti.finding_count, &fi));
    }
    EXPECT(blocked == (size_t)sum.blocked && safe == (size_t)sum.safe);
    const lpsafe_task *t = NULL;
    EXPECT_STATUS(LPSAFE_ERR_RANGE, lpsafe_process_task(proc, pi.task_count, &t));
    EXPECT_STATUS(LPSAFE_ERR_RANGE, lpsafe_result_process(r, 1, &proc));
    lpsafe_result_free(r);

    /* stack mode is `lpsafe stack`. */
    EXPECT_OK(lpsafe_stack(s, NULL, &r));
    if (r != NULL) same_json_as_command(r, capi_str("stack --snapshot %s", snap));
    lpsafe_result_free(r);

    /* Recorded again, it replays to the same document. */
    char *again = capi_str("%s/again.snap", tmpdir);
    EXPECT_OK(lpsafe_record(s, again, NULL));
    lpsafe_source *s2 = NULL;
    EXPECT_OK(lpsafe_source_open_snapshot(again, &s2));
    if (s2 != NULL) {
        r = check(s2, "parked:pause_inner", NULL);
        EXPECT_OK(lpsafe_result_summary(r, &sum));
        EXPECT(sum.exit_status == 1);
        lpsafe_result_free(r);
        lpsafe_source_free(s2);
    }
    lpsafe_source_free(s);
}

static void wrong_order_and_unresolved(const char *snapshots) {
    char *snap = capi_str("%s/fp.snap", snapshots);
    lpsafe_source *s = NULL;
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    EXPECT_OK(lpsafe_source_open_snapshot(snap, &s));
    EXPECT_OK(lpsafe_patch_new(&p));
    /* Checking before any function was added: no "safe" by omission. */
    EXPECT_STATUS(LPSAFE_ERR_USAGE, lpsafe_check(s, p, NULL, &r));
    EXPECT(r == NULL);
    /* A function found nowhere is most likely a typo, never "safe". */
    EXPECT_OK(lpsafe_patch_add_function(p, "parked:pause_innr"));
    EXPECT_STATUS(LPSAFE_ERR_PATCH, lpsafe_check(s, p, NULL, &r));
    EXPECT(strstr(lpsafe_last_error(), "pause_innr") != NULL);
    lpsafe_options o;
    EXPECT_OK(lpsafe_options_init(&o));
    o.max_frames = 0;
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_stack(s, &o, &r));
    lpsafe_patch_free(p);
    lpsafe_source_free(s);

    /* record writes one process. */
    int pids[] = {1, 2};
    EXPECT_OK(lpsafe_source_open_pids(pids, 2, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_USAGE, lpsafe_record(s, "/dev/null", NULL));
    lpsafe_source_free(s);
}

/* The committed capture of a real /proc with a real livepatch module. */
static void kernel_capture(const char *kernel_dir, const char *livepatch_dir) {
    char *capture = capi_str("%s/6.18.44-fc-v669.lpk", kernel_dir);
    char *ko = capi_str("%s/klp_vmlinux.ko", livepatch_dir);
    lpsafe_source *s = NULL;
    EXPECT_OK(lpsafe_source_open_kernel(capture, NULL, &s));
    if (s == NULL) return;
    lpsafe_result *r = check(s, NULL, ko);
    if (r == NULL) return;
    char *args = capi_str("check --kernel --proc-root %s --klp-module %s", capture, ko);
    same_json_as_command(r, args);
    lpsafe_summary sum;
    EXPECT_OK(lpsafe_result_summary(r, &sum));
    EXPECT(sum.safe > 0);
    lpsafe_result_free(r);
    lpsafe_source_free(s);

    /* The same capture through open_snapshot is a kernel source too. */
    EXPECT_OK(lpsafe_source_open_snapshot(capture, &s));
    r = check(s, NULL, ko);
    same_json_as_command(r, args);
    lpsafe_result_free(r);

    /* Predicting a disable (--klp-disable) needs that patch loaded: this
     * capture has none, and the check says which one it looked for, as the
     * command does. Functions of its own are refused with it. */
    lpsafe_patch *p = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_set_klp_disable(p, NULL));
    EXPECT_STATUS(LPSAFE_ERR_USAGE, lpsafe_patch_set_klp_disable(p, ""));
    EXPECT_OK(lpsafe_patch_set_klp_disable(p, "lpo_not_loaded"));
    EXPECT_STATUS(LPSAFE_ERR_CHECK, lpsafe_check(s, p, NULL, &r));
    EXPECT(strstr(lpsafe_last_error(), "no loaded livepatch named lpo_not_loaded") != NULL);
    EXPECT_OK(lpsafe_patch_add_function(p, "vmlinux:cmdline_proc_show"));
    EXPECT_STATUS(LPSAFE_ERR_CHECK, lpsafe_check(s, p, NULL, &r));
    EXPECT(strstr(lpsafe_last_error(), "--klp-disable") != NULL);
    lpsafe_patch_free(p);
    lpsafe_source_free(s);
}

/* A child parked in pause(2): blocked on libc's pause, safe for a function
 * it is not in. */
static void live_child(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    usleep(200 * 1000);
    lpsafe_source *s = NULL;
    EXPECT_OK(lpsafe_source_open_pids(&child, 1, NULL, &s));
    lpsafe_result *r = check(s, "libc.so.6:pause", NULL);
    lpsafe_summary sum;
    EXPECT_OK(lpsafe_result_summary(r, &sum));
    EXPECT(sum.blocked == 1 && sum.exit_status == 1);
    lpsafe_result_free(r);
    r = check(s, "libc.so.6:epoll_create1", NULL);
    EXPECT_OK(lpsafe_result_summary(r, &sum));
    EXPECT(sum.safe == 1 && sum.exit_status == 0);
    lpsafe_result_free(r);
    /* A kernel livepatch's disabling is no question for a process. */
    lpsafe_patch *p = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_OK(lpsafe_patch_set_klp_disable(p, "lpo_cum_a"));
    EXPECT_STATUS(LPSAFE_ERR_USAGE, lpsafe_check(s, p, NULL, &r));
    lpsafe_patch_free(p);
    lpsafe_source_free(s);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

/* The verdict of thread `tid` in the result's one process, -1 if absent. */
static int verdict_of(lpsafe_result *r, long tid) {
    const lpsafe_process *proc = NULL;
    lpsafe_process_info pi;
    if (r == NULL || lpsafe_result_process(r, 0, &proc) != LPSAFE_OK || lpsafe_process_info_get(proc, &pi) != LPSAFE_OK)
        return -1;
    for (size_t i = 0; i < pi.task_count; ++i) {
        const lpsafe_task *t = NULL;
        lpsafe_task_info ti;
        if (lpsafe_process_task(proc, i, &t) == LPSAFE_OK && lpsafe_task_info_get(t, &ti) == LPSAFE_OK && ti.tid == tid)
            return (int)ti.verdict;
    }
    return -1;
}

/* Separate debug files through lpsafe_file_options (the command's
 * --debug-dir): the stripped dbgsym_prog's static exe_static_inner
 * (fixtures/make-dbgsym.sh) is found only through the fixture's build-id
 * tree, live and in a gcore core of the same process. */
static void debug_dirs(const char *dbgsym) {
    char *roles = capi_str("%s/dbgsym-roles", tmpdir);
    char *prog = capi_str("%s/bin/dbgsym_prog", dbgsym);
    pid_t child = fork();
    if (child == 0) {
        execl(prog, prog, roles, (char *)NULL);
        _exit(127);
    }
    long exe = 0, lib = 0, main_tid = 0;
    for (int i = 0; i < 100 && exe == 0; ++i) {
        usleep(100 * 1000);
        FILE *f = fopen(roles, "r");
        if (f == NULL) continue;
        if (fscanf(f, "%ld exe %ld lib %ld main", &exe, &lib, &main_tid) != 3) exe = 0;
        fclose(f);
    }
    EXPECT(exe != 0);
    const char *dirs[] = {capi_str("%s/debug", dbgsym)};
    const char *nowhere[] = {capi_str("%s/nowhere", dbgsym)};
    const lpsafe_file_options with = {NULL, NULL, dirs, 1}, without = {NULL, NULL, nowhere, 1};
    lpsafe_source *s = NULL;
    lpsafe_result *r = NULL;

    EXPECT_OK(lpsafe_source_open_pids_with(&child, 1, &with, &s));
    r = check(s, "dbgsym_prog:exe_static_inner", NULL);
    EXPECT(verdict_of(r, exe) == LPSAFE_VERDICT_BLOCKED);
    EXPECT(verdict_of(r, lib) == LPSAFE_VERDICT_SAFE && verdict_of(r, main_tid) == LPSAFE_VERDICT_SAFE);
    lpsafe_result_free(r);
    lpsafe_source_free(s);

    /* Without the debug files the static function is found nowhere (a live
     * process is read when checked, so this is the check failing). */
    lpsafe_patch *p = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_OK(lpsafe_patch_add_function(p, "dbgsym_prog:exe_static_inner"));
    EXPECT_OK(lpsafe_source_open_pids_with(&child, 1, &without, &s));
    EXPECT_STATUS(LPSAFE_ERR_CHECK, lpsafe_check(s, p, NULL, &r));
    EXPECT(strstr(lpsafe_last_error(), "exe_static_inner") != NULL);
    lpsafe_source_free(s);

    /* The same through a core. */
    char *prefix = capi_str("%s/dbgsym-core", tmpdir);
    EXPECT(system(capi_str("gcore -o %s %d >/dev/null 2>&1", prefix, (int)child)) == 0);
    char *core = capi_str("%s.%d", prefix, (int)child);
    EXPECT_OK(lpsafe_source_open_core_with(core, &with, &s));
    r = check(s, "dbgsym_prog:exe_static_inner", NULL);
    EXPECT(verdict_of(r, exe) == LPSAFE_VERDICT_BLOCKED && verdict_of(r, lib) == LPSAFE_VERDICT_SAFE);
    same_json_as_command(r, capi_str("check --core %s --debug-dir %s --func dbgsym_prog:exe_static_inner", core, dirs[0]));
    lpsafe_result_free(r);
    lpsafe_source_free(s);
    EXPECT_OK(lpsafe_source_open_core_with(core, &without, &s));
    EXPECT_STATUS(LPSAFE_ERR_PATCH, lpsafe_check(s, p, NULL, &r));
    lpsafe_source_free(s);
    lpsafe_patch_free(p);

    /* Options that do not fit. */
    const lpsafe_file_options exe_live = {prog, NULL, NULL, 0}, no_dirs = {NULL, NULL, NULL, 2};
    const char *holes[] = {dirs[0], NULL};
    const lpsafe_file_options hole = {NULL, NULL, holes, 2};
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_pids_with(&child, 1, &exe_live, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_all_user_with(&exe_live, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_core_with(core, &no_dirs, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_core_with(core, &hole, &s));
    EXPECT(s == NULL);
    EXPECT_OK(lpsafe_source_open_all_user_with(NULL, &s));
    lpsafe_source_free(s);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

int main(void) {
    if (mkdtemp(tmpdir) == NULL) return 2;
    const char *fixtures = capi_env("LPSAFE_SOURCE_FIXTURES");
    snapshot_check(capi_str("%s/snapshots", fixtures));
    wrong_order_and_unresolved(capi_str("%s/snapshots", fixtures));
    kernel_capture(capi_str("%s/kernel", fixtures), capi_str("%s/livepatch", fixtures));
    live_child();
    debug_dirs(capi_env("LPSAFE_DBGSYM"));
    if (system(capi_str("rm -rf %s", tmpdir)) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return capi_done("api_check");
}

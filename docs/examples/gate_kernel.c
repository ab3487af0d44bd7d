/* A pre-patch gate for a kernel livepatch: before `insmod PATCH.ko`, check
 * every task's kernel stack against the functions the module replaces (given
 * the patches already loaded) and let the load go ahead only when every task
 * is safe. Otherwise print what blocks it.
 *
 *   gate_kernel PATCH.ko [CAPTURE]     CAPTURE: a `lpsafe record --kernel`
 *                                      archive instead of the live /proc
 * Exit: 0 every task safe, 1 not (blockers printed), 2 error.
 *
 * Build: cc -std=c99 gate_kernel.c $(pkg-config --cflags --libs lpsafe)
 */
#include <stdio.h>

#include <lpsafe.h>

static int error(const char *what, lpsafe_status st) {
    fprintf(stderr, "gate_kernel: %s: %s: %s\n", what, lpsafe_status_name(st), lpsafe_last_error());
    return 2;
}

/* One line per task that is not safe, with the reason a patch tool needs. */
static void print_blocker(const lpsafe_task *task) {
    lpsafe_task_info t;
    if (lpsafe_task_info_get(task, &t) != LPSAFE_OK || t.verdict == LPSAFE_VERDICT_SAFE) return;
    printf("%8d %8d %-16s %-10s ", t.pid, t.tid, t.comm, lpsafe_verdict_name(t.verdict));
    lpsafe_blocked_by b;
    lpsafe_finding f;
    if (t.verdict == LPSAFE_VERDICT_BLOCKED && lpsafe_task_blocked_by(task, 0, &b) == LPSAFE_OK) {
        printf("%s:%s at frame %d\n", b.object, b.function, b.frame);
    } else if (t.finding_count > 0 && lpsafe_task_finding(task, 0, &f) == LPSAFE_OK) {
        printf("%s check failed at frame %d: %s\n", f.check, f.frame, f.detail);
    } else {
        printf("%s\n", t.reason);
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gate_kernel PATCH.ko [CAPTURE]\n");
        return 2;
    }
    lpsafe_source *source = NULL;
    lpsafe_patch *patch = NULL;
    lpsafe_result *result = NULL;
    lpsafe_status st;
    int status = 2;
    if ((st = lpsafe_source_open_kernel(argc == 3 ? argv[2] : NULL, NULL, &source)) != LPSAFE_OK) {
        return error("open", st);
    }
    if ((st = lpsafe_patch_new(&patch)) != LPSAFE_OK || (st = lpsafe_patch_add_klp_module(patch, argv[1])) != LPSAFE_OK) {
        status = error(argv[1], st);
        goto out;
    }
    if ((st = lpsafe_check(source, patch, NULL, &result)) != LPSAFE_OK) {
        status = error("check", st);
        goto out;
    }
    lpsafe_summary sum;
    const lpsafe_process *proc = NULL;
    lpsafe_process_info info;
    if (lpsafe_result_summary(result, &sum) != LPSAFE_OK || lpsafe_result_process(result, 0, &proc) != LPSAFE_OK ||
        lpsafe_process_info_get(proc, &info) != LPSAFE_OK) {
        status = error("result", LPSAFE_ERR_INTERNAL);
        goto out;
    }
    /* exit_status is the lpsafe command's: 0 only when every task counted is
     * safe (lpsafe's own threads, which the kernel switches on their next
     * return to user space, do not count). */
    if (sum.exit_status == 0) {
        printf("safe: all %d tasks\n", sum.safe);
        status = 0;
        goto out;
    }
    printf("not safe: %d blocked, %d unreliable, %d running, %d unreadable\n", sum.blocked, sum.unreliable,
           sum.running, sum.unreadable);
    for (size_t i = 0; i < info.task_count; ++i) {
        const lpsafe_task *task = NULL;
        if (lpsafe_process_task(proc, i, &task) == LPSAFE_OK) print_blocker(task);
    }
    status = 1;
out:
    lpsafe_result_free(result);
    lpsafe_patch_free(patch);
    lpsafe_source_free(source);
    return status;
}

/* Iterating a result after lpsafe_result_free is the caller's bug; the API
 * cannot detect it, but the library must not hide it either (no pooled or
 * cached views that keep working). Built only with -Dfuzzing, where ASan
 * must abort this program: meson counts it as passing when it fails. */
#include "capi_test.h"

int main(void) {
    char *snap = capi_str("%s/snapshots/fp.snap", capi_env("LPSAFE_SOURCE_FIXTURES"));
    lpsafe_source *s = NULL;
    lpsafe_result *r = NULL;
    const lpsafe_process *p = NULL;
    const lpsafe_task *t = NULL;
    lpsafe_task_info info;
    if (lpsafe_source_open_snapshot(snap, &s) != LPSAFE_OK || lpsafe_stack(s, NULL, &r) != LPSAFE_OK ||
        lpsafe_result_process(r, 0, &p) != LPSAFE_OK || lpsafe_process_task(p, 0, &t) != LPSAFE_OK) {
        fprintf(stderr, "setup failed: %s\n", lpsafe_last_error());
        return 0; /* a setup failure must not pass as "ASan caught it" */
    }
    lpsafe_result_free(r);
    lpsafe_task_info_get(t, &info); /* use after free: ASan aborts here */
    printf("read a freed task: %d\n", info.tid);
    lpsafe_source_free(s);
    return 0;
}

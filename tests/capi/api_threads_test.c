/* Thread safety as lpsafe(3) states it: independent checks in parallel
 * threads (snapshots, and live processes traced by several threads at
 * once), and one source checked from several threads (the source's checks
 * take turns); every thread must get the same verdicts and its own error
 * messages. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capi_test.h"

enum { kThreads = 8 };

static char snap[4096];
static const char *reference;  /* JSON of a check made before the threads start */
static lpsafe_source *shared;

static int same_as_reference(lpsafe_source *s) {
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    int same = 0;
    if (lpsafe_patch_new(&p) != LPSAFE_OK) return 0;
    if (lpsafe_patch_add_function(p, "parked:pause_inner") == LPSAFE_OK && lpsafe_check(s, p, NULL, &r) == LPSAFE_OK) {
        const char *json = NULL;
        same = lpsafe_result_json(r, &json) == LPSAFE_OK && strcmp(json, reference) == 0;
    }
    lpsafe_result_free(r);
    lpsafe_patch_free(p);
    return same;
}

static void *independent(void *arg) {
    (void)arg;
    lpsafe_source *s = NULL;
    int ok = lpsafe_source_open_snapshot(snap, &s) == LPSAFE_OK && same_as_reference(s);
    lpsafe_source_free(s);
    /* Messages are per thread: this failure is not another thread's. */
    char mine[64];
    snprintf(mine, sizeof mine, "/nonexistent/%lu", (unsigned long)pthread_self());
    ok = ok && lpsafe_source_open_core(mine, NULL, NULL, &s) == LPSAFE_ERR_INPUT &&
         strstr(lpsafe_last_error(), mine) != NULL;
    return ok ? (void *)1 : NULL;
}

static void *on_shared(void *arg) {
    (void)arg;
    int ok = 1;
    for (int i = 0; i < 3; ++i) ok = ok && same_as_reference(shared);
    return ok ? (void *)1 : NULL;
}

static pid_t children[kThreads];

/* Each thread traces its own child, parked in pause(2), at the same time. */
static void *live(void *arg) {
    const pid_t pid = children[(size_t)arg];
    lpsafe_source *s = NULL;
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    lpsafe_summary sum = {0, 0, 0, 0, 0, 0, -1};
    int ok = 1;
    for (int round = 0; ok && round < 3; ++round) {
        ok = lpsafe_source_open_pids(&pid, 1, NULL, &s) == LPSAFE_OK && lpsafe_patch_new(&p) == LPSAFE_OK &&
             lpsafe_patch_add_function(p, "libc.so.6:pause") == LPSAFE_OK && lpsafe_check(s, p, NULL, &r) == LPSAFE_OK &&
             lpsafe_result_summary(r, &sum) == LPSAFE_OK && sum.blocked == 1 && sum.exit_status == 1;
        if (!ok) fprintf(stderr, "live pid %d: %s\n", (int)pid, lpsafe_last_error());
        lpsafe_result_free(r);
        lpsafe_patch_free(p);
        lpsafe_source_free(s);
        r = NULL, p = NULL, s = NULL;
    }
    return ok ? (void *)1 : NULL;
}

static void run_threads(void *(*body)(void *), const char *what) {
    pthread_t t[kThreads];
    for (size_t i = 0; i < kThreads; ++i) pthread_create(&t[i], NULL, body, (void *)i);
    for (int i = 0; i < kThreads; ++i) {
        void *ok = NULL;
        pthread_join(t[i], &ok);
        if (ok == NULL) {
            fprintf(stderr, "%s: thread %d got a different result\n", what, i);
            ++capi_failures;
        }
    }
}

int main(void) {
    snprintf(snap, sizeof snap, "%s/snapshots/fp.snap", capi_env("LPSAFE_SOURCE_FIXTURES"));
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    EXPECT_OK(lpsafe_source_open_snapshot(snap, &shared));
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_OK(lpsafe_patch_add_function(p, "parked:pause_inner"));
    EXPECT_OK(lpsafe_check(shared, p, NULL, &r));
    if (r == NULL) return capi_done("api_threads");
    EXPECT_OK(lpsafe_result_json(r, &reference));
    run_threads(independent, "independent sources");
    run_threads(on_shared, "one shared source");
    for (int i = 0; i < kThreads; ++i) {
        children[i] = fork();
        if (children[i] == 0) {
            for (;;) pause();
        }
    }
    usleep(200 * 1000);
    run_threads(live, "live processes in parallel");
    for (int i = 0; i < kThreads; ++i) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    lpsafe_result_free(r);
    lpsafe_patch_free(p);
    lpsafe_source_free(shared);
    return capi_done("api_threads");
}

/* Tiny harness for the C API tests: plain C programs (so they prove the API
 * is usable from C), failing with a message and a non-zero exit. */
#ifndef CAPI_TEST_H
#define CAPI_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpsafe.h"

static int capi_failures = 0;

#define EXPECT(cond)                                                               \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);    \
            ++capi_failures;                                                       \
        }                                                                          \
    } while (0)

/* A call that must fail with `want` and leave a message. */
#define EXPECT_STATUS(want, call)                                                           \
    do {                                                                                    \
        lpsafe_status got_ = (call);                                                        \
        if (got_ != (want)) {                                                               \
            fprintf(stderr, "%s:%d: %s: got %s (%s), want %s\n", __FILE__, __LINE__, #call, \
                    lpsafe_status_name(got_), lpsafe_last_error(), lpsafe_status_name(want)); \
            ++capi_failures;                                                                \
        } else if ((want) != LPSAFE_OK && lpsafe_last_error()[0] == '\0') {                 \
            fprintf(stderr, "%s:%d: %s: no message\n", __FILE__, __LINE__, #call);          \
            ++capi_failures;                                                                \
        }                                                                                   \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(LPSAFE_OK, call)

static inline int capi_done(const char *name) {
    if (capi_failures == 0) {
        printf("%s: all passed\n", name);
        return 0;
    }
    fprintf(stderr, "%s: %d failures\n", name, capi_failures);
    return 1;
}

/* $NAME, or exits 77 (meson: skipped) when the test needs it and it is unset. */
static inline const char *capi_env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "%s is not set\n", name);
        exit(77);
    }
    return v;
}

/* Strings made by capi_str, freed at exit (so LeakSanitizer sees none). */
enum { capi_max_strings = 256 };
static char *capi_strings[capi_max_strings];
static int capi_string_count = 0;

static void capi_free_strings(void) {
    for (int i = 0; i < capi_string_count; ++i) free(capi_strings[i]);
    capi_string_count = 0;
}

/* A formatted string, valid until exit. */
static inline char *capi_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *capi_str(const char *fmt, ...) {
    if (capi_string_count == 0) atexit(capi_free_strings);
    if (capi_string_count == capi_max_strings) {
        fprintf(stderr, "capi_str: more than %d strings\n", capi_max_strings);
        exit(2);
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = malloc((size_t)n + 1);
    if (out == NULL) exit(2);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    capi_strings[capi_string_count++] = out;
    return out;
}

#endif

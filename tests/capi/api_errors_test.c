/* The C API under misuse: NULL everywhere, calls in the wrong order, inputs
 * that cannot be opened, patch sets that do not resolve, garbage and very
 * large inputs. Each must give a status and a message, never a crash. */
#define _GNU_SOURCE
#include <stdint.h>
#include <unistd.h>

#include "capi_test.h"

static char tmpdir[] = "/tmp/lpsafe-capi-XXXXXX";

static const char *tmp_file(const char *name, const void *bytes, size_t size, size_t repeat) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    for (size_t i = 0; i < repeat; ++i) fwrite(bytes, 1, size, f);
    fclose(f);
    return path;
}

static void null_handles(void) {
    lpsafe_source *s = (lpsafe_source *)1;
    lpsafe_patch *p = NULL;
    lpsafe_result *r = (lpsafe_result *)1;
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_core(NULL, NULL, NULL, &s));
    EXPECT(s == NULL); /* a failed open never leaves a stale handle */
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_core("x", NULL, NULL, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_snapshot(NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_snapshot("x", NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_pids(NULL, 1, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_all_user(NULL, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_kernel(NULL, NULL, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_new(NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_function(NULL, "f"));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_file(NULL, "f"));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_klp_module(NULL, "f"));
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_function(p, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_file(p, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_patch_add_klp_module(p, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_options_init(NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_check(NULL, p, NULL, &r));
    EXPECT(r == NULL);
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_check(NULL, NULL, NULL, NULL));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_stack(NULL, NULL, &r));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_record(NULL, "x", NULL));

    const char *str = NULL;
    size_t n = 0;
    const lpsafe_process *proc = NULL;
    const lpsafe_task *task = NULL;
    lpsafe_summary sum;
    lpsafe_process_info pi;
    lpsafe_task_info ti;
    lpsafe_frame fr;
    lpsafe_finding fi;
    lpsafe_blocked_by bb;
    lpsafe_skipped_check sk;
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_summary(NULL, &sum));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_json(NULL, &str));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_note_count(NULL, &n));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_note(NULL, 0, &str));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_process_count(NULL, &n));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_result_process(NULL, 0, &proc));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_process_info_get(NULL, &pi));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_process_task(NULL, 0, &task));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_task_info_get(NULL, &ti));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_task_frame(NULL, 0, &fr));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_task_finding(NULL, 0, &fi));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_task_blocked_by(NULL, 0, &bb));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_task_skipped(NULL, 0, &sk));
    /* Freeing NULL is a no-op, as free(3). */
    lpsafe_source_free(NULL);
    lpsafe_patch_free(NULL);
    lpsafe_result_free(NULL);
    lpsafe_patch_free(p);

    EXPECT(strcmp(lpsafe_status_name((lpsafe_status)999), "unknown status") == 0);
    EXPECT(strcmp(lpsafe_verdict_name((lpsafe_verdict)999), "unknown") == 0);
}

static void cannot_open(void) {
    lpsafe_source *s = NULL;
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_core("/nonexistent/core", NULL, NULL, &s));
    EXPECT(strstr(lpsafe_last_error(), "/nonexistent/core") != NULL);
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_snapshot("/nonexistent/snap", &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_core(tmpdir, NULL, NULL, &s)); /* a directory */
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_kernel("/nonexistent/capture", NULL, &s));
    EXPECT(s == NULL);
    int bad[] = {1, -5};
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_pids(bad, 2, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_pids(bad, 0, NULL, &s));

    /* A pid that is no process opens (processes are read at check time) and
     * then fails the check with a message. */
    int gone[] = {0x3ffffff};
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    EXPECT_OK(lpsafe_source_open_pids(gone, 1, NULL, &s));
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_OK(lpsafe_patch_add_function(p, "libc.so.6:pause"));
    EXPECT_STATUS(LPSAFE_ERR_CHECK, lpsafe_check(s, p, NULL, &r));
    EXPECT(r == NULL);
    lpsafe_patch_free(p);
    lpsafe_source_free(s);
}

static void garbage_inputs(void) {
    lpsafe_source *s = NULL;
    unsigned char noise[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; ++i) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (unsigned char)x;
    }
    /* 64 MiB of noise, and an ELF header on noise. */
    const char *big = tmp_file("big", noise, sizeof noise, 16384);
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_core(big, NULL, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_snapshot(big, &s));
    memcpy(noise, "\177ELF\2\1\1", 7);
    const char *elf = tmp_file("elf", noise, sizeof noise, 4);
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_core(elf, NULL, NULL, &s));
    const char *empty = tmp_file("empty", noise, 0, 0);
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_core(empty, NULL, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_snapshot(empty, &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_kernel(big, NULL, &s));
    EXPECT(s == NULL);

    lpsafe_patch *p = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_patch_add_klp_module(p, big));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_patch_add_klp_module(p, elf));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_patch_add_file(p, "/nonexistent/patch.txt"));
    /* 64 MiB of noise as a patch file: whatever lines pass as names are
     * resolved (and refused) by the check; a refused line has a message. */
    lpsafe_status st = lpsafe_patch_add_file(p, big);
    EXPECT(st == LPSAFE_OK || (st == LPSAFE_ERR_INPUT && lpsafe_last_error()[0] != '\0'));
    EXPECT_STATUS(LPSAFE_ERR_PATCH, lpsafe_patch_add_function(p, ""));
    EXPECT_STATUS(LPSAFE_ERR_PATCH, lpsafe_patch_add_function(p, ":f"));
    EXPECT_STATUS(LPSAFE_ERR_PATCH, lpsafe_patch_add_function(p, "has space"));
    /* A 1 MiB function name and 100,000 functions are accepted: the patch
     * set holds names, resolving them is the check's job. */
    char *huge = malloc(1 << 20);
    memset(huge, 'f', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    EXPECT_OK(lpsafe_patch_add_function(p, huge));
    free(huge);
    char name[32];
    for (int i = 0; i < 100000; ++i) {
        snprintf(name, sizeof name, "fn_%d", i);
        if (lpsafe_patch_add_function(p, name) != LPSAFE_OK) {
            EXPECT(!"adding many functions");
            break;
        }
    }
    lpsafe_patch_free(p);
}

/* Kernel memory and dumps: refused at open when they cannot be read; a dump
 * (the fuzz seed: a real ELF core layout, VMCOREINFO, kallsyms tables, but
 * no kernel image exists for its release) opens, and its check fails with
 * a message instead of judging without the image. */
static void kernel_dumps(void) {
    lpsafe_source *s = NULL;
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_kernel_dump(NULL, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_kernel_memory(NULL, NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_kernel_dump("/nonexistent/vmcore", NULL, &s));
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_kernel_memory("/nonexistent/kcore", NULL, &s));
    lpsafe_kernel_options no_image = {NULL, NULL, NULL, 1};
    EXPECT_STATUS(LPSAFE_ERR_INVALID, lpsafe_source_open_kernel_memory("/proc/kcore", &no_image, &s));
    const char *fixtures = getenv("LPSAFE_SOURCE_FIXTURES");
    if (fixtures == NULL) {
        EXPECT(!"LPSAFE_SOURCE_FIXTURES is set");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fuzz-seeds/elf_image/tiny", fixtures); /* an ELF, not a core */
    EXPECT_STATUS(LPSAFE_ERR_INPUT, lpsafe_source_open_kernel_dump(path, NULL, &s));
    EXPECT(s == NULL);
    snprintf(path, sizeof path, "%s/fuzz-seeds/kernel_dump/tiny.vmcore", fixtures);
    EXPECT_OK(lpsafe_source_open_kernel_dump(path, NULL, &s));
    lpsafe_patch *p = NULL;
    lpsafe_result *r = NULL;
    EXPECT_OK(lpsafe_patch_new(&p));
    EXPECT_OK(lpsafe_patch_add_function(p, "vmlinux:do_nanosleep"));
    EXPECT_STATUS(LPSAFE_ERR_CHECK, lpsafe_check(s, p, NULL, &r));
    EXPECT(strstr(lpsafe_last_error(), "6.1.0-fuzz") != NULL);
    EXPECT(r == NULL);
    lpsafe_patch_free(p);
    lpsafe_source_free(s);
}

int main(void) {
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    EXPECT(strcmp(lpsafe_version(), LPSAFE_VERSION) == 0);
    null_handles();
    cannot_open();
    garbage_inputs();
    kernel_dumps();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return capi_done("api_errors");
}

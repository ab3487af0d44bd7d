/*
 * measure.c - run a command, print "WALL_MS CPU_MS MAXRSS_KIB STATUS" to the
 * file given as argv[1]. Used by bench-vs-peers.sh (compiled there).
 *
 * Wall time from CLOCK_MONOTONIC, CPU time (user + system) and peak RSS from
 * wait4()'s rusage: microsecond resolution where /usr/bin/time has 10 ms. On
 * a shared machine the CPU time is the steadier figure; with several worker
 * threads it is their sum, so it can exceed the wall time.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms(struct timeval tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; }

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    struct rusage ru;
    int status;
    pid_t pid;
    FILE *out;

    if (argc < 3) {
        fprintf(stderr, "usage: measure RESULT_FILE COMMAND [ARG...]\n");
        return 125;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 125;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("measure: exec");
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("measure: wait4");
        return 125;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 125;
    }
    fprintf(out, "%.2f %.2f %ld %d\n",
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
            ms(ru.ru_utime) + ms(ru.ru_stime), ru.ru_maxrss,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fclose(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

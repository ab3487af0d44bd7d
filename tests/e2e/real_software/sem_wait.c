/* C threads parked in sem_wait, as worker pools written in C park them.
 * Prints "ready" once they are parked, then waits for stdin to close. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static sem_t sem;

static void* waiter(void* arg) {
    (void)arg;
    sem_wait(&sem);
    return NULL;
}

int main(void) {
    sem_init(&sem, 0, 0);
    pthread_t t[3];
    for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, waiter, NULL);
    struct timespec d = {0, 200 * 1000 * 1000};
    nanosleep(&d, NULL);
    puts("ready");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0);
}

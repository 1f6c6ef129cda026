/* testapp.c - fr-testapp: an instrumented process whose recording is
 * known exactly, for the integration tests.
 *
 * fr-testapp --name NAME --threads T --regions R [--then exit|pause|spin|kill]
 *
 * Each of T threads (named "t0".."t{T-1}") begins one task "job-<i>",
 * records R regions "work" each with a log "step <k>" (category "app"), a
 * counter "progress" = k, and a lock wait "mutex"; the first thread also
 * draws a flow to the second. Then it prints "ready <pid>" and:
 * exit: exits 0; pause: waits for a signal (SIGTERM exits 0); spin: records
 * "spin" regions at full speed until SIGTERM; kill: SIGKILLs itself.
 * Exact counts per thread: 1 task begin + 1 task end, R region begins and
 * ends, R logs, R counters, R wait begins and ends (+1 flow begin on t0,
 * +1 flow end on t1).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flightrec.h>

static int regions = 10;
static volatile sig_atomic_t stop;
static pthread_barrier_t flow_ready;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void *thread_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    char name[16], task[32];
    snprintf(name, sizeof name, "t%d", i);
    snprintf(task, sizeof task, "job-%d", i);
    fr_thread_name(name);
    fr_task_id t = fr_task_begin(task);
    for (int k = 0; k < regions; k++) {
        fr_region_begin("work");
        fr_logf("app", "step %d", k);
        fr_counter("progress", k);
        fr_wait_begin(FR_WAIT_LOCK, "mutex");
        fr_wait_end();
        fr_region_end();
    }
    if (i == 0)
        fr_flow_begin(42);
    pthread_barrier_wait(&flow_ready);
    if (i == 1)
        fr_flow_end(42);
    fr_task_end(t);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *name = "fr-testapp", *then = "exit";
    int threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--regions") == 0)
            regions = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--then") == 0)
            then = argv[i + 1];
    }
    if (threads < 2 || threads > 64) {
        fprintf(stderr, "fr-testapp: --threads 2..64\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    fr_init(name);
    pthread_barrier_init(&flow_ready, NULL, (unsigned)threads);
    pthread_t th[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (strcmp(then, "pause") == 0) {
        while (!stop)
            pause();
    } else if (strcmp(then, "spin") == 0) {
        fr_thread_name("spinner");
        while (!stop) {
            fr_region_begin("spin");
            fr_region_end();
        }
    } else if (strcmp(then, "kill") == 0) {
        raise(SIGKILL);
    }
    return 0;
}

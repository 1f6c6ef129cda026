/* sloapp.c - fr-sloapp: a service with a latency SLO, for the rule tests.
 *
 * fr-sloapp --name NAME --requests N [--task NAME] [--fast-ms F]
 *           [--slow-ms S --slow-at K[,K...] | --slow-every E]
 *           [--trigger REASON] [--log-error] [--then exit|pause|kill]
 *
 * Registers, prints "ready <pid>", waits for a line on stdin (the test
 * says "go" once the daemon has its rules in place), then serves N
 * requests one after another: each a task named --task (default
 * "GET /orders") with a region "handle" that sleeps F ms (default 1), or
 * S ms for the requests numbered in --slow-at (1-based) or every E-th.
 * Then --trigger calls fr_trigger(REASON) and --log-error logs category
 * "error"; it prints "done" and exits 0, pauses until SIGTERM, or
 * SIGKILLs itself.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flightrec.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int is_slow(long k, const char *slow_at, long every)
{
    if (every > 0 && k % every == 0)
        return 1;
    for (const char *p = slow_at; p && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v == k)
            return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = "sloapp", *task = "GET /orders", *slow_at = NULL, *then = "exit";
    const char *reason = NULL;
    long requests = 1, fast = 1, slow = 0, every = 0;
    int log_error = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--log-error") == 0) {
            log_error = 1;
            continue;
        }
        if (strcmp(a, "--name") == 0)
            name = v;
        else if (strcmp(a, "--task") == 0)
            task = v;
        else if (strcmp(a, "--requests") == 0)
            requests = atol(v);
        else if (strcmp(a, "--fast-ms") == 0)
            fast = atol(v);
        else if (strcmp(a, "--slow-ms") == 0)
            slow = atol(v);
        else if (strcmp(a, "--slow-at") == 0)
            slow_at = v;
        else if (strcmp(a, "--slow-every") == 0)
            every = atol(v);
        else if (strcmp(a, "--trigger") == 0)
            reason = v;
        else if (strcmp(a, "--then") == 0)
            then = v;
        else {
            fprintf(stderr, "fr-sloapp: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    fr_init(name);
    fr_thread_name("server");
    fr_log("app", "started"); /* the first event: registration begins */
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 1;
    for (long k = 1; k <= requests; k++) {
        fr_task_id t = fr_task_begin(task);
        fr_region_begin("handle");
        sleep_ms(is_slow(k, slow_at, every) ? slow : fast);
        fr_region_end();
        fr_task_end(t);
    }
    if (reason)
        printf("trigger %d\n", fr_trigger(reason));
    if (log_error)
        fr_log("error", "payment backend unreachable");
    printf("done\n");
    fflush(stdout);
    if (strcmp(then, "pause") == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        int sig;
        sigwait(&s, &sig);
    } else if (strcmp(then, "kill") == 0) {
        kill(getpid(), SIGKILL);
    }
    return 0;
}

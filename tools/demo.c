/* demo.c - flightrec-demo: a small multi-threaded service simulation.
 *
 * An acceptor thread begins a task per request and hands it to a worker
 * pool through a locked queue (a flow arrow joins the two threads);
 * workers attach the task, run stages as regions, wait on a shared lock,
 * log, and end the task; every 50th request is slow. Once a second it
 * reads its own region back, as any reader process would (the memfd
 * through /proc/self/fd, mapped read-only), and prints what is recorded.
 *
 * Usage: flightrec-demo [--seconds N] [--workers N] [--rate N] [--quiet]
 * (--quiet: no report each second; make run uses it beside the daemon).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <stdbool.h>

#include <flightrec.h>

#include "common/reader.h"

#define QUEUE_MAX 64

static volatile sig_atomic_t stop;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    fr_task_id task;
    uint64_t flow;
    unsigned n;
} queue[QUEUE_MAX];
static unsigned qhead, qlen;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
    char name[16];
    snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
    fr_thread_name(name);
    for (;;) {
        fr_wait_begin(FR_WAIT_OTHER, "queue");
        pthread_mutex_lock(&qlock);
        while (qlen == 0 && !stop)
            pthread_cond_wait(&qcond, &qlock);
        if (qlen == 0) {
            pthread_mutex_unlock(&qlock);
            fr_wait_end();
            return NULL;
        }
        fr_task_id task = queue[qhead].task;
        uint64_t flow = queue[qhead].flow;
        unsigned n = queue[qhead].n;
        qhead = (qhead + 1) % QUEUE_MAX;
        qlen--;
        fr_counter("queue_depth", qlen);
        pthread_mutex_unlock(&qlock);
        fr_wait_end();

        fr_task_attach(task);
        fr_flow_end(flow);
        fr_region_begin("parse");
        sleep_us(200);
        fr_region_end();

        fr_region_begin("db");
        fr_wait_begin(FR_WAIT_LOCK, "db_lock");
        pthread_mutex_lock(&db_lock);
        fr_wait_end();
        sleep_us(n % 50 == 0 ? 300000 : 500); /* every 50th request is slow */
        pthread_mutex_unlock(&db_lock);
        fr_region_end();

        fr_region_begin("render");
        sleep_us(300);
        fr_logf("http", "request %u done by %s", n, name);
        fr_region_end();
        fr_task_detach();
        fr_task_end(task);
    }
}

/* The region's memfd, found as a reader in another process would. */
static int find_region(void **base, size_t *size, char *path, size_t pathlen)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -ENOENT;
    while (d && (e = readdir(d))) {
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = 0;
        if (strncmp(target, "/memfd:flightrec", 16) != 0)
            continue;
        int fd = open(link, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            break;
        *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (*base == MAP_FAILED)
            break;
        *size = (size_t)st.st_size;
        snprintf(path, pathlen, "%.64s -> %.200s", link, target);
        found = 0;
        break;
    }
    if (d)
        closedir(d);
    return found;
}

static void report(void *base, size_t size)
{
    struct reader r;
    struct trace_proc p;
    if (reader_open(&r, base, size) < 0 || reader_read(&r, NULL, &p) < 0) {
        printf("  (region not readable)\n");
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < p.nthreads; i++)
        total += p.threads[i].n;
    printf("  process %s (pid %u): %zu events in %zu thread rings, dropped %llu\n", p.name, p.pid,
           total, p.nthreads,
           (unsigned long long)(p.dropped_no_ring + p.dropped_nested));
    for (size_t i = 0; i < p.nthreads; i++)
        printf("    tid %-7u %-16s %8zu events\n", p.threads[i].tid, p.threads[i].name,
               p.threads[i].n);
    trace_proc_free(&p);
}

int main(int argc, char **argv)
{
    int seconds = 0, workers = 4, rate = 200;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            rate = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else {
            fprintf(stderr,
                    "usage: flightrec-demo [--seconds N] [--workers N] [--rate N] [--quiet]\n");
            return 2;
        }
    }
    if (workers < 1 || workers > 64 || rate < 1) {
        fprintf(stderr, "flightrec-demo: --workers 1..64, --rate >= 1\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int err = fr_init("flightrec-demo");
    if (err < 0)
        fprintf(stderr, "flightrec-demo: fr_init: %s (recording is off)\n", strerror(-err));
    fr_thread_name("acceptor");

    pthread_t th[64];
    for (int i = 0; i < workers; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);

    void *base = NULL;
    size_t size = 0;
    char where[2 * PATH_MAX];
    if (find_region(&base, &size, where, sizeof where) == 0)
        printf("flightrec-demo: pid %d records into %s (%zu MiB mapped, pages touched on use)\n",
               (int)getpid(), where, size >> 20);
    else
        printf("flightrec-demo: pid %d records into private memory (no memfd)\n", (int)getpid());
    printf("flightrec-demo: %d workers, %d requests/s%s; Ctrl-C stops\n", workers, rate,
           seconds ? "" : ", until stopped");
    fflush(stdout);

    unsigned n = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long last_report = 0;
    while (!stop) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (seconds && ms >= seconds * 1000L)
            break;
        if (ms - last_report >= 1000 && base && !quiet) {
            last_report = ms;
            printf("after %lds:\n", ms / 1000);
            report(base, size);
            fflush(stdout);
        }
        fr_task_id task = fr_task_begin("GET /orders");
        fr_region_begin("accept");
        uint64_t flow = ((uint64_t)getpid() << 32) | ++n;
        fr_flow_begin(flow);
        pthread_mutex_lock(&qlock);
        if (qlen == QUEUE_MAX) {
            pthread_mutex_unlock(&qlock);
            fr_log("http", "queue full: request rejected");
            fr_region_end();
            fr_task_end(task);
        } else {
            queue[(qhead + qlen) % QUEUE_MAX].task = task;
            queue[(qhead + qlen) % QUEUE_MAX].flow = flow;
            queue[(qhead + qlen) % QUEUE_MAX].n = n;
            qlen++;
            fr_counter("queue_depth", qlen);
            pthread_cond_signal(&qcond);
            pthread_mutex_unlock(&qlock);
            fr_region_end();
        }
        sleep_us(1000000 / rate);
    }
    stop = 1;
    pthread_mutex_lock(&qlock);
    pthread_cond_broadcast(&qcond);
    pthread_mutex_unlock(&qlock);
    for (int i = 0; i < workers; i++)
        pthread_join(th[i], NULL);
    printf("flightrec-demo: %u requests; final state:\n", n);
    if (base)
        report(base, size);
    fr_shutdown();
    return 0;
}

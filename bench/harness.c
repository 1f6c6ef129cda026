/* harness.c - timing, pinning and child processes for the benchmarks.
 *
 * Runs on the benchmark's measuring threads (timing) and its main thread
 * (children, options). Prints only option errors: callers decide where
 * results go.
 */
#define _GNU_SOURCE
#include "bench/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

extern char **environ;

static volatile uint64_t rdtsc_sink;

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) uint64_t bench_loop_rdtsc(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
#if defined(__x86_64__) || defined(__i386__)
        rdtsc_sink += __rdtsc();
#else
        rdtsc_sink += bench_now_ns(); /* no rdtsc: the library's clock instead */
#endif
    }
    return bench_now_ns() - t0;
}

void bench_calibrate(struct bench_meas *m)
{
    /* Enough to claim the ring, intern the name and fault in every page
     * of a default (1 MiB) ring, so that timed chunks see the steady
     * state: a ring that wraps. */
    uint64_t warm = m->iters / 20 > 100000 ? m->iters / 20 : 100000;
    uint64_t ns = m->loop(warm);
    double per_iter = (double)ns / (double)warm;
    uint64_t chunk = per_iter > 0 ? (uint64_t)(BENCH_CHUNK_NS / per_iter) : m->iters;
    if (chunk < 1000)
        chunk = 1000;
    m->chunk = chunk < m->iters ? chunk : m->iters;
}

static long switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) < 0)
        return -1;
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

double bench_chunk(const struct bench_meas *m, bool *clean)
{
    long before = switches();
    uint64_t ns = m->loop(m->chunk);
    long after = switches();
    *clean = before >= 0 && before == after;
    return (double)ns / ((double)m->chunk * m->events);
}

void bench_rep(const struct bench_meas *m, struct bench_stats *st)
{
    for (uint64_t done = 0; done < m->iters; done += m->chunk) {
        bool clean;
        double ns = bench_chunk(m, &clean);
        bench_stats_add(st, ns, clean);
    }
}

void bench_run(struct bench_meas *m, struct bench_stats *st, size_t n, unsigned reps)
{
    for (size_t i = 0; i < n; i++)
        bench_calibrate(&m[i]);
    for (unsigned r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++)
            bench_rep(&m[i], &st[i]);
    }
}

void bench_stats_add(struct bench_stats *st, double ns, bool clean)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        double *v = realloc(st->v, cap * sizeof *v);
        if (!v)
            return; /* a sample less: the best and median stay valid */
        st->v = v;
        st->cap = cap;
    }
    if (st->n == 0 || ns < st->best_any)
        st->best_any = ns;
    if (clean && (st->clean == 0 || ns < st->best_clean))
        st->best_clean = ns;
    st->clean += clean;
    st->v[st->n++] = ns;
}

double bench_stats_best(const struct bench_stats *st)
{
    if (st->clean)
        return st->best_clean;
    return st->n ? st->best_any : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_stats_median(struct bench_stats *st)
{
    if (st->n == 0)
        return -1;
    qsort(st->v, st->n, sizeof st->v[0], cmp_double);
    return st->v[st->n / 2];
}

void bench_stats_fini(struct bench_stats *st)
{
    free(st->v);
    memset(st, 0, sizeof *st);
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    if (strcmp(opt, "--iters") != 0 && strcmp(opt, "--reps") != 0 && strcmp(opt, "--cpu") != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s needs a value\n", opt);
        return -1;
    }
    const char *val = argv[++*i];
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || *end || end == val || v < (strcmp(opt, "--cpu") == 0 ? -1 : 1)) {
        fprintf(stderr, "%s: bad value '%s'\n", opt, val);
        return -1;
    }
    if (strcmp(opt, "--iters") == 0)
        o->iters = (uint64_t)v;
    else if (strcmp(opt, "--reps") == 0)
        o->reps = v > 1000 ? 1000 : (unsigned)v;
    else
        o->cpu = v > CPU_SETSIZE ? -1 : (int)v;
    return 1;
}

int bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        return -errno;
    return 0;
}

int bench_cpus(int *out, int want)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) < 0)
        return 0;
    for (int c = 0; c < CPU_SETSIZE && n < want; c++) {
        if (CPU_ISSET(c, &set))
            out[n++] = c;
    }
    return n;
}

bool bench_tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* The same test as lib/clock.c: CPUID 0x80000007 EDX bit 8. */
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return false;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
#else
    return false;
#endif
}

static bool name_in(const char *entry, const char *const names[])
{
    size_t len = strcspn(entry, "=");
    for (size_t i = 0; names && names[i]; i++) {
        if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0)
            return true;
    }
    return false;
}

/* environ without the names env_add sets, then env_add. Returns owned
 * (free() the array only; the strings are borrowed). */
static char **make_env(const char *const env_add[])
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    for (size_t i = 0; env_add && env_add[i]; i++)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; environ[i]; i++) {
        if (!name_in(environ[i], env_add))
            env[k++] = environ[i];
    }
    for (size_t i = 0; env_add && env_add[i]; i++)
        env[k++] = (char *)env_add[i];
    env[k] = NULL;
    return env;
}

/* Reads the child's output until EOF or the deadline. Returns 0 or
 * -ETIMEDOUT. */
static int collect(int fd, int timeout_ms, char *out, size_t cap)
{
    size_t len = 0;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue; /* the deadline check above ends it */
        char buf[4096];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 0;
        /* Past cap we keep reading (and dropping) so the child never
         * blocks on a full pipe. */
        size_t take = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
        out[len] = 0;
    }
}

int bench_spawn(const char *const argv[], const char *const env_add[], bool merge_stderr,
                int timeout_ms, char *out, size_t cap)
{
    int fds[2], err, status;
    posix_spawn_file_actions_t fa;
    pid_t pid;

    out[0] = 0;
    char **env = make_env(env_add);
    if (!env)
        return -ENOMEM;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        err = -errno;
        goto free_env;
    }
    err = -posix_spawn_file_actions_init(&fa);
    if (err < 0)
        goto close_pipe;
    /* dup2 clears close-on-exec on the copy; the originals close at exec. */
    if ((err = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) < 0 ||
        (err = -posix_spawn_file_actions_adddup2(&fa, fds[1], 1)) < 0 ||
        (merge_stderr && (err = -posix_spawn_file_actions_adddup2(&fa, fds[1], 2)) < 0))
        goto destroy_fa;
    /* A bare name ("lttng") is looked up in PATH, a path is run as is. */
    if (strchr(argv[0], '/'))
        err = -posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    else
        err = -posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    if (err < 0)
        goto destroy_fa;
    close(fds[1]);
    fds[1] = -1;
    if (collect(fds[0], timeout_ms, out, cap) < 0) {
        kill(pid, SIGKILL); /* our own child, by pid */
        snprintf(out, cap, "timed out after %d ms", timeout_ms);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            err = -errno;
            goto destroy_fa;
        }
    }
    err = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
destroy_fa:
    posix_spawn_file_actions_destroy(&fa);
close_pipe:
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
free_env:
    free(env);
    return err;
}

bool bench_result_get(const char *out, const char *key, double *best, double *median)
{
    size_t klen = strlen(key);
    const char *line = out;
    while (line && *line) {
        double b, m;
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ' &&
            sscanf(line + klen + 1, "%lf %lf", &b, &m) == 2) {
            *best = b;
            *median = m;
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

const char *bench_first_line(const char *s, char *buf, size_t cap)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strcspn(s, "\r\n");
    if (n > cap - 1)
        n = cap - 1;
    memcpy(buf, s, n);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = 0;
    return buf;
}

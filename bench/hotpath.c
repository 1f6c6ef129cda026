/* hotpath.c - bench-hotpath: what one libflightrec event costs, as a
 * multiple of one bare rdtsc measured in the same run, next to LTTng-UST
 * doing the same thing (`make bench`; docs/performance.md).
 *
 * Measures (method: bench/harness.h):
 *  - rdtsc, region begin+end with a literal name (per event), fr_log with
 *    a 40-byte message and fr_counter, on one thread, then on two threads
 *    at once (each thread's cost against one thread alone);
 *  - the same calls with FLIGHTREC_DISABLE=1, in a child (this program
 *    again, --child-disabled): the library reads the variable once, in
 *    its constructor, so only a fresh process measures it honestly;
 *  - LTTng-UST tracepoints with the same content, disabled and enabled
 *    in a snapshot session, in bench-hotpath-lttng (lttng_main.c).
 *
 * Targets are printed with ok/MISS but never change the exit status: the
 * numbers come from shared, noisy machines. Exits 0 unless flightrec
 * itself cannot record (or on bad options).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flightrec.h>

#include "bench/harness.h"
#ifdef FR_BENCH_LTTNG
#include "bench/lttng_session.h"
#endif

enum meas { M_RDTSC, M_REGION, M_LOG, M_COUNTER, M_COUNT };

static const char *const keys[M_COUNT] = {"rdtsc", "region", "log", "counter"};

static const char *const labels[M_COUNT] = {
    "rdtsc (baseline)",
    "region begin/end, per event",
    "fr_log, 40-byte message",
    "fr_counter",
};
static const char *const off_labels[M_COUNT] = {
    "",
    "disabled region begin/end",
    "disabled fr_log",
    "disabled fr_counter",
};

/* Targets from the issue, as a multiple of rdtsc; 0 = none. */
static const double targets[M_COUNT] = {0, 1.2, 2.0, 0};
#define TARGET_DISABLED    0.05
#define TARGET_TWO_THREADS 1.10 /* each thread within 10% of one thread alone */

#define CHILD_TIMEOUT_MS 120000

/* One table cell: best clean chunk and median chunk, ns per event; < 0
 * when not measured. */
struct num {
    double best, median;
};

struct results {
    struct num one[M_COUNT];    /* one thread */
    struct num two[2][M_COUNT]; /* two threads at once, each thread */
    bool two_ran;
    struct num off[M_COUNT];    /* FLIGHTREC_DISABLE=1 child; [M_RDTSC] its baseline */
    char off_why[200];          /* why off[] is missing, "" when it is not */
    struct num lt_on[M_COUNT];  /* LTTng, session recording; [M_RDTSC] the child's */
    struct num lt_off[M_COUNT]; /* LTTng, no session */
    char lt_version[32];
    char lt_why[240]; /* why LTTng numbers are missing, "" when they are not */
    int cpus[2];
    int ncpus;
};

static const char msg40[] = BENCH_MSG40;

/* ---- the measured loops: application code, calls as an application
 * writes them (the macros of flightrec.h, literal names) ---- */

static uint64_t loop_region(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        fr_region_begin(BENCH_REGION_NAME);
        fr_region_end();
    }
    return bench_now_ns() - t0;
}

static uint64_t loop_log(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        fr_log(BENCH_LOG_CATEGORY, msg40);
    return bench_now_ns() - t0;
}

static uint64_t loop_counter(uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        fr_counter(BENCH_COUNTER_NAME, (int64_t)i);
    return bench_now_ns() - t0;
}

static void make_meas(struct bench_meas m[M_COUNT], uint64_t iters)
{
    static const bench_loop_fn loops[M_COUNT] = {bench_loop_rdtsc, loop_region, loop_log,
                                                 loop_counter};
    for (int i = 0; i < M_COUNT; i++)
        m[i] = (struct bench_meas){keys[i], loops[i], iters, i == M_REGION ? 2 : 1, 0};
}

static struct num num_of(struct bench_stats *st)
{
    return (struct num){bench_stats_best(st), bench_stats_median(st)};
}

/* bench-hotpath --child-disabled: run under FLIGHTREC_DISABLE=1. */
static int child_disabled(const struct bench_opts *o)
{
    struct bench_meas m[M_COUNT];
    struct bench_stats st[M_COUNT] = {{0}};

    /* fr_init() says whether the constructor saw the variable. */
    printf("disabled %d 0\n", fr_init(NULL) == -ECANCELED);
    if (o->cpu >= 0)
        bench_pin(o->cpu);
    make_meas(m, o->iters);
    bench_run(m, st, M_COUNT, o->reps);
    for (int i = 0; i < M_COUNT; i++) {
        struct num n = num_of(&st[i]);
        printf("%s %.4f %.4f\n", keys[i], n.best, n.median);
        bench_stats_fini(&st[i]);
    }
    return 0;
}

/* ---- one and two threads: two pinned workers, measuring on command ---- */

struct worker {
    pthread_t th;
    int idx;
    int cpu;    /* -1: not pinned */
    double ns;  /* out of job_chunk */
    bool clean; /* out of job_chunk */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t go, finished;
    unsigned gen;                  /* bumped for every job */
    void (*job)(struct worker *w); /* NULL: exit */
    int nthreads;                  /* workers 0 .. nthreads-1 run the job */
    int pending;                   /* of those, still running */
    struct bench_meas *meas;       /* what the job measures */
    struct bench_stats *stats;     /* where job_rep puts its samples */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .finished = PTHREAD_COND_INITIALIZER};

/* Warms up every worker's own ring; worker 0's timing sizes the chunks. */
static void job_calibrate(struct worker *w)
{
    struct bench_meas copy = *pool.meas;
    bench_calibrate(w->idx == 0 ? pool.meas : &copy);
}

static void job_rep(struct worker *w)
{
    (void)w;
    bench_rep(pool.meas, pool.stats);
}

static void job_chunk(struct worker *w)
{
    w->ns = bench_chunk(pool.meas, &w->clean);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned seen = 0;
    char name[16];

    if (w->cpu >= 0)
        bench_pin(w->cpu);
    snprintf(name, sizeof name, "bench-w%d", w->idx);
    fr_thread_name(name);
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.gen == seen)
            pthread_cond_wait(&pool.go, &pool.lock);
        seen = pool.gen;
        if (!pool.job)
            break;
        if (w->idx >= pool.nthreads)
            continue;
        void (*job)(struct worker *) = pool.job;
        pthread_mutex_unlock(&pool.lock);
        job(w);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.finished);
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Runs job on workers 0 .. n-1 at once (one broadcast starts them) and
 * returns when all are done; job NULL makes every worker exit. */
static void dispatch(void (*job)(struct worker *), int n, struct bench_meas *m,
                     struct bench_stats *st)
{
    pthread_mutex_lock(&pool.lock);
    pool.job = job;
    pool.nthreads = job ? n : 0;
    pool.pending = pool.nthreads;
    pool.meas = m;
    pool.stats = st;
    pool.gen++;
    pthread_cond_broadcast(&pool.go);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.finished, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

/* One repetition of m on both workers, chunk by chunk in lockstep so that
 * every sample is a stretch where both threads recorded at once. A pair is
 * clean only when neither thread was switched out. */
static void rep_two(struct worker w[2], struct bench_meas *m, struct bench_stats st[2])
{
    for (uint64_t done = 0; done < m->iters; done += m->chunk) {
        dispatch(job_chunk, 2, m, NULL);
        bool clean = w[0].clean && w[1].clean;
        bench_stats_add(&st[0], w[0].ns, clean);
        bench_stats_add(&st[1], w[1].ns, clean);
    }
}

/* Returns 0, or -errno when the workers could not be started. */
static int measure_threads(const struct bench_opts *o, struct results *res)
{
    struct worker w[2];
    struct bench_meas m[M_COUNT];
    struct bench_stats one[M_COUNT] = {{0}}, two[M_COUNT][2] = {{{0}}};
    int started, err = 0;

    make_meas(m, o->iters);
    for (started = 0; started < 2; started++) {
        w[started] =
            (struct worker){.idx = started, .cpu = started < res->ncpus ? res->cpus[started] : -1};
        err = pthread_create(&w[started].th, NULL, worker_main, &w[started]);
        if (err != 0)
            goto stop_workers;
    }
    res->two_ran = res->ncpus >= 2;

    for (int i = 0; i < M_COUNT; i++)
        dispatch(job_calibrate, 2, &m[i], NULL);
    /* Interleaved: a slow moment of the VM hits every row a little rather
     * than one row a lot. */
    for (unsigned r = 0; r < o->reps; r++) {
        for (int i = 0; i < M_COUNT; i++)
            dispatch(job_rep, 1, &m[i], &one[i]);
        for (int i = 0; i < M_COUNT && res->two_ran; i++)
            rep_two(w, &m[i], two[i]);
    }
    for (int i = 0; i < M_COUNT; i++) {
        res->one[i] = num_of(&one[i]);
        res->two[0][i] = num_of(&two[i][0]);
        res->two[1][i] = num_of(&two[i][1]);
        bench_stats_fini(&one[i]);
        bench_stats_fini(&two[i][0]);
        bench_stats_fini(&two[i][1]);
    }
stop_workers:
    dispatch(NULL, 0, NULL, NULL);
    for (int i = 0; i < started; i++)
        pthread_join(w[i].th, NULL);
    return -err;
}

/* ---- children ---- */

static void self_path(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    buf[n > 0 ? n : 0] = 0;
}

/* Reads every key of a child's output into vals (-1 when absent). */
static void parse_child(const char *out, struct num vals[M_COUNT])
{
    for (int i = 0; i < M_COUNT; i++) {
        if (!bench_result_get(out, keys[i], &vals[i].best, &vals[i].median))
            vals[i] = (struct num){-1, -1};
    }
}

static void clear_nums(struct num vals[M_COUNT])
{
    for (int i = 0; i < M_COUNT; i++)
        vals[i] = (struct num){-1, -1};
}

static void measure_disabled(const struct bench_opts *o, struct results *res)
{
    char self[PATH_MAX], iters[32], reps[32], cpu[16], out[4096];
    double disabled = 0, unused;

    self_path(self, sizeof self);
    snprintf(iters, sizeof iters, "%llu", (unsigned long long)o->iters);
    snprintf(reps, sizeof reps, "%u", o->reps);
    snprintf(cpu, sizeof cpu, "%d", res->ncpus > 0 ? res->cpus[0] : -1);
    const char *argv[] = {self, "--child-disabled", "--iters", iters, "--reps", reps, "--cpu", cpu,
                          NULL};
    const char *env[] = {"FLIGHTREC_DISABLE=1", NULL};
    int rc = bench_spawn(argv, env, false, CHILD_TIMEOUT_MS, out, sizeof out);
    parse_child(out, res->off);
    if (rc != 0)
        snprintf(res->off_why, sizeof res->off_why, "child failed (status %d)", rc);
    else if (!bench_result_get(out, "disabled", &disabled, &unused) || disabled != 1)
        snprintf(res->off_why, sizeof res->off_why, "FLIGHTREC_DISABLE=1 did not disable");
    if (res->off_why[0])
        clear_nums(res->off);
}

#ifdef FR_BENCH_LTTNG
static uint64_t lttng_iters(const struct bench_opts *o)
{
    /* LTTng events cost several flightrec events: fewer of them keep the
     * run short and still fill hundreds of chunks. */
    return o->iters / 10 > 0 ? o->iters / 10 : 1;
}

/* Runs bench-hotpath-lttng --expect on|off; false with res->lt_why set. */
static bool run_lttng_child(const struct bench_opts *o, struct results *res,
                            const struct lttng_bench *lb, const char *expect,
                            struct num vals[M_COUNT])
{
    char path[PATH_MAX + 32], iters[32], reps[32], cpu[16], out[4096], line[160];
    double unused;

    /* Built next to us (bench/CMakeLists.txt). */
    self_path(path, PATH_MAX);
    char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash + 1 - path) : 0;
    snprintf(path + dir, sizeof path - dir, "bench-hotpath-lttng");
    snprintf(iters, sizeof iters, "%llu", (unsigned long long)lttng_iters(o));
    snprintf(reps, sizeof reps, "%u", o->reps);
    snprintf(cpu, sizeof cpu, "%d", res->ncpus > 0 ? res->cpus[0] : -1);
    const char *argv[] = {path,     "--expect", expect,  "--iters", iters,
                          "--reps", reps,       "--cpu", cpu,       NULL};
    int rc = bench_spawn(argv, lttng_bench_env(lb), false, CHILD_TIMEOUT_MS, out, sizeof out);
    const char *err = strstr(out, "error ");
    if (rc != 0 || err || !bench_result_get(out, "rdtsc", &unused, &unused)) {
        snprintf(res->lt_why, sizeof res->lt_why, "bench-hotpath-lttng --expect %s: %s", expect,
                 rc < 0    ? strerror(-rc)
                 : err     ? bench_first_line(err + 6, line, sizeof line)
                 : rc != 0 ? "failed"
                           : "no results");
        return false;
    }
    parse_child(out, vals);
    const char *v = strstr(out, "lttng_ust_version ");
    if (v)
        bench_first_line(v + 18, res->lt_version, sizeof res->lt_version);
    return true;
}

static void measure_lttng(const struct bench_opts *o, struct results *res)
{
    struct lttng_bench lb;
    char why[200];

    if (lttng_bench_init(&lb, why, sizeof why) < 0) {
        snprintf(res->lt_why, sizeof res->lt_why, "%s", why);
        goto fini;
    }
    /* Disabled first, while no session of ours exists; it needs no
     * session daemon, so it is measured even where none can run. */
    if (!run_lttng_child(o, res, &lb, "off", res->lt_off))
        goto fini;
    if (lttng_bench_daemon(&lb, why, sizeof why) < 0 ||
        lttng_bench_start(&lb, why, sizeof why) < 0) {
        snprintf(res->lt_why, sizeof res->lt_why, "%s", why);
        goto fini;
    }
    run_lttng_child(o, res, &lb, "on", res->lt_on);
fini:
    lttng_bench_fini(&lb);
}
#endif

/* ---- the table ---- */

static double ratio(double ns, double base)
{
    return ns >= 0 && base > 0 ? ns / base : -1;
}

static const char *status(double r, double target)
{
    if (target <= 0)
        return "-";
    if (r < 0)
        return "n/a";
    return r <= target ? "ok" : "MISS";
}

static const char *cell(char *buf, size_t cap, const char *fmt, double v)
{
    if (v < 0)
        snprintf(buf, cap, "n/a");
    else
        snprintf(buf, cap, fmt, v);
    return buf;
}

#define ROW_FMT "%-28s %8s %8s %8s %8s %6s | %8s %8s\n"

static void row(const char *label, struct num n, double base, double target, struct num lt)
{
    char c[7][24];
    double r = ratio(n.best, base);
    if (target > 0)
        snprintf(c[3], sizeof c[3], "<= %.2f", target);
    else
        snprintf(c[3], sizeof c[3], "-");
    printf(ROW_FMT, label, cell(c[0], sizeof c[0], "%.2f", n.best),
           cell(c[1], sizeof c[1], "%.2f", n.median), cell(c[2], sizeof c[2], "%.3f", r), c[3],
           status(r, target), cell(c[4], sizeof c[4], "%.2f", lt.best),
           cell(c[5], sizeof c[5], "%.3f", ratio(lt.best, base)));
}

static void cpu_model(char *buf, size_t cap)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, cap, "unknown CPU");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            bench_first_line(colon + 1, buf, cap);
            break;
        }
    }
    fclose(f);
}

static void load_average(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l1 = -1;
    if (f) {
        if (fscanf(f, "%lf", &l1) != 1)
            l1 = -1;
        fclose(f);
    }
    cell(buf, cap, "%.2f", l1);
}

static void print_header(const struct bench_opts *o, const struct results *res, const char *load)
{
    char model[128];
    cpu_model(model, sizeof model);
    printf("\nflightrec hot path, per event, as a multiple of one rdtsc measured in this run\n");
    printf("machine: %s, %ld CPUs online, load average %s at start; record clock: %s\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), load,
           bench_tsc_invariant() ? "rdtsc (invariant TSC)"
                                 : "clock_gettime (no invariant TSC: every event reads it)");
    printf("method: %u interleaved repetitions of %llu iterations (LTTng: %llu), timed in "
           "~1 ms chunks;\n        ns/event = best chunk the thread ran unswitched, median = "
           "median chunk; CPU %d\n\n",
           o->reps, (unsigned long long)o->iters,
           (unsigned long long)(o->iters / 10 > 0 ? o->iters / 10 : 1),
           res->ncpus > 0 ? res->cpus[0] : -1);
}

static void print_one(const struct results *res)
{
    double base = res->one[M_RDTSC].best;
    const struct num none = {-1, -1};
    char c[3][24];

    printf(ROW_FMT, "measurement (1 thread)", "ns/event", "median", "x rdtsc", "target", "status",
           "LTTng ns", "x rdtsc");
    printf(ROW_FMT, "----------------------------", "--------", "------", "-------", "------",
           "------", "--------", "-------");
    row(labels[M_RDTSC], res->one[M_RDTSC], base, 0, none);
    for (int i = M_REGION; i < M_COUNT; i++)
        row(labels[i], res->one[i], base, targets[i], res->lt_on[i]);
    for (int i = M_REGION; i < M_COUNT; i++)
        row(off_labels[i], res->off[i], base, TARGET_DISABLED, res->lt_off[i]);
    if (res->off_why[0])
        printf("disabled: n/a (%s)\n", res->off_why);
    printf("disabled: FLIGHTREC_DISABLE=1 in a child process; LTTng: tracepoint, no session\n");
    printf("rdtsc in the child processes: flightrec disabled %s, LTTng off %s, LTTng on %s\n",
           cell(c[0], sizeof c[0], "%.2f ns", res->off[M_RDTSC].best),
           cell(c[1], sizeof c[1], "%.2f ns", res->lt_off[M_RDTSC].best),
           cell(c[2], sizeof c[2], "%.2f ns", res->lt_on[M_RDTSC].best));
    if (!res->lt_why[0])
        printf("lttng: LTTng-UST %s, snapshot session (per-UID overwrite buffers), "
               "events flightrec_bench:*\n",
               res->lt_version[0] ? res->lt_version : "?");
    else
        printf("lttng: n/a (%s)\n", res->lt_why);
}

#define TWO_FMT "%-28s %8s %8s %8s %8s %6s\n"

static void print_two(const struct results *res)
{
    char c[4][24];

    printf("\n2 threads at once, each thread against 1 thread alone (target: within 10%%)\n");
    if (!res->two_ran) {
        printf("2 threads: n/a (only %d CPU available)\n", res->ncpus);
        return;
    }
    printf(TWO_FMT, "measurement", "1 thread", "thread 0", "thread 1", "worst", "status");
    printf(TWO_FMT, "----------------------------", "--------", "--------", "--------", "-----",
           "------");
    for (int i = 0; i < M_COUNT; i++) {
        double a = res->two[0][i].best, b = res->two[1][i].best;
        double worst = ratio(a > b ? a : b, res->one[i].best);
        double pct = (worst - 1) * 100;
        if (worst < 0)
            snprintf(c[3], sizeof c[3], "n/a");
        else /* no "-0.0%" */
            snprintf(c[3], sizeof c[3], "%+.1f%%", pct > -0.05 && pct < 0.05 ? 0.0 : pct);
        printf(TWO_FMT, labels[i], cell(c[0], sizeof c[0], "%.2f", res->one[i].best),
               cell(c[1], sizeof c[1], "%.2f", a), cell(c[2], sizeof c[2], "%.2f", b), c[3],
               i == M_RDTSC ? "-" : status(worst, TARGET_TWO_THREADS));
    }
    printf("threads pinned to CPUs %d and %d; samples are chunks both threads ran at once\n",
           res->cpus[0], res->cpus[1]);
}

/* ---- main ---- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--iters N] [--reps N] [--no-lttng]\n"
            "  --iters N   iterations per repetition (default 5000000; LTTng gets N/10)\n"
            "  --reps N    repetitions (default 7)\n"
            "  --no-lttng  skip the LTTng-UST comparison\n",
            argv0);
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.iters = 5000000, .reps = 7, .cpu = -1};
    static struct results res;
    bool child = false, lttng = true;
    char load[24];

    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--child-disabled") == 0) {
            child = true;
        } else if (strcmp(argv[i], "--no-lttng") == 0) {
            lttng = false;
        } else {
            usage(argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (child)
        return child_disabled(&o);

    const char *d = getenv("FLIGHTREC_DISABLE");
    if (d && *d && strcmp(d, "0") != 0) {
        /* The library has read it already: only a fresh process records. */
        unsetenv("FLIGHTREC_DISABLE");
        execv("/proc/self/exe", argv);
        fprintf(stderr, "bench-hotpath: FLIGHTREC_DISABLE is set and re-exec failed: %s\n",
                strerror(errno));
        return 1;
    }
    int err = fr_init("bench-hotpath");
    if (err < 0) {
        fprintf(stderr, "bench-hotpath: flightrec cannot record (fr_init: %s)\n", strerror(-err));
        return 1;
    }
    load_average(load, sizeof load);
    res.ncpus = bench_cpus(res.cpus, 2);
    clear_nums(res.off);
    clear_nums(res.lt_on);
    clear_nums(res.lt_off);

    fprintf(stderr, "bench-hotpath: flightrec, 1 and 2 threads...\n");
    err = measure_threads(&o, &res);
    if (err < 0) {
        fprintf(stderr, "bench-hotpath: cannot start threads: %s\n", strerror(-err));
        return 1;
    }
    fprintf(stderr, "bench-hotpath: flightrec disabled (child)...\n");
    measure_disabled(&o, &res);
#ifdef FR_BENCH_LTTNG
    if (lttng) {
        fprintf(stderr, "bench-hotpath: LTTng-UST...\n");
        measure_lttng(&o, &res);
    } else {
        snprintf(res.lt_why, sizeof res.lt_why, "skipped: --no-lttng");
    }
#else
    (void)lttng;
    snprintf(res.lt_why, sizeof res.lt_why,
             "built without lttng-ust: pkg-config lttng-ust not found at configure time");
#endif
    print_header(&o, &res, load);
    print_one(&res);
    print_two(&res);
    return 0;
}

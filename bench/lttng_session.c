/* lttng_session.c - sets LTTng up and tears it down for bench-hotpath.
 *
 * Owns the temporary LTTNG_HOME (the lttng client keeps its current
 * session there, and the snapshot output would go there) and, when it had
 * to start one, the session daemon. Main thread only. Nothing of it may
 * outlive the run: the session is destroyed, the daemon we started is
 * stopped by its pid, the directory is removed.
 */
#define _GNU_SOURCE
#include "bench/lttng_session.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/harness.h"

#define CMD_TIMEOUT_MS 30000

/* Runs an lttng program with our LTTNG_HOME. Returns its exit status or
 * -errno; its output (stdout and stderr) is left in out. */
static int run(const struct lttng_bench *lb, const char *const argv[], char *out, size_t cap)
{
    return bench_spawn(argv, lttng_bench_env(lb), true, CMD_TIMEOUT_MS, out, cap);
}

/* Fills why with "what: first line of output" (or the errno text). */
static void explain(char *why, size_t cap, const char *what, int rc, const char *out)
{
    char line[160];
    if (rc < 0)
        snprintf(why, cap, "%s: %s", what, strerror(-rc));
    else if (*bench_first_line(out, line, sizeof line))
        snprintf(why, cap, "%s: %s", what, line);
    else
        snprintf(why, cap, "%s: exit status %d", what, rc);
}

const char *const *lttng_bench_env(const struct lttng_bench *lb)
{
    static const char *env[2];
    env[0] = lb->home_env;
    env[1] = NULL;
    return env;
}

static bool sessiond_running(const struct lttng_bench *lb)
{
    char out[4096];
    const char *argv[] = {"lttng", "list", NULL};
    return run(lb, argv, out, sizeof out) == 0;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid > 1 ? (pid_t)pid : 0;
}

int lttng_bench_init(struct lttng_bench *lb, char *why, size_t cap)
{
    memset(lb, 0, sizeof *lb); /* home[0] == 0: nothing to remove yet */
    snprintf(lb->session, sizeof lb->session, "flightrec-bench-%ld", (long)getpid());
    const char *tmp = getenv("TMPDIR");
    snprintf(lb->home, sizeof lb->home, "%s/flightrec-bench-lttng.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(lb->home)) {
        snprintf(why, cap, "cannot make a temporary LTTNG_HOME: %s", strerror(errno));
        lb->home[0] = 0;
        return -1;
    }
    snprintf(lb->home_env, sizeof lb->home_env, "LTTNG_HOME=%s", lb->home);
    return 0;
}

int lttng_bench_daemon(struct lttng_bench *lb, char *why, size_t cap)
{
    char out[4096];
    int rc;

    const char *probe[] = {"lttng", "--version", NULL};
    rc = run(lb, probe, out, sizeof out);
    if (rc != 0) {
        explain(why, cap, rc == -ENOENT ? "lttng not installed (lttng-tools)" : "lttng --version",
                rc, out);
        return -1;
    }
    if (sessiond_running(lb))
        return 0;

    /* None runs: start one (as root, the system-wide daemon every traced
     * application registers with). --no-kernel: only user space is
     * measured, and a container has no kernel tracer to load. */
    char pidfile[PATH_MAX + 32];
    char pidopt[PATH_MAX + 48];
    snprintf(pidfile, sizeof pidfile, "%s/sessiond.pid", lb->home);
    snprintf(pidopt, sizeof pidopt, "--pidfile=%s", pidfile);
    const char *start[] = {"lttng-sessiond", "--daemonize", "--no-kernel", pidopt, NULL};
    rc = run(lb, start, out, sizeof out);
    lb->sessiond = read_pid(pidfile);
    if (rc != 0) {
        explain(why, cap,
                rc == -ENOENT ? "lttng-sessiond not installed (lttng-tools)"
                              : "lttng-sessiond could not start",
                rc, out);
        return -1;
    }
    if (!sessiond_running(lb)) {
        snprintf(why, cap, "lttng-sessiond started but 'lttng list' cannot reach it%s",
                 geteuid() != 0 ? " (not root)" : "");
        return -1;
    }
    return 0;
}

int lttng_bench_start(struct lttng_bench *lb, char *why, size_t cap)
{
    char out[4096], outdir[PATH_MAX + 16];
    int rc;

    snprintf(outdir, sizeof outdir, "%s/traces", lb->home);
    /* Snapshot mode: overwrite buffers that nothing drains, the nearest
     * LTTng has to an always-on flight recorder, and no disk I/O while
     * the loops run. */
    const char *create[] = {"lttng", "create", lb->session, "--snapshot", "-o", outdir, NULL};
    rc = run(lb, create, out, sizeof out);
    if (rc != 0) {
        explain(why, cap, "lttng create --snapshot", rc, out);
        return -1;
    }
    lb->session_made = true;
    const char *enable[] = {"lttng",     "enable-event",      "-u", "-s",
                            lb->session, "flightrec_bench:*", NULL};
    rc = run(lb, enable, out, sizeof out);
    if (rc != 0) {
        explain(why, cap, "lttng enable-event", rc, out);
        return -1;
    }
    const char *begin[] = {"lttng", "start", lb->session, NULL};
    rc = run(lb, begin, out, sizeof out);
    if (rc != 0) {
        explain(why, cap, "lttng start", rc, out);
        return -1;
    }
    return 0;
}

void lttng_bench_stop(struct lttng_bench *lb)
{
    char out[4096];
    if (!lb->session_made)
        return;
    const char *destroy[] = {"lttng", "destroy", lb->session, NULL};
    int rc = run(lb, destroy, out, sizeof out);
    if (rc != 0) {
        char line[160];
        fprintf(stderr, "bench-hotpath: lttng destroy %s failed: %s\n", lb->session,
                bench_first_line(out, line, sizeof line));
    }
    lb->session_made = false;
}

/* Gone, or a zombie waiting for init to reap it: either way stopped. */
static bool pid_gone(pid_t pid)
{
    char path[64], buf[256];
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

/* True when pid is still the lttng-sessiond we started (not a recycled
 * pid belonging to something else). */
static bool is_sessiond(pid_t pid)
{
    char path[64], comm[64] = {0};
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(comm, sizeof comm, f) && strncmp(comm, "lttng-sessiond", 14) == 0;
    fclose(f);
    return ok;
}

static void stop_sessiond(pid_t pid)
{
    if (!is_sessiond(pid))
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 500 && !pid_gone(pid); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    if (!pid_gone(pid))
        fprintf(stderr, "bench-hotpath: lttng-sessiond %ld did not stop within 5 s\n", (long)pid);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void lttng_bench_fini(struct lttng_bench *lb)
{
    if (lb->home[0] == 0)
        return;
    lttng_bench_stop(lb);
    if (lb->sessiond > 0)
        stop_sessiond(lb->sessiond);
    lb->sessiond = 0;
    nftw(lb->home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    lb->home[0] = 0;
}

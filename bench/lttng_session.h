/* lttng_session.h - the LTTng side of bench-hotpath: a private LTTNG_HOME,
 * a session daemon (started if none runs, stopped again if we started
 * it) and one snapshot session recording flightrec_bench:*.
 *
 * Drives the `lttng` and `lttng-sessiond` programs, as a user would; runs
 * on bench-hotpath's main thread only. Every failure comes back as a
 * one-line reason for the "lttng: n/a (reason)" line, never as an exit.
 */
#ifndef FR_BENCH_LTTNG_SESSION_H
#define FR_BENCH_LTTNG_SESSION_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct lttng_bench {
    char home[PATH_MAX];          /* owns: the temporary LTTNG_HOME directory */
    char home_env[PATH_MAX + 16]; /* "LTTNG_HOME=<home>" */
    char session[64];
    pid_t sessiond; /* the daemon we started; 0 when it was running already */
    bool session_made;
};

/* Makes the private LTTNG_HOME. Returns 0, or -1 with the reason in why;
 * lttng_bench_fini() is needed either way. */
int lttng_bench_init(struct lttng_bench *lb, char *why, size_t cap);

/* Makes sure the lttng client works and a session daemon runs, starting
 * one if needed. Returns 0, or -1 with the reason in why. */
int lttng_bench_daemon(struct lttng_bench *lb, char *why, size_t cap);

/* The environment entries (NULL-terminated) for a program that must see
 * the same LTTng as we do. */
const char *const *lttng_bench_env(const struct lttng_bench *lb);

/* Creates the snapshot session, enables flightrec_bench:* and starts it.
 * Returns 0, or -1 with the reason in why (the session, if made, is
 * destroyed by lttng_bench_stop()). */
int lttng_bench_start(struct lttng_bench *lb, char *why, size_t cap);

/* Destroys the session, if any. */
void lttng_bench_stop(struct lttng_bench *lb);

/* Destroys the session, stops a daemon we started, removes LTTNG_HOME. */
void lttng_bench_fini(struct lttng_bench *lb);

#endif

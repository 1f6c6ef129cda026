/* status.c - GET /debug/flightrecorder/processes (see status.h).
 *
 * One object per process, newest registration first:
 *   {"pid": 12, "process": "svc", "state": "live"|"exited"|"died",
 *    "exit_status": 0 (exited only), "threads": 4, "threads_exited": 1,
 *    "events_dropped": 0, "oldest_ns": ..., "newest_ns": ...,
 *    "covered_seconds": 9.98, "registered_ns": ..., "ended_ns": ...}
 * Times are CLOCK_MONOTONIC ns. Process names come from the processes:
 * they go through the JSON encoder's escaping, so any bytes give valid
 * JSON.
 */
#define _GNU_SOURCE
#include "daemon/status.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

int status_render(const struct status_src *src, char **out, size_t *len)
{
    static const char *const states[] = {"live", "exited", "died"};
    size_t n = 0;
    for (const struct proc *p = src->reg->head; p; p = p->next)
        n++;
    /* a process: ~400 bytes of fields and a name of at most 63 bytes,
     * escaped to 6 bytes each at worst */
    size_t cap = 64 + n * (512 + 6 * FR_ABI_NAME_MAX);
    char *b = malloc(cap), *w = b;
    if (!b)
        return -ENOMEM;
    w += sprintf(w, "[");
    for (const struct proc *p = src->reg->head; p; p = p->next) {
        struct reader_stats st;
        reader_stats(&p->rd, &st);
        w += sprintf(w, "%s\n{\"pid\":%u,\"process\":", p == src->reg->head ? "" : ",", p->pid);
        w += json_escape(w, p->name, strnlen(p->name, sizeof p->name));
        w += sprintf(w, ",\"state\":\"%s\"", states[p->state]);
        if (p->state == PROC_EXITED)
            w += sprintf(w, ",\"exit_status\":%d", p->exit_status);
        double covered = st.newest_ns > st.oldest_ns ? (double)(st.newest_ns - st.oldest_ns) / 1e9 : 0;
        w += sprintf(w,
                     ",\"threads\":%u,\"threads_exited\":%u,\"events_dropped\":%llu,"
                     "\"oldest_ns\":%llu,\"newest_ns\":%llu,\"covered_seconds\":%.6f,"
                     "\"registered_ns\":%llu,\"ended_ns\":%llu}",
                     st.threads_live, st.threads_exited, (unsigned long long)st.dropped,
                     (unsigned long long)st.oldest_ns, (unsigned long long)st.newest_ns, covered,
                     (unsigned long long)p->registered_ns, (unsigned long long)p->ended_ns);
    }
    w += sprintf(w, "%s]\n", n ? "\n" : "");
    *out = b;
    *len = (size_t)(w - b);
    return 0;
}

/* The same, as a table for people (`flightrec status`). Names are shown
 * with control bytes replaced. */
static int render_text(const struct status_src *src, char **out, size_t *len)
{
    static const char *const states[] = {"live", "exited", "died"};
    size_t n = 0;
    for (const struct proc *p = src->reg->head; p; p = p->next)
        n++;
    size_t cap = 200 + n * (160 + FR_ABI_NAME_MAX);
    char *b = malloc(cap), *w = b;
    if (!b)
        return -ENOMEM;
    w += sprintf(w, "%-8s %-24s %-12s %7s %9s %10s\n", "PID", "PROCESS", "STATE", "THREADS",
                 "COVERED", "DROPPED");
    for (const struct proc *p = src->reg->head; p; p = p->next) {
        struct reader_stats st;
        char name[FR_ABI_NAME_MAX], state[16];
        reader_stats(&p->rd, &st);
        size_t k = 0;
        for (; k < sizeof name - 1 && p->name[k]; k++)
            name[k] = (unsigned char)p->name[k] < 0x20 ? '?' : p->name[k];
        name[k] = 0;
        if (p->state == PROC_EXITED)
            snprintf(state, sizeof state, "exited(%d)", p->exit_status);
        else
            snprintf(state, sizeof state, "%s", states[p->state]);
        double covered = st.newest_ns > st.oldest_ns ? (double)(st.newest_ns - st.oldest_ns) / 1e9 : 0;
        w += sprintf(w, "%-8u %-24s %-12s %7u %8.2fs %10llu\n", p->pid, name, state,
                     st.threads_live, covered, (unsigned long long)st.dropped);
    }
    *out = b;
    *len = (size_t)(w - b);
    return 0;
}

void status_handle(struct http_req *req, void *arg)
{
    char *text;
    size_t len;
    const char *fmt = http_query_get(http_req_query(req), "format");
    bool plain = fmt && strcmp(fmt, "text") == 0;
    if (fmt && !plain && strcmp(fmt, "json") != 0) {
        http_reply_error(req, 400, "format: text or json");
        return;
    }
    if ((plain ? render_text(arg, &text, &len) : status_render(arg, &text, &len)) < 0) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    http_reply(req, 200, plain ? "text/plain; charset=utf-8" : "application/json", text, len);
    free(text);
}

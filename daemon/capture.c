/* capture.c - reading and encoding a set of processes (see capture.h).
 *
 * Without an explicit start, the window is aligned on the newest event of
 * the selection, which, unlike the time of the request, does not move
 * while nothing is recorded: two snapshots with no new events in between
 * are identical.
 */
#define _GNU_SOURCE
#include "daemon/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/perfetto.h"
#include "common/reader.h"

int capture_pick(struct capture *c, struct registry *reg,
                 bool (*pick)(const struct proc *p, void *arg), void *arg)
{
    size_t cap = reg->count ? reg->count : 1;
    memset(c, 0, sizeof *c);
    c->procs = calloc(cap, sizeof *c->procs);
    c->ends = calloc(cap, sizeof *c->ends);
    if (!c->procs || !c->ends) {
        free(c->procs);
        free(c->ends);
        c->procs = NULL;
        c->ends = NULL;
        return -ENOMEM;
    }
    for (struct proc *p = reg->head; p; p = p->next)
        if (c->n < cap && pick(p, arg))
            c->procs[c->n++] = p;
    /* oldest first: the registry lists newest first */
    for (size_t a = 0, b = c->n ? c->n - 1 : 0; a < b; a++, b--) {
        struct proc *t = c->procs[a];
        c->procs[a] = c->procs[b];
        c->procs[b] = t;
    }
    /* What the loop knows of each process, fixed now: the pool thread
     * must not read the registry, which the loop keeps changing. */
    for (size_t i = 0; i < c->n; i++) {
        const struct proc *p = c->procs[i];
        proc_ref(c->procs[i]);
        c->ends[i] = (struct window_input){
            .pid = p->pid,
            .ended = p->state == PROC_EXITED ? WINDOW_EXITED
                     : p->state == PROC_DIED ? WINDOW_DIED
                                             : WINDOW_LIVE,
            .exit_status = p->exit_status,
            .ended_ns = p->ended_ns,
        };
    }
    return 0;
}

void capture_release(struct capture *c, struct registry *reg)
{
    for (size_t i = 0; i < c->n; i++)
        proc_unref(reg, c->procs[i]);
    free(c->procs);
    free(c->ends);
    memset(c, 0, sizeof *c);
}

int capture_encode(const struct capture *c, const struct capture_opts *o,
                   const struct enc_sink *sink, int (*start)(void *arg, uint64_t newest_ns),
                   void *arg)
{
    struct trace_proc *tp = calloc(c->n ? c->n : 1, sizeof *tp);
    struct window_input *in = calloc(c->n ? c->n : 1, sizeof *in);
    size_t nread = 0;
    int err = -ENOMEM;
    if (!tp || !in)
        goto done;

    uint64_t newest = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t t = reader_newest(&c->procs[i]->rd);
        newest = t > newest ? t : newest;
    }
    uint64_t from = o->from_ns ? o->from_ns : newest > o->last_ns ? newest - o->last_ns : 0;
    uint64_t budget = o->max_bytes;
    err = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct reader_opts ro = {.from_ns = from, .max_bytes = budget};
        if (budget == 0)
            break; /* the bound is reached: the rest stays out, as documented */
        err = reader_read(&c->procs[i]->rd, &ro, &tp[nread]);
        if (err < 0)
            goto done;
        budget = tp[nread].ring_bytes < budget ? budget - tp[nread].ring_bytes : 0;
        in[nread] = c->ends[i];
        in[nread].proc = &tp[nread];
        in[nread].from_ns = from;
        nread++;
    }
    if (start && (err = start(arg, newest)) < 0)
        goto done;
    err = o->json ? json_encode(in, nread, sink, 0) : perfetto_encode(in, nread, sink, 0);
done:
    for (size_t i = 0; i < nread; i++)
        trace_proc_free(&tp[i]);
    free(tp);
    free(in);
    return err;
}

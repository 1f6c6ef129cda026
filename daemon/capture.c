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
    c->rds = malloc(cap * sizeof *c->rds);
    if (!c->procs || !c->ends || !c->rds) {
        free(c->procs);
        free(c->ends);
        free(c->rds);
        memset(c, 0, sizeof *c);
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
        /* Registration read the clock table once; the points the library
         * added since convert this window's events. A table being
         * rewritten right now keeps the old one. */
        c->rds[i] = p->rd;
        reader_refresh_clock(&c->rds[i]);
    }
    return 0;
}

void capture_release(struct capture *c, struct registry *reg)
{
    for (size_t i = 0; i < c->n; i++)
        proc_unref(reg, c->procs[i]);
    free(c->procs);
    free(c->ends);
    free(c->rds);
    memset(c, 0, sizeof *c);
}

void capture_spare_take(struct capture_spare *s, struct reader_buf *out)
{
    *out = s->b;
    memset(&s->b, 0, sizeof s->b);
    s->held = false;
}

/* What a reader_buf holds, roughly: the ring copies and the events (the
 * text buffer is touched only as far as logs go). */
static size_t buf_bytes(const struct reader_buf *b)
{
    return b->units_cap * sizeof *b->units + b->events_cap * sizeof *b->events;
}

void capture_spare_give(struct capture_spare *s, struct reader_buf *b)
{
    if (!s->held && buf_bytes(b) <= CAPTURE_SPARE_MAX) {
        s->b = *b;
        s->held = true;
    } else {
        reader_buf_fini(b);
    }
    memset(b, 0, sizeof *b);
}

void capture_spare_fini(struct capture_spare *s)
{
    reader_buf_fini(&s->b);
    s->held = false;
}

uint64_t capture_newest(const struct capture *c)
{
    uint64_t newest = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t t = reader_newest(&c->rds[i]);
        newest = t > newest ? t : newest;
    }
    return newest;
}

/* The encoder of the chosen format: one of the two is set. */
struct encoder {
    struct perfetto_enc *pf; /* owns */
    struct json_enc *js;     /* owns */
};

static int enc_begin(struct encoder *x, bool json, const struct enc_sink *sink, size_t chunk,
                     const struct trace_clock *clocks, size_t n)
{
    memset(x, 0, sizeof *x);
    return json ? json_begin(&x->js, sink, chunk) : perfetto_begin(&x->pf, sink, chunk, clocks, n);
}

static int enc_add(struct encoder *x, const struct window_input *in)
{
    return x->js ? json_add(x->js, in) : perfetto_add(x->pf, in);
}

static int enc_end(struct encoder *x)
{
    return x->js ? json_end(x->js) : perfetto_end(x->pf);
}

static void enc_free(struct encoder *x)
{
    if (x->js)
        json_free(x->js);
    else
        perfetto_free(x->pf);
}

/* window_input.fetch: one thread decoded at a time, into the memory the
 * one before used. */
struct fetch {
    const struct reader *r;
    struct reader_buf *b;
    struct trace_proc *tp;
};

static int fetch_thread(void *arg, uint32_t i)
{
    struct fetch *f = arg;
    return reader_read_thread(f->r, f->b, f->tp, i);
}

int capture_encode(const struct capture *c, const struct capture_opts *o,
                   const struct enc_sink *sink)
{
    struct reader_buf tmp = {0}, *buf = o->buf ? o->buf : &tmp;
    struct encoder x;
    struct trace_clock *clocks = calloc(c->n ? c->n : 1, sizeof *clocks);
    if (!clocks)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++)
        reader_trace_clock(&c->rds[i], &clocks[i]);
    int err = enc_begin(&x, o->json, sink, o->chunk, clocks, c->n);
    free(clocks);
    if (err < 0)
        return err;
    uint64_t budget = o->max_bytes;
    for (size_t i = 0; i < c->n; i++) {
        struct reader_opts ro = {.from_ns = o->from_ns, .max_bytes = budget};
        struct trace_proc tp;
        if (budget == 0)
            break; /* the bound is reached: the rest stays out, as documented */
        /* One thread at a time, unless the window start is to be found
         * from the events themselves. */
        bool stream = o->from_ns != 0;
        if ((err = stream ? reader_read_head(&c->rds[i], &ro, buf, &tp)
                          : reader_read_buf(&c->rds[i], &ro, buf, &tp)) < 0)
            goto fail;
        budget = tp.ring_bytes < budget ? budget - tp.ring_bytes : 0;
        struct fetch f = {&c->rds[i], buf, &tp};
        struct window_input in = c->ends[i];
        in.proc = &tp;
        in.from_ns = o->from_ns;
        in.fetch = stream ? fetch_thread : NULL;
        in.fetch_arg = &f;
        if ((err = enc_add(&x, &in)) < 0)
            goto fail;
    }
    err = enc_end(&x);
    reader_buf_fini(&tmp);
    return err;
fail:
    enc_free(&x);
    reader_buf_fini(&tmp);
    return err;
}

/* window.c - the window and the pairing of cut records (see window.h).
 *
 * Called once per event by the encoders' single pass; regions, waits,
 * logs and counters are decided inline (window.h), the rest here. Tables
 * grow by doubling, so the cost per event stays flat and memory follows
 * what the window holds.
 */
#include "common/window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t mix64(uint64_t x)
{
    /* splitmix64's finaliser: ids that differ in few bits spread out */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* ---- strings ---- */

const char *window_str(const struct trace_proc *p, uint32_t id, size_t *len)
{
    uint32_t l;
    const char *s = trace_str(p, id, &l);
    *len = l > FR_ABI_STR_MAX ? FR_ABI_STR_MAX : l;
    return s;
}

const char *window_text(const struct trace_proc *p, const struct trace_event *e, size_t *len)
{
    size_t n = e->text_len > FR_ABI_LOG_MAX ? FR_ABI_LOG_MAX : e->text_len;
    if (!p->text || e->text_off > p->text_len || n > p->text_len - e->text_off) {
        *len = 0;
        return "";
    }
    *len = n;
    return p->text + e->text_off;
}

static const struct {
    const char *label, *kind;
} waits[] = {
    {"wait", "other"},           /* an unknown kind reads as "other" */
    {"lock wait", "lock"},       /* FR_WAIT_LOCK */
    {"io wait", "io"},           /* FR_WAIT_IO */
    {"net wait", "net"},         /* FR_WAIT_NET */
    {"syscall wait", "syscall"}, /* FR_WAIT_SYSCALL */
    {"wait", "other"},           /* FR_WAIT_OTHER */
};

const char *window_wait_label(unsigned kind, size_t *len)
{
    if (kind >= sizeof waits / sizeof waits[0])
        kind = 0;
    *len = strlen(waits[kind].label);
    return waits[kind].label;
}

const char *window_wait_kind(unsigned kind)
{
    return waits[kind < sizeof waits / sizeof waits[0] ? kind : 0].kind;
}

size_t window_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte, or overlong / out-of-range leads */
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t window_utf8_valid_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* Names and messages are mostly ASCII: eight bytes per step. */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        size_t n = window_utf8_seq(s + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

/* ---- growable tables ---- */

/* v (cap elements of size each, n used) with room for one more: v
 * itself, or a larger copy; NULL when out of memory (w->err says so, v
 * stays valid). */
static void *grow(struct window_proc *w, void *v, size_t *cap, size_t n, size_t each)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : 64;
    void *nv = c <= SIZE_MAX / each ? realloc(v, c * each) : NULL;
    if (!nv) {
        w->err = -ENOMEM;
        return NULL;
    }
    *cap = c;
    return nv;
}

static size_t task_slot(const struct window_proc *w, uint64_t id)
{
    size_t h = mix64(id) & w->task_mask;
    while (w->task_slots[h] && w->tasks[w->task_slots[h] - 1].id != id)
        h = (h + 1) & w->task_mask;
    return h;
}

/* The task of id, added when new; NULL when out of memory. */
static struct window_task *task_get(struct window_proc *w, uint64_t id)
{
    if (w->task_slots) {
        uint32_t s = w->task_slots[task_slot(w, id)];
        if (s)
            return &w->tasks[s - 1];
    }
    struct window_task *tasks = grow(w, w->tasks, &w->task_cap, w->ntasks, sizeof *w->tasks);
    if (!tasks)
        return NULL;
    w->tasks = tasks;
    /* Keep the hash at most half full: rebuild it twice as large. */
    if (2 * (w->ntasks + 1) > (w->task_slots ? w->task_mask + 1 : 0)) {
        size_t cap = w->task_slots ? 2 * (w->task_mask + 1) : 128;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots) {
            w->err = -ENOMEM;
            return NULL;
        }
        free(w->task_slots);
        w->task_slots = slots;
        w->task_mask = cap - 1;
        for (size_t i = 0; i < w->ntasks; i++)
            w->task_slots[task_slot(w, w->tasks[i].id)] = (uint32_t)(i + 1);
    }
    struct window_task *t = &w->tasks[w->ntasks++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->parent_idx = WINDOW_NONE;
    w->task_slots[task_slot(w, id)] = (uint32_t)w->ntasks;
    return t;
}

uint64_t window_flow_id(uint32_t pid, uint64_t id)
{
    return mix64(id ^ ((uint64_t)pid * UINT64_C(0x9e3779b97f4a7c15)));
}

/* ---- the window ---- */

static size_t first_at_or_after(const struct trace_thread *t, uint64_t from)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ev[mid].ts < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int window_proc_init(struct window_proc *w, const struct window_input *in)
{
    const struct trace_proc *p = in->proc;
    memset(w, 0, sizeof *w);
    w->p = p;
    w->pid = in->pid ? in->pid : p->pid;
    w->dropped = p->dropped_no_ring + p->dropped_nested;
    w->fetch = in->fetch;
    w->fetch_arg = in->fetch_arg;
    w->threads = calloc(p->nthreads ? p->nthreads : 1, sizeof *w->threads);
    if (!w->threads)
        return -ENOMEM;
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < p->nthreads; i++) {
        const struct trace_thread *t = &p->threads[i];
        struct window_thread *wt = &w->threads[i];
        wt->t = t;
        /* The main thread's tid is the pid as the process sees it; in
         * another pid namespace it becomes the pid we were given. */
        wt->tid = t->tid == p->pid ? w->pid : t->tid;
        w->dropped += t->dropped;
        if (w->fetch)
            continue; /* no events yet: the window start is from_ns */
        size_t lo = first_at_or_after(t, in->from_ns); /* events are in time order */
        if (lo < t->n && t->ev[lo].ts < first)
            first = t->ev[lo].ts;
    }
    w->start = in->from_ns ? in->from_ns : (first == UINT64_MAX ? 0 : first);
    return 0;
}

int window_thread_load(struct window_proc *w, uint32_t i)
{
    struct window_thread *wt = &w->threads[i];
    if (w->fetch) {
        int err = w->fetch(w->fetch_arg, i);
        if (err < 0) {
            w->err = w->err < 0 ? w->err : err;
            return err;
        }
    }
    const struct trace_thread *t = wt->t;
    wt->lo = first_at_or_after(t, w->start);
    if (t->n && t->ev[t->n - 1].ts > w->last_ts)
        w->last_ts = t->ev[t->n - 1].ts;
    return 0;
}

void window_proc_fini(struct window_proc *w)
{
    free(w->threads);
    free(w->tasks);
    free(w->task_slots);
    free(w->flows);
    free(w->late);
    free(w->cuts);
    memset(w, 0, sizeof *w);
}

void window_thread_begin(struct window_proc *w, uint32_t i)
{
    w->thread = i;
    w->ncuts = 0;
    w->regions = w->waits = 0;
}

/* An END met with nothing of its kind open began before the window.
 * Counting, not the depth in the record: that is the writer's word. */
static int cut_end(struct window_proc *w, uint32_t *open, const struct trace_event *e)
{
    if (*open) {
        --*open;
        return WINDOW_WRITE;
    }
    struct trace_event *cuts = grow(w, w->cuts, &w->cut_cap, w->ncuts, sizeof *w->cuts);
    if (cuts) {
        w->cuts = cuts;
        w->cuts[w->ncuts++] = *e;
    }
    return WINDOW_WRITE;
}

int window_event_slow(struct window_proc *w, const struct trace_event *e, struct window_task **task)
{
    struct window_task *t;
    struct window_flow *flows;
    switch (e->type) {
    case FR_REC_REGION_END:
        return cut_end(w, &w->regions, e);
    case FR_REC_WAIT_END:
        return cut_end(w, &w->waits, e);
    case FR_REC_TASK_BEGIN:
        if (!e->id || !(t = task_get(w, e->id)) || t->has_begin)
            return WINDOW_SKIP; /* "no task", out of memory, or a repeat (hostile) */
        t->has_begin = true;
        t->begin_thread = w->thread;
        t->begin_ts = e->ts;
        t->name = e->name;
        t->parent = e->parent;
        *task = t;
        return WINDOW_WRITE;
    case FR_REC_TASK_END:
        if (!e->id || !(t = task_get(w, e->id)) || t->has_end)
            return WINDOW_SKIP;
        t->has_end = true;
        t->end_ts = e->ts;
        t->end_start_ts = e->start_ts;
        t->end_thread = w->thread;
        if (!t->has_begin) {
            /* Its BEGIN is on a thread not read yet, or before the window:
             * window_proc_settle() tells, and the END is written late. */
            t->name = e->name;
            t->parent = e->parent;
            return WINDOW_SKIP;
        }
        if (e->ts < t->begin_ts) {
            t->has_end = false; /* ends before it begins (hostile): leave it open */
            return WINDOW_SKIP;
        }
        t->end_written = true;
        *task = t;
        return WINDOW_WRITE;
    case FR_REC_FLOW_BEGIN:
    case FR_REC_FLOW_END:
        flows = grow(w, w->flows, &w->flow_cap, w->nflows, sizeof *w->flows);
        if (flows) {
            w->flows = flows;
            w->flows[w->nflows++] = (struct window_flow){
                .ts = e->ts, .id = e->id, .type = e->type, .thread = w->thread};
        }
        return WINDOW_SKIP;
    default:
        return WINDOW_SKIP; /* attach, detach, unknown */
    }
}

const char *window_rule_on(unsigned on)
{
    static const char *const names[] = {"?", "task", "region", "wait", "log", "manual"};
    return on < sizeof names / sizeof names[0] ? names[on] : "?";
}

/* ---- after the threads ---- */

static int late_add(struct window_proc *w, uint64_t ts, unsigned kind, size_t idx)
{
    struct window_late *late = grow(w, w->late, &w->late_cap, w->nlate, sizeof *w->late);
    if (!late)
        return -ENOMEM;
    w->late = late;
    w->late[w->nlate++] = (struct window_late){ts, kind, (uint32_t)idx};
    return 0;
}

static int cmp_late(const void *a, const void *b)
{
    const struct window_late *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct flow_ends {
    uint64_t id, first_begin, last_end;
    bool used, has_begin, has_end;
};

/* Which flow records have their other end in the window: a start with an
 * end at or after it, an end with a start at or before it. */
static int link_flows(struct window_proc *w)
{
    int err = -ENOMEM;
    if (!w->nflows)
        return 0;
    size_t cap = 16;
    while (cap < 2 * w->nflows)
        cap *= 2;
    struct flow_ends *ends = calloc(cap, sizeof *ends); /* a hash by flow id */
    if (!ends)
        return -ENOMEM;
    uint32_t *slot_of = malloc(w->nflows * sizeof *slot_of);
    if (!slot_of)
        goto free_ends;
    for (size_t i = 0; i < w->nflows; i++) {
        const struct window_flow *e = &w->flows[i];
        size_t h = mix64(e->id) & (cap - 1);
        while (ends[h].used && ends[h].id != e->id)
            h = (h + 1) & (cap - 1);
        struct flow_ends *f = &ends[h];
        f->used = true;
        f->id = e->id;
        slot_of[i] = (uint32_t)h;
        if (e->type == FR_REC_FLOW_BEGIN) {
            if (!f->has_begin || e->ts < f->first_begin)
                f->first_begin = e->ts;
            f->has_begin = true;
        } else {
            if (!f->has_end || e->ts > f->last_end)
                f->last_end = e->ts;
            f->has_end = true;
        }
    }
    for (size_t i = 0; i < w->nflows; i++) {
        const struct window_flow *e = &w->flows[i];
        const struct flow_ends *f = &ends[slot_of[i]];
        w->flows[i].linked = e->type == FR_REC_FLOW_BEGIN ? f->has_end && f->last_end >= e->ts
                                                          : f->has_begin && f->first_begin <= e->ts;
    }
    err = 0;
    free(slot_of);
free_ends:
    free(ends);
    return err;
}

int window_proc_settle(struct window_proc *w)
{
    if (w->err < 0)
        return w->err;
    for (size_t i = 0; i < w->ntasks; i++) {
        struct window_task *t = &w->tasks[i];
        if (!t->has_end)
            continue;
        if (!t->has_begin) {
            /* Cut by the window: it began at start_ts if that is inside
             * the window, else at the window start; never after its end. */
            uint64_t b = t->end_start_ts >= w->start ? t->end_start_ts : w->start;
            t->begin_ts = b < t->end_ts ? b : t->end_ts;
            if (late_add(w, t->begin_ts, WINDOW_LATE_TASK_BEGIN, i) < 0 ||
                late_add(w, t->end_ts, WINDOW_LATE_TASK_END, i) < 0)
                return -ENOMEM;
        } else if (!t->end_written) {
            /* Its END was met first, on a thread read earlier, and held
             * back: written now, after the BEGIN. */
            if (t->end_ts < t->begin_ts)
                t->has_end = false; /* ends before it begins (hostile): leave it open */
            else if (late_add(w, t->end_ts, WINDOW_LATE_TASK_END, i) < 0)
                return -ENOMEM;
        }
    }
    for (size_t i = 0; i < w->ntasks; i++) {
        struct window_task *t = &w->tasks[i];
        if (!t->parent || t->parent == t->id)
            continue;
        size_t s = task_slot(w, t->parent);
        if (!w->task_slots[s])
            continue;
        size_t pi = w->task_slots[s] - 1;
        const struct window_task *par = &w->tasks[pi];
        /* A parent begins before its child. Linking only to a task that is
         * earlier in (begin_ts, index) order keeps hostile parent ids from
         * making a loop of tracks; a real parent that ties loses its link
         * and its child shows under the process instead. */
        if (par->begin_ts < t->begin_ts || (par->begin_ts == t->begin_ts && pi < i))
            t->parent_idx = (uint32_t)pi;
    }
    if (link_flows(w) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < w->nflows; i++)
        if (late_add(w, w->flows[i].ts, WINDOW_LATE_FLOW, i) < 0)
            return -ENOMEM;
    if (w->nlate > 1)
        qsort(w->late, w->nlate, sizeof *w->late, cmp_late);
    return 0;
}

uint64_t window_end_ts(const struct window_proc *w, const struct window_input *in)
{
    return w->last_ts > in->ended_ns ? w->last_ts : in->ended_ns;
}

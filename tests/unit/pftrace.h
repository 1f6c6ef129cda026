/* pftrace.h - a small Perfetto trace decoder for the encoder tests.
 *
 * Replays what trace_processor does with the subset flightrec writes
 * (PERFETTO.md): per-sequence interning and defaults, the incremental
 * sequence clock, TrackDescriptors, TrackEvents. Strict: any field it does
 * not expect, a wrong wire type, an undefined iid, a string that is not
 * valid UTF-8 or bytes past the end count as errors, so a test can assert
 * errors == 0 without protoc. Test code: mallocs freely.
 */
#ifndef FR_TESTS_PFTRACE_H
#define FR_TESTS_PFTRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PT_PROCESS = 1, PT_THREAD, PT_COUNTER, PT_TRACK };

struct pt_track {
    uint64_t uuid, parent;
    int kind;
    int64_t pid, tid;
    char *name; /* owns; "" when none */
    int count_unit;
};

struct pt_event {
    uint32_t seq;
    uint64_t ts; /* CLOCK_MONOTONIC ns, deltas resolved */
    int type;    /* 1 begin, 2 end, 3 instant, 4 counter */
    uint64_t track;
    char *name; /* owns; NULL when none */
    int64_t counter;
    int nflow, nterm;
    uint64_t flow, term;
    char *category, *message, *kind; /* owns; annotations, NULL when absent */
    int truncated;
    uint64_t task_id;
};

struct pt_trace {
    struct pt_track *tracks;
    size_t ntracks;
    struct pt_event *ev;
    size_t nev;
    int snapshots;
    uint64_t boot, mono, real; /* the first ClockSnapshot */
    int primary;
    int errors;
    char why[256]; /* the first error */
};

struct pt_buf {
    const unsigned char *p, *end;
};

static inline void pt_err(struct pt_trace *t, const char *what)
{
    if (!t->errors++)
        snprintf(t->why, sizeof t->why, "%s", what);
}

static inline bool pt_varint(struct pt_buf *b, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64 && b->p < b->end; s += 7) {
        unsigned c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* Next field: number, wire type, and its value or bytes. */
static inline bool pt_field(struct pt_buf *b, unsigned *num, unsigned *wt, uint64_t *v,
                            struct pt_buf *sub)
{
    uint64_t key;
    if (!pt_varint(b, &key))
        return false;
    *num = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    if (*wt == 0)
        return pt_varint(b, v);
    if (*wt == 1) {
        if (b->end - b->p < 8)
            return false;
        memcpy(v, b->p, 8);
        b->p += 8;
        return true;
    }
    if (*wt == 2) {
        if (!pt_varint(b, v) || *v > (uint64_t)(b->end - b->p))
            return false;
        sub->p = b->p;
        sub->end = b->p + *v;
        b->p += *v;
        return true;
    }
    return false;
}

static inline bool pt_utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < k)
            return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k;
    }
    return true;
}

static inline char *pt_str(struct pt_trace *t, struct pt_buf s)
{
    size_t n = (size_t)(s.end - s.p);
    if (!pt_utf8_ok(s.p, n))
        pt_err(t, "string field is not valid UTF-8");
    char *c = malloc(n + 1);
    memcpy(c, s.p, n);
    c[n] = 0;
    return c;
}

/* ---- per sequence ---- */

struct pt_iid {
    uint64_t iid;
    char *s;
};

struct pt_seq {
    uint32_t id;
    bool valid;
    uint64_t def_track;
    bool has_def_track;
    unsigned def_clock;
    uint64_t inc; /* clock 64 */
    bool inc_set;
    struct pt_iid *names, *dnames;
    size_t nnames, ndnames;
};

static inline void pt_seq_clear(struct pt_seq *s)
{
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i].s);
    for (size_t i = 0; i < s->ndnames; i++)
        free(s->dnames[i].s);
    free(s->names);
    free(s->dnames);
    s->names = s->dnames = NULL;
    s->nnames = s->ndnames = 0;
    s->has_def_track = false;
    s->def_clock = 0;
}

static inline const char *pt_lookup(struct pt_iid *v, size_t n, uint64_t iid)
{
    for (size_t i = n; i-- > 0;)
        if (v[i].iid == iid)
            return v[i].s;
    return NULL;
}

static inline void pt_add_iid(struct pt_trace *t, struct pt_iid **v, size_t *n, struct pt_buf b)
{
    unsigned num, wt;
    uint64_t x, iid = 0;
    struct pt_buf sub = {0};
    char *s = NULL;
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub)) {
            pt_err(t, "bad interned entry");
            break;
        }
        if (num == 1 && wt == 0)
            iid = x;
        else if (num == 2 && wt == 2) {
            free(s);
            s = pt_str(t, sub);
        } else
            pt_err(t, "unexpected field in interned entry");
    }
    if (!iid || !s) {
        pt_err(t, "interned entry without iid or name");
        free(s);
        return;
    }
    *v = realloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n].iid = iid;
    (*v)[(*n)++].s = s;
}

/* ---- messages ---- */

static inline void pt_track_descr(struct pt_trace *t, struct pt_buf b)
{
    struct pt_track tr = {0};
    unsigned num, wt;
    uint64_t x;
    struct pt_buf sub = {0}, s2 = {0};
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub)) {
            pt_err(t, "bad TrackDescriptor");
            break;
        }
        if (num == 1 && wt == 0)
            tr.uuid = x;
        else if (num == 2 && wt == 2)
            free(tr.name), tr.name = pt_str(t, sub), tr.kind = tr.kind ? tr.kind : PT_TRACK;
        else if (num == 5 && wt == 0)
            tr.parent = x;
        else if ((num == 3 || num == 4) && wt == 2) {
            tr.kind = num == 3 ? PT_PROCESS : PT_THREAD;
            while (sub.p < sub.end) {
                if (!pt_field(&sub, &num, &wt, &x, &s2)) {
                    pt_err(t, "bad process/thread descriptor");
                    break;
                }
                if (num == 1 && wt == 0)
                    tr.pid = (int64_t)x;
                else if (num == 2 && wt == 0 && tr.kind == PT_THREAD)
                    tr.tid = (int64_t)x;
                else if ((num == 6 || num == 5) && wt == 2)
                    free(tr.name), tr.name = pt_str(t, s2);
                else
                    pt_err(t, "unexpected field in process/thread descriptor");
            }
        } else if (num == 8 && wt == 2) {
            tr.kind = PT_COUNTER;
            while (sub.p < sub.end) {
                if (!pt_field(&sub, &num, &wt, &x, &s2) || num != 3 || wt != 0)
                    pt_err(t, "unexpected field in CounterDescriptor");
                else
                    tr.count_unit = x == 2;
            }
        } else
            pt_err(t, "unexpected field in TrackDescriptor");
    }
    if (!tr.uuid)
        pt_err(t, "TrackDescriptor without uuid");
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].uuid == tr.uuid)
            pt_err(t, "uuid declared twice");
    if (!tr.name)
        tr.name = calloc(1, 1);
    if (!tr.kind)
        tr.kind = PT_TRACK;
    t->tracks = realloc(t->tracks, (t->ntracks + 1) * sizeof *t->tracks);
    t->tracks[t->ntracks++] = tr;
}

static inline void pt_annotation(struct pt_trace *t, struct pt_seq *sq, struct pt_event *e,
                                 struct pt_buf b)
{
    unsigned num, wt;
    uint64_t x;
    struct pt_buf sub = {0};
    const char *name = NULL;
    char *lit = NULL, *sval = NULL;
    uint64_t uval = 0;
    bool bval = false;
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub)) {
            pt_err(t, "bad DebugAnnotation");
            break;
        }
        if (num == 1 && wt == 0) {
            name = pt_lookup(sq->dnames, sq->ndnames, x);
            if (!name)
                pt_err(t, "undefined debug annotation name iid");
        } else if (num == 10 && wt == 2)
            free(lit), lit = pt_str(t, sub), name = lit;
        else if (num == 6 && wt == 2)
            free(sval), sval = pt_str(t, sub);
        else if (num == 3 && wt == 0)
            uval = x;
        else if (num == 2 && wt == 0)
            bval = x != 0;
        else
            pt_err(t, "unexpected field in DebugAnnotation");
    }
    if (!name)
        name = "";
    if (!strcmp(name, "category") && sval)
        e->category = sval, sval = NULL;
    else if (!strcmp(name, "message") && sval)
        e->message = sval, sval = NULL;
    else if (!strcmp(name, "kind") && sval)
        e->kind = sval, sval = NULL;
    else if (!strcmp(name, "truncated"))
        e->truncated = bval;
    else if (!strcmp(name, "task_id"))
        e->task_id = uval;
    else
        pt_err(t, "unknown debug annotation");
    free(sval);
    free(lit);
}

static inline void pt_track_event(struct pt_trace *t, struct pt_seq *sq, struct pt_event *e,
                                  struct pt_buf b)
{
    unsigned num, wt;
    uint64_t x;
    struct pt_buf sub = {0};
    bool has_track = false;
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub)) {
            pt_err(t, "bad TrackEvent");
            break;
        }
        if (num == 9 && wt == 0)
            e->type = (int)x;
        else if (num == 11 && wt == 0)
            e->track = x, has_track = true;
        else if (num == 10 && wt == 0) {
            const char *n = pt_lookup(sq->names, sq->nnames, x);
            if (!n)
                pt_err(t, "undefined event name iid");
            free(e->name);
            e->name = strdup(n ? n : "");
        } else if (num == 23 && wt == 2)
            free(e->name), e->name = pt_str(t, sub);
        else if (num == 4 && wt == 2)
            pt_annotation(t, sq, e, sub);
        else if (num == 30 && wt == 0)
            e->counter = (int64_t)x;
        else if (num == 47 && wt == 1)
            e->flow = x, e->nflow++;
        else if (num == 48 && wt == 1)
            e->term = x, e->nterm++;
        else
            pt_err(t, "unexpected field in TrackEvent");
    }
    if (!has_track) {
        if (!sq->has_def_track)
            pt_err(t, "TrackEvent without a track");
        e->track = sq->def_track;
    }
    if (e->type < 1 || e->type > 4)
        pt_err(t, "TrackEvent type");
}

static inline struct pt_seq *pt_seq_get(struct pt_seq **v, size_t *n, uint32_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].id == id)
            return &(*v)[i];
    *v = realloc(*v, (*n + 1) * sizeof **v);
    struct pt_seq *s = &(*v)[(*n)++];
    memset(s, 0, sizeof *s);
    s->id = id;
    return s;
}

static inline void pt_packet(struct pt_trace *t, struct pt_seq **seqs, size_t *nseqs,
                             struct pt_buf b)
{
    unsigned num, wt;
    uint64_t x, ts = 0, flags = 0, seq = 0;
    unsigned clock = 0;
    bool has_ts = false;
    struct pt_buf sub = {0}, te = {0}, td = {0}, cs = {0}, in = {0}, def = {0};
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub)) {
            pt_err(t, "bad TracePacket");
            return;
        }
        if (num == 8 && wt == 0)
            ts = x, has_ts = true;
        else if (num == 58 && wt == 0)
            clock = (unsigned)x;
        else if (num == 10 && wt == 0)
            seq = x;
        else if (num == 13 && wt == 0)
            flags = x;
        else if (num == 87 && wt == 0)
            ;
        else if (num == 11 && wt == 2)
            te = sub;
        else if (num == 60 && wt == 2)
            td = sub;
        else if (num == 6 && wt == 2)
            cs = sub;
        else if (num == 12 && wt == 2)
            in = sub;
        else if (num == 59 && wt == 2)
            def = sub;
        else
            pt_err(t, "unexpected field in TracePacket");
    }
    if (!seq)
        pt_err(t, "packet without sequence id");
    struct pt_seq *sq = pt_seq_get(seqs, nseqs, (uint32_t)seq);
    if (flags & 1) {
        pt_seq_clear(sq);
        sq->valid = true;
    }
    if ((flags & 2) && !sq->valid)
        pt_err(t, "NEEDS_INCREMENTAL_STATE before a clear");
    if (def.p) {
        while (def.p < def.end) {
            struct pt_buf d2 = {0}, d3 = {0};
            if (!pt_field(&def, &num, &wt, &x, &d2))
                break;
            if (num == 58 && wt == 0)
                sq->def_clock = (unsigned)x;
            else if (num == 11 && wt == 2) {
                while (d2.p < d2.end && pt_field(&d2, &num, &wt, &x, &d3))
                    if (num == 11 && wt == 0)
                        sq->def_track = x, sq->has_def_track = true;
            }
        }
    }
    if (in.p) {
        if (!sq->valid)
            pt_err(t, "interned data before a clear");
        while (in.p < in.end) {
            if (!pt_field(&in, &num, &wt, &x, &sub) || wt != 2) {
                pt_err(t, "bad InternedData");
                break;
            }
            if (num == 2)
                pt_add_iid(t, &sq->names, &sq->nnames, sub);
            else if (num == 3)
                pt_add_iid(t, &sq->dnames, &sq->ndnames, sub);
            else
                pt_err(t, "unexpected interned table");
        }
    }
    if (cs.p) {
        uint64_t vals[128] = {0};
        bool inc64 = false, has[128] = {false};
        while (cs.p < cs.end) {
            if (!pt_field(&cs, &num, &wt, &x, &sub)) {
                pt_err(t, "bad ClockSnapshot");
                break;
            }
            if (num == 2 && wt == 0) {
                t->primary = (int)x;
                continue;
            }
            unsigned id = 0;
            uint64_t v = 0;
            bool inc = false;
            struct pt_buf c2 = {0};
            while (sub.p < sub.end && pt_field(&sub, &num, &wt, &x, &c2)) {
                if (num == 1)
                    id = (unsigned)x;
                else if (num == 2)
                    v = x;
                else if (num == 3)
                    inc = x != 0;
                else
                    pt_err(t, "unexpected field in Clock");
            }
            if (id < 128)
                vals[id] = v, has[id] = true;
            if (id == 64)
                inc64 = inc;
        }
        if (has[64]) {
            if (!inc64 || !has[3] || vals[3] != vals[64])
                pt_err(t, "sequence clock snapshot is not incremental MONOTONIC");
            sq->inc = vals[64];
            sq->inc_set = true;
        } else {
            if (t->snapshots == 0)
                t->boot = vals[6], t->mono = vals[3], t->real = vals[1];
            t->snapshots++;
        }
    }
    if (td.p)
        pt_track_descr(t, td);
    if (te.p) {
        struct pt_event e = {0};
        e.seq = (uint32_t)seq;
        if (!has_ts)
            pt_err(t, "TrackEvent without timestamp");
        unsigned c = clock ? clock : sq->def_clock;
        if (c == 64) {
            if (!sq->inc_set)
                pt_err(t, "delta timestamp before its clock snapshot");
            sq->inc += ts;
            e.ts = sq->inc;
        } else if (c == 3) {
            e.ts = ts;
        } else {
            pt_err(t, "TrackEvent in an unexpected clock");
        }
        pt_track_event(t, sq, &e, te);
        if ((t->nev & (t->nev - 1)) == 0) /* at powers of two: double */
            t->ev = realloc(t->ev, (t->nev ? 2 * t->nev : 1) * sizeof *t->ev);
        t->ev[t->nev++] = e;
    }
}

static inline void pt_free(struct pt_trace *t)
{
    for (size_t i = 0; i < t->ntracks; i++)
        free(t->tracks[i].name);
    for (size_t i = 0; i < t->nev; i++) {
        free(t->ev[i].name);
        free(t->ev[i].category);
        free(t->ev[i].message);
        free(t->ev[i].kind);
    }
    free(t->tracks);
    free(t->ev);
    memset(t, 0, sizeof *t);
}

/* Decodes a whole trace into *t (free with pt_free()); returns t->errors. */
static inline int pt_decode(const void *buf, size_t len, struct pt_trace *t)
{
    memset(t, 0, sizeof *t);
    struct pt_buf b = {buf, (const unsigned char *)buf + len}, sub = {0};
    struct pt_seq *seqs = NULL;
    size_t nseqs = 0;
    unsigned num, wt;
    uint64_t x;
    while (b.p < b.end) {
        if (!pt_field(&b, &num, &wt, &x, &sub) || num != 1 || wt != 2) {
            pt_err(t, "not a Trace.packet");
            break;
        }
        pt_packet(t, &seqs, &nseqs, sub);
    }
    for (size_t i = 0; i < nseqs; i++)
        pt_seq_clear(&seqs[i]);
    free(seqs);
    return t->errors;
}

/* ---- queries ---- */

static inline const struct pt_track *pt_track_of(const struct pt_trace *t, uint64_t uuid)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].uuid == uuid)
            return &t->tracks[i];
    return NULL;
}

static inline const struct pt_track *pt_thread(const struct pt_trace *t, int64_t tid)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].kind == PT_THREAD && t->tracks[i].tid == tid)
            return &t->tracks[i];
    return NULL;
}

static inline const struct pt_track *pt_named(const struct pt_trace *t, int kind, const char *name)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].kind == kind && !strcmp(t->tracks[i].name, name))
            return &t->tracks[i];
    return NULL;
}

/* Events of a type on a track (type 0: any); name NULL: any. */
static inline size_t pt_count(const struct pt_trace *t, uint64_t track, int type, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nev; i++) {
        const struct pt_event *e = &t->ev[i];
        if ((track == 0 || e->track == track) && (type == 0 || e->type == type) &&
            (!name || (e->name && !strcmp(e->name, name))))
            n++;
    }
    return n;
}

/* The index of the n-th (0-based) event on track, or -1. */
static inline long pt_nth(const struct pt_trace *t, uint64_t track, size_t nth)
{
    for (size_t i = 0; i < t->nev; i++)
        if (t->ev[i].track == track && nth-- == 0)
            return (long)i;
    return -1;
}

/* Replays slices as trace_processor does (sorted by timestamp, ties in
 * file order; END closes the innermost open slice of its track): ENDs
 * with nothing open, and slices still open at the end. */
struct pt_sorted {
    uint64_t ts;
    size_t idx;
};

static inline int pt_cmp_sorted(const void *a, const void *b)
{
    const struct pt_sorted *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static inline void pt_replay(const struct pt_trace *t, size_t *bad_ends, size_t *open)
{
    struct pt_sorted *v = malloc((t->nev + 1) * sizeof *v);
    uint64_t *tracks = malloc((t->ntracks + 1) * sizeof *tracks);
    size_t *depth = calloc(t->ntracks + 1, sizeof *depth);
    for (size_t i = 0; i < t->nev; i++)
        v[i].ts = t->ev[i].ts, v[i].idx = i;
    qsort(v, t->nev, sizeof *v, pt_cmp_sorted);
    for (size_t i = 0; i < t->ntracks; i++)
        tracks[i] = t->tracks[i].uuid;
    *bad_ends = *open = 0;
    for (size_t i = 0; i < t->nev; i++) {
        const struct pt_event *e = &t->ev[v[i].idx];
        size_t k = 0;
        while (k < t->ntracks && tracks[k] != e->track)
            k++;
        if (e->type == 1)
            depth[k]++;
        else if (e->type == 2) {
            if (depth[k])
                depth[k]--;
            else
                ++*bad_ends;
        }
    }
    for (size_t k = 0; k <= t->ntracks; k++)
        *open += depth[k];
    free(v);
    free(tracks);
    free(depth);
}

#endif

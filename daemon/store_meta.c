/* store_meta.c - the sidecar of a stored snapshot (see store_meta.h).
 *
 * The document is sized before it is written: a fixed part for keys and
 * numbers, and json_escape()'s worst case (6 bytes out per byte in) for
 * each string, so one allocation holds it and nothing is cut.
 */
#define _GNU_SOURCE
#include "daemon/store_meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

/* Keys, punctuation and numbers of the document without its strings and
 * triggers, and of one trigger: generous bounds (a number is at most 20
 * digits). */
#define FIXED_MAX   1024u
#define TRIGGER_MAX 256u

const char *store_format_name(enum store_format f)
{
    return f == STORE_JSON ? "json" : "perfetto";
}

size_t store_rfc3339(char *dst, uint64_t wall_ns, unsigned digits)
{
    time_t sec = (time_t)(wall_ns / 1000000000u);
    uint64_t ns = wall_ns % 1000000000u;
    struct tm tm;
    if (!gmtime_r(&sec, &tm))
        memset(&tm, 0, sizeof tm);
    int len = snprintf(dst, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%0*" PRIu64 "Z",
                       (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                       tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, digits == 3 ? 3 : 9,
                       digits == 3 ? ns / 1000000u : ns);
    return len < 0 ? 0 : (size_t)len;
}

/* The escaped size of s, or of null. */
static size_t esc_max(const char *s)
{
    return s ? 6 * strlen(s) + 2 : 4;
}

struct doc {
    char *p;
};

static void raw(struct doc *d, const char *s)
{
    size_t n = strlen(s);
    memcpy(d->p, s, n);
    d->p += n;
}

static void str(struct doc *d, const char *s)
{
    if (s)
        d->p += json_escape(d->p, s, strlen(s));
    else
        raw(d, "null");
}

static void u64(struct doc *d, uint64_t v)
{
    d->p += sprintf(d->p, "%" PRIu64, v);
}

static void opt_u64(struct doc *d, uint64_t v)
{
    if (v == STORE_NONE)
        raw(d, "null");
    else
        u64(d, v);
}

static void trigger(struct doc *d, const struct store_trigger *t)
{
    raw(d, "{\"mono_ns\": ");
    u64(d, t->mono_ns);
    raw(d, ", \"pid\": ");
    u64(d, t->pid);
    raw(d, ", \"tid\": ");
    u64(d, t->tid);
    raw(d, ", \"measured_ns\": ");
    opt_u64(d, t->measured_ns);
    raw(d, ", \"task_id\": ");
    opt_u64(d, t->task_id ? t->task_id : STORE_NONE);
    raw(d, ", \"subject\": ");
    str(d, t->subject);
    raw(d, ", \"reason\": ");
    str(d, t->reason);
    raw(d, "}");
}

int store_meta_render(const struct store_sidecar *sc, char **out, size_t *len)
{
    const struct store_meta *m = sc->m;
    size_t cap = FIXED_MAX;
    bool over = false;
    const char *strs[] = {sc->rule, sc->process, m->on, sc->trace};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        over |= __builtin_add_overflow(cap, esc_max(strs[i]), &cap);
    for (size_t i = 0; i < m->ntriggers; i++) {
        over |= __builtin_add_overflow(cap, TRIGGER_MAX, &cap);
        over |= __builtin_add_overflow(cap, esc_max(m->triggers[i].subject), &cap);
        over |= __builtin_add_overflow(cap, esc_max(m->triggers[i].reason), &cap);
    }
    char *buf = over ? NULL : malloc(cap);
    if (!buf)
        return -ENOMEM;

    struct doc d = {buf};
    char when[40];
    store_rfc3339(when, sc->wall_ns, 9);
    raw(&d, "{\n  \"rule\": ");
    str(&d, sc->rule);
    raw(&d, ",\n  \"on\": ");
    str(&d, m->on);
    raw(&d, ",\n  \"threshold_ns\": ");
    opt_u64(&d, m->threshold_ns);
    raw(&d, ",\n  \"measured_ns\": ");
    opt_u64(&d, m->measured_ns);
    raw(&d, ",\n  \"time\": \"");
    raw(&d, when);
    raw(&d, "\",\n  \"time_unix_ns\": ");
    u64(&d, sc->wall_ns);
    raw(&d, ",\n  \"time_mono_ns\": ");
    u64(&d, m->trigger_mono_ns);
    raw(&d, ",\n  \"pid\": ");
    u64(&d, sc->pid);
    raw(&d, ",\n  \"process\": ");
    str(&d, sc->process);
    raw(&d, ",\n  \"triggers_total\": ");
    u64(&d, m->ntriggers_total > m->ntriggers ? m->ntriggers_total : m->ntriggers);
    raw(&d, ",\n  \"triggers\": [");
    for (size_t i = 0; i < m->ntriggers; i++) {
        raw(&d, i ? ",\n    " : "\n    ");
        trigger(&d, &m->triggers[i]);
    }
    raw(&d, m->ntriggers ? "\n  ],\n  \"window\": {\"from_mono_ns\": "
                         : "],\n  \"window\": {\"from_mono_ns\": ");
    u64(&d, m->window_from_ns);
    raw(&d, ", \"to_mono_ns\": ");
    u64(&d, m->window_to_ns);
    raw(&d, "},\n  \"format\": \"");
    raw(&d, store_format_name(sc->format));
    raw(&d, "\",\n  \"trace\": ");
    str(&d, sc->trace);
    raw(&d, ",\n  \"trace_bytes\": ");
    u64(&d, sc->trace_bytes);
    raw(&d, "\n}\n");
    *d.p = 0;
    *out = buf;
    *len = (size_t)(d.p - buf);
    return 0;
}

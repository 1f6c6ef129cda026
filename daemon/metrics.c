/* metrics.c - GET /metrics (see metrics.h).
 *
 * Process names come from the processes themselves: they are escaped as
 * Prometheus label values (backslash, quote, newline) and cut, so a
 * hostile name cannot break the format.
 */
#define _GNU_SOURCE
#include "daemon/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifndef FR_VERSION
#define FR_VERSION "0.1.0"
#endif

struct out {
    char *p;
    size_t len, cap;
    int err;
};

static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = o->cap - o->len;
        int n = o->p ? vsnprintf(o->p + o->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 16384;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->err = -ENOMEM;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

/* A label value: at most 63 bytes of name, escaped. */
static void label(char *dst, size_t size, const char *s)
{
    size_t k = 0;
    for (size_t i = 0; s[i] && i < 63 && k + 3 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '"') {
            dst[k++] = '\\';
            dst[k++] = (char)c;
        } else if (c == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else {
            dst[k++] = (char)(c < 0x20 ? '?' : c);
        }
    }
    dst[k] = 0;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned open_fds(void)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}

/* Rules and the snapshot store. Rule names are [A-Za-z0-9._-] (the
 * config says so): no escaping needed. */
static void render_rules(struct out *o, const struct autosnap *a)
{
    const char *name;
    const struct rule_stats *st;
    size_t n = rules_count(a->rules);
    head(o, "flightrec_triggers_total", "counter",
         "Triggers per rule: spans over a threshold, logs, process ends, manual requests.");
    for (size_t i = 0; i < n; i++)
        if ((st = rules_stats(a->rules, i, &name)))
            put(o, "flightrec_triggers_total{rule=\"%s\"} %llu\n", name,
                (unsigned long long)st->triggers);
    head(o, "flightrec_triggers_suppressed_total", "counter",
         "Triggers that wrote nothing, by rule and reason (cooldown, rule_cap, global_cap).");
    static const enum rules_verdict why[] = {RULES_COOLDOWN, RULES_RULE_CAP, RULES_GLOBAL_CAP};
    for (size_t i = 0; i < n; i++)
        if ((st = rules_stats(a->rules, i, &name)))
            for (size_t k = 0; k < sizeof why / sizeof why[0]; k++)
                put(o, "flightrec_triggers_suppressed_total{rule=\"%s\",reason=\"%s\"} %llu\n",
                    name, rules_verdict_name(why[k]), (unsigned long long)st->verdicts[why[k]]);
    head(o, "flightrec_triggers_unknown_total", "counter",
         "Triggers from processes naming no rule in force (a reload removed it).");
    put(o, "flightrec_triggers_unknown_total %llu\n", (unsigned long long)a->triggers_unknown);
    head(o, "flightrec_rule_snapshots_total", "counter",
         "Snapshot files of each rule, by result (written, failed).");
    for (size_t i = 0; i < n; i++) {
        if (!(st = rules_stats(a->rules, i, &name)))
            continue;
        put(o, "flightrec_rule_snapshots_total{rule=\"%s\",result=\"written\"} %llu\n", name,
            (unsigned long long)st->written);
        put(o, "flightrec_rule_snapshots_total{rule=\"%s\",result=\"failed\"} %llu\n", name,
            (unsigned long long)st->write_failures);
    }
    struct store_stats ss;
    store_stats(a->store, &ss);
    head(o, "flightrec_store_files", "gauge", "Snapshots in the snapshot store.");
    put(o, "flightrec_store_files %llu\n", (unsigned long long)ss.files);
    head(o, "flightrec_store_bytes", "gauge", "Bytes of the snapshot store (traces and sidecars).");
    put(o, "flightrec_store_bytes %llu\n", (unsigned long long)ss.bytes);
    head(o, "flightrec_store_writes_total", "counter", "Snapshot store writes, by result.");
    put(o, "flightrec_store_writes_total{result=\"written\"} %llu\n", (unsigned long long)ss.written);
    put(o, "flightrec_store_writes_total{result=\"failed\"} %llu\n",
        (unsigned long long)ss.write_failures);
    head(o, "flightrec_store_evicted_total", "counter",
         "Snapshots deleted to keep the store within max_files, max_bytes and max_age.");
    put(o, "flightrec_store_evicted_total %llu\n", (unsigned long long)ss.evicted);
}

int metrics_render(const struct metrics_src *src, char **out, size_t *len)
{
    struct out o = {0};
    const struct registry *reg = src->reg;
    const struct snap_service *sn = src->snap;

    head(&o, "flightrec_build_info", "gauge", "Version of flightrecd.");
    put(&o, "flightrec_build_info{version=\"%s\"} 1\n", FR_VERSION);

    size_t by_state[3] = {0};
    for (const struct proc *p = reg->head; p; p = p->next)
        by_state[p->state]++;
    head(&o, "flightrec_processes", "gauge", "Registered processes by state.");
    static const char *const names[] = {"live", "exited", "died"};
    for (int s = 0; s < 3; s++)
        put(&o, "flightrec_processes{state=\"%s\"} %zu\n", names[s], by_state[s]);

    head(&o, "flightrec_process_threads", "gauge", "Thread rings in use, per process.");
    for (const struct proc *p = reg->head; p; p = p->next) {
        struct reader_stats st;
        char nm[200];
        reader_stats(&p->rd, &st);
        label(nm, sizeof nm, p->name);
        put(&o, "flightrec_process_threads{pid=\"%u\",process=\"%s\",state=\"live\"} %u\n",
            p->pid, nm, st.threads_live);
        put(&o, "flightrec_process_threads{pid=\"%u\",process=\"%s\",state=\"exited\"} %u\n",
            p->pid, nm, st.threads_exited);
    }
    head(&o, "flightrec_process_events_dropped_total", "counter",
         "Events a process could not record (no free ring, signal-handler nesting).");
    for (const struct proc *p = reg->head; p; p = p->next) {
        struct reader_stats st;
        char nm[200];
        reader_stats(&p->rd, &st);
        label(nm, sizeof nm, p->name);
        put(&o, "flightrec_process_events_dropped_total{pid=\"%u\",process=\"%s\"} %llu\n",
            p->pid, nm, (unsigned long long)st.dropped);
    }
    head(&o, "flightrec_process_triggers_lost_total", "counter",
         "Triggers a process recorded but could not tell the daemon (none connected, or its "
         "mailbox full).");
    for (const struct proc *p = reg->head; p; p = p->next) {
        char nm[200];
        uint64_t lost = 0;
        if (p->rd.h.abi_minor >= 1) /* the process's word, only ever shown */
            memcpy(&lost, p->base + offsetof(struct fr_abi_header, triggers_lost), sizeof lost);
        label(nm, sizeof nm, p->name);
        put(&o, "flightrec_process_triggers_lost_total{pid=\"%u\",process=\"%s\"} %llu\n", p->pid,
            nm, (unsigned long long)lost);
    }
    head(&o, "flightrec_process_ring_bytes", "gauge",
         "Ring memory a process reserves for its threads (pages are touched on use).");
    uint64_t total = 0;
    for (const struct proc *p = reg->head; p; p = p->next) {
        char nm[200];
        label(nm, sizeof nm, p->name);
        uint64_t b = (uint64_t)p->rd.h.ring_count * p->rd.h.ring_bytes;
        total += b;
        put(&o, "flightrec_process_ring_bytes{pid=\"%u\",process=\"%s\"} %llu\n", p->pid, nm,
            (unsigned long long)b);
    }
    head(&o, "flightrec_ring_bytes", "gauge", "Ring memory of all registered processes.");
    put(&o, "flightrec_ring_bytes %llu\n", (unsigned long long)total);

    head(&o, "flightrec_registrations_total", "counter", "Processes registered.");
    put(&o, "flightrec_registrations_total %llu\n", (unsigned long long)reg->registered_total);
    head(&o, "flightrec_registrations_refused_total", "counter",
         "Registrations refused: bad region, limits, protocol errors, timeouts.");
    put(&o, "flightrec_registrations_refused_total %llu\n",
        (unsigned long long)(reg->refused_total + src->ctl->refused_early));
    head(&o, "flightrec_process_ends_total", "counter", "Processes that ended, by how.");
    put(&o, "flightrec_process_ends_total{how=\"exited\"} %llu\n",
        (unsigned long long)reg->exited_total);
    put(&o, "flightrec_process_ends_total{how=\"died\"} %llu\n",
        (unsigned long long)reg->died_total);

    head(&o, "flightrec_snapshots_total", "counter", "Snapshot requests by result.");
    put(&o, "flightrec_snapshots_total{result=\"served\"} %llu\n",
        (unsigned long long)sn->served_total);
    put(&o, "flightrec_snapshots_total{result=\"failed\"} %llu\n",
        (unsigned long long)sn->failed_total);
    put(&o, "flightrec_snapshots_total{result=\"aborted\"} %llu\n",
        (unsigned long long)sn->aborted_total);
    put(&o, "flightrec_snapshots_total{result=\"busy\"} %llu\n",
        (unsigned long long)sn->busy_total);
    head(&o, "flightrec_snapshots_running", "gauge", "Snapshots being produced now.");
    put(&o, "flightrec_snapshots_running %u\n", sn->running);
    head(&o, "flightrec_snapshot_duration_seconds", "histogram",
         "Time from request to the last byte handed to the socket, served snapshots.");
    uint64_t cum = 0;
    for (int b = 0; b < SNAP_BUCKETS; b++) {
        cum += sn->bucket[b];
        put(&o, "flightrec_snapshot_duration_seconds_bucket{le=\"%g\"} %llu\n", snap_bucket_le[b],
            (unsigned long long)cum);
    }
    cum += sn->bucket[SNAP_BUCKETS];
    put(&o, "flightrec_snapshot_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)cum);
    put(&o, "flightrec_snapshot_duration_seconds_sum %.9f\n", sn->seconds_sum);
    put(&o, "flightrec_snapshot_duration_seconds_count %llu\n", (unsigned long long)cum);

    if (src->autosnap)
        render_rules(&o, src->autosnap);

    if (src->http) {
        struct http_stats hs;
        http_stats(src->http, &hs);
        head(&o, "flightrec_http_responses_total", "counter", "HTTP responses by status class.");
        for (int c = 1; c <= 5; c++)
            put(&o, "flightrec_http_responses_total{code=\"%dxx\"} %llu\n", c,
                (unsigned long long)hs.responses[c]);
        head(&o, "flightrec_http_connections", "gauge", "HTTP connections open.");
        put(&o, "flightrec_http_connections %llu\n", (unsigned long long)hs.conns_open);
        head(&o, "flightrec_http_connections_rejected_total", "counter",
             "HTTP connections refused at the connection limit.");
        put(&o, "flightrec_http_connections_rejected_total %llu\n",
            (unsigned long long)hs.conns_rejected);
        head(&o, "flightrec_http_sent_bytes_total", "counter", "Bytes written to HTTP clients.");
        put(&o, "flightrec_http_sent_bytes_total %llu\n", (unsigned long long)hs.bytes_sent);
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    head(&o, "flightrec_open_fds", "gauge", "File descriptors the daemon has open.");
    put(&o, "flightrec_open_fds %u\n", open_fds());
    head(&o, "flightrec_max_fds", "gauge", "The daemon's open-file limit.");
    put(&o, "flightrec_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    head(&o, "flightrec_config_reloads_total", "counter", "Configuration reloads, by result.");
    put(&o, "flightrec_config_reloads_total{result=\"ok\"} %llu\n",
        (unsigned long long)src->config_reloads);
    put(&o, "flightrec_config_reloads_total{result=\"refused\"} %llu\n",
        (unsigned long long)src->config_reload_failures);

    if (o.err) {
        free(o.p);
        return o.err;
    }
    *out = o.p;
    *len = o.len;
    return 0;
}

void metrics_handle(struct http_req *req, void *arg)
{
    char *text;
    size_t len;
    if (metrics_render(arg, &text, &len) < 0) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* autosnap.c - rules on the loop, snapshot files on the pool (see
 * autosnap.h).
 *
 * A trigger's time comes from the process (the end of the span that
 * fired, converted by the library); it is clamped to the last window
 * before now, so a process cannot point its window anywhere else. The
 * threshold written down is the daemon's, never the process's.
 */
#define _GNU_SOURCE
#include "daemon/autosnap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sink.h"
#include "daemon/capture.h"
#include "daemon/http_sink.h"
#include "daemon/log.h"

#define MS UINT64_C(1000000)

struct job {
    uv_work_t work;
    struct autosnap *a;
    struct rules_pending *p; /* owns */
    struct capture cap;      /* owns */
    struct reader_buf buf;   /* owns: decode memory, the spare or new */
    uint64_t wall_ns, mono_ns; /* one instant on both clocks, at the trigger */
    int err;
    char name[STORE_FILE_MAX];
    uint64_t bytes;
};

static void arm(struct autosnap *a);
static void arm_expiry(struct autosnap *a);

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void store_limits_of(const struct dconfig *cfg, struct store_limits *l)
{
    memset(l, 0, sizeof *l);
    memcpy(l->dir, cfg->snapshots.dir, sizeof l->dir - 1);
    l->max_files = cfg->snapshots.max_files;
    l->max_bytes = cfg->snapshots.max_bytes;
    l->max_age_ns = cfg->snapshots.max_age_ns;
}

/* ---- publishing rules ---- */

static void publish(struct autosnap *a, struct proc *p)
{
    struct fr_abi_rule t[FR_ABI_RULES_MAX];
    unsigned n = rules_table_for(a->rules, p->name, t);
    registry_publish_rules(p, t, n, rules_gen(a->rules));
}

void autosnap_registered(void *arg, struct proc *p)
{
    publish(arg, p);
}

/* ---- deciding ---- */

/* Offers t to rule and says what came of it in the log. */
static enum rules_verdict offer(struct autosnap *a, const struct dconfig_rule *rule,
                                struct rule_trigger *t)
{
    uint64_t now = uv_hrtime();
    if (t->mono_ns > now || now - t->mono_ns > a->reg->window_ns)
        t->mono_ns = now; /* the process's word, kept to the recording it can have */
    if (rule->threshold_ns)
        t->threshold_ns = rule->threshold_ns;
    struct rules_pending *p;
    bool log;
    uint64_t unlogged;
    enum rules_verdict v = rules_offer(a->rules, rule, t, now, &p, &log, &unlogged);
    if (v == RULES_FIRED) {
        if (t->measured_ns)
            dlog("rule %s fired: %s in %s[%" PRIu32 "] took %.1f ms (threshold %.1f ms); "
                 "writing a snapshot in %.1f s",
                 rule->name, t->subject, t->process, t->pid, (double)t->measured_ns / MS,
                 (double)t->threshold_ns / MS, (double)rule->after_ns / 1e9);
        else if (t->pid)
            dlog("rule %s fired: %s in %s[%" PRIu32 "]; writing a snapshot in %.1f s", rule->name,
                 t->subject, t->process, t->pid, (double)rule->after_ns / 1e9);
        else
            dlog("rule %s fired: %s, for every process; writing a snapshot in %.1f s",
                 rule->name, t->subject, (double)rule->after_ns / 1e9);
        arm(a);
    } else if (log) {
        dlog("rule %s: %" PRIu64 " trigger(s) suppressed (%s) since the last such line",
             rule->name, unlogged, rules_verdict_name(v));
    }
    return v;
}

static unsigned rule_on(unsigned abi_on)
{
    switch (abi_on) {
    case FR_ABI_RULE_TASK:
        return DRULE_ON_TASK;
    case FR_ABI_RULE_REGION:
        return DRULE_ON_REGION;
    case FR_ABI_RULE_WAIT:
        return DRULE_ON_WAIT;
    case FR_ABI_RULE_LOG:
        return DRULE_ON_LOG;
    case FR_ABI_RULE_MANUAL:
        return DRULE_ON_MANUAL;
    default:
        return 0;
    }
}

static void trigger_of(struct rule_trigger *t, const struct proc *p)
{
    memset(t, 0, sizeof *t);
    t->proc_id = p->id;
    t->pid = p->pid;
    memcpy(t->process, p->name, sizeof t->process);
    t->process[sizeof t->process - 1] = 0;
}

void autosnap_trigger(void *arg, struct proc *p, const struct fr_ctl_msg *m)
{
    struct autosnap *a = arg;
    char name[sizeof m->rule + 1];
    memcpy(name, m->rule, sizeof m->rule);
    name[sizeof m->rule] = 0;
    unsigned on = rule_on(m->on);
    const struct dconfig_rule *rule =
        !on ? NULL : rules_find(a->rules, on == DRULE_ON_MANUAL ? NULL : name, on, p->name);
    if (!rule) {
        a->triggers_unknown++; /* a reload removed it, or a confused process */
        return;
    }
    struct rule_trigger t;
    trigger_of(&t, p);
    t.mono_ns = m->mono_ns;
    t.measured_ns = on == DRULE_ON_LOG || on == DRULE_ON_MANUAL ? 0 : m->measured_ns;
    t.task_id = m->task_id & FR_REC_ID_MASK;
    t.tid = m->tid;
    memcpy(t.subject, m->text, sizeof t.subject - 1);
    offer(a, rule, &t);
}

struct ended {
    struct autosnap *a;
    struct proc *p;
};

static void exit_rule(const struct dconfig_rule *rule, void *arg)
{
    struct ended *e = arg;
    struct rule_trigger t;
    trigger_of(&t, e->p);
    t.mono_ns = e->p->ended_ns;
    if (e->p->state == PROC_DIED)
        snprintf(t.subject, sizeof t.subject, "died (no goodbye: killed or crashed)");
    else
        snprintf(t.subject, sizeof t.subject, "exited with status %d", e->p->exit_status);
    offer(e->a, rule, &t);
}

void autosnap_ended(void *arg, struct proc *p)
{
    struct autosnap *a = arg;
    if (p->state == PROC_EXITED && p->exit_status == 0)
        return; /* a clean exit breaks no rule */
    struct ended e = {a, p};
    rules_each_exit(a->rules, p->name, exit_rule, &e);
}

/* ---- writing ---- */

/* The trace file as it is written. The store fsyncs it at commit; asking
 * the kernel to start writing back each 256 KiB as soon as they are
 * written (sync_file_range, which does not wait) overlaps the disk with
 * the encoder, so that the fsync finds little left to do. */
struct file_out {
    int fd;
    uint64_t written, flushed;
};

#define WRITEBACK_EVERY (256u << 10)

static int file_write(void *ctx, const void *buf, size_t len)
{
    struct file_out *f = ctx;
    int err = sink_fd_write(&f->fd, buf, len);
    if (err < 0)
        return err;
    f->written += len;
    if (f->written - f->flushed >= WRITEBACK_EVERY) {
        sync_file_range(f->fd, (off64_t)f->flushed, (off64_t)(f->written - f->flushed),
                        SYNC_FILE_RANGE_WRITE);
        f->flushed = f->written;
    }
    return 0;
}

static const char *const on_names[] = {"?", "task", "region", "wait", "log", "exit", "manual"};

/* Why a trigger of a rule of kind `on` fired, for the sidecar. */
static const char *rule_reason(unsigned on)
{
    switch (on) {
    case DRULE_ON_TASK:
    case DRULE_ON_REGION:
    case DRULE_ON_WAIT:
        return "over threshold";
    case DRULE_ON_LOG:
        return "log of a watched category";
    case DRULE_ON_EXIT:
        return "process ended badly";
    default:
        return "manual request";
    }
}

static void job_run(uv_work_t *w)
{
    struct job *j = w->data;
    struct autosnap *a = j->a;
    const struct rules_pending *p = j->p;
    const struct rule_trigger *first = &p->trig[0];
    struct store_key key = {
        .wall_ns = j->wall_ns,
        .rule = p->rule.name,
        .process = p->scope_proc ? first->process : "all",
        .pid = p->scope_proc ? first->pid : 0,
        .format = a->json ? STORE_JSON : STORE_PERFETTO,
    };
    struct store_tx tx;
    j->err = store_begin(a->store, &key, &tx);
    if (j->err < 0)
        return;
    struct capture_opts o = {.from_ns = p->from_ns, .max_bytes = a->max_bytes, .json = a->json,
                             .chunk = 256u << 10, .buf = &j->buf};
    struct file_out out = {.fd = tx.fd};
    struct enc_sink sink = {file_write, &out};
    j->err = capture_encode(&j->cap, &o, &sink);
    struct stat st;
    if (j->err == 0 && fstat(tx.fd, &st) == 0)
        j->bytes = (uint64_t)st.st_size;
    if (j->err < 0) {
        store_abort(a->store, &tx);
        return;
    }
    struct store_trigger trig[RULES_TRIGGERS_KEPT];
    for (unsigned i = 0; i < p->ntrig; i++) {
        const struct rule_trigger *t = &p->trig[i];
        trig[i] = (struct store_trigger){
            .mono_ns = t->mono_ns, .pid = t->pid, .tid = t->tid,
            .measured_ns = t->measured_ns ? t->measured_ns : STORE_NONE,
            .subject = t->subject, .task_id = t->task_id,
            .reason = rule_reason(p->rule.on),
        };
    }
    struct store_meta m = {
        .on = p->rule.on < sizeof on_names / sizeof on_names[0] ? on_names[p->rule.on] : "?",
        .threshold_ns = p->rule.threshold_ns ? p->rule.threshold_ns : STORE_NONE,
        .measured_ns = first->measured_ns ? first->measured_ns : STORE_NONE,
        .trigger_mono_ns = first->mono_ns,
        .triggers = trig,
        .ntriggers = p->ntrig,
        .ntriggers_total = p->ntrig_total,
        .window_from_ns = p->from_ns,
        .window_to_ns = uv_hrtime(),
    };
    j->err = store_commit(a->store, &tx, &m, j->name, sizeof j->name);
}

static void maybe_stopped(struct autosnap *a);

static void job_after(uv_work_t *w, int status)
{
    struct job *j = w->data;
    struct autosnap *a = j->a;
    (void)status;
    rules_done(a->rules, j->p, j->err == 0);
    if (j->err == 0)
        dlog("rule %s: wrote %s (%" PRIu64 " bytes, %zu process(es), %" PRIu64 " trigger(s))",
             j->p->rule.name, j->name, j->bytes, j->cap.n, j->p->ntrig_total);
    else
        dlog("rule %s: could not write its snapshot: %s (not counted against its cooldown "
             "and caps: the next trigger tries again)",
             j->p->rule.name, strerror(-j->err));
    capture_release(&j->cap, a->reg);
    capture_spare_give(a->spare, &j->buf);
    free(j->p);
    free(j);
    a->running--;
    arm_expiry(a);
    maybe_stopped(a);
}

struct scope {
    uint64_t proc_id; /* 0: every process */
};

static bool in_scope(const struct proc *p, void *arg)
{
    const struct scope *s = arg;
    return !s->proc_id || p->id == s->proc_id;
}

static void start_job(struct autosnap *a, struct rules_pending *p)
{
    struct job *j = calloc(1, sizeof *j);
    struct scope sc = {p->scope_proc};
    if (!j || capture_pick(&j->cap, a->reg, in_scope, &sc) < 0) {
        free(j);
        rules_done(a->rules, p, false);
        dlog("rule %s: out of memory for its snapshot", p->rule.name);
        free(p);
        return;
    }
    j->a = a;
    j->p = p;
    capture_spare_take(a->spare, &j->buf);
    /* The trigger's wall time: its monotonic time moved by how long ago
     * it was, read on both clocks now. */
    uint64_t mono = uv_hrtime(), wall = realtime_ns();
    j->mono_ns = p->trig[0].mono_ns;
    j->wall_ns = wall - (mono > j->mono_ns ? mono - j->mono_ns : 0);
    j->work.data = j;
    a->running++;
    uv_queue_work(a->loop, &j->work, job_run, job_after);
}

static void on_due(uv_timer_t *t)
{
    arm(t->data);
}

static void on_expiry(uv_timer_t *t)
{
    struct autosnap *a = t->data;
    size_t n = store_expire(a->store, realtime_ns());
    if (n)
        dlog("snapshot store: %zu snapshot(s) older than snapshots.max_age deleted", n);
    arm_expiry(a);
}

/* Sleeps until the oldest stored snapshot is too old; with none, no
 * timer. */
static void arm_expiry(struct autosnap *a)
{
    uint64_t due = store_next_expiry(a->store), now = realtime_ns();
    if (a->stopping || due == UINT64_MAX) {
        uv_timer_stop(&a->expiry);
        return;
    }
    uint64_t ms = due > now ? (due - now) / MS + 1 : 0;
    uv_timer_start(&a->expiry, on_expiry, ms, 0);
}

/* Starts what is due and sleeps until the next one; no pending
 * snapshot, no timer. */
static void arm(struct autosnap *a)
{
    uint64_t now = uv_hrtime(), next;
    struct rules_pending *p;
    while ((p = rules_take_due(a->rules, now, &next)))
        start_job(a, p);
    if (next == UINT64_MAX || a->stopping)
        uv_timer_stop(&a->timer);
    else
        uv_timer_start(&a->timer, on_due, (next - now) / MS + 1, 0);
}

/* ---- life ---- */

int autosnap_start(struct autosnap *a, uv_loop_t *loop, struct registry *reg,
                   struct capture_spare *spare, const struct dconfig *cfg)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->reg = reg;
    a->spare = spare;
    a->max_bytes = cfg->recording.max_bytes;
    a->json = cfg->snapshots.format == DFORMAT_JSON;
    a->allow_tcp = cfg->http.allow_trigger;
    int err = rules_new(&a->rules, cfg);
    if (err < 0)
        return err;
    struct store_limits l;
    store_limits_of(cfg, &l);
    err = store_open(&a->store, &l);
    if (err < 0) {
        rules_free(a->rules);
        return err;
    }
    struct store_stats st;
    store_stats(a->store, &st);
    if (st.last_err)
        dlog("snapshot store at %s: %s; each write tries it again", l.dir, strerror(-st.last_err));
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_init(loop, &a->expiry);
    a->expiry.data = a;
    arm_expiry(a);
    return 0;
}

int autosnap_reload(struct autosnap *a, const struct dconfig *cfg)
{
    int err = rules_reconfigure(a->rules, cfg);
    if (err < 0)
        return err;
    struct store_limits l;
    store_limits_of(cfg, &l);
    if ((err = store_set_limits(a->store, &l)) < 0)
        dlog("reload: snapshot store at %s: %s; each write tries it again", l.dir,
             strerror(-err));
    a->max_bytes = cfg->recording.max_bytes;
    a->json = cfg->snapshots.format == DFORMAT_JSON;
    a->allow_tcp = cfg->http.allow_trigger;
    arm_expiry(a);
    for (struct proc *p = a->reg->head; p; p = p->next) {
        if (p->state != PROC_LIVE)
            continue;
        publish(a, p);
        control_rules_changed(p);
    }
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct autosnap *a = h->data;
    h->data = NULL;
    maybe_stopped(a);
}

static void maybe_stopped(struct autosnap *a)
{
    if (a->stopping && a->running == 0 && !a->timer.data && !a->expiry.data && a->stopped) {
        void (*cb)(struct autosnap *) = a->stopped;
        a->stopped = NULL;
        cb(a);
    }
}

void autosnap_stop(struct autosnap *a, void (*stopped)(struct autosnap *a))
{
    a->stopping = true;
    a->stopped = stopped;
    /* Nothing decided is lost: what is pending is written now, its
     * `after` cut short. */
    for (struct rules_pending *p = rules_take_all(a->rules), *n; p; p = n) {
        n = p->next;
        p->next = NULL;
        start_job(a, p);
    }
    uv_timer_stop(&a->timer);
    uv_timer_stop(&a->expiry);
    uv_close((uv_handle_t *)&a->timer, timer_closed);
    uv_close((uv_handle_t *)&a->expiry, timer_closed);
}

void autosnap_free(struct autosnap *a)
{
    rules_free(a->rules);
    store_close(a->store);
    a->rules = NULL;
    a->store = NULL;
}

/* ---- HTTP ---- */

void autosnap_handle_trigger(struct http_req *req, void *arg)
{
    struct autosnap *a = arg;
    if (!a->allow_tcp && !http_req_over_unix(req)) {
        http_reply_error(req, 403,
                         "triggers over TCP need http.allow_trigger: true; or use the unix "
                         "socket (curl --unix-socket)");
        return;
    }
    const struct http_query *q = http_req_query(req);
    const char *reason = "manual";
    struct proc *p = NULL;
    for (size_t i = 0; i < q->n; i++) {
        const char *k = q->params[i].key, *v = q->params[i].val;
        char why[160];
        if (strcmp(k, "reason") == 0 && strlen(v) < FR_CTL_TEXT_MAX) {
            reason = v;
        } else if (strcmp(k, "pid") == 0 && !p) {
            char *end;
            errno = 0;
            unsigned long pid = strtoul(v, &end, 10);
            if (*v < '0' || *v > '9' || *end || errno || pid == 0 || pid > INT32_MAX) {
                snprintf(why, sizeof why, "pid: \"%.40s\" is not a process id", v);
                http_reply_error(req, 400, why);
                return;
            }
            if (!(p = registry_find_pid(a->reg, (uint32_t)pid))) {
                snprintf(why, sizeof why, "pid: %lu is not a registered process", pid);
                http_reply_error(req, 404, why);
                return;
            }
        } else {
            snprintf(why, sizeof why,
                     "%.40s: unknown or repeated parameter, or too long (reason: up to %d bytes; "
                     "pid: once)",
                     k, FR_CTL_TEXT_MAX - 1);
            http_reply_error(req, 400, why);
            return;
        }
    }
    const struct dconfig_rule *rule =
        rules_find(a->rules, NULL, DRULE_ON_MANUAL, p ? p->name : NULL);
    if (!rule) {
        http_reply_error(req, 404, "no manual rule applies to this process");
        return;
    }
    struct rule_trigger t;
    memset(&t, 0, sizeof t);
    if (p)
        trigger_of(&t, p);
    t.mono_ns = uv_hrtime();
    snprintf(t.subject, sizeof t.subject, "%s", reason);
    enum rules_verdict v = offer(a, rule, &t);
    char body[256];
    if (v == RULES_FIRED || v == RULES_MERGED || v == RULES_COUNTING) {
        int n = snprintf(body, sizeof body,
                         "{\"rule\":\"%s\",\"verdict\":\"%s\",\"after_ms\":%" PRIu64 "}\n",
                         rule->name, rules_verdict_name(v), rule->after_ns / MS);
        http_reply(req, 202, "application/json", body, (size_t)n);
        return;
    }
    uint64_t wait = rules_retry_ns(a->rules, rule, t.proc_id, uv_hrtime());
    char retry[24];
    snprintf(retry, sizeof retry, "%" PRIu64, wait / UINT64_C(1000000000) + 1);
    int n = snprintf(body, sizeof body, "suppressed by rule %s: %s; retry in %s s\n", rule->name,
                     rules_verdict_name(v), retry);
    struct http_header h[] = {{"Retry-After", retry}};
    http_reply_headers(req, 429, "text/plain; charset=utf-8", h, 1, body, (size_t)n);
}

void autosnap_handle_list(struct http_req *req, void *arg)
{
    struct autosnap *a = arg;
    const struct http_query *q = http_req_query(req);
    bool text = false;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->params[i].key, "format") == 0 &&
            (strcmp(q->params[i].val, "text") == 0 || strcmp(q->params[i].val, "json") == 0)) {
            text = strcmp(q->params[i].val, "text") == 0;
        } else {
            http_reply_error(req, 400, "unknown parameter (format=json|text)");
            return;
        }
    }
    char *body;
    size_t len;
    int err = text ? store_list_text(a->store, &body, &len) : store_list_json(a->store, &body, &len);
    if (err < 0) {
        http_reply_error(req, 503, strerror(-err));
        return;
    }
    http_reply(req, 200, text ? "text/plain; charset=utf-8" : "application/json", body, len);
    free(body);
}

struct file_job {
    uv_work_t work;
    struct http_sink out;
    int fd;
    uint64_t size;
    const char *type;
    char name[STORE_FILE_MAX];
};

static void file_run(uv_work_t *w)
{
    struct file_job *f = w->data;
    char disp[STORE_FILE_MAX + 40];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", f->name);
    struct http_header h[] = {{"Content-Disposition", disp}, {"Cache-Control", "no-store"}};
    if (http_stream_start(f->out.req, 200, f->type, h, 2) < 0) {
        http_reply_error(f->out.req, 500, "cannot start the response");
        return;
    }
    static const size_t chunk = 64 << 10;
    unsigned char *buf = malloc(chunk);
    int err = buf ? 0 : -ENOMEM;
    while (err == 0) {
        ssize_t n = read(f->fd, buf, chunk);
        if (n < 0)
            err = -errno;
        if (n <= 0)
            break;
        err = f->out.sink.write(f->out.sink.ctx, buf, (size_t)n);
    }
    http_sink_drain(&f->out);
    free(buf);
    if (err == 0)
        http_stream_end(f->out.req);
    else
        http_stream_abort(f->out.req);
}

static void file_after(uv_work_t *w, int status)
{
    struct file_job *f = w->data;
    (void)status;
    close(f->fd);
    http_sink_fini(&f->out);
    free(f);
}

void autosnap_handle_get(struct http_req *req, void *arg)
{
    struct autosnap *a = arg;
    struct file_job *f = calloc(1, sizeof *f);
    if (!f) {
        http_reply_error(req, 503, "out of memory");
        return;
    }
    int err = store_open_file(a->store, http_req_tail(req), &f->fd, &f->size, &f->type);
    if (err < 0) {
        free(f);
        http_reply_error(req, err == -ENOENT ? 404 : err == -EINVAL ? 400 : 500,
                         err == -ENOENT   ? "no such snapshot (see /debug/flightrecorder/snapshots)"
                         : err == -EINVAL ? "not a snapshot file name"
                                          : strerror(-err));
        return;
    }
    snprintf(f->name, sizeof f->name, "%s", http_req_tail(req));
    http_sink_init(&f->out, req, NULL, NULL);
    f->work.data = f;
    uv_queue_work(a->loop, &f->work, file_run, file_after);
}

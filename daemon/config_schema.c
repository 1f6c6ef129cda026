/* config_schema.c - flightrecd's config: the tables the one loader in
 * common/config.c walks, and the rules that cross keys (a non-loopback
 * listen address needs http.allow_remote; what a rule needs depends on
 * its `on`; rule names are unique; a rule's `before` fits in
 * recording.window). A new option is a row here, a field in
 * config_schema.h, a commented line in config/flightrec.yaml and an entry
 * in docs/config.md.
 *
 * Only loading and checking: the rules engine and the snapshot store read
 * the result. Any thread; no state.
 */
#include "daemon/config_schema.h"

#include <assert.h>
#include <string.h>

#include "common/units.h"

#define MS (1000ull * 1000)
#define S  (1000ull * MS)
#define M  (60 * S)
#define H  (60 * M)

static int http_check(void *sec, const struct cfg_ctx *cx)
{
    const struct dconfig_http *h = sec;
    if (h->allow_remote || cfg_addr_is_loopback(&h->listen))
        return 0;
    char a[64];
    cfg_addr_format(&h->listen, a, sizeof a);
    return cfg_fail(
        cx, "listen",
        "%s is not a loopback address; set http.allow_remote: true to serve other hosts", a);
}

static const struct cfg_opt http_opts[] = {
    {"listen", CFG_ADDR, CFG_FIELD(struct dconfig_http, listen), .def = "127.0.0.1:6060"},
    {"allow_remote", CFG_BOOL, CFG_FIELD(struct dconfig_http, allow_remote), .def = "false"},
    {"unix_socket", CFG_STRING, CFG_FIELD(struct dconfig_http, unix_socket),
     .def = "/run/flightrec/http.sock", .flags = CFG_F_ABSPATH},
    {"allow_trigger", CFG_BOOL, CFG_FIELD(struct dconfig_http, allow_trigger), .def = "false"},
    {NULL},
};

static const struct cfg_opt recording_opts[] = {
    {"window", CFG_DURATION, CFG_FIELD(struct dconfig_recording, window_ns), .def = "10s",
     .min = 100 * MS, .max = 3600 * S},
    {"max_bytes", CFG_SIZE, CFG_FIELD(struct dconfig_recording, max_bytes), .def = "256MiB",
     .min = 1ull << 20, .max = 16ull << 30},
    {NULL},
};

static const struct cfg_opt limits_opts[] = {
    {"max_concurrent_snapshots", CFG_UINT,
     CFG_FIELD(struct dconfig_limits, max_concurrent_snapshots), .def = "2", .min = 1, .max = 16},
    {"max_connections", CFG_UINT, CFG_FIELD(struct dconfig_limits, max_connections), .def = "64",
     .min = 1, .max = 4096},
    {"max_snapshots_per_hour", CFG_UINT, CFG_FIELD(struct dconfig_limits, max_snapshots_per_hour),
     .def = "12", .min = 1, .max = 3600},
    {NULL},
};

static const struct cfg_enum format_names[] = {
    {"perfetto", DFORMAT_PERFETTO},
    {"json", DFORMAT_JSON},
    {NULL, 0},
};

static const struct cfg_opt snapshots_opts[] = {
    {"dir", CFG_STRING, CFG_FIELD(struct dconfig_snapshots, dir),
     .def = "/var/lib/flightrec/snapshots", .min = 1, .flags = CFG_F_ABSPATH},
    {"max_files", CFG_UINT, CFG_FIELD(struct dconfig_snapshots, max_files), .def = "100", .min = 1,
     .max = 100000},
    {"max_bytes", CFG_SIZE, CFG_FIELD(struct dconfig_snapshots, max_bytes), .def = "1GiB",
     .min = 1ull << 20, .max = 1ull << 40},
    /* 8760h: units.c has no days, and a year of hours reads plainly. */
    {"max_age", CFG_DURATION, CFG_FIELD(struct dconfig_snapshots, max_age_ns), .def = "24h",
     .min = M, .max = 8760 * H},
    {"format", CFG_ENUM, CFG_FIELD(struct dconfig_snapshots, format), .def = "perfetto",
     .names = format_names},
    {NULL},
};

static const struct cfg_enum rule_on_names[] = {
    {"task", DRULE_ON_TASK},
    {"region", DRULE_ON_REGION},
    {"wait", DRULE_ON_WAIT},
    {"log", DRULE_ON_LOG},
    {"exit", DRULE_ON_EXIT},
    {"manual", DRULE_ON_MANUAL},
    {NULL, 0},
};

static const struct cfg_enum scope_names[] = {
    {"process", DRULE_SCOPE_PROCESS},
    {"all", DRULE_SCOPE_ALL},
    {NULL, 0},
};

static const char *on_name(uint32_t on)
{
    for (const struct cfg_enum *e = rule_on_names; e->name; e++)
        if (e->value == on)
            return e->name;
    return "?";
}

/* Rule names end up in snapshot file names, URLs and metric labels: a
 * short set of characters that needs no quoting anywhere, and no leading
 * '.' (hidden files) or '-' (options). The length is the row's. */
static int rule_name_check(const char *name, const struct cfg_ctx *cx)
{
    if (name[0] == '.' || name[0] == '-')
        return cfg_fail(cx, "name", "\"%s\" must not start with '.' or '-'", name);
    for (const char *p = name; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        if (!ok)
            return cfg_fail(cx, "name",
                            "\"%s\": a name is made of letters, digits, '.', '_' and '-'", name);
    }
    return 0;
}

/* One rule: what its `on` needs is there, what does not apply to it is
 * not. cfg_is_set() tells a key left at its default from one the file
 * sets, even to the default value. */
static int rule_check(void *sec, const struct cfg_ctx *cx)
{
    const struct dconfig_rule *r = sec;
    if (!cfg_is_set(cx, "name"))
        return cfg_fail(cx, NULL, "name is required");
    int err = rule_name_check(r->name, cx);
    if (err)
        return err;
    if (!cfg_is_set(cx, "on"))
        return cfg_fail(cx, NULL, "on is required (task, region, wait, log, exit or manual)");
    const char *on = on_name(r->on);
    /* rules.c adds a built-in manual rule of that name when the file has
     * none: a rule of another kind must not share its history and label */
    if (strcmp(r->name, "manual") == 0 && r->on != DRULE_ON_MANUAL)
        return cfg_fail(cx, "name", "\"manual\" is kept for an on: manual rule");
    bool timed = r->on == DRULE_ON_TASK || r->on == DRULE_ON_REGION || r->on == DRULE_ON_WAIT;
    if (timed && !cfg_is_set(cx, "threshold"))
        return cfg_fail(cx, NULL, "threshold is required for on: %s", on);
    if (!timed && cfg_is_set(cx, "threshold"))
        return cfg_fail(cx, "threshold", "does not apply to on: %s", on);
    if ((r->on == DRULE_ON_EXIT || r->on == DRULE_ON_MANUAL) && cfg_is_set(cx, "match"))
        return cfg_fail(cx, "match", "does not apply to on: %s", on);
    if (r->count > 1 && !cfg_is_set(cx, "within"))
        return cfg_fail(cx, NULL, "within is required when count is above 1");
    if (r->count == 1 && cfg_is_set(cx, "within"))
        return cfg_fail(cx, "within", "does not apply when count is 1");
    return 0;
}

static const struct cfg_opt rule_opts[] = {
    {"name", CFG_STRING, CFG_FIELD(struct dconfig_rule, name), .min = 1},
    {"on", CFG_ENUM, CFG_FIELD(struct dconfig_rule, on), .names = rule_on_names},
    {"match", CFG_STRING, CFG_FIELD(struct dconfig_rule, match), .def = "*", .min = 1},
    {"process", CFG_STRING, CFG_FIELD(struct dconfig_rule, process), .def = "*", .min = 1},
    {"threshold", CFG_DURATION, CFG_FIELD(struct dconfig_rule, threshold_ns), .min = 1,
     .max = 24 * H},
    {"count", CFG_UINT, CFG_FIELD(struct dconfig_rule, count), .def = "1", .min = 1, .max = 1000},
    {"within", CFG_DURATION, CFG_FIELD(struct dconfig_rule, within_ns), .min = 1, .max = H},
    {"before", CFG_DURATION, CFG_FIELD(struct dconfig_rule, before_ns), .def = "0", .max = H},
    {"after", CFG_DURATION, CFG_FIELD(struct dconfig_rule, after_ns), .def = "1s", .max = M},
    {"cooldown", CFG_DURATION, CFG_FIELD(struct dconfig_rule, cooldown_ns), .def = "1m",
     .max = 24 * H},
    {"max_per_hour", CFG_UINT, CFG_FIELD(struct dconfig_rule, max_per_hour), .def = "0",
     .max = 3600},
    {"scope", CFG_ENUM, CFG_FIELD(struct dconfig_rule, scope), .def = "process",
     .names = scope_names},
    {NULL},
};

/* Across sections and rules, once everything is parsed: names are unique
 * (the second of two is the error), and no rule keeps more before its
 * trigger than the recording holds. */
static int dconfig_check(void *sec, const struct cfg_ctx *cx)
{
    const struct dconfig *c = sec;
    for (uint32_t i = 0; i < c->n_rules; i++) {
        const struct dconfig_rule *r = &c->rules[i];
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(r->name, c->rules[j].name) == 0)
                return cfg_fail_item(cx, "rules", i, "name",
                                     "\"%s\" is already the name of rules[%u]", r->name, j);
        if (r->before_ns > c->recording.window_ns) {
            char b[24], w[24];
            units_format_duration(b, sizeof b, r->before_ns);
            units_format_duration(w, sizeof w, c->recording.window_ns);
            return cfg_fail_item(cx, "rules", i, "before",
                                 "%s is longer than recording.window (%s)", b, w);
        }
    }
    return 0;
}

static const struct cfg_opt top_opts[] = {
    {"http", CFG_SECTION, CFG_FIELD(struct dconfig, http), .sub = http_opts, .check = http_check},
    {"control_socket", CFG_STRING, CFG_FIELD(struct dconfig, control_socket),
     .def = "/run/flightrec/control.sock", .min = 1, .flags = CFG_F_ABSPATH},
    {"recording", CFG_SECTION, CFG_FIELD(struct dconfig, recording), .sub = recording_opts},
    {"limits", CFG_SECTION, CFG_FIELD(struct dconfig, limits), .sub = limits_opts},
    {"snapshots", CFG_SECTION, CFG_FIELD(struct dconfig, snapshots), .sub = snapshots_opts},
    {"rules", CFG_LIST, CFG_LIST_FIELD(struct dconfig, rules, n_rules), .sub = rule_opts,
     .max = DCONFIG_RULES_MAX, .check = rule_check},
    {NULL},
};

const struct cfg_opt dconfig_schema = {
    "", CFG_SECTION, 0, sizeof(struct dconfig), .sub = top_opts, .check = dconfig_check};

void dconfig_defaults(struct dconfig *c)
{
    int err = cfg_defaults(&dconfig_schema, c, NULL);
    /* The defaults are constants of this file; test_config loads them. */
    assert(err == 0);
    (void)err;
}

int dconfig_load_buffer(const char *name, const void *buf, size_t len, struct dconfig *out,
                        struct diag *d)
{
    return cfg_load_buffer(&dconfig_schema, name, buf, len, out, d);
}

int dconfig_load(const char *path, struct dconfig *out, struct diag *d)
{
    return cfg_load_file(&dconfig_schema, path, out, d);
}

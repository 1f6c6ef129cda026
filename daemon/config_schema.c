/* config_schema.c - flightrecd's config: the tables the one loader in
 * common/config.c walks, and the rule that crosses keys (a non-loopback
 * listen address needs http.allow_remote). A new option is a row here, a
 * field in config_schema.h, a commented line in config/flightrec.yaml and
 * an entry in docs/config.md.
 *
 * Any thread; no state.
 */
#include "daemon/config_schema.h"

#include <assert.h>

#define MS (1000ull * 1000)
#define S  (1000ull * MS)

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

static const struct cfg_opt top_opts[] = {
    {"http", CFG_SECTION, CFG_FIELD(struct dconfig, http), .sub = http_opts, .check = http_check},
    {"control_socket", CFG_STRING, CFG_FIELD(struct dconfig, control_socket),
     .def = "/run/flightrec/control.sock", .min = 1, .flags = CFG_F_ABSPATH},
    {"recording", CFG_SECTION, CFG_FIELD(struct dconfig, recording), .sub = recording_opts},
    {"limits", CFG_SECTION, CFG_FIELD(struct dconfig, limits), .sub = limits_opts},
    {"snapshots", CFG_RAW, CFG_FIELD(struct dconfig, snapshots), .flags = CFG_F_MAP},
    {"rules", CFG_RAW, CFG_FIELD(struct dconfig, rules), .flags = CFG_F_SEQ},
    {NULL},
};

const struct cfg_opt dconfig_schema = {"", CFG_SECTION, 0, sizeof(struct dconfig), .sub = top_opts};

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

/* config_schema.h - what flightrecd reads from flightrec.yaml.
 *
 * struct dconfig is a plain value: no pointers, nothing to free, copied by
 * assignment. That is what makes a SIGHUP reload simple and safe:
 *
 *     struct dconfig next;
 *     struct diag d;
 *     if (dconfig_load(path, &next, &d) < 0)
 *         log the diag and keep running on the old config;
 *     else
 *         apply next;
 *
 * Every key, its default and range are in the tables of config_schema.c,
 * in config/flightrec.yaml and in docs/config.md; the three change together.
 * Any thread; no global state.
 */
#ifndef FR_DAEMON_CONFIG_SCHEMA_H
#define FR_DAEMON_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/diag.h"

/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define DCONFIG_PATH_MAX 108

struct dconfig_http {
    struct cfg_addr listen;             /* TCP; loopback unless allow_remote */
    bool allow_remote;                  /* lets listen be a non-loopback address */
    char unix_socket[DCONFIG_PATH_MAX]; /* the same API over a unix socket; "": none */
    bool allow_trigger;                 /* POST /debug/flightrecorder/trigger */
};

struct dconfig_recording {
    uint64_t window_ns; /* how far back a snapshot reaches */
    uint64_t max_bytes; /* ring data copied into one snapshot at most */
};

struct dconfig_limits {
    uint32_t max_concurrent_snapshots;
    uint32_t max_connections;
    uint32_t max_snapshots_per_hour;
};

struct dconfig {
    struct dconfig_http http;
    char control_socket[DCONFIG_PATH_MAX];
    struct dconfig_recording recording;
    struct dconfig_limits limits;
    /* Owned by later work (snapshot store, rules): only their shape is
     * checked now (snapshots a map, rules a list); n counts entries. */
    struct cfg_raw snapshots;
    struct cfg_raw rules;
};

/* Fills c with the defaults (those of config/flightrec.yaml). */
void dconfig_defaults(struct dconfig *c);

/* Loads the YAML file at path over the defaults. Returns 0, or -errno with
 * *d filled ("path:line:col: message", see diag_format()) and *out
 * untouched: -EINVAL bad content, -EFBIG over CFG_FILE_MAX, -ENOMEM, or
 * what open()/read() said (-ENOENT, -EACCES, ...). Borrows path: d->file
 * points at it. d may be NULL. */
int dconfig_load(const char *path, struct dconfig *out, struct diag *d);

/* The same over len bytes in memory; name is what diagnostics call it
 * (borrowed by d->file). Used by dconfig_load() and the fuzzer. */
int dconfig_load_buffer(const char *name, const void *buf, size_t len, struct dconfig *out,
                        struct diag *d);

/* The tables, for tests and for tools that print the schema. */
extern const struct cfg_opt dconfig_schema;

#endif

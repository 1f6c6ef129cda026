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

#define DCONFIG_RULES_MAX     64
#define DCONFIG_RULE_NAME_MAX 48  /* bytes with the NUL */
#define DCONFIG_GLOB_MAX      112 /* bytes with the NUL */
#define DCONFIG_DIR_MAX       256

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

/* What a rule watches; the names in the file are task, region, wait, log,
 * exit and manual. */
enum dconfig_rule_on {
    DRULE_ON_TASK = 1,   /* a task ended over threshold */
    DRULE_ON_REGION = 2, /* a region ended over threshold */
    DRULE_ON_WAIT = 3,   /* a blocking wait ended over threshold */
    DRULE_ON_LOG = 4,    /* a log record of a category */
    DRULE_ON_EXIT = 5,   /* a process exited or died by a signal */
    DRULE_ON_MANUAL = 6, /* only when asked (POST .../trigger, fr_trigger()) */
};

/* Whose rings a rule's snapshot holds: "process" or "all". */
enum dconfig_scope { DRULE_SCOPE_PROCESS = 0, DRULE_SCOPE_ALL = 1 };

/* The file format of stored snapshots: "perfetto" or "json". */
enum dconfig_format { DFORMAT_PERFETTO = 0, DFORMAT_JSON = 1 };

/* One rule. Checked when loaded: name, on and the keys their `on` needs
 * are present, keys that do not apply to it are absent, names unique and
 * before within recording.window; see docs/config.md. */
struct dconfig_rule {
    char name[DCONFIG_RULE_NAME_MAX]; /* 1-47 of [A-Za-z0-9._-], not starting with . or -; unique */
    uint32_t on;                      /* enum dconfig_rule_on */
    char match[DCONFIG_GLOB_MAX];     /* fnmatch() glob on the task, region or wait name, or the
                                       * log category; "*" (and always "*" for exit, manual) */
    char process[DCONFIG_GLOB_MAX];   /* fnmatch() glob on the process name; "*" */
    uint64_t threshold_ns;            /* > 0 for task, region, wait; 0 for the others */
    uint32_t count;                   /* 1..1000 events ... */
    uint64_t within_ns;               /* ... within this long (> 0 when count > 1, else 0) */
    uint64_t before_ns;               /* of the recording kept before; 0: recording.window */
    uint64_t after_ns;                /* recorded after, before the snapshot is written */
    uint64_t cooldown_ns;             /* after a snapshot, the rule sleeps this long */
    uint32_t max_per_hour;            /* 0: no cap of its own (limits.max_snapshots_per_hour
                                       * still applies) */
    uint32_t scope;                   /* enum dconfig_scope */
};

/* The snapshot store: where snapshots written by rules and triggers go,
 * and how many are kept. */
struct dconfig_snapshots {
    char dir[DCONFIG_DIR_MAX]; /* absolute */
    uint32_t max_files;        /* limits on the files kept: their number, */
    uint64_t max_bytes;        /* their total size */
    uint64_t max_age_ns;       /* and their age */
    uint32_t format;           /* enum dconfig_format */
};

struct dconfig {
    struct dconfig_http http;
    char control_socket[DCONFIG_PATH_MAX];
    struct dconfig_recording recording;
    struct dconfig_limits limits;
    struct dconfig_snapshots snapshots;
    uint32_t n_rules;                             /* rules[0..n_rules-1]; the rest is zero */
    struct dconfig_rule rules[DCONFIG_RULES_MAX]; /* in the file's order */
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

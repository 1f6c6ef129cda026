/* config.h - the one YAML config loader: tables of options, one walker.
 *
 * A module describes its options as rows of struct cfg_opt (key, type,
 * where the value goes, default, range); cfg_load_buffer() parses the YAML
 * with libyaml's document API and walks the tree against those rows. Adding
 * an option is one row: parsing, bounds, the default and the error text
 * follow from it. The rules people rely on:
 *
 *  - Every default comes from the table (cfg_defaults()); a key left out of
 *    the file keeps it.
 *  - Unknown keys are errors: a typo must never silently disable something.
 *  - Wrong types, out-of-range values, duplicate keys, tags and %TAG
 *    directives, anchors and aliases, nesting deeper than CFG_DEPTH_MAX,
 *    more than one document and YAML syntax errors are errors (-EINVAL)
 *    with a struct diag naming file, line and column (1-based).
 *  - On failure *out is untouched, so a SIGHUP reload can keep the config it
 *    has. Loading builds the result in scratch memory and copies it out
 *    only when everything passed.
 *  - Bounded: inputs over CFG_FILE_MAX are refused before parsing; anchors,
 *    %TAG directives and deep nesting are refused while scanning, before
 *    libyaml composes the document (each makes libyaml 0.2.5 quadratic);
 *    a list holds at most its row's number of items.
 *  - Inside a list, diagnostics name the item by index, "rules[2].threshold",
 *    and point at the offending value of that item.
 *
 * Loaded structs are plain values: strings are copied into char arrays of
 * the struct (never pointers), so a config is copied by assignment and has
 * nothing to free.
 *
 * No global state; any thread. Never prints, never exits.
 */
#ifndef FR_COMMON_CONFIG_H
#define FR_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"

#define CFG_FILE_MAX  (1u << 20) /* bytes of YAML accepted */
#define CFG_DEPTH_MAX 16         /* nested maps and lists, the top-level map counting 1 */

enum cfg_type {
    CFG_BOOL,     /* bool; true or false, nothing else */
    CFG_UINT,     /* uint8_t..uint64_t (by the field's size); decimal digits; min..max */
    CFG_SIZE,     /* uint64_t bytes; units_parse_size() spellings; min..max */
    CFG_DURATION, /* uint64_t ns; units_parse_duration() spellings; min..max */
    CFG_STRING,   /* char[N], copied; min..N-1 bytes, no NUL byte inside */
    CFG_ADDR,     /* struct cfg_addr; HOST:PORT, HOST an IPv4 literal, [IPv6] or localhost */
    CFG_SECTION,  /* a nested map: a struct walked with the rows in .sub */
    CFG_RAW,      /* a subtree owned by another module: its kind is checked (CFG_F_MAP,
                   * CFG_F_SEQ), its entries counted into a struct cfg_raw, nothing else */
    CFG_ENUM,     /* uint32_t; one of the names in .names, stored as its value */
    CFG_LIST,     /* a list of maps: an array of structs in the section's struct, each
                   * item walked with the rows in .sub; see CFG_LIST_FIELD() */
};

/* flags */
#define CFG_F_ABSPATH (1u << 0) /* STRING: must start with '/' (when not empty) */
#define CFG_F_MAP     (1u << 1) /* RAW: must be a map (or empty) */
#define CFG_F_SEQ     (1u << 2) /* RAW: must be a list (or empty) */

/* A listen address, ready for bind(). */
struct cfg_addr {
    struct sockaddr_storage ss; /* AF_INET or AF_INET6, port in network order */
    socklen_t len;              /* sizeof(struct sockaddr_in) or sockaddr_in6 */
};

/* What a RAW row keeps of its subtree until its owner reads it for real. */
struct cfg_raw {
    uint32_t n; /* entries: pairs of a map or items of a list; 0 when absent */
};

/* One accepted name of an ENUM row; a table of them ends with a NULL name. */
struct cfg_enum {
    const char *name; /* as written in the file; exact match */
    uint32_t value;
};

struct cfg_ctx; /* a section (or list item) being checked; see cfg_fail() */

struct cfg_opt {
    const char *key; /* NULL ends a table */
    enum cfg_type type;
    size_t offset, size;       /* of the field in the section's struct: use CFG_FIELD() */
    const char *def;           /* default, spelled as in the file; NULL: zero (not range-checked) */
    uint64_t min, max;         /* UINT, SIZE, DURATION: inclusive range, max 0 = the field's width;
                                * STRING: min is the least length;
                                * LIST: max is the most items, 0 = as many as the array holds */
    const struct cfg_opt *sub; /* SECTION: its rows; LIST: the rows of one item */
    unsigned flags;            /* CFG_F_* */
    /* SECTION: run once the section's keys are parsed (also when it is
     * absent from the file), for rules across keys. sec points at the
     * section's struct. LIST: run on each item once its keys are parsed,
     * sec pointing at the item; cfg_fail() then names "list[i].key".
     * Returns 0, or what cfg_fail() returns. */
    int (*check)(void *sec, const struct cfg_ctx *cx);
    const struct cfg_enum *names; /* ENUM: the accepted names */
    size_t elem;                  /* LIST: the size of one item; .size is the whole array's */
    size_t count;                 /* LIST: offset of the uint32_t count of items in the section */
};

#define CFG_FIELD(type, member) offsetof(type, member), sizeof(((type *)0)->member)

/* A LIST row's array and the uint32_t that counts its items, both members
 * of the section's struct, e.g.
 *     {"rules", CFG_LIST, CFG_LIST_FIELD(struct x, rules, n_rules), .sub = rule_rows, .max = 64}
 * Items are walked in order into array[0..count-1]; each starts from its
 * rows' defaults. Items past the count stay zero. The key names the items
 * in the plural: one too many is "rules: more than 64 rules". */
#define CFG_LIST_FIELD(type, array, n)                                                             \
    CFG_FIELD(type, array), .elem = sizeof(((type *)0)->array[0]), .count = offsetof(type, n)

/* The root of a schema is a CFG_SECTION row whose .size is the size of the
 * whole struct, e.g.
 *     static const struct cfg_opt root = {"", CFG_SECTION, 0, sizeof(struct x), .sub = rows};
 */

/* Fills out (root->size bytes) with the table's defaults. Returns 0, or
 * -EINVAL with *d filled when a default does not parse (a bug in a table;
 * the tests load every table's defaults). d may be NULL. */
int cfg_defaults(const struct cfg_opt *root, void *out, struct diag *d);

/* Parses len bytes of YAML named name (shown in diagnostics; borrowed by
 * d->file) into out (root->size bytes): the defaults, then what the input
 * sets. Returns 0; -EINVAL bad content, -EFBIG len > CFG_FILE_MAX, -ENOMEM;
 * on any failure *d is filled and *out untouched. An empty input (or one of
 * comments only) gives the defaults. d may be NULL. */
int cfg_load_buffer(const struct cfg_opt *root, const char *name, const void *buf, size_t len,
                    void *out, struct diag *d);

/* cfg_load_buffer() on the contents of a regular file. Also returns the
 * -errno of open() or read() (-ENOENT, -EACCES, ...), -EINVAL for something
 * that is not a regular file. Borrows path: d->file points at it. */
int cfg_load_file(const struct cfg_opt *root, const char *path, void *out, struct diag *d);

/* For check callbacks: fills the loader's diag with the location of key's
 * value in the section being checked (the section's own location when the
 * file did not set key; NULL key: the section) and the message
 * "section.key: <fmt...>" ("list[i].key" in a LIST's item check). Returns
 * -EINVAL, for `return cfg_fail(...)`. */
int cfg_fail(const struct cfg_ctx *cx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cfg_fail() for a key of item idx of the section's LIST row named list,
 * for checks across items: the location of that item's key (the item's
 * own when the item does not set key; NULL key: the item) and the message
 * "section.list[idx].key: <fmt...>". Returns -EINVAL. */
int cfg_fail_item(const struct cfg_ctx *cx, const char *list, uint32_t idx, const char *key,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* For check callbacks: true when the file set key in the section (or list
 * item) being checked, false when key has its default. */
bool cfg_is_set(const struct cfg_ctx *cx, const char *key);

/* True when the address is on the loopback interface: 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104. */
bool cfg_addr_is_loopback(const struct cfg_addr *a);

/* "127.0.0.1:6060" or "[::1]:6060" into buf (46 + 8 bytes suffice). */
void cfg_addr_format(const struct cfg_addr *a, char *buf, size_t len);

#endif

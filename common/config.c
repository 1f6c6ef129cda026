/* config.c - the one config loader: libyaml's document API walked against
 * tables of struct cfg_opt (see config.h for the rules it enforces).
 *
 * A load runs in three steps over the caller's bytes, all bounded:
 *  1. scan(): libyaml's scanner over the input, refusing anchors and
 *     aliases, %TAG directives and nesting deeper than CFG_DEPTH_MAX. It
 *     runs first because libyaml 0.2.5 is quadratic in the number of
 *     anchors and of %TAG directives (each one is compared with all before
 *     it) and in the depth of flow nesting ("[[[[..."): a 1 MiB file of
 *     any of them takes from tens of seconds to many minutes to compose.
 *     The scanner looks ahead at most one simple key (1024 characters), so
 *     it stops early.
 *  2. yaml_parser_load() composes the document (syntax errors show here);
 *     with no aliases it is a tree of depth <= CFG_DEPTH_MAX. A second
 *     load makes sure nothing but the end of the stream follows it.
 *  3. walk_section() walks it against the tables into scratch memory that
 *     already holds the defaults; only a load that passed everything is
 *     copied to the caller's struct. A list's items are walked like
 *     sections (walk_list()), each into its slot of an array.
 *
 * Owns nothing between calls; no global state; any thread. Never prints:
 * every error becomes a struct diag.
 */
#define _GNU_SOURCE /* GNU strerror_r */
#include "common/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/units.h"

#define ROWS_MAX  64 /* rows in one table */
#define QUOTE_MAX 40 /* bytes of a value shown in a message */
#define NAMES_MAX 96 /* bytes of an ENUM's names shown in a message */

/* One load (or one application of defaults). */
struct walk {
    const char *name; /* borrows: for diag.file */
    struct diag *d;   /* the loader's own; copied to the caller's on failure */
    char path[128];   /* "http.listen": keys from the tables, never from the input */
    size_t plen;
};

/* Where a section's key was, for duplicates and for cfg_fail(). */
struct seen {
    unsigned key_line;
    unsigned line, col;       /* of the value */
    const yaml_node_t *value; /* borrows the document's; for cfg_fail_item() */
    bool set;
};

struct cfg_ctx {
    struct walk *w;
    yaml_document_t *doc; /* borrows: alive while checks run */
    const struct cfg_opt *rows;
    const struct seen *seen;
    unsigned line, col; /* of the section's map; 0 when the file has none */
};

static unsigned mark_line(const yaml_mark_t *m)
{
    return m->line < UINT_MAX ? (unsigned)m->line + 1 : UINT_MAX;
}

static unsigned mark_col(const yaml_mark_t *m)
{
    return m->column < UINT_MAX ? (unsigned)m->column + 1 : UINT_MAX;
}

/* Fills the diag: "<path>[.<key>]: <fmt...>" at line:col. Returns -EINVAL. */
static int vfail(struct walk *w, unsigned line, unsigned col, const char *key, const char *fmt,
                 va_list ap)
{
    struct diag *d = w->d;
    d->file = w->name;
    d->line = line;
    d->col = line ? col : 0;
    int n = 0;
    if (w->plen && key)
        n = snprintf(d->msg, sizeof d->msg, "%s.%s: ", w->path, key);
    else if (w->plen || key)
        n = snprintf(d->msg, sizeof d->msg, "%s: ", w->plen ? w->path : key);
    if (n < 0 || (size_t)n >= sizeof d->msg)
        return -EINVAL; /* a path that long was cut; the message stays readable */
    vsnprintf(d->msg + n, sizeof d->msg - (size_t)n, fmt, ap);
    return -EINVAL;
}

__attribute__((format(printf, 4, 5))) static int fail(struct walk *w, unsigned line, unsigned col,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = vfail(w, line, col, NULL, fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 3, 4))) static int fail_at(struct walk *w, const yaml_mark_t *m,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = vfail(w, m ? mark_line(m) : 0, m ? mark_col(m) : 0, NULL, fmt, ap);
    va_end(ap);
    return err;
}

/* The row of rows named key, or -1. */
static int row_index(const struct cfg_opt *rows, const char *key)
{
    for (int i = 0; key && rows && rows[i].key; i++)
        if (strcmp(rows[i].key, key) == 0)
            return i;
    return -1;
}

bool cfg_is_set(const struct cfg_ctx *cx, const char *key)
{
    int i = row_index(cx->rows, key);
    return i >= 0 && cx->seen[i].set;
}

int cfg_fail(const struct cfg_ctx *cx, const char *key, const char *fmt, ...)
{
    unsigned line = cx->line, col = cx->col;
    int i = row_index(cx->rows, key);
    if (i >= 0 && cx->seen[i].set) {
        line = cx->seen[i].line;
        col = cx->seen[i].col;
    }
    va_list ap;
    va_start(ap, fmt);
    int err = vfail(cx->w, line, col, key, fmt, ap);
    va_end(ap);
    return err;
}

/* Appends ".key" (or "key" at the top) to the path; returns the length to
 * restore with path_pop(). A path too long for the buffer is cut. */
static size_t path_push(struct walk *w, const char *key)
{
    size_t old = w->plen;
    int n = snprintf(w->path + old, sizeof w->path - old, "%s%s", old ? "." : "", key);
    if (n > 0)
        w->plen = old + (size_t)n < sizeof w->path ? old + (size_t)n : sizeof w->path - 1;
    return old;
}

/* Appends "[idx]", for an item of the list the path names. */
static size_t path_index(struct walk *w, uint32_t idx)
{
    size_t old = w->plen;
    int n = snprintf(w->path + old, sizeof w->path - old, "[%u]", (unsigned)idx);
    if (n > 0)
        w->plen = old + (size_t)n < sizeof w->path ? old + (size_t)n : sizeof w->path - 1;
    return old;
}

static void path_pop(struct walk *w, size_t old)
{
    w->plen = old;
    w->path[old] = 0;
}

/* The value of key in map, or NULL. The map passed the walk, so it has no
 * more pairs than its table has rows. */
static const yaml_node_t *map_value(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
    size_t len = strlen(key);
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
            memcmp(k->data.scalar.value, key, len) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

int cfg_fail_item(const struct cfg_ctx *cx, const char *list, uint32_t idx, const char *key,
                  const char *fmt, ...)
{
    unsigned line = cx->line, col = cx->col;
    int i = row_index(cx->rows, list);
    const yaml_node_t *seq = i >= 0 && cx->seen[i].set ? cx->seen[i].value : NULL;
    const yaml_node_t *item = NULL, *v = NULL;
    if (seq && seq->type == YAML_SEQUENCE_NODE &&
        idx < (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start))
        item = yaml_document_get_node(cx->doc, seq->data.sequence.items.start[idx]);
    if (item && item->type == YAML_MAPPING_NODE && key)
        v = map_value(cx->doc, item, key);
    if (v || item) {
        line = mark_line(v ? &v->start_mark : &item->start_mark);
        col = mark_col(v ? &v->start_mark : &item->start_mark);
    }
    size_t old = path_push(cx->w, list ? list : "?");
    path_index(cx->w, idx);
    va_list ap;
    va_start(ap, fmt);
    int err = vfail(cx->w, line, col, key, fmt, ap);
    va_end(ap);
    path_pop(cx->w, old);
    return err;
}

/* s (len bytes, maybe with NULs or control bytes) as a quoted, escaped C
 * string of at most QUOTE_MAX input bytes, for messages. Returns buf. */
static const char *quote(char *buf, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; i < len && i < QUOTE_MAX && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        /* Cut: do not leave half a UTF-8 sequence before the dots. */
        while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 1 && (unsigned char)buf[o - 1] >= 0xc0)
            o--;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

#define QBUF (QUOTE_MAX * 4 + 8)

/* "one of task, region, wait": the names of an ENUM row, into buf. */
static const char *one_of(const struct cfg_opt *o, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "one of");
    for (const struct cfg_enum *e = o->names; e && e->name && n < cap; e++) {
        int r = snprintf(buf + n, cap - n, "%s %s", e == o->names ? "" : ",", e->name);
        if (r < 0)
            break;
        n += (size_t)r;
    }
    return buf;
}

/* What a row's value must be: "a duration". buf (NAMES_MAX bytes) holds
 * an ENUM's names. */
static const char *what(const struct cfg_opt *o, char *buf)
{
    switch (o->type) {
    case CFG_BOOL:
        return "a boolean";
    case CFG_UINT:
        return "an unsigned integer";
    case CFG_SIZE:
        return "a size";
    case CFG_DURATION:
        return "a duration";
    case CFG_STRING:
        return "a string";
    case CFG_ADDR:
        return "an address";
    case CFG_SECTION:
        return "a map";
    case CFG_RAW:
        return (o->flags & CFG_F_MAP) ? "a map" : (o->flags & CFG_F_SEQ) ? "a list" : "a value";
    case CFG_ENUM:
        return one_of(o, buf, NAMES_MAX);
    case CFG_LIST:
        return "a list";
    }
    return "a value";
}

/* For "<value> is not ...": what(), with a hint where the form is not
 * obvious. */
static const char *not_a(const struct cfg_opt *o, char *buf)
{
    if (o->type == CFG_BOOL)
        return "a boolean (true or false)";
    if (o->type == CFG_ADDR)
        return "an address (HOST:PORT, HOST an IPv4 literal, [IPv6] or localhost)";
    return what(o, buf);
}

/* "a list", "a map", or the scalar quoted. */
static const char *found(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type == YAML_MAPPING_NODE)
        return "a map";
    return quote(buf, cap, (const char *)n->data.scalar.value, n->data.scalar.length);
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (n->data.scalar.length == strlen(nulls[i]) &&
            memcmp(n->data.scalar.value, nulls[i], n->data.scalar.length) == 0)
            return true;
    return false;
}

/* Tags change what a value means (!!binary, !include); we give no tag a
 * meaning, so only the implicit ones (or their explicit spelling) pass. */
static int check_tag(struct walk *w, const yaml_node_t *n)
{
    const char *def = n->type == YAML_SCALAR_NODE     ? YAML_DEFAULT_SCALAR_TAG
                      : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
                                                      : YAML_DEFAULT_MAPPING_TAG;
    const char *tag = (const char *)n->tag;
    if (!tag || strcmp(tag, def) == 0)
        return 0;
    char q[QBUF];
    return fail_at(w, &n->start_mark, "tag %s is not supported",
                   quote(q, sizeof q, tag, strlen(tag)));
}

/* --- scalars ---------------------------------------------------------- */

static int parse_addr(const char *s, size_t len, struct cfg_addr *a)
{
    const char *colon = memrchr(s, ':', len);
    if (!colon || colon == s)
        return -EINVAL;
    const char *host = s, *hend = colon, *port = colon + 1;
    int af = AF_INET;
    if (s[0] == '[') {
        if (hend[-1] != ']' || hend - s < 3)
            return -EINVAL;
        host = s + 1;
        hend--;
        af = AF_INET6;
    }
    char h[64];
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0 || hlen >= sizeof h || (af == AF_INET && memchr(host, ':', hlen)))
        return -EINVAL;
    memcpy(h, host, hlen);
    h[hlen] = 0;

    size_t plen = len - (size_t)(port - s);
    unsigned p = 0;
    if (plen == 0 || plen > 5)
        return -EINVAL;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return -EINVAL;
        p = p * 10 + (unsigned)(port[i] - '0');
    }
    if (p == 0 || p > 65535)
        return -EINVAL;

    memset(a, 0, sizeof *a);
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        /* localhost is 127.0.0.1 here, never a lookup: a config must mean
         * the same thing whatever /etc/hosts or DNS say at reload time. */
        const char *lit = strcmp(h, "localhost") == 0 ? "127.0.0.1" : h;
        if (inet_pton(AF_INET, lit, &in->sin_addr) != 1)
            return -EINVAL;
        a->len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, h, &in6->sin6_addr) != 1)
            return -EINVAL;
        a->len = sizeof *in6;
    }
    return 0;
}

bool cfg_addr_is_loopback(const struct cfg_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(x) || (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127);
    }
    return false;
}

void cfg_addr_format(const struct cfg_addr *a, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &in->sin_addr, h, sizeof h);
        snprintf(buf, len, "%s:%u", h, ntohs(in->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof h);
        snprintf(buf, len, "[%s]:%u", h, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "(none)");
    }
}

static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned dg = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - dg) / 10)
            return -ERANGE;
        v = v * 10 + dg;
    }
    *out = v;
    return 0;
}

static void store_uint(void *field, size_t size, uint64_t v)
{
    switch (size) {
    case 1: {
        uint8_t x = (uint8_t)v;
        memcpy(field, &x, 1);
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(field, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(field, &x, 4);
        break;
    }
    default:
        memcpy(field, &v, 8);
        break;
    }
}

/* UINT, SIZE, DURATION: parse, range-check, store. */
static int parse_number(struct walk *w, const struct cfg_opt *o, void *field, const char *s,
                        size_t len, unsigned line, unsigned col)
{
    char q[QBUF], lo[32], hi[32], nb[NAMES_MAX];
    uint64_t v = 0;
    int err = o->type == CFG_SIZE       ? units_parse_size(s, &v)
              : o->type == CFG_DURATION ? units_parse_duration(s, &v)
                                        : parse_uint(s, &v);
    if (err == -ERANGE)
        return fail(w, line, col, "%s is too large", quote(q, sizeof q, s, len));
    if (err < 0)
        return fail(w, line, col, "%s is not %s", quote(q, sizeof q, s, len), not_a(o, nb));

    uint64_t width = o->type == CFG_UINT && o->size < 8 ? (1ull << (o->size * 8)) - 1 : UINT64_MAX;
    uint64_t max = o->max && o->max < width ? o->max : width;
    if (v < o->min || v > max) {
        if (o->type == CFG_SIZE) {
            units_format_size(lo, sizeof lo, o->min);
            units_format_size(hi, sizeof hi, max);
        } else if (o->type == CFG_DURATION) {
            units_format_duration(lo, sizeof lo, o->min);
            units_format_duration(hi, sizeof hi, max);
        } else {
            snprintf(lo, sizeof lo, "%llu", (unsigned long long)o->min);
            snprintf(hi, sizeof hi, "%llu", (unsigned long long)max);
        }
        return fail(w, line, col, "%s is out of range %s..%s", quote(q, sizeof q, s, len), lo, hi);
    }
    store_uint(field, o->type == CFG_UINT ? o->size : 8, v);
    return 0;
}

static int parse_string(struct walk *w, const struct cfg_opt *o, char *field, const char *s,
                        size_t len, unsigned line, unsigned col)
{
    char q[QBUF];
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return fail(w, line, col, "%s contains a control character",
                        quote(q, sizeof q, s, len));
    }
    if (len < o->min)
        return len == 0 ? fail(w, line, col, "must not be empty")
                        : fail(w, line, col, "%s is shorter than %llu bytes",
                               quote(q, sizeof q, s, len), (unsigned long long)o->min);
    if (len >= o->size)
        return fail(w, line, col, "%s is longer than %zu bytes", quote(q, sizeof q, s, len),
                    o->size - 1);
    if ((o->flags & CFG_F_ABSPATH) && len > 0 && s[0] != '/')
        return fail(w, line, col, "%s is not an absolute path", quote(q, sizeof q, s, len));
    memset(field, 0, o->size);
    memcpy(field, s, len);
    return 0;
}

/* Any scalar row: s is len bytes and NUL-terminated at len, but may hold a
 * NUL before that (YAML "\0"), which no parser below may see. */
static int parse_scalar(struct walk *w, const struct cfg_opt *o, void *field, const char *s,
                        size_t len, unsigned line, unsigned col)
{
    char q[QBUF], nb[NAMES_MAX];
    if (o->type == CFG_STRING)
        return parse_string(w, o, field, s, len, line, col);
    if (strlen(s) != len) /* a NUL inside: no spelling of any type has one */
        return fail(w, line, col, "%s is not %s", quote(q, sizeof q, s, len), not_a(o, nb));
    switch (o->type) {
    case CFG_BOOL: {
        static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
                                                                               "FALSE"};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(s, t[i]) == 0 || strcmp(s, f[i]) == 0) {
                *(bool *)field = strcmp(s, t[i]) == 0;
                return 0;
            }
        }
        break;
    }
    case CFG_UINT:
    case CFG_SIZE:
    case CFG_DURATION:
        return parse_number(w, o, field, s, len, line, col);
    case CFG_ADDR:
        if (parse_addr(s, len, field) == 0)
            return 0;
        break;
    case CFG_ENUM:
        for (const struct cfg_enum *e = o->names; e->name; e++) {
            if (strcmp(s, e->name) == 0) {
                memcpy(field, &e->value, sizeof e->value);
                return 0;
            }
        }
        break;
    default:
        return fail(w, line, col, "bad table row (type %d)", (int)o->type);
    }
    return fail(w, line, col, "%s is not %s", quote(q, sizeof q, s, len), not_a(o, nb));
}

/* --- defaults --------------------------------------------------------- */

/* The most items a LIST row takes. */
static uint64_t list_max(const struct cfg_opt *o)
{
    return o->max ? o->max : o->elem ? o->size / o->elem : 0;
}

/* A LIST row's items are walked as sections of this row. */
static struct cfg_opt list_item(const struct cfg_opt *o)
{
    return (struct cfg_opt){o->key, CFG_SECTION, 0, o->elem, .sub = o->sub, .check = o->check};
}

/* A LIST's array holds its most items, and its count (a uint32_t) lies in
 * the section, outside the array. */
static bool list_fits(const struct cfg_opt *sec, const struct cfg_opt *o)
{
    uint64_t max = list_max(o);
    if (!o->sub || !o->elem || !max || max > o->size / o->elem)
        return false;
    if (o->count > sec->size || sizeof(uint32_t) > sec->size - o->count)
        return false;
    return o->count + sizeof(uint32_t) <= o->offset || o->count >= o->offset + o->size;
}

/* A row's field must be of the size its type writes, inside its section:
 * a wrong row would otherwise write out of bounds. Checked on every load
 * (the defaults are applied first), so a bad table fails every test. */
static bool row_fits(const struct cfg_opt *sec, const struct cfg_opt *o)
{
    if (o->offset > sec->size || o->size > sec->size - o->offset)
        return false;
    switch (o->type) {
    case CFG_BOOL:
        return o->size == sizeof(bool);
    case CFG_UINT:
        return o->size == 1 || o->size == 2 || o->size == 4 || o->size == 8;
    case CFG_SIZE:
    case CFG_DURATION:
        return o->size == sizeof(uint64_t);
    case CFG_STRING:
        return o->size >= 1;
    case CFG_ADDR:
        return o->size == sizeof(struct cfg_addr);
    case CFG_SECTION:
        return o->sub != NULL;
    case CFG_RAW:
        return o->size == 0 || o->size == sizeof(struct cfg_raw);
    case CFG_ENUM:
        return o->size == sizeof(uint32_t) && o->names && o->names[0].name;
    case CFG_LIST:
        return list_fits(sec, o);
    }
    return false;
}

static int apply_defaults(struct walk *w, const struct cfg_opt *sec, char *base);

/* A LIST starts empty. Its item rows' defaults are applied once, to the
 * first slot, and cleared again, so that a bad one fails cfg_defaults()
 * like any other; walk_item() applies them to each item of the file. */
static int list_defaults(struct walk *w, const struct cfg_opt *o, char *base)
{
    const struct cfg_opt item = list_item(o);
    size_t old = path_index(w, 0);
    int err = apply_defaults(w, &item, base + o->offset);
    path_pop(w, old);
    memset(base + o->offset, 0, o->size);
    memset(base + o->count, 0, sizeof(uint32_t));
    return err;
}

static int apply_defaults(struct walk *w, const struct cfg_opt *sec, char *base)
{
    for (const struct cfg_opt *o = sec->sub; o && o->key; o++) {
        size_t old = path_push(w, o->key);
        int err = 0;
        if (!row_fits(sec, o))
            err = fail(w, 0, 0, "bad table row (type %d, offset %zu, size %zu)", (int)o->type,
                       o->offset, o->size);
        else if (o->type == CFG_SECTION)
            err = apply_defaults(w, o, base + o->offset);
        else if (o->type == CFG_LIST)
            err = list_defaults(w, o, base);
        else if (o->def && o->type != CFG_RAW)
            err = parse_scalar(w, o, base + o->offset, o->def, strlen(o->def), 0, 0);
        path_pop(w, old);
        if (err)
            return err;
    }
    return 0;
}

int cfg_defaults(const struct cfg_opt *root, void *out, struct diag *d)
{
    struct diag local = {0};
    struct walk w = {.name = "<defaults>", .d = d ? d : &local};
    memset(out, 0, root->size);
    return apply_defaults(&w, root, out);
}

/* --- the walk --------------------------------------------------------- */

/* Levenshtein distance, for "did you mean"; keys longer than 31 bytes are
 * too far from any of ours to be a typo. */
static unsigned distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    unsigned row[32], prev;
    if (la >= 32 || lb >= 32)
        return UINT_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cur = row[j];
            unsigned sub = prev + (a[i - 1] != b[j - 1]);
            unsigned del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

static int unknown_key(struct walk *w, const struct cfg_opt *rows, const yaml_node_t *k)
{
    const char *s = (const char *)k->data.scalar.value;
    size_t len = k->data.scalar.length;
    const char *best = NULL;
    unsigned bestd = 3; /* suggest at distance 1 or 2 only */
    for (const struct cfg_opt *o = rows; o && o->key; o++) {
        unsigned dd = distance(s, len, o->key);
        if (dd < bestd && dd < len) {
            bestd = dd;
            best = o->key;
        }
    }
    char q[QBUF];
    quote(q, sizeof q, s, len);
    if (best)
        return fail_at(w, &k->start_mark, "unknown key %s (did you mean \"%s\"?)", q, best);
    return fail_at(w, &k->start_mark, "unknown key %s", q);
}

static int walk_section(struct walk *w, yaml_document_t *doc, const struct cfg_opt *sec, char *base,
                        yaml_node_t *node);

/* RAW: the owner parses it later; now only its kind and tag are checked. */
static int walk_raw(struct walk *w, const struct cfg_opt *o, void *field, const yaml_node_t *n)
{
    char q[QBUF], nb[NAMES_MAX];
    uint32_t count = 0;
    if (!is_null(n)) {
        bool ok = n->type == YAML_MAPPING_NODE    ? !(o->flags & CFG_F_SEQ)
                  : n->type == YAML_SEQUENCE_NODE ? !(o->flags & CFG_F_MAP)
                                                  : !(o->flags & (CFG_F_MAP | CFG_F_SEQ));
        if (!ok)
            return fail_at(w, &n->start_mark, "expected %s, found %s", what(o, nb),
                           found(n, q, sizeof q));
        int err = check_tag(w, n);
        if (err)
            return err;
        count = n->type == YAML_MAPPING_NODE
                    ? (uint32_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
                : n->type == YAML_SEQUENCE_NODE
                    ? (uint32_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                    : 1;
    }
    if (o->size == sizeof(struct cfg_raw))
        memcpy(field, &(struct cfg_raw){.n = count}, sizeof(struct cfg_raw));
    return 0;
}

/* One item of a LIST, into its slot (zeroed, then the rows' defaults):
 * a map walked like a section, with the row's check as the section's. */
static int walk_item(struct walk *w, yaml_document_t *doc, const struct cfg_opt *item, char *slot,
                     yaml_node_t *v, uint32_t idx)
{
    char q[QBUF];
    size_t old = path_index(w, idx);
    int err;
    if (v->type == YAML_MAPPING_NODE) {
        memset(slot, 0, item->size);
        err = apply_defaults(w, item, slot);
        if (!err)
            err = walk_section(w, doc, item, slot, v);
    } else if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0 &&
               v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        err = fail_at(w, &v->start_mark, "expected a map, found nothing");
    } else {
        err = fail_at(w, &v->start_mark, "expected a map, found %s", found(v, q, sizeof q));
    }
    path_pop(w, old);
    return err;
}

/* LIST: its items into the array, then their number into the count; base
 * is the section's struct, which holds both. At most list_max() items,
 * counted before any is walked. */
static int walk_list(struct walk *w, yaml_document_t *doc, const struct cfg_opt *o, char *base,
                     yaml_node_t *n)
{
    char q[QBUF];
    uint32_t count = 0;
    if (!is_null(n)) {
        if (n->type != YAML_SEQUENCE_NODE)
            return fail_at(w, &n->start_mark, "expected a list, found %s", found(n, q, sizeof q));
        int err = check_tag(w, n);
        if (err)
            return err;
        yaml_node_item_t *items = n->data.sequence.items.start;
        size_t len = (size_t)(n->data.sequence.items.top - items);
        uint64_t max = list_max(o);
        if (len > max) {
            yaml_node_t *extra = yaml_document_get_node(doc, items[max]);
            return fail_at(w, extra ? &extra->start_mark : &n->start_mark, "more than %llu %s",
                           (unsigned long long)max, o->key);
        }
        const struct cfg_opt item = list_item(o);
        for (; count < len; count++) {
            yaml_node_t *v = yaml_document_get_node(doc, items[count]);
            if (!v) /* libyaml always has it; do not trust it blindly */
                return fail(w, 0, 0, "malformed document");
            err = walk_item(w, doc, &item, base + o->offset + count * o->elem, v, count);
            if (err)
                return err;
        }
    }
    memcpy(base + o->count, &count, sizeof count);
    return 0;
}

/* The value of row o of the section whose struct is base. */
static int walk_value(struct walk *w, yaml_document_t *doc, const struct cfg_opt *o, char *base,
                      yaml_node_t *v)
{
    char q[QBUF], nb[NAMES_MAX];
    char *field = base + o->offset;
    if (o->type == CFG_SECTION)
        return walk_section(w, doc, o, field, v);
    if (o->type == CFG_LIST)
        return walk_list(w, doc, o, base, v);
    if (o->type == CFG_RAW)
        return walk_raw(w, o, field, v);
    if (v->type != YAML_SCALAR_NODE)
        return fail_at(w, &v->start_mark, "expected %s, found %s", what(o, nb),
                       found(v, q, sizeof q));
    int err = check_tag(w, v);
    if (err)
        return err;
    if (v->data.scalar.length == 0 && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return fail_at(w, &v->start_mark, "expected %s, found nothing", what(o, nb));
    return parse_scalar(w, o, field, (const char *)v->data.scalar.value, v->data.scalar.length,
                        mark_line(&v->start_mark), mark_col(&v->start_mark));
}

static int find_row(const struct cfg_opt *rows, const yaml_node_t *k)
{
    for (int i = 0; rows && rows[i].key; i++)
        if (strlen(rows[i].key) == k->data.scalar.length &&
            memcmp(rows[i].key, k->data.scalar.value, k->data.scalar.length) == 0)
            return i;
    return -1;
}

/* One pair of a section's map: the key checked against rows, the value
 * walked into base. */
static int walk_pair(struct walk *w, yaml_document_t *doc, const struct cfg_opt *rows,
                     struct seen *seen, char *base, const yaml_node_pair_t *pair)
{
    char q[QBUF];
    yaml_node_t *k = yaml_document_get_node(doc, pair->key);
    yaml_node_t *v = yaml_document_get_node(doc, pair->value);
    if (!k || !v) /* libyaml always fills both; do not trust it blindly */
        return fail(w, 0, 0, "malformed document");
    if (k->type != YAML_SCALAR_NODE)
        return fail_at(w, &k->start_mark, "keys must be strings, found %s", found(k, q, sizeof q));
    int err = check_tag(w, k);
    if (err)
        return err;
    int i = find_row(rows, k);
    if (i < 0)
        return unknown_key(w, rows, k);
    size_t old = path_push(w, rows[i].key);
    if (seen[i].set) {
        err = fail_at(w, &k->start_mark, "duplicate key (first at line %u)", seen[i].key_line);
    } else {
        seen[i] = (struct seen){mark_line(&k->start_mark), mark_line(&v->start_mark),
                                mark_col(&v->start_mark), v, true};
        err = walk_value(w, doc, &rows[i], base, v);
    }
    path_pop(w, old);
    return err;
}

/* A SECTION row over node (NULL or null when the file leaves it out): the
 * map's keys, then nested sections the file left out (for their checks),
 * then the section's own check. Recursion follows the tables, not the
 * input, so its depth is the schema's. */
static int walk_section(struct walk *w, yaml_document_t *doc, const struct cfg_opt *sec, char *base,
                        yaml_node_t *node)
{
    char q[QBUF];
    struct seen seen[ROWS_MAX] = {{0}};
    size_t nrows = 0;
    while (sec->sub && sec->sub[nrows].key)
        nrows++;
    if (nrows > ROWS_MAX)
        return fail(w, 0, 0, "bad table: more than %d rows", ROWS_MAX);

    struct cfg_ctx cx = {.w = w, .doc = doc, .rows = sec->sub, .seen = seen};
    int err = 0;
    if (node && !is_null(node)) {
        if (node->type != YAML_MAPPING_NODE)
            return fail_at(w, &node->start_mark, "expected a map, found %s",
                           found(node, q, sizeof q));
        err = check_tag(w, node);
        if (err)
            return err;
        cx.line = mark_line(&node->start_mark);
        cx.col = mark_col(&node->start_mark);
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            err = walk_pair(w, doc, sec->sub, seen, base, p);
            if (err)
                return err;
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        const struct cfg_opt *o = &sec->sub[i];
        if (o->type != CFG_SECTION || seen[i].set)
            continue;
        size_t old = path_push(w, o->key);
        err = walk_section(w, doc, o, base + o->offset, NULL);
        path_pop(w, old);
        if (err)
            return err;
    }
    return sec->check ? sec->check(base, &cx) : 0;
}

/* --- parsing ---------------------------------------------------------- */

/* Turns a libyaml failure into a diag. Returns -ENOMEM or -EINVAL. */
static int parser_fail(struct walk *w, const yaml_parser_t *p, const unsigned char *buf, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        fail(w, 0, 0, "out of memory");
        return -ENOMEM;
    }
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count it out. */
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (buf[i] == '\n')
                line++, col = 1;
            else if ((buf[i] & 0xc0) != 0x80)
                col++;
        }
        if (p->problem_value >= 0)
            return fail(w, line, col, "%s (0x%x)", problem, (unsigned)p->problem_value);
        return fail(w, line, col, "%s", problem);
    }
    if (p->context)
        return fail_at(w, &p->problem_mark, "%s %s at line %u", problem, p->context,
                       mark_line(&p->context_mark));
    return fail_at(w, &p->problem_mark, "%s", problem);
}

/* The kinds of open maps and lists while scanning, by what closes them. */
enum level {
    LV_BLOCK,      /* a block map or list: BLOCK-END */
    LV_FLOW_SEQ,   /* [: ] */
    LV_FLOW_MAP,   /* {: } */
    LV_INDENTLESS, /* a list at its key's indentation: the next KEY, VALUE or BLOCK-END */
    LV_PAIR,       /* "[a: b]", a one-pair map inside a flow list: the next , or ] */
};

/* Updates the stack of open levels for token t (prev: the token before,
 * tags skipped). Returns the kind of level t opens, or -1. */
static int track_level(enum level *lv, int *depth, yaml_token_type_t t, yaml_token_type_t prev)
{
    enum level top = *depth > 0 ? lv[*depth - 1] : LV_BLOCK;
    /* Levels that end without a token of their own end before t. */
    if (*depth > 0 &&
        ((top == LV_INDENTLESS &&
          (t == YAML_KEY_TOKEN || t == YAML_VALUE_TOKEN || t == YAML_BLOCK_END_TOKEN)) ||
         (top == LV_PAIR && (t == YAML_FLOW_ENTRY_TOKEN || t == YAML_FLOW_SEQUENCE_END_TOKEN)))) {
        --*depth;
        top = *depth > 0 ? lv[*depth - 1] : LV_BLOCK;
    }
    switch (t) {
    case YAML_BLOCK_SEQUENCE_START_TOKEN:
    case YAML_BLOCK_MAPPING_START_TOKEN:
        return LV_BLOCK;
    case YAML_FLOW_SEQUENCE_START_TOKEN:
        return LV_FLOW_SEQ;
    case YAML_FLOW_MAPPING_START_TOKEN:
        return LV_FLOW_MAP;
    case YAML_BLOCK_ENTRY_TOKEN:
        return prev == YAML_KEY_TOKEN || prev == YAML_VALUE_TOKEN ? LV_INDENTLESS : -1;
    case YAML_KEY_TOKEN:
        return *depth > 0 && top == LV_FLOW_SEQ ? LV_PAIR : -1;
    case YAML_BLOCK_END_TOKEN:
    case YAML_FLOW_SEQUENCE_END_TOKEN:
    case YAML_FLOW_MAPPING_END_TOKEN:
        if (*depth > 0)
            --*depth; /* more ends than starts is a syntax error: load() reports it */
        return -1;
    default:
        return -1;
    }
}

/* Step 1 (see the top of the file): one pass of tokens, stopping at the
 * first thing the loader refuses. Tokens, not events: the parser handles
 * all of a document's directives before it returns the first event, and it
 * compares each %TAG with every one before it.
 *
 * Depth counts maps and lists as the parser will build them (events), so
 * the limit is exact. Most have a start token; two kinds do not, and
 * track_level() infers them: a list at its key's own indentation
 * ("k:\n- a"), and a one-pair map inside a flow list ("[a: b]"). */
static int scan(struct walk *w, const unsigned char *buf, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fail(w, 0, 0, "out of memory");
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, buf, len);
    enum level lv[CFG_DEPTH_MAX];
    int err = 0, depth = 0;
    yaml_token_type_t prev = YAML_NO_TOKEN;
    for (bool end = false; !err && !end;) {
        yaml_token_t t;
        if (!yaml_parser_scan(&p, &t)) {
            err = parser_fail(w, &p, buf, len);
            break;
        }
        int opens = track_level(lv, &depth, t.type, prev);
        /* libyaml allows only [0-9A-Za-z_-] in anchor names: safe to print. */
        if (t.type == YAML_ANCHOR_TOKEN) {
            err = fail_at(w, &t.start_mark, "anchor &%.40s: anchors and aliases are not supported",
                          (const char *)t.data.anchor.value);
        } else if (t.type == YAML_ALIAS_TOKEN) {
            err = fail_at(w, &t.start_mark, "alias *%.40s: anchors and aliases are not supported",
                          (const char *)t.data.alias.value);
        } else if (t.type == YAML_TAG_DIRECTIVE_TOKEN) {
            err = fail_at(w, &t.start_mark, "%%TAG directives are not supported");
        } else if (opens >= 0 && depth == CFG_DEPTH_MAX) {
            err = fail_at(w, &t.start_mark, "nested deeper than %d levels", CFG_DEPTH_MAX);
        } else if (opens >= 0) {
            lv[depth++] = (enum level)opens;
        }
        end = t.type == YAML_STREAM_END_TOKEN;
        if (t.type != YAML_TAG_TOKEN) /* a tag may sit between ":" and an indentless "-" */
            prev = t.type;
        yaml_token_delete(&t);
    }
    yaml_parser_delete(&p);
    return err;
}

/* Steps 2 and 3 into scratch, which holds the defaults. */
static int load(struct walk *w, const struct cfg_opt *root, const unsigned char *buf, size_t len,
                char *scratch)
{
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        fail(w, 0, 0, "out of memory");
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, buf, len);
    int err = 0;
    if (!yaml_parser_load(&p, &doc)) {
        err = parser_fail(w, &p, buf, len);
        goto delete_parser;
    }
    err = walk_section(w, &doc, root, scratch, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    if (err)
        goto delete_parser;
    /* The rest of the stream: nothing, or another document we refuse
     * rather than ignore (or a syntax error after the first one). */
    if (!yaml_parser_load(&p, &doc)) {
        err = parser_fail(w, &p, buf, len);
        goto delete_parser;
    }
    if (yaml_document_get_root_node(&doc))
        err = fail_at(w, &doc.start_mark, "a second YAML document (one is allowed)");
    yaml_document_delete(&doc);
delete_parser:
    yaml_parser_delete(&p);
    return err;
}

int cfg_load_buffer(const struct cfg_opt *root, const char *name, const void *buf, size_t len,
                    void *out, struct diag *d)
{
    struct diag local = {0};
    struct walk w = {.name = name, .d = &local};
    const unsigned char *in = len ? buf : (const unsigned char *)"";
    char *scratch = NULL;
    int err;
    if (len > CFG_FILE_MAX) {
        err = -EFBIG;
        fail(&w, 0, 0, "larger than %u bytes", CFG_FILE_MAX);
        goto out;
    }
    scratch = malloc(root->size ? root->size : 1);
    if (!scratch) {
        err = -ENOMEM;
        fail(&w, 0, 0, "out of memory");
        goto out;
    }
    err = cfg_defaults(root, scratch, &local);
    if (err)
        goto free_scratch;
    err = scan(&w, in, len);
    if (err)
        goto free_scratch;
    err = load(&w, root, in, len, scratch);
    if (err)
        goto free_scratch;
    memcpy(out, scratch, root->size);
free_scratch:
    free(scratch);
out:
    if (err && d)
        *d = local;
    return err;
}

int cfg_load_file(const struct cfg_opt *root, const char *path, void *out, struct diag *d)
{
    struct diag local = {0};
    struct walk w = {.name = path, .d = &local};
    char eb[128];
    int err;
    /* O_NONBLOCK: a FIFO put where the config should be must not hang a
     * reload; it is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        err = -errno;
        fail(&w, 0, 0, "cannot open: %s", strerror_r(-err, eb, sizeof eb));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err = -errno;
        fail(&w, 0, 0, "cannot stat: %s", strerror_r(-err, eb, sizeof eb));
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        err = -EINVAL;
        fail(&w, 0, 0, "not a regular file");
        goto close_fd;
    }
    if (st.st_size > (off_t)CFG_FILE_MAX) {
        err = -EFBIG;
        fail(&w, 0, 0, "larger than %u bytes", CFG_FILE_MAX);
        goto close_fd;
    }
    /* Read to the end, one byte past the limit at most: the file may have
     * grown since fstat(), and cfg_load_buffer() refuses what is too long. */
    size_t cap = CFG_FILE_MAX + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        err = -ENOMEM;
        fail(&w, 0, 0, "out of memory");
        goto close_fd;
    }
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = -errno;
            fail(&w, 0, 0, "cannot read: %s", strerror_r(-err, eb, sizeof eb));
            goto free_buf;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    err = cfg_load_buffer(root, path, buf, n, out, &local);
free_buf:
    free(buf);
close_fd:
    close(fd);
out:
    if (err && d)
        *d = local;
    return err;
}

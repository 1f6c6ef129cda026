/* store_name.c - the file names of the snapshot store (see store_name.h).
 *
 * Building and parsing are written side by side so that they stay each
 * other's inverse: the fuzz target checks both directions.
 */
#define _GNU_SOURCE
#include "daemon/store_name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const exts[] = {
    [STORE_FILE_PFTRACE] = ".pftrace",
    [STORE_FILE_JSON] = ".trace.json",
    [STORE_FILE_META] = ".meta.json",
};

const char *store_name_ext(enum store_file f)
{
    return exts[f];
}

static bool part_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_';
}

/* s made into a name part: see store_name.h. Leading dots are dropped
 * before the cut, so a name of dots and a 300-byte name both leave a
 * useful part. */
static void sanitise(char dst[STORE_PART_MAX + 1], const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = 0;
    while (*u == '.')
        u++;
    for (; *u && n < STORE_PART_MAX; u++)
        dst[n++] = part_byte(*u) ? (char)*u : '_';
    if (n == 0)
        dst[n++] = '_';
    dst[n] = 0;
}

void store_name_init(struct store_name *nm, uint64_t wall_ns, const char *rule, const char *process,
                     uint32_t pid)
{
    memset(nm, 0, sizeof *nm);
    nm->time_ms = wall_ns / 1000000u;
    nm->pid = pid;
    nm->n = 1;
    sanitise(nm->rule, rule);
    sanitise(nm->process, process);
}

size_t store_name_base(const struct store_name *nm, char *dst)
{
    /* time_ms comes from ns (years 1970..2554) or from a parsed name
     * (1970..9999): four digits of year, and gmtime_r() cannot fail. The
     * moduli only show the compiler the widths. */
    time_t sec = (time_t)(nm->time_ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&sec, &tm))
        memset(&tm, 0, sizeof tm);
    char suffix[8] = "";
    if (nm->n > 1)
        snprintf(suffix, sizeof suffix, "-%u", nm->n % (STORE_SUFFIX_MAX + 1));
    int len = snprintf(dst, STORE_BASE_MAX, "%04d%02d%02dT%02d%02d%02d.%03uZ-%s-%s-%u%s",
                       (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                       tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
                       (unsigned)(nm->time_ms % 1000u), nm->rule, nm->process, nm->pid, suffix);
    return len < 0 ? 0 : (size_t)len;
}

size_t store_name_file(const struct store_name *nm, enum store_file f, char *dst)
{
    size_t n = store_name_base(nm, dst);
    size_t e = strlen(exts[f]);
    memcpy(dst + n, exts[f], e + 1);
    return n + e;
}

int store_name_cmp(const struct store_name *a, const struct store_name *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms ? -1 : 1;
    int c = strcmp(a->rule, b->rule);
    if (c == 0)
        c = strcmp(a->process, b->process);
    if (c == 0 && a->pid != b->pid)
        c = a->pid < b->pid ? -1 : 1;
    if (c == 0 && a->n != b->n)
        c = a->n < b->n ? -1 : 1;
    return c;
}

/* ---- parsing ---- */

/* n decimal digits at s; -1 when one is not a digit. */
static long digits(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* YYYYMMDDTHHMMSS.mmmZ, a date that exists; ms since the epoch. */
static int parse_time(const char *s, size_t len, uint64_t *ms)
{
    if (len != 20 || s[8] != 'T' || s[15] != '.' || s[19] != 'Z')
        return -EINVAL;
    long y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    long h = digits(s + 9, 2), mi = digits(s + 11, 2), se = digits(s + 13, 2);
    long frac = digits(s + 16, 3);
    if (y < 1970 || mo < 1 || d < 1 || h < 0 || mi < 0 || se < 0 || frac < 0)
        return -EINVAL;
    struct tm tm = {.tm_year = (int)y - 1900,
                    .tm_mon = (int)mo - 1,
                    .tm_mday = (int)d,
                    .tm_hour = (int)h,
                    .tm_min = (int)mi,
                    .tm_sec = (int)se};
    time_t t = timegm(&tm);
    /* timegm() normalises (Feb 30 is Mar 2, 24:00 the next day): a date
     * that does not exist comes back with other fields. */
    if (t < 0 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d ||
        tm.tm_hour != h || tm.tm_min != mi || tm.tm_sec != se)
        return -EINVAL;
    *ms = (uint64_t)t * 1000u + (uint64_t)frac;
    return 0;
}

static int parse_part(const char *s, size_t len, char dst[STORE_PART_MAX + 1])
{
    if (len == 0 || len > STORE_PART_MAX || s[0] == '.')
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!part_byte((unsigned char)s[i]))
            return -EINVAL;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 0;
}

/* Decimal without leading zeros ("0" alone is zero), at most max. */
static int parse_uint(const char *s, size_t len, uint32_t max, uint32_t *v)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return -EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > max)
        return -EINVAL;
    *v = (uint32_t)x;
    return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *base_len)
{
    size_t n = strlen(suffix);
    if (len <= n || memcmp(s + len - n, suffix, n) != 0)
        return false;
    *base_len = len - n;
    return true;
}

int store_name_parse(const char *name, size_t len, struct store_name *nm, enum store_file *f)
{
    size_t blen = 0;
    unsigned k;
    for (k = 0; k < sizeof exts / sizeof exts[0]; k++)
        if (ends_with(name, len, exts[k], &blen))
            break;
    if (k == sizeof exts / sizeof exts[0] || blen >= STORE_BASE_MAX)
        return -EINVAL;
    *f = (enum store_file)k;

    /* Four or five fields between '-': no part may hold one. */
    const char *field[5];
    size_t flen[5], nf = 0;
    const char *p = name, *end = name + blen;
    for (;;) {
        const char *dash = memchr(p, '-', (size_t)(end - p));
        const char *stop = dash ? dash : end;
        if (nf == 5)
            return -EINVAL;
        field[nf] = p;
        flen[nf++] = (size_t)(stop - p);
        if (!dash)
            break;
        p = dash + 1;
    }
    if (nf < 4)
        return -EINVAL;
    memset(nm, 0, sizeof *nm);
    nm->n = 1;
    if (parse_time(field[0], flen[0], &nm->time_ms) < 0 ||
        parse_part(field[1], flen[1], nm->rule) < 0 ||
        parse_part(field[2], flen[2], nm->process) < 0 ||
        parse_uint(field[3], flen[3], UINT32_MAX, &nm->pid) < 0)
        return -EINVAL;
    if (nf == 5 && (parse_uint(field[4], flen[4], STORE_SUFFIX_MAX, &nm->n) < 0 || nm->n < 2))
        return -EINVAL;
    return 0;
}

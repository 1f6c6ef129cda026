/* units.c - parsing and formatting sizes and durations. Pure functions, any
 * thread. */
#include "common/units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct suffix {
    const char *name;
    double mult;
};

/* A decimal number (digits, optionally a fraction) and an optional suffix
 * from sfx; no sign, no exponent, no spaces. */
static int parse(const char *s, const struct suffix *sfx, size_t nsfx, double bare, uint64_t *out)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0)
        return -EINVAL;
    char num[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof num)
        return -ERANGE;
    memcpy(num, s, n);
    num[n] = 0;
    double mult = bare;
    if (*p) {
        mult = 0;
        for (size_t i = 0; i < nsfx; i++)
            if (strcasecmp(p, sfx[i].name) == 0)
                mult = sfx[i].mult;
        if (mult == 0)
            return -EINVAL;
    }
    double v = strtod(num, NULL) * mult;
    if (!isfinite(v) || v >= 18446744073709549568.0)
        return -ERANGE;
    *out = (uint64_t)llround(v);
    return 0;
}

int units_parse_size(const char *s, uint64_t *out)
{
    static const struct suffix sfx[] = {
        {"b", 1.0},           {"k", 1024.0},          {"kib", 1024.0},
        {"m", 1048576.0},     {"mib", 1048576.0},     {"g", 1073741824.0},
        {"gib", 1073741824.0},
    };
    return parse(s, sfx, sizeof sfx / sizeof sfx[0], 1.0, out);
}

int units_parse_duration(const char *s, uint64_t *out)
{
    static const struct suffix sfx[] = {
        {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    return parse(s, sfx, sizeof sfx / sizeof sfx[0], 1e9, out);
}

void units_format_size(char *buf, size_t len, uint64_t v)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } u[] = {{"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        if (v && v % u[i].mult == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / u[i].mult), u[i].name);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

void units_format_duration(char *buf, size_t len, uint64_t ns)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } u[] = {{"h", 3600000000000ull}, {"m", 60000000000ull}, {"s", 1000000000ull},
             {"ms", 1000000ull},      {"us", 1000ull},       {"ns", 1}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        if (ns % u[i].mult == 0 && (ns || u[i].mult == 1)) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ns / u[i].mult), u[i].name);
            return;
        }
    }
}

/* diag.h - an error that says where: file, line, column and a sentence.
 *
 * Modules that read input people write (the config loader, later the HTTP
 * layer) never print; they fill a struct diag and return -errno, and the
 * caller decides where the text goes (stderr at startup, the journal on a
 * SIGHUP reload, a 400 body). One formatter gives the one shape people and
 * editors know:
 *
 *     flightrec.yaml:14:16: rules[2].threshold: "5x0ms" is not a duration
 *
 * Header only, no state: any thread.
 */
#ifndef FR_COMMON_DIAG_H
#define FR_COMMON_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
    const char *file; /* borrows: the name the caller passed in; NULL: unknown */
    unsigned line;    /* 1-based; 0 = unknown */
    unsigned col;     /* 1-based, in characters; 0 = unknown */
    char msg[160];    /* one sentence, no trailing newline, always NUL-terminated */
};

/* Writes "file:line:col: msg" into buf (always NUL-terminated when
 * len > 0), leaving out what is unknown: "file:line: msg", "file: msg";
 * a NULL file prints as "<input>". Returns what snprintf() returns: the
 * length the whole text needs, so a result >= len means it was cut. */
static inline int diag_format(const struct diag *d, char *buf, size_t len)
{
    const char *f = d->file ? d->file : "<input>";
    if (d->line && d->col)
        return snprintf(buf, len, "%s:%u:%u: %s", f, d->line, d->col, d->msg);
    if (d->line)
        return snprintf(buf, len, "%s:%u: %s", f, d->line, d->msg);
    return snprintf(buf, len, "%s: %s", f, d->msg);
}

#endif

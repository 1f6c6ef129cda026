/* http_query.c - percent-decoding and query strings (see http_query.h).
 *
 * One allocation for the decoded text and one for the parameter array,
 * both bounded by the input's length, which the connection has already
 * bounded by max_url.
 */
#include "daemon/http_query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t http_query_unescape(char *dst, const char *src, size_t len, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return -EINVAL;
            int h = hex_value(src[i + 1]), l = hex_value(src[i + 2]);
            if (h < 0 || l < 0)
                return -EINVAL;
            c = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0')
            return -EINVAL;
        dst[o++] = c; /* o <= i: dst may be src */
    }
    return (ssize_t)o;
}

void http_query_fini(struct http_query *q)
{
    free(q->params);
    free(q->text);
    memset(q, 0, sizeof *q);
}

int http_query_parse(struct http_query *q, const char *s, size_t len, const char **why)
{
    memset(q, 0, sizeof *q);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '&';
    n++; /* an upper bound: empty pairs are skipped below */
    if (n > HTTP_QUERY_PARAMS_MAX)
        n = HTTP_QUERY_PARAMS_MAX + 1; /* room to notice one too many */
    int err = -ENOMEM;
    /* Every pair decodes into at most its own length plus two NULs. */
    q->text = malloc(len + 2 * n + 1);
    q->params = calloc(n, sizeof *q->params);
    if (!q->text || !q->params)
        goto fail;

    char *out = q->text;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            if (q->n == HTTP_QUERY_PARAMS_MAX) {
                err = -E2BIG;
                *why = "too many query parameters";
                goto fail;
            }
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            const char *ke = eq ? eq : pe;
            ssize_t kl = http_query_unescape(out, p, (size_t)(ke - p), true);
            if (kl < 0)
                goto bad_escape;
            q->params[q->n].key = out;
            out += kl;
            *out++ = '\0';
            ssize_t vl = 0;
            if (eq) {
                vl = http_query_unescape(out, eq + 1, (size_t)(pe - eq - 1), true);
                if (vl < 0)
                    goto bad_escape;
            }
            q->params[q->n].val = out;
            out += vl;
            *out++ = '\0';
            q->n++;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
bad_escape:
    err = -EINVAL;
    *why = "bad percent-escape in query";
fail:
    http_query_fini(q);
    return err;
}

const char *http_query_next(const struct http_query *q, const char *key, size_t *pos)
{
    for (size_t i = *pos; i < q->n; i++) {
        if (strcmp(q->params[i].key, key) == 0) {
            *pos = i + 1;
            return q->params[i].val;
        }
    }
    *pos = q->n;
    return NULL;
}

const char *http_query_get(const struct http_query *q, const char *key)
{
    size_t pos = 0;
    return http_query_next(q, key, &pos);
}

/* sink.c - the buffered writer of the encoders and the fd and memory
 * sinks (see sink.h). One allocation per sink_buf; the memory sink grows
 * by doubling, per chunk, never per record.
 */
#include "common/sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sink_buf_init(struct sink_buf *b, const struct enc_sink *sink, size_t chunk)
{
    memset(b, 0, sizeof *b);
    if (!chunk)
        chunk = SINK_CHUNK_DEFAULT;
    b->cap = chunk + SINK_SLACK;
    b->base = malloc(b->cap);
    if (!b->base)
        return -ENOMEM;
    b->p = b->base;
    b->limit = b->base + chunk;
    b->sink = sink;
    return 0;
}

/* Without a sink: twice the room. Only between records, so no pointer
 * into the buffer is held across the move. */
static int grow(struct sink_buf *b)
{
    size_t used = (size_t)(b->p - b->base);
    size_t cap = b->cap * 2;
    unsigned char *n = cap > b->cap ? realloc(b->base, cap) : NULL;
    if (!n) {
        b->err = -ENOMEM;
        return -ENOMEM;
    }
    b->base = n;
    b->cap = cap;
    b->p = n + used;
    b->limit = n + cap - SINK_SLACK;
    return 0;
}

int sink_buf_flush(struct sink_buf *b)
{
    size_t len = (size_t)(b->p - b->base);
    /* A failed sink stays failed: the stream has a hole, and writing past
     * it would only make a file that looks whole and is not. */
    if (b->err < 0)
        return b->err;
    if (!b->sink)
        return b->p >= b->limit ? grow(b) : 0;
    b->p = b->base;
    if (len == 0)
        return 0;
    int err = b->sink->write(b->sink->ctx, b->base, len);
    if (err < 0) {
        b->err = err;
        return err;
    }
    b->flushed += len;
    return 0;
}

int sink_buf_put(struct sink_buf *b, const void *data, size_t len)
{
    const unsigned char *d = data;
    size_t chunk = (size_t)(b->limit - b->base);
    int err = sink_buf_check(b); /* p below limit from here */
    if (err < 0 || (err = b->err) < 0)
        return err;
    /* What fits the chunk joins it: a trace of many small threads is then
     * written a chunk at a time, not two writes per thread. */
    if (!b->sink || len <= (size_t)(b->limit - b->p)) {
        while (len > (size_t)(b->limit - b->p) && grow(b) == 0)
            ;
        if (b->err < 0)
            return b->err;
        memcpy(b->p, d, len);
        b->p += len;
        return sink_buf_check(b);
    }
    /* Else the chunk is topped up and written, whole chunks go to the
     * sink from data itself, and the rest starts the next chunk: every
     * write but the last is a whole chunk, and at most two chunks' worth
     * is copied. */
    size_t top = (size_t)(b->limit - b->p);
    memcpy(b->p, d, top);
    b->p += top;
    d += top, len -= top;
    err = sink_buf_flush(b);
    while (err == 0 && len >= chunk) {
        err = b->sink->write(b->sink->ctx, d, chunk);
        if (err < 0) {
            b->err = err;
            break;
        }
        b->flushed += chunk;
        d += chunk, len -= chunk;
    }
    if (err == 0) {
        memcpy(b->p, d, len);
        b->p += len;
    }
    return err;
}

void sink_buf_fini(struct sink_buf *b)
{
    free(b->base);
    b->base = b->p = b->limit = NULL;
}

int sink_fd_write(void *ctx, const void *buf, size_t len)
{
    int fd = *(const int *)ctx;
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* write(2) never makes progress again */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sink_mem_write(void *ctx, const void *buf, size_t len)
{
    struct sink_mem *m = ctx;
    if (len == 0)
        return 0;
    if (m->max && (len > m->max || m->len > m->max - len))
        return -ENOSPC;
    if (len > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap - m->len < len) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        unsigned char *d = realloc(m->data, cap);
        if (!d)
            return -ENOMEM;
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

void sink_mem_fini(struct sink_mem *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

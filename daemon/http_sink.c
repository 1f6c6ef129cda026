/* http_sink.c - streaming a body from a pool thread (see http_sink.h).
 *
 * A chunk the socket has taken goes back on a free list and carries the
 * next write: a snapshot of hundreds of MB allocates HTTP_SINK_INFLIGHT
 * chunks, not one per write. */
#include "daemon/http_sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What encoders hand at once: a chunk and the record that went past its
 * end (common/sink.h). */
#define CHUNK_CAP (HTTP_SINK_CHUNK + SINK_SLACK)

struct http_sink_chunk {
    struct http_sink *s;
    struct http_sink_chunk *next; /* in s->free */
    size_t cap;                   /* bytes at data */
    unsigned char data[];
};

static void chunk_done(int status, void *arg)
{
    struct http_sink_chunk *c = arg;
    struct http_sink *s = c->s;
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    if (status < 0)
        s->aborted = true;
    c->next = s->free;
    s->free = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
    struct http_sink *s = ctx;
    if (!s->started) {
        int err = s->start ? s->start(s->start_arg) : 0;
        if (err < 0)
            return err;
        s->started = true;
    }
    pthread_mutex_lock(&s->mu);
    while (s->inflight >= HTTP_SINK_INFLIGHT && !s->aborted)
        pthread_cond_wait(&s->cv, &s->mu);
    bool gone = s->aborted;
    struct http_sink_chunk *c = NULL;
    if (!gone) {
        s->inflight++;
        if (s->free && s->free->cap >= len) {
            c = s->free;
            s->free = c->next;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (gone)
        return -ECONNRESET;
    size_t cap = len > CHUNK_CAP ? len : CHUNK_CAP;
    if (!c && (c = malloc(sizeof *c + cap)) != NULL) {
        c->s = s;
        c->cap = cap;
    }
    int err = -ENOMEM;
    if (c) {
        memcpy(c->data, buf, len);
        err = http_stream_write(s->req, c->data, len, chunk_done, c);
    }
    if (err < 0) {
        free(c);
        pthread_mutex_lock(&s->mu);
        s->inflight--;
        pthread_mutex_unlock(&s->mu);
    }
    return err;
}

static void on_abort(struct http_req *req, void *arg)
{
    struct http_sink *s = arg;
    (void)req;
    pthread_mutex_lock(&s->mu);
    s->aborted = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void http_sink_init(struct http_sink *s, struct http_req *req, int (*start)(void *arg),
                    void *start_arg)
{
    memset(s, 0, sizeof *s);
    s->req = req;
    s->sink = (struct enc_sink){sink_write, s};
    s->start = start;
    s->start_arg = start_arg;
    s->started = !start;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    http_on_abort(req, on_abort, s);
}

void http_sink_fini(struct http_sink *s)
{
    while (s->free) { /* all of them: the producer drained */
        struct http_sink_chunk *c = s->free;
        s->free = c->next;
        free(c);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void http_sink_drain(struct http_sink *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

bool http_sink_aborted(struct http_sink *s)
{
    pthread_mutex_lock(&s->mu);
    bool a = s->aborted;
    pthread_mutex_unlock(&s->mu);
    return a;
}

/* http_sink.c - streaming a body from a pool thread (see http_sink.h). */
#include "daemon/http_sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
    struct http_sink *s;
    unsigned char data[];
};

static void chunk_done(int status, void *arg)
{
    struct chunk *c = arg;
    struct http_sink *s = c->s;
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    if (status < 0)
        s->aborted = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(c);
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
    struct http_sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    while (s->inflight >= HTTP_SINK_INFLIGHT && !s->aborted)
        pthread_cond_wait(&s->cv, &s->mu);
    bool gone = s->aborted;
    if (!gone)
        s->inflight++;
    pthread_mutex_unlock(&s->mu);
    if (gone)
        return -ECONNRESET;
    struct chunk *c = malloc(sizeof *c + len);
    int err = -ENOMEM;
    if (c) {
        c->s = s;
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

void http_sink_init(struct http_sink *s, struct http_req *req)
{
    memset(s, 0, sizeof *s);
    s->req = req;
    s->sink = (struct enc_sink){sink_write, s};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    http_on_abort(req, on_abort, s);
}

void http_sink_fini(struct http_sink *s)
{
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

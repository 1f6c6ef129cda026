/* sink.h - where the trace encoders write: a byte sink and the buffered
 * writer in front of it.
 *
 * An encoder never calls write(2) or grows a buffer per event. It writes
 * records into a sink_buf, a chunk with slack behind it, and hands the
 * chunk to the sink once it is full: the daemon's sink streams chunks over
 * HTTP, the library's writes them to an fd, tests collect them in memory.
 * Any thread; no global state. A sink is called from the thread that runs
 * the encoder, one chunk at a time, in order.
 */
#ifndef FR_COMMON_SINK_H
#define FR_COMMON_SINK_H

#include <stddef.h>
#include <stdint.h>

/* write() takes the whole of buf[0..len) or fails: 0 or -errno. The
 * encoder stops at the first failure and returns that code. buf is
 * borrowed for the call only. */
struct enc_sink {
    int (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
};

/* Every record an encoder writes between two sink_buf_check() calls fits
 * in this many bytes (the largest is a 1 KiB log message, escaped). */
#define SINK_SLACK         (32u << 10)
#define SINK_CHUNK_DEFAULT (64u << 10)

struct sink_buf {
    unsigned char *p;            /* next byte to write */
    unsigned char *limit;        /* hand the chunk over once p reaches this */
    unsigned char *base;         /* owns: chunk + SINK_SLACK bytes */
    const struct enc_sink *sink; /* borrows */
    uint64_t flushed;            /* bytes handed to the sink so far */
    size_t cap;                  /* bytes at base, slack included */
    int err;                     /* the first failure; sticky */
};

/* chunk: bytes per write to the sink (0: SINK_CHUNK_DEFAULT). Borrows
 * sink until sink_buf_fini(). sink NULL: a buffer in memory that grows
 * instead of flushing, holding base[0..p) (an encoder's side buffer).
 * Returns 0 or -ENOMEM. */
int sink_buf_init(struct sink_buf *b, const struct enc_sink *sink, size_t chunk);

/* Hands what is buffered to the sink (or, without one, makes room).
 * Returns 0, or the sink's -errno or -ENOMEM (also kept in b->err; later
 * flushes return it without writing). */
int sink_buf_flush(struct sink_buf *b);

/* Appends len bytes of data (another buffer's output). The sink still
 * gets whole chunks: data that fits joins the chunk, and more fills the
 * chunk, goes to the sink a chunk at a time, and its rest starts the next
 * one. Returns 0 or the sink's -errno (or -ENOMEM without a sink). */
int sink_buf_put(struct sink_buf *b, const void *data, size_t len);

/* Frees the chunk. Does not flush. */
void sink_buf_fini(struct sink_buf *b);

/* Call after each record: flushes once the chunk is full, so that the
 * next record has SINK_SLACK bytes of room. One compare when not. */
static inline int sink_buf_check(struct sink_buf *b)
{
    if (__builtin_expect(b->p >= b->limit, 0))
        return sink_buf_flush(b);
    return 0;
}

/* ---- sinks ---- */

/* ctx points to an int fd. Writes it all, retrying on EINTR and short
 * writes; -EAGAIN from a non-blocking fd is returned as is. */
int sink_fd_write(void *ctx, const void *buf, size_t len);

/* Collects everything in memory; ctx points to a struct sink_mem. */
struct sink_mem {
    unsigned char *data; /* owns; free with sink_mem_fini() */
    size_t len, cap;
    size_t max; /* -ENOSPC past this many bytes; 0: no bound */
};
int sink_mem_write(void *ctx, const void *buf, size_t len);
void sink_mem_fini(struct sink_mem *m);

#endif

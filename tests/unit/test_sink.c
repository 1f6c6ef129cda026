/* test_sink.c - the encoders' buffered writer: what reaches the sink,
 * in which pieces, and how a failure stays.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/sink.h"

#define CHUNK 64

/* A sink that keeps the bytes and the size of every write. */
struct rec {
    struct sink_mem mem;
    size_t sizes[64];
    size_t n;
    int fail_at; /* this write fails with -EPIPE; 0: none */
};

static int rec_write(void *ctx, const void *buf, size_t len)
{
    struct rec *r = ctx;
    if (r->fail_at && (int)r->n + 1 == r->fail_at)
        return -EPIPE;
    assert_true(r->n < 64);
    r->sizes[r->n++] = len;
    return sink_mem_write(&r->mem, buf, len);
}

static void fill(unsigned char *d, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        d[i] = (unsigned char)(seed + i * 7);
}

static void test_sink_put_that_fits_joins_the_chunk(void **state)
{
    (void)state;
    struct rec r = {0};
    struct enc_sink s = {rec_write, &r};
    struct sink_buf b;
    unsigned char d[100];
    fill(d, sizeof d, 1);
    assert_int_equal(sink_buf_init(&b, &s, CHUNK), 0);
    /* many small pieces (threads of a few events): whole chunks only */
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(sink_buf_put(&b, d, 10), 0);
    assert_int_equal(sink_buf_flush(&b), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.sizes[0], CHUNK);
    assert_int_equal(r.sizes[1], 100 - CHUNK);
    for (size_t i = 0; i < 10; i++)
        assert_memory_equal(r.mem.data + 10 * i, d, 10);
    sink_buf_fini(&b);
    sink_mem_fini(&r.mem);
}

static void test_sink_put_larger_than_a_chunk_writes_whole_chunks_in_order(void **state)
{
    (void)state;
    struct rec r = {0};
    struct enc_sink s = {rec_write, &r};
    struct sink_buf b;
    unsigned char head[5], big[5 * CHUNK + 9], want[sizeof head + sizeof big];
    fill(head, sizeof head, 3);
    fill(big, sizeof big, 11);
    memcpy(want, head, sizeof head);
    memcpy(want + sizeof head, big, sizeof big);
    assert_int_equal(sink_buf_init(&b, &s, CHUNK), 0);
    memcpy(b.p, head, sizeof head); /* a record written in place */
    b.p += sizeof head;
    assert_int_equal(sink_buf_put(&b, big, sizeof big), 0);
    assert_int_equal(sink_buf_flush(&b), 0);
    assert_int_equal(r.mem.len, sizeof want);
    assert_memory_equal(r.mem.data, want, sizeof want);
    for (size_t i = 0; i + 1 < r.n; i++)
        assert_int_equal(r.sizes[i], CHUNK);
    assert_int_equal(b.flushed, sizeof want);
    sink_buf_fini(&b);
    sink_mem_fini(&r.mem);
}

static void test_sink_put_failure_is_sticky(void **state)
{
    (void)state;
    struct rec r = {.fail_at = 2};
    struct enc_sink s = {rec_write, &r};
    struct sink_buf b;
    unsigned char big[4 * CHUNK];
    fill(big, sizeof big, 5);
    assert_int_equal(sink_buf_init(&b, &s, CHUNK), 0);
    assert_int_equal(sink_buf_put(&b, big, sizeof big), -EPIPE);
    assert_int_equal(sink_buf_put(&b, big, 1), -EPIPE);
    assert_int_equal(sink_buf_flush(&b), -EPIPE);
    assert_int_equal(r.n, 1); /* nothing written after the failure */
    sink_buf_fini(&b);
    sink_mem_fini(&r.mem);
}

static void test_sink_put_without_a_sink_grows(void **state)
{
    (void)state;
    struct sink_buf b;
    unsigned char big[3 * SINK_CHUNK_DEFAULT];
    fill(big, sizeof big, 9);
    assert_int_equal(sink_buf_init(&b, NULL, 0), 0);
    assert_int_equal(sink_buf_put(&b, big, 10), 0);
    assert_int_equal(sink_buf_put(&b, big, sizeof big), 0);
    assert_int_equal(b.p - b.base, 10 + sizeof big);
    assert_memory_equal(b.base, big, 10);
    assert_memory_equal(b.base + 10, big, sizeof big);
    assert_true(b.p < b.limit);
    sink_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_put_that_fits_joins_the_chunk),
        cmocka_unit_test(test_sink_put_larger_than_a_chunk_writes_whole_chunks_in_order),
        cmocka_unit_test(test_sink_put_failure_is_sticky),
        cmocka_unit_test(test_sink_put_without_a_sink_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_strtab.c - interning into the shared string table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/strtab.h"

struct fixture {
    void *mem;
    struct fr__strtab t;
    _Atomic uint64_t overflow;
};

static struct fixture *make(uint32_t cap, uint32_t bytes)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->mem = calloc(1, sizeof(struct fr_abi_strtab) + cap * sizeof(struct fr_abi_str) + bytes);
    assert_int_equal(fr__strtab_init(&f->t, f->mem, cap, bytes, &f->overflow), 0);
    return f;
}

static void drop(struct fixture *f)
{
    fr__strtab_fini(&f->t);
    free(f->mem);
    free(f);
}

static uint32_t intern(struct fr__strtab *t, const char *s)
{
    uint32_t id;
    int err = fr__strtab_intern(t, s, &id);
    assert_true(err == 0 || (err == -ENOSPC && id == FR_ABI_STR_OVERFLOW));
    return id;
}

static const char *text(struct fixture *f, uint32_t id, uint32_t *len)
{
    const struct fr_abi_str *e = &f->t.shm->entries[id];
    *len = e->len;
    return f->t.arena + e->off;
}

static void test_strtab_same_string_same_id(void **state)
{
    (void)state;
    struct fixture *f = make(64, 4096);
    char buf[16];
    strcpy(buf, "GET /orders");
    uint32_t a = intern(&f->t, "GET /orders");
    uint32_t b = intern(&f->t, buf);
    uint32_t c = intern(&f->t, "POST /orders");
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_true(a > FR_ABI_STR_OVERFLOW);
    uint32_t len;
    const char *s = text(f, c, &len);
    assert_int_equal(len, 12);
    assert_memory_equal(s, "POST /orders", 12);
    assert_int_equal(atomic_load(&f->t.shm->count), 4);
    drop(f);
}

static void test_strtab_null_and_empty_are_id_zero(void **state)
{
    (void)state;
    struct fixture *f = make(64, 4096);
    assert_int_equal(intern(&f->t, NULL), FR_ABI_STR_EMPTY);
    assert_int_equal(intern(&f->t, ""), FR_ABI_STR_EMPTY);
    drop(f);
}

static void test_strtab_long_string_is_cut(void **state)
{
    (void)state;
    struct fixture *f = make(64, 8192);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    uint32_t len, id = intern(&f->t, big);
    text(f, id, &len);
    assert_int_equal(len, FR_ABI_STR_MAX);
    /* the cut text is the same name next time */
    assert_int_equal(intern(&f->t, big), id);
    drop(f);
}

static void test_strtab_full_table_gives_overflow_and_counts(void **state)
{
    (void)state;
    struct fixture *f = make(8, 4096);
    char name[16];
    uint32_t last = 0;
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "n%d", i);
        last = intern(&f->t, name);
    }
    assert_int_equal(last, 7); /* ids 2..7 */
    uint32_t id;
    assert_int_equal(fr__strtab_intern(&f->t, "one too many", &id), -ENOSPC);
    assert_int_equal(id, FR_ABI_STR_OVERFLOW);
    assert_int_equal(intern(&f->t, "and another"), FR_ABI_STR_OVERFLOW);
    assert_int_equal(atomic_load(&f->overflow), 2);
    /* names already in keep their ids */
    assert_int_equal(intern(&f->t, "n0"), 2);
    drop(f);
}

static void test_strtab_full_arena_gives_overflow(void **state)
{
    (void)state;
    struct fixture *f = make(64, 64);
    assert_int_equal(intern(&f->t, "0123456789012345678901234567890123456789"),
                     FR_ABI_STR_OVERFLOW);
    assert_int_equal(atomic_load(&f->overflow), 1);
    drop(f);
}

static void test_strtab_copy_keeps_ids(void **state)
{
    (void)state;
    struct fixture *a = make(64, 4096), *b = make(64, 4096);
    uint32_t x = intern(&a->t, "alpha");
    uint32_t y = intern(&a->t, "beta");
    assert_int_equal(fr__strtab_copy(&b->t, &a->t), 0);
    assert_int_equal(intern(&b->t, "alpha"), x);
    assert_int_equal(intern(&b->t, "beta"), y);
    assert_int_equal(intern(&b->t, "gamma"), y + 1);
    drop(a);
    drop(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_same_string_same_id),
        cmocka_unit_test(test_strtab_null_and_empty_are_id_zero),
        cmocka_unit_test(test_strtab_long_string_is_cut),
        cmocka_unit_test(test_strtab_full_table_gives_overflow_and_counts),
        cmocka_unit_test(test_strtab_full_arena_gives_overflow),
        cmocka_unit_test(test_strtab_copy_keeps_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

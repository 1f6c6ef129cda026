/* test_store.c - the snapshot store's file names (daemon/store_name.c):
 * built from hostile rule and process names, parsed back, and near
 * misses refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/store_name.h"

/* ---- names ---- */

static void test_store_name_round_trips_and_refuses_near_misses(void **state)
{
    (void)state;
    struct store_name nm;
    enum store_file f;
    static const char good[] = "20261123T101502.123Z-slow_orders-svc.api-4242.pftrace";
    assert_int_equal(store_name_parse(good, strlen(good), &nm, &f), 0);
    assert_int_equal(f, STORE_FILE_PFTRACE);
    assert_int_equal(nm.time_ms, 1795428902123ull);
    assert_string_equal(nm.rule, "slow_orders");
    assert_string_equal(nm.process, "svc.api");
    assert_int_equal(nm.pid, 4242);
    assert_int_equal(nm.n, 1);
    char back[STORE_FILE_MAX];
    store_name_file(&nm, f, back);
    assert_string_equal(back, good);

    static const char *const also_good[] = {
        "20261123T101502.123Z-r-p-0.meta.json",
        "20261123T101502.123Z-r-p-4294967295-9999.trace.json",
        "19700101T000000.000Z-_-_-1-2.pftrace",
        "20240229T235959.999Z-a.b-c..d-7.meta.json",
    };
    for (size_t i = 0; i < sizeof also_good / sizeof also_good[0]; i++) {
        assert_int_equal(store_name_parse(also_good[i], strlen(also_good[i]), &nm, &f), 0);
        store_name_file(&nm, f, back);
        assert_string_equal(back, also_good[i]);
    }

    static const char *const bad[] = {
        "",
        ".pftrace",
        "..",
        "../x",
        "/etc/passwd",
        "20261123T101502.123Z-r-p-1",                  /* no extension */
        "20261123T101502.123Z-r-p-1.pftrace.tmp",      /* a temporary file */
        ".20261123T101502.123Z-r-p-1.pftrace.tmp",     /* the same */
        "20261123T101502.123Z-r-p-01.pftrace",         /* leading zero */
        "20261123T101502.123Z-r-p-4294967296.pftrace", /* pid past 32 bits */
        "20261123T101502.123Z-r-p-1-1.pftrace",        /* suffixes start at 2 */
        "20261123T101502.123Z-r-p-1-02.pftrace",
        "20261123T101502.123Z-r-p-1-10000.pftrace",
        "20261123T101502.123Z-r-p-1-2-3.pftrace", /* a field too many */
        "20261123T101502.123Z-r-1.pftrace",       /* one too few */
        "20261123T101502.123Z--p-1.pftrace",      /* empty rule */
        "20261123T101502.123Z-.r-p-1.pftrace",    /* leading dot */
        "20261123T101502.123Z-r/x-p-1.pftrace",
        "20261123T101502.123Z-r-p q-1.pftrace",
        "20261131T101502.123Z-r-p-1.pftrace", /* November 31st */
        "20230229T101502.123Z-r-p-1.pftrace", /* not a leap year */
        "20261123T241502.123Z-r-p-1.pftrace",
        "19691231T235959.999Z-r-p-1.pftrace",
        "20261123T101502.12Z-r-p-1.pftrace",
        "20261123t101502.123Z-r-p-1.pftrace",
        "20261123T101502.123Z-rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr-p-1.pftrace", /* 49
                                                                                               */
        "20261123T101502.123Z-r-p-1.PFTRACE",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (store_name_parse(bad[i], strlen(bad[i]), &nm, &f) == 0)
            fail_msg("accepted %s", bad[i]);
    /* a NUL inside is not a name */
    static const char nul[] = "20261123T101502.123Z-r-p\0-1.pftrace";
    assert_int_equal(store_name_parse(nul, sizeof nul - 1, &nm, &f), -EINVAL);
}

static void test_store_name_sanitises_rule_and_process(void **state)
{
    (void)state;
    struct store_name nm;
    char base[STORE_BASE_MAX], long_name[301];
    memset(long_name, 'A', 300);
    long_name[300] = 0;
    const uint64_t t = 1795428902123456789ull;
    const struct {
        const char *in, *out;
    } cases[] = {
        {"../../etc/passwd", "_.._etc_passwd"},
        {"/", "_"},
        {"\n", "_"},
        {"", "_"},
        {NULL, "_"},
        {"..", "_"},
        {".", "_"},
        {"...hidden", "hidden"},
        {"slow-orders", "slow_orders"},
        {"caf\xc3\xa9 x", "caf___x"},
        {long_name, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        store_name_init(&nm, t, cases[i].in, "p", 7);
        assert_string_equal(nm.rule, cases[i].out);
        store_name_init(&nm, t, "r", cases[i].in, 7);
        assert_string_equal(nm.process, cases[i].out);
    }
    store_name_init(&nm, t, "slow-orders", "svc/api", 4242);
    store_name_base(&nm, base);
    assert_string_equal(base, "20261123T101502.123Z-slow_orders-svc_api-4242");
    nm.n = 12;
    store_name_base(&nm, base);
    assert_string_equal(base, "20261123T101502.123Z-slow_orders-svc_api-4242-12");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_name_round_trips_and_refuses_near_misses),
        cmocka_unit_test(test_store_name_sanitises_rule_and_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_units.c - sizes and durations as people write them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/units.h"

static void test_size_suffixes_are_binary(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(units_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(units_parse_size("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(units_parse_size("1MiB", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(units_parse_size("2gib", &v), 0);
    assert_int_equal(v, 2147483648u);
    assert_int_equal(units_parse_size("1.5M", &v), 0);
    assert_int_equal(v, 1572864);
}

static void test_size_rejects_garbage(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(units_parse_size("", &v), -EINVAL);
    assert_int_equal(units_parse_size("MiB", &v), -EINVAL);
    assert_int_equal(units_parse_size("-1", &v), -EINVAL);
    assert_int_equal(units_parse_size("1 MiB", &v), -EINVAL);
    assert_int_equal(units_parse_size("1MB", &v), -EINVAL);
    assert_int_equal(units_parse_size(NULL, &v), -EINVAL);
    assert_int_equal(units_parse_size("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(v, 7);
}

static void test_duration_units(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(units_parse_duration("500ms", &v), 0);
    assert_int_equal(v, 500000000u);
    assert_int_equal(units_parse_duration("10s", &v), 0);
    assert_int_equal(v, 10000000000u);
    assert_int_equal(units_parse_duration("2m", &v), 0);
    assert_int_equal(v, 120000000000u);
    assert_int_equal(units_parse_duration("1.5s", &v), 0);
    assert_int_equal(v, 1500000000u);
    assert_int_equal(units_parse_duration("250us", &v), 0);
    assert_int_equal(v, 250000u);
    assert_int_equal(units_parse_duration("3", &v), 0);
    assert_int_equal(v, 3000000000u);
    assert_int_equal(units_parse_duration("5x0ms", &v), -EINVAL);
    assert_int_equal(units_parse_duration(".", &v), -EINVAL);
}

static void test_format_picks_the_largest_exact_unit(void **state)
{
    (void)state;
    char buf[24];
    units_format_size(buf, sizeof buf, 1ull << 40);
    assert_string_equal(buf, "1024GiB");
    units_format_size(buf, sizeof buf, 3ull << 20);
    assert_string_equal(buf, "3MiB");
    units_format_size(buf, sizeof buf, 1025);
    assert_string_equal(buf, "1025");
    units_format_size(buf, sizeof buf, 0);
    assert_string_equal(buf, "0");
    units_format_duration(buf, sizeof buf, 8760ull * 3600000000000ull);
    assert_string_equal(buf, "8760h");
    units_format_duration(buf, sizeof buf, 90000000000ull);
    assert_string_equal(buf, "90s");
    units_format_duration(buf, sizeof buf, 1500000ull);
    assert_string_equal(buf, "1500us");
    units_format_duration(buf, sizeof buf, 0);
    assert_string_equal(buf, "0ns");
    units_format_duration(buf, sizeof buf, UINT64_MAX);
    assert_string_equal(buf, "18446744073709551615ns");
    /* What the formatter writes, the parser reads back. */
    uint64_t v;
    assert_int_equal(units_parse_duration("1500us", &v), 0);
    assert_int_equal(v, 1500000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_suffixes_are_binary),
        cmocka_unit_test(test_size_rejects_garbage),
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_format_picks_the_largest_exact_unit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

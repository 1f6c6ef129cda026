/* test_config.c - the config loader (common/config.c) over a table with
 * every type, and the daemon's schema (daemon/config_schema.c).
 *
 * Every error is checked as the operator sees it, diag_format()'s
 * "file:line:col: message", and every failed load must leave the output
 * struct byte for byte as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <yaml.h>

#include "common/config.h"
#include "common/diag.h"
#include "daemon/config_schema.h"

/* --- a schema with every type ----------------------------------------- */

struct t_sub {
    uint8_t u8;   /* UINT, max from the field's width */
    uint16_t u16; /* UINT 10..1000 */
    bool flag;
};

enum t_color { T_RED = 1, T_GREEN = 2, T_BLUE = 7 };

static const struct cfg_enum t_colors[] = {
    {"red", T_RED},
    {"green", T_GREEN},
    {"blue", T_BLUE},
    {NULL, 0},
};

struct t_item {
    char name[8];   /* required */
    uint32_t color; /* enum t_color */
    uint64_t dur;   /* required when n > 1; not with blue */
    uint16_t n;
};

#define T_ITEMS_MAX 3

struct t_all {
    bool b;
    uint32_t u32;
    uint64_t u64;
    uint64_t size;
    uint64_t dur;
    char name[8];
    char path[32];
    struct cfg_addr addr;
    struct t_sub sub;
    struct cfg_raw any, map, seq;
    uint32_t color;
    uint32_t n_items;
    struct t_item items[T_ITEMS_MAX];
};

/* Refuses flag: true together with u8 above 100, for cfg_fail(). */
static int sub_check(void *sec, const struct cfg_ctx *cx)
{
    const struct t_sub *s = sec;
    if (s->flag && s->u8 > 100)
        return cfg_fail(cx, "u8", "%u is too much with flag set", s->u8);
    if (s->flag && s->u16 == 999)
        return cfg_fail(cx, NULL, "u16 999 and flag do not mix");
    return 0;
}

static const struct cfg_opt t_sub_opts[] = {
    {"u8", CFG_UINT, CFG_FIELD(struct t_sub, u8), .def = "7"},
    {"u16", CFG_UINT, CFG_FIELD(struct t_sub, u16), .def = "10", .min = 10, .max = 1000},
    {"flag", CFG_BOOL, CFG_FIELD(struct t_sub, flag)},
    {NULL},
};

/* Tells a key the file set from a default, with cfg_is_set(). */
static int item_check(void *sec, const struct cfg_ctx *cx)
{
    const struct t_item *it = sec;
    if (!cfg_is_set(cx, "name"))
        return cfg_fail(cx, NULL, "name is required");
    if (it->n > 1 && !cfg_is_set(cx, "dur"))
        return cfg_fail(cx, NULL, "dur is required when n is above 1");
    if (it->color == T_BLUE && cfg_is_set(cx, "dur"))
        return cfg_fail(cx, "dur", "does not apply to blue");
    return 0;
}

static const struct cfg_opt t_item_opts[] = {
    {"name", CFG_STRING, CFG_FIELD(struct t_item, name), .min = 1},
    {"color", CFG_ENUM, CFG_FIELD(struct t_item, color), .def = "green", .names = t_colors},
    {"dur", CFG_DURATION, CFG_FIELD(struct t_item, dur), .def = "1s", .max = 3600000000000ull},
    {"n", CFG_UINT, CFG_FIELD(struct t_item, n), .def = "1", .min = 1, .max = 10},
    {NULL},
};

/* Across items, with cfg_fail_item(): names are unique; and, to point at
 * an item's key the file may have left out, u32 13 refuses green items. */
static int t_check(void *sec, const struct cfg_ctx *cx)
{
    const struct t_all *a = sec;
    for (uint32_t i = 0; i < a->n_items; i++) {
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(a->items[i].name, a->items[j].name) == 0)
                return cfg_fail_item(cx, "items", i, "name", "\"%s\" is also the name of items[%u]",
                                     a->items[i].name, j);
        if (a->u32 == 13 && a->items[i].color == T_GREEN)
            return cfg_fail_item(cx, "items", i, "color", "green does not go with u32 13");
        if (a->u32 == 14 && a->items[i].n == 10)
            return cfg_fail_item(cx, "items", i, NULL, "n 10 does not go with u32 14");
    }
    return 0;
}

static const struct cfg_opt t_opts[] = {
    {"b", CFG_BOOL, CFG_FIELD(struct t_all, b), .def = "true"},
    {"u32", CFG_UINT, CFG_FIELD(struct t_all, u32), .def = "5", .min = 1, .max = 100},
    {"u64", CFG_UINT, CFG_FIELD(struct t_all, u64), .def = "18446744073709551615"},
    {"size", CFG_SIZE, CFG_FIELD(struct t_all, size), .def = "64KiB", .min = 4096,
     .max = 1ull << 30},
    {"dur", CFG_DURATION, CFG_FIELD(struct t_all, dur), .def = "10s", .min = 100000000,
     .max = 3600000000000ull},
    {"name", CFG_STRING, CFG_FIELD(struct t_all, name), .def = "abc"},
    {"path", CFG_STRING, CFG_FIELD(struct t_all, path), .def = "/run/x.sock", .min = 1,
     .flags = CFG_F_ABSPATH},
    {"addr", CFG_ADDR, CFG_FIELD(struct t_all, addr), .def = "127.0.0.1:6060"},
    {"sub", CFG_SECTION, CFG_FIELD(struct t_all, sub), .sub = t_sub_opts, .check = sub_check},
    {"any", CFG_RAW, CFG_FIELD(struct t_all, any)},
    {"map", CFG_RAW, CFG_FIELD(struct t_all, map), .flags = CFG_F_MAP},
    {"seq", CFG_RAW, CFG_FIELD(struct t_all, seq), .flags = CFG_F_SEQ},
    {"color", CFG_ENUM, CFG_FIELD(struct t_all, color), .def = "blue", .names = t_colors},
    {"items", CFG_LIST, CFG_LIST_FIELD(struct t_all, items, n_items), .sub = t_item_opts,
     .check = item_check},
    {NULL},
};

static const struct cfg_opt t_root = {
    "", CFG_SECTION, 0, sizeof(struct t_all), .sub = t_opts, .check = t_check};

static int t_load(const char *yaml, struct t_all *out, struct diag *d)
{
    return cfg_load_buffer(&t_root, "t.yaml", yaml, strlen(yaml), out, d);
}

/* Loads yaml (len bytes) that must fail with err and the text want, and
 * checks that the output struct was not touched. */
static void expect_fail_n(const char *yaml, size_t len, int err, const char *want)
{
    struct t_all a, before;
    memset(&a, 0x5a, sizeof a);
    before = a;
    struct diag d;
    memset(&d, 0, sizeof d);
    int got = cfg_load_buffer(&t_root, "t.yaml", yaml, len, &a, &d);
    char text[256];
    diag_format(&d, text, sizeof text);
    if (got != err)
        print_error("input %s\nloaded with %d, want %d: %s\n", yaml, got, err, text);
    assert_int_equal(got, err);
    assert_string_equal(text, want);
    assert_memory_equal(&a, &before, sizeof a);
}

static void expect_fail(const char *yaml, const char *want)
{
    expect_fail_n(yaml, strlen(yaml), -EINVAL, want);
}

static struct t_all load_ok(const char *yaml)
{
    struct t_all a;
    struct diag d = {0};
    int err = t_load(yaml, &a, &d);
    if (err) {
        char text[256];
        diag_format(&d, text, sizeof text);
        print_error("input %s\nfailed: %s\n", yaml, text);
    }
    assert_int_equal(err, 0);
    return a;
}

static uint16_t addr_port(const struct cfg_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static const char *addr_text(const struct cfg_addr *a)
{
    static char buf[64];
    cfg_addr_format(a, buf, sizeof buf);
    return buf;
}

/* --- the walker -------------------------------------------------------- */

static void test_config_defaults_come_from_the_table(void **state)
{
    (void)state;
    struct t_all a;
    memset(&a, 0x5a, sizeof a);
    assert_int_equal(cfg_defaults(&t_root, &a, NULL), 0);
    assert_true(a.b);
    assert_int_equal(a.u32, 5);
    assert_true(a.u64 == UINT64_MAX);
    assert_int_equal(a.size, 65536);
    assert_int_equal(a.dur, 10000000000ull);
    assert_string_equal(a.name, "abc");
    assert_string_equal(a.path, "/run/x.sock");
    assert_string_equal(addr_text(&a.addr), "127.0.0.1:6060");
    assert_int_equal(a.sub.u8, 7);
    assert_int_equal(a.sub.u16, 10);
    assert_false(a.sub.flag); /* no .def: zero */
    assert_int_equal(a.any.n, 0);
    assert_int_equal(a.map.n, 0);
    assert_int_equal(a.seq.n, 0);
    assert_int_equal(a.color, T_BLUE);
    assert_int_equal(a.n_items, 0);
    struct t_item zero;
    memset(&zero, 0, sizeof zero);
    for (int i = 0; i < T_ITEMS_MAX; i++)
        assert_memory_equal(&a.items[i], &zero, sizeof zero);
}

static void test_config_empty_input_gives_the_defaults(void **state)
{
    (void)state;
    struct t_all def;
    assert_int_equal(cfg_defaults(&t_root, &def, NULL), 0);
    const char *empties[] = {"", "# nothing but a comment\n", "---\n", "~\n", "{}\n", "---\n...\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        struct t_all a = load_ok(empties[i]);
        assert_memory_equal(&a, &def, sizeof a);
    }
    /* A section or a raw subtree left empty (keys commented out) too. */
    struct t_all a = load_ok("sub:\nany: ~\nmap:\nseq: []\nitems: []\n");
    assert_memory_equal(&a, &def, sizeof a);
    a = load_ok("items:\n");
    assert_memory_equal(&a, &def, sizeof a);
}

static void test_config_every_type_parses(void **state)
{
    (void)state;
    struct t_all a = load_ok("b: false\n"
                             "u32: 100\n"
                             "u64: 0\n"
                             "size: 1GiB\n"
                             "dur: 1.5s\n"
                             "name: \"abcdefg\"\n"
                             "path: '/tmp/a b'\n"
                             "addr: \"[::1]:80\"\n"
                             "sub:\n"
                             "  u8: 100\n"
                             "  u16: 1000\n"
                             "  flag: TRUE\n"
                             "any: scalar\n"
                             "map: {a: 1, b: [2, 3], c: {d: e}}\n"
                             "seq:\n"
                             "  - x\n"
                             "  - {y: z}\n"
                             "  - [1, 2]\n");
    assert_false(a.b);
    assert_int_equal(a.u32, 100);
    assert_int_equal(a.u64, 0);
    assert_int_equal(a.size, 1ull << 30);
    assert_int_equal(a.dur, 1500000000ull);
    assert_string_equal(a.name, "abcdefg");
    assert_string_equal(a.path, "/tmp/a b");
    assert_int_equal(a.addr.ss.ss_family, AF_INET6);
    assert_int_equal(a.addr.len, sizeof(struct sockaddr_in6));
    assert_int_equal(addr_port(&a.addr), 80);
    assert_string_equal(addr_text(&a.addr), "[::1]:80");
    assert_int_equal(a.sub.u8, 100);
    assert_int_equal(a.sub.u16, 1000);
    assert_true(a.sub.flag);
    assert_int_equal(a.any.n, 1);
    assert_int_equal(a.map.n, 3);
    assert_int_equal(a.seq.n, 3);

    /* Flow style at the top, keys in any order, explicit !!str tags. */
    a = load_ok("{sub: {u16: 20}, name: !!str x, u32: 1}");
    assert_int_equal(a.sub.u16, 20);
    assert_int_equal(a.sub.u8, 7);
    assert_string_equal(a.name, "x");
    assert_int_equal(a.u32, 1);
}

static void test_config_bool_is_true_or_false(void **state)
{
    (void)state;
    assert_false(load_ok("b: false").b);
    assert_false(load_ok("b: False").b);
    assert_true(load_ok("b: 'true'").b);
    expect_fail("b: yes\n", "t.yaml:1:4: b: \"yes\" is not a boolean (true or false)");
    expect_fail("b: 1\n", "t.yaml:1:4: b: \"1\" is not a boolean (true or false)");
    expect_fail("b: tRUE\n", "t.yaml:1:4: b: \"tRUE\" is not a boolean (true or false)");
    expect_fail("b: \"true\\0\"\n",
                "t.yaml:1:4: b: \"true\\x00\" is not a boolean (true or false)");
    expect_fail("b:\n", "t.yaml:1:3: b: expected a boolean, found nothing");
}

static void test_config_uint_range_and_width(void **state)
{
    (void)state;
    assert_int_equal(load_ok("u32: 007").u32, 7);
    assert_true(load_ok("u64: 18446744073709551615").u64 == UINT64_MAX);
    expect_fail("u32: 0\n", "t.yaml:1:6: u32: \"0\" is out of range 1..100");
    expect_fail("u32: 101\n", "t.yaml:1:6: u32: \"101\" is out of range 1..100");
    expect_fail("u32: -1\n", "t.yaml:1:6: u32: \"-1\" is not an unsigned integer");
    expect_fail("u32: 0x10\n", "t.yaml:1:6: u32: \"0x10\" is not an unsigned integer");
    expect_fail("u32: 1.0\n", "t.yaml:1:6: u32: \"1.0\" is not an unsigned integer");
    expect_fail("u32: 10k\n", "t.yaml:1:6: u32: \"10k\" is not an unsigned integer");
    expect_fail("u64: 18446744073709551616\n",
                "t.yaml:1:6: u64: \"18446744073709551616\" is too large");
    /* No .max: the field's width is the bound. */
    expect_fail("sub:\n  u8: 256\n", "t.yaml:2:7: sub.u8: \"256\" is out of range 0..255");
    expect_fail("sub:\n  u16: 9\n", "t.yaml:2:8: sub.u16: \"9\" is out of range 10..1000");
    expect_fail("u32: [1]\n", "t.yaml:1:6: u32: expected an unsigned integer, found a list");
    expect_fail("u32: {a: 1}\n", "t.yaml:1:6: u32: expected an unsigned integer, found a map");
}

static void test_config_size_uses_units(void **state)
{
    (void)state;
    assert_int_equal(load_ok("size: 4096").size, 4096);
    assert_int_equal(load_ok("size: 64k").size, 65536);
    assert_int_equal(load_ok("size: 2MiB").size, 2u << 20);
    expect_fail("size: 12MB\n", "t.yaml:1:7: size: \"12MB\" is not a size");
    expect_fail("size: 4095\n", "t.yaml:1:7: size: \"4095\" is out of range 4KiB..1GiB");
    expect_fail("size: 2G\n", "t.yaml:1:7: size: \"2G\" is out of range 4KiB..1GiB");
    expect_fail("size: 99999999999999999999G\n",
                "t.yaml:1:7: size: \"99999999999999999999G\" is too large");
}

static void test_config_bad_duration_names_line_and_column(void **state)
{
    (void)state;
    assert_int_equal(load_ok("dur: 100ms").dur, 100000000ull);
    assert_int_equal(load_ok("dur: 1h").dur, 3600000000000ull);
    assert_int_equal(load_ok("dur: 2").dur, 2000000000ull);
    expect_fail("b: true\n\n# a comment\ndur:    5x0ms\n",
                "t.yaml:4:9: dur: \"5x0ms\" is not a duration");
    expect_fail("dur: 99ms\n", "t.yaml:1:6: dur: \"99ms\" is out of range 100ms..1h");
    expect_fail("dur: 61m\n", "t.yaml:1:6: dur: \"61m\" is out of range 100ms..1h");
    expect_fail("dur: \"10 s\"\n", "t.yaml:1:6: dur: \"10 s\" is not a duration");
    /* A NUL inside a value must not cut it short: "10s\0junk" is no 10s. */
    expect_fail("dur: \"10s\\0junk\"\n", "t.yaml:1:6: dur: \"10s\\x00junk\" is not a duration");
}

static void test_config_string_is_bounded_and_clean(void **state)
{
    (void)state;
    assert_string_equal(load_ok("name: ''").name, "");
    assert_string_equal(load_ok("name: 1234567").name, "1234567");
    expect_fail("name: 12345678\n", "t.yaml:1:7: name: \"12345678\" is longer than 7 bytes");
    expect_fail("name: \"a\\tb\"\n", "t.yaml:1:7: name: \"a\\x09b\" contains a control character");
    expect_fail("name: \"a\\0b\"\n", "t.yaml:1:7: name: \"a\\x00b\" contains a control character");
    expect_fail("name: |\n  ab\n", "t.yaml:1:7: name: \"ab\\x0a\" contains a control character");
    expect_fail("path: ''\n", "t.yaml:1:7: path: must not be empty");
    expect_fail("path: run/x.sock\n", "t.yaml:1:7: path: \"run/x.sock\" is not an absolute path");
    expect_fail("name: [a]\n", "t.yaml:1:7: name: expected a string, found a list");
    /* Messages escape quotes and backslashes, and cut long values on a
     * character boundary: 'x' and 19 two-byte characters, then the dots. */
    expect_fail("name: 'a\"b\\c\"de'\n",
                "t.yaml:1:7: name: \"a\\\"b\\\\c\\\"de\" is longer than 7 bytes");
    char yaml[128], want[160];
    strcpy(yaml, "path: x");
    for (int i = 0; i < 30; i++)
        strcat(yaml, "\xc3\xa9");
    strcpy(want, "t.yaml:1:7: path: \"x");
    for (int i = 0; i < 19; i++)
        strcat(want, "\xc3\xa9");
    strcat(want, "...\" is longer than 31 bytes");
    expect_fail(yaml, want);
}

static void test_config_addr_forms(void **state)
{
    (void)state;
    struct t_all a = load_ok("addr: 10.1.2.3:65535");
    assert_int_equal(a.addr.ss.ss_family, AF_INET);
    assert_int_equal(a.addr.len, sizeof(struct sockaddr_in));
    assert_string_equal(addr_text(&a.addr), "10.1.2.3:65535");
    assert_false(cfg_addr_is_loopback(&a.addr));
    a = load_ok("addr: localhost:1");
    assert_string_equal(addr_text(&a.addr), "127.0.0.1:1");
    assert_true(cfg_addr_is_loopback(&a.addr));
    a = load_ok("addr: 127.3.2.1:80");
    assert_true(cfg_addr_is_loopback(&a.addr));
    a = load_ok("addr: '[::ffff:127.0.0.1]:80'");
    assert_true(cfg_addr_is_loopback(&a.addr));
    a = load_ok("addr: '[::]:80'");
    assert_false(cfg_addr_is_loopback(&a.addr));
    a = load_ok("addr: '[2001:db8::1]:8080'");
    assert_string_equal(addr_text(&a.addr), "[2001:db8::1]:8080");
    assert_false(cfg_addr_is_loopback(&a.addr));

    static const char *const bad[] = {
        "localhost",   "127.0.0.1",       "127.0.0.1:",      ":6060",
        "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80",   "127.0.0.1:080080",
        "127.1:80",    "::1:80",          "[::1]80",         "[::1]:",
        "[]:80",       "[127.0.0.1]:80",  "host.example:80", "[fe80::1%eth0]:80",
        "1.2.3.4 :80", " 1.2.3.4:80",
    };
    expect_fail("addr: \"127.0.0.1:80\\0\"\n",
                "t.yaml:1:7: addr: \"127.0.0.1:80\\x00\" is not an address (HOST:PORT, HOST an "
                "IPv4 literal, [IPv6] or localhost)");
    expect_fail("addr: [1]\n", "t.yaml:1:7: addr: expected an address, found a list");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[96], want[256];
        snprintf(yaml, sizeof yaml, "addr: \"%s\"\n", bad[i]);
        snprintf(want, sizeof want,
                 "t.yaml:1:7: addr: \"%s\" is not an address (HOST:PORT, HOST an IPv4 literal, "
                 "[IPv6] or localhost)",
                 bad[i]);
        expect_fail(yaml, want);
    }
}

static void test_config_unknown_key_is_an_error(void **state)
{
    (void)state;
    expect_fail("nmae: x\n", "t.yaml:1:1: unknown key \"nmae\" (did you mean \"name\"?)");
    expect_fail("sub:\n  flga: true\n",
                "t.yaml:2:3: sub: unknown key \"flga\" (did you mean \"flag\"?)");
    expect_fail("b: true\nverbose: true\n", "t.yaml:2:1: unknown key \"verbose\"");
    /* Keys match exactly: no case folding, no trimming. */
    expect_fail("B: true\n", "t.yaml:1:1: unknown key \"B\"");
    expect_fail("\"b \": true\n", "t.yaml:1:1: unknown key \"b \" (did you mean \"b\"?)");
    expect_fail("\"b\\0\": true\n", "t.yaml:1:1: unknown key \"b\\x00\" (did you mean \"b\"?)");
    /* Long keys and values are cut in messages, never overflow them. */
    expect_fail("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n",
                "t.yaml:1:1: unknown key \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
    expect_fail("sub:\n  ? [a, b]\n  : 1\n", "t.yaml:2:5: sub: keys must be strings, found a list");
    expect_fail("{[a]: 1}\n", "t.yaml:1:2: keys must be strings, found a list");
}

static void test_config_duplicate_key_is_an_error(void **state)
{
    (void)state;
    expect_fail("u32: 1\nb: true\nu32: 2\n", "t.yaml:3:1: u32: duplicate key (first at line 1)");
    expect_fail("sub: {u8: 1, u8: 1}\n", "t.yaml:1:14: sub.u8: duplicate key (first at line 1)");
    expect_fail("sub:\n  u8: 1\nsub:\n  u8: 2\n",
                "t.yaml:3:1: sub: duplicate key (first at line 1)");
}

static void test_config_wrong_kinds(void **state)
{
    (void)state;
    expect_fail("- a\n- b\n", "t.yaml:1:1: expected a map, found a list");
    expect_fail("just a string\n", "t.yaml:1:1: expected a map, found \"just a string\"");
    expect_fail("sub: 5\n", "t.yaml:1:6: sub: expected a map, found \"5\"");
    expect_fail("sub: [u8]\n", "t.yaml:1:6: sub: expected a map, found a list");
    expect_fail("map: [1]\n", "t.yaml:1:6: map: expected a map, found a list");
    expect_fail("map: x\n", "t.yaml:1:6: map: expected a map, found \"x\"");
    expect_fail("seq: {a: 1}\n", "t.yaml:1:6: seq: expected a list, found a map");
    expect_fail("seq: ''\n", "t.yaml:1:6: seq: expected a list, found \"\"");
}

static void test_config_tags_are_refused(void **state)
{
    (void)state;
    expect_fail("u32: !!int 5\n",
                "t.yaml:1:6: u32: tag \"tag:yaml.org,2002:int\" is not supported");
    expect_fail("name: !include other.yaml\n",
                "t.yaml:1:7: name: tag \"!include\" is not supported");
    expect_fail("sub: !!set {u8: 1}\n",
                "t.yaml:1:6: sub: tag \"tag:yaml.org,2002:set\" is not supported");
    expect_fail("any: !x [1]\n", "t.yaml:1:6: any: tag \"!x\" is not supported");
    expect_fail("!k b: true\n", "t.yaml:1:1: tag \"!k\" is not supported");
}

static void test_config_anchors_and_aliases_are_refused(void **state)
{
    (void)state;
    expect_fail("u32: &n 5\nsub:\n  u8: *n\n",
                "t.yaml:1:6: anchor &n: anchors and aliases are not supported");
    expect_fail("seq: [*a]\n", "t.yaml:1:7: alias *a: anchors and aliases are not supported");
    expect_fail("any: &x [*x]\n", "t.yaml:1:6: anchor &x: anchors and aliases are not supported");
}

static void test_config_nesting_is_bounded(void **state)
{
    (void)state;
    char yaml[512];
    /* The top map is level 1; "any: " + 15 lists is 16 levels: fine. */
    snprintf(yaml, sizeof yaml, "any: %.15s%.15s\n", "[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]");
    assert_int_equal(load_ok(yaml).any.n, 1);
    snprintf(yaml, sizeof yaml, "any: %.16s%.16s\n", "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
    expect_fail(yaml, "t.yaml:1:21: nested deeper than 16 levels");

    /* Block maps: the top map and "any" hold 15 more. */
    size_t n = (size_t)sprintf(yaml, "any:\n");
    for (int i = 0; i < 15; i++)
        n += (size_t)sprintf(yaml + n, "%*sk%d:\n", 2 * (i + 1), "", i);
    assert_int_equal(load_ok(yaml).any.n, 1);
    sprintf(yaml + n, "%*sdeep: 1\n", 32, "");
    expect_fail(yaml, "t.yaml:17:33: nested deeper than 16 levels");

    /* A list under a key at the key's indentation has no start token of
     * its own, yet counts: the top map, then a list and a map per line. */
    n = (size_t)sprintf(yaml, "any:\n");
    for (int i = 0; i < 7; i++)
        n += (size_t)sprintf(yaml + n, "%*s- k:\n", 2 * i, "");
    sprintf(yaml + n, "%*s- x\n", 14, "");
    assert_int_equal(load_ok(yaml).any.n, 1);
    sprintf(yaml + n, "%*s- k:\n%*s- x\n", 14, "", 16, "");
    expect_fail(yaml, "t.yaml:9:17: nested deeper than 16 levels");
    /* ... and ends at the next key: siblings do not add up. */
    n = (size_t)sprintf(yaml, "any:\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(yaml + n, "  k%d:\n  - x\n", i);
    assert_int_equal(load_ok(yaml).any.n, 20);
}

static void test_config_directives(void **state)
{
    (void)state;
    assert_false(load_ok("%YAML 1.1\n---\nb: false\n").b);
    expect_fail("%YAML 1.1\n%TAG !e! tag:example.com,2000:\n---\nb: false\n",
                "t.yaml:2:1: %TAG directives are not supported");
}

static void test_config_one_document_only(void **state)
{
    (void)state;
    expect_fail("b: true\n---\n", "t.yaml:2:1: a second YAML document (one is allowed)");
    expect_fail("b: true\n...\n]\n", "t.yaml:3:1: did not find expected <document start>");
    assert_true(load_ok("---\nb: true\n...\n").b);
    assert_true(load_ok("b: true\n...\n# the end\n").b);
    expect_fail("b: true\n---\nb: false\n", "t.yaml:2:1: a second YAML document (one is allowed)");
}

static void test_config_syntax_errors_name_the_place(void **state)
{
    (void)state;
    expect_fail("sub:\n  u8: 1\n u16: 2\n",
                "t.yaml:3:2: did not find expected key while parsing a block mapping at line 1");
    expect_fail("b: true\nname: \"abc\n",
                "t.yaml:3:1: found unexpected end of stream while scanning a quoted scalar at "
                "line 2");
    expect_fail("b: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' while parsing a "
                              "flow sequence at line 1");
    expect_fail("b: true\n\tu32: 1\n",
                "t.yaml:2:1: found a tab character that violates indentation while scanning "
                "a plain scalar at line 1");
    expect_fail("b: x: y\n", "t.yaml:1:5: mapping values are not allowed in this context");
    /* Not UTF-8: the reader's byte offset becomes a line and column. */
    expect_fail("b: true\nname: ab\xff\n", "t.yaml:2:9: invalid leading UTF-8 octet (0xff)");
}

static void test_config_check_callback_points_at_the_key(void **state)
{
    (void)state;
    assert_int_equal(load_ok("sub: {u8: 200}").sub.u8, 200);
    expect_fail("sub:\n  flag: true\n  u8:   200\n",
                "t.yaml:3:9: sub.u8: 200 is too much with flag set");
    /* A key the file left out: the section's own place. */
    expect_fail("b: true\nsub:\n  flag: true\n  u16: 999\n",
                "t.yaml:3:3: sub: u16 999 and flag do not mix");
}

static void test_config_input_size_is_bounded(void **state)
{
    (void)state;
    size_t len = CFG_FILE_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    expect_fail_n(big, len, -EFBIG, "t.yaml: larger than 1048576 bytes");
    /* Exactly the limit is fine (a file of comments). */
    big[len - 2] = '\n';
    struct t_all a;
    assert_int_equal(cfg_load_buffer(&t_root, "t.yaml", big, len - 1, &a, NULL), 0);
    free(big);
}

/* libyaml 0.2.5 composes these in tens of seconds or more (quadratic in
 * anchors, %TAG directives and flow depth); the scan refuses them at once.
 * Without that, this test runs into its CTest timeout. */
static void test_config_pathological_inputs_stop_early(void **state)
{
    (void)state;
    size_t cap = CFG_FILE_MAX, n = 0;
    char *buf = malloc(cap + 32);
    assert_non_null(buf);
    n = (size_t)sprintf(buf, "seq:\n");
    for (unsigned i = 0; n + 24 < cap; i++)
        n += (size_t)sprintf(buf + n, "- &a%u x\n", i);
    expect_fail_n(buf, n, -EINVAL, "t.yaml:2:3: anchor &a0: anchors and aliases are not supported");

    memcpy(buf, "any: ", 5);
    memset(buf + 5, '[', cap - 5);
    expect_fail_n(buf, cap, -EINVAL, "t.yaml:1:21: nested deeper than 16 levels");

    n = 0;
    for (unsigned i = 0; n + 40 < cap; i++)
        n += (size_t)sprintf(buf + n, "%%TAG !t%u! tag:x,2000:\n", i);
    n += (size_t)sprintf(buf + n, "---\nb: true\n");
    expect_fail_n(buf, n, -EINVAL, "t.yaml:1:1: %TAG directives are not supported");
    free(buf);
}

static void test_config_enum_takes_one_of_its_names(void **state)
{
    (void)state;
    assert_int_equal(load_ok("color: red").color, T_RED);
    assert_int_equal(load_ok("color: 'green'").color, T_GREEN);
    assert_int_equal(load_ok("b: false").color, T_BLUE);
    expect_fail("color: rde\n", "t.yaml:1:8: color: \"rde\" is not one of red, green, blue");
    /* Exact names: no case folding, no numbers. */
    expect_fail("color: Red\n", "t.yaml:1:8: color: \"Red\" is not one of red, green, blue");
    expect_fail("color: 1\n", "t.yaml:1:8: color: \"1\" is not one of red, green, blue");
    expect_fail("color: \"red\\0\"\n",
                "t.yaml:1:8: color: \"red\\x00\" is not one of red, green, blue");
    expect_fail("color:\n", "t.yaml:1:7: color: expected one of red, green, blue, found nothing");
    expect_fail("color: [red]\n",
                "t.yaml:1:8: color: expected one of red, green, blue, found a list");
}

static void test_config_list_items_get_their_defaults(void **state)
{
    (void)state;
    struct t_all a = load_ok("items:\n"
                             "  - name: a\n"
                             "  - name: b\n"
                             "    color: red\n"
                             "    n: 3\n"
                             "    dur: 250ms\n"
                             "  - {name: c, color: blue}\n");
    assert_int_equal(a.n_items, 3);
    assert_string_equal(a.items[0].name, "a");
    assert_int_equal(a.items[0].color, T_GREEN);
    assert_int_equal(a.items[0].dur, 1000000000ull);
    assert_int_equal(a.items[0].n, 1);
    assert_string_equal(a.items[1].name, "b");
    assert_int_equal(a.items[1].color, T_RED);
    assert_int_equal(a.items[1].dur, 250000000ull);
    assert_int_equal(a.items[1].n, 3);
    assert_string_equal(a.items[2].name, "c");
    assert_int_equal(a.items[2].color, T_BLUE);
    assert_int_equal(a.items[2].dur, 1000000000ull);

    /* Items past the count stay zero. */
    a = load_ok("items: [{name: x}]");
    assert_int_equal(a.n_items, 1);
    assert_string_equal(a.items[0].name, "x");
    struct t_item zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&a.items[1], &zero, sizeof zero);
    assert_memory_equal(&a.items[2], &zero, sizeof zero);

    /* At the list's key's own indentation. */
    a = load_ok("items:\n- name: x\n- name: y\nb: false\n");
    assert_int_equal(a.n_items, 2);
    assert_string_equal(a.items[1].name, "y");
    assert_false(a.b);
}

static void test_config_list_errors_name_the_item(void **state)
{
    (void)state;
    expect_fail("items:\n  - name: a\n  - name: b\n    dur: 5x\n",
                "t.yaml:4:10: items[1].dur: \"5x\" is not a duration");
    expect_fail("items:\n  - name: a\n    nmae: b\n",
                "t.yaml:3:5: items[0]: unknown key \"nmae\" (did you mean \"name\"?)");
    expect_fail("items:\n  - name: a\n    n: 2\n    n: 3\n",
                "t.yaml:4:5: items[0].n: duplicate key (first at line 3)");
    expect_fail("items:\n  - {name: a}\n  - {name: b, color: pink}\n",
                "t.yaml:3:22: items[1].color: \"pink\" is not one of red, green, blue");
    expect_fail("items:\n  - name: a\n  - b\n",
                "t.yaml:3:5: items[1]: expected a map, found \"b\"");
    expect_fail("items:\n  - name: a\n  -\n",
                "t.yaml:3:4: items[1]: expected a map, found nothing");
    expect_fail("items:\n  - [name, a]\n", "t.yaml:2:5: items[0]: expected a map, found a list");
    expect_fail("items: {name: a}\n", "t.yaml:1:8: items: expected a list, found a map");
    expect_fail("items: a\n", "t.yaml:1:8: items: expected a list, found \"a\"");
    expect_fail("items: !!set [{name: a}]\n",
                "t.yaml:1:8: items: tag \"tag:yaml.org,2002:set\" is not supported");
    expect_fail("items: [!!omap {name: a}]\n",
                "t.yaml:1:9: items[0]: tag \"tag:yaml.org,2002:omap\" is not supported");
    /* One item more than the array holds: refused at that item, before
     * any item is walked (the first one here is bad too). */
    expect_fail("items:\n  - {name: a, bad: 1}\n  - {name: b}\n  - {name: c}\n  - {name: d}\n",
                "t.yaml:5:5: items: more than 3 items");
}

static void test_config_item_check_tells_set_from_default(void **state)
{
    (void)state;
    /* Left out: the item's own place. */
    expect_fail("items:\n  - color: red\n", "t.yaml:2:5: items[0]: name is required");
    expect_fail("items:\n  - name: a\n  - name: b\n    n: 2\n",
                "t.yaml:3:5: items[1]: dur is required when n is above 1");
    /* Set to its default value is still set. */
    expect_fail("items:\n  - name: a\n    color: blue\n    dur: 1s\n",
                "t.yaml:4:10: items[0].dur: does not apply to blue");
    struct t_all a = load_ok("items: [{name: a, color: blue}, {name: b, n: 2, dur: 1s}]");
    assert_int_equal(a.n_items, 2);
    assert_int_equal(a.items[1].n, 2);
    /* The string's own bound still holds inside an item. */
    expect_fail("items: [{name: ''}]\n", "t.yaml:1:16: items[0].name: must not be empty");
}

static void test_config_section_check_points_into_items(void **state)
{
    (void)state;
    /* The second of two equal names, at that name. */
    expect_fail("items:\n  - name: a\n  - name: b\n  - name:   a\n",
                "t.yaml:4:13: items[2].name: \"a\" is also the name of items[0]");
    /* A key the item set, then one it left out (the item's place). */
    expect_fail("u32: 13\nitems:\n  - {name: a, color: red}\n  - {name: b, color: green}\n",
                "t.yaml:4:22: items[1].color: green does not go with u32 13");
    expect_fail("u32: 13\nitems:\n  - {name: a, color: red}\n  - name: b\n",
                "t.yaml:4:5: items[1].color: green does not go with u32 13");
    /* No key: the item. */
    expect_fail("u32: 14\nitems:\n  - name: a\n    n: 10\n    dur: 1s\n",
                "t.yaml:3:5: items[0]: n 10 does not go with u32 14");
}

static char *write_tmp(const char *content, size_t len)
{
    char *path = strdup("/tmp/test_config.XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_config_file_errors(void **state)
{
    (void)state;
    struct t_all a, before;
    memset(&a, 0x5a, sizeof a);
    before = a;
    struct diag d;
    char text[256];

    assert_int_equal(cfg_load_file(&t_root, "/nonexistent/x.yaml", &a, &d), -ENOENT);
    diag_format(&d, text, sizeof text);
    assert_string_equal(text, "/nonexistent/x.yaml: cannot open: No such file or directory");

    assert_int_equal(cfg_load_file(&t_root, "/tmp", &a, &d), -EINVAL);
    diag_format(&d, text, sizeof text);
    assert_string_equal(text, "/tmp: not a regular file");

    size_t len = CFG_FILE_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '\n', len);
    char *path = write_tmp(big, len);
    assert_int_equal(cfg_load_file(&t_root, path, &a, &d), -EFBIG);
    assert_string_equal(d.file, path);
    assert_string_equal(d.msg, "larger than 1048576 bytes");
    unlink(path);
    free(path);
    free(big);
    assert_memory_equal(&a, &before, sizeof a);

    /* A file's errors carry its path. */
    path = write_tmp("u32: 1\nu32: 2\n", 14);
    assert_int_equal(cfg_load_file(&t_root, path, &a, &d), -EINVAL);
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 1);
    assert_string_equal(d.msg, "u32: duplicate key (first at line 1)");
    assert_memory_equal(&a, &before, sizeof a);
    unlink(path);
    free(path);

    path = write_tmp("u32: 42\n", 8);
    assert_int_equal(cfg_load_file(&t_root, path, &a, NULL), 0);
    assert_int_equal(a.u32, 42);
    unlink(path);
    free(path);
}

static void test_config_bad_default_is_caught(void **state)
{
    (void)state;
    static const struct cfg_opt bad_opts[] = {
        {"d", CFG_DURATION, CFG_FIELD(struct t_all, dur), .def = "10 parsecs"},
        {NULL},
    };
    static const struct cfg_opt bad_sec[] = {
        {"x", CFG_SECTION, 0, sizeof(struct t_all), .sub = bad_opts},
        {NULL},
    };
    static const struct cfg_opt bad_root = {"", CFG_SECTION, 0, sizeof(struct t_all),
                                            .sub = bad_sec};
    struct t_all a;
    struct diag d;
    char text[256];
    assert_int_equal(cfg_defaults(&bad_root, &a, &d), -EINVAL);
    diag_format(&d, text, sizeof text);
    assert_string_equal(text, "<defaults>: x.d: \"10 parsecs\" is not a duration");
    assert_int_equal(cfg_load_buffer(&bad_root, "t.yaml", "", 0, &a, &d), -EINVAL);

    /* A row whose field does not match its type never writes. */
    static const struct cfg_opt wrong_size[] = {
        {"u", CFG_UINT, offsetof(struct t_all, u32), 3, .def = "1"},
        {NULL},
    };
    static const struct cfg_opt wrong_root = {"", CFG_SECTION, 0, sizeof(struct t_all),
                                              .sub = wrong_size};
    assert_int_equal(cfg_defaults(&wrong_root, &a, &d), -EINVAL);
    diag_format(&d, text, sizeof text);
    assert_string_equal(text, "<defaults>: u: bad table row (type 1, offset 4, size 3)");
    static const struct cfg_opt outside[] = {
        {"s", CFG_STRING, sizeof(struct t_all) - 4, 8, .def = "x"},
        {NULL},
    };
    static const struct cfg_opt outside_root = {"", CFG_SECTION, 0, sizeof(struct t_all),
                                                .sub = outside};
    assert_int_equal(cfg_defaults(&outside_root, &a, &d), -EINVAL);

    /* An ENUM without names, a LIST whose array is shorter than its max
     * or whose count lies inside the array, a bad default of an item. */
    static const struct cfg_opt no_names[] = {
        {"c", CFG_ENUM, CFG_FIELD(struct t_all, color), .def = "red"},
        {NULL},
    };
    static const struct cfg_opt short_list[] = {
        {"items", CFG_LIST, CFG_LIST_FIELD(struct t_all, items, n_items), .sub = t_item_opts,
         .max = T_ITEMS_MAX + 1},
        {NULL},
    };
    static const struct cfg_opt count_inside[] = {
        {"items", CFG_LIST, CFG_FIELD(struct t_all, items), .elem = sizeof(struct t_item),
         .count = offsetof(struct t_all, items) + 4, .sub = t_item_opts},
        {NULL},
    };
    static const struct cfg_opt bad_item_opts[] = {
        {"d", CFG_DURATION, CFG_FIELD(struct t_item, dur), .def = "soon"},
        {NULL},
    };
    static const struct cfg_opt bad_item[] = {
        {"items", CFG_LIST, CFG_LIST_FIELD(struct t_all, items, n_items), .sub = bad_item_opts},
        {NULL},
    };
    const struct cfg_opt *bad_tables[] = {no_names, short_list, count_inside, bad_item};
    char want[4][96];
    snprintf(want[0], sizeof want[0], "<defaults>: c: bad table row (type %d, offset %zu, size 4)",
             CFG_ENUM, offsetof(struct t_all, color));
    snprintf(want[1], sizeof want[1],
             "<defaults>: items: bad table row (type %d, offset %zu, size %zu)", CFG_LIST,
             offsetof(struct t_all, items), sizeof a.items);
    strcpy(want[2], want[1]);
    strcpy(want[3], "<defaults>: items[0].d: \"soon\" is not a duration");
    for (size_t i = 0; i < sizeof bad_tables / sizeof bad_tables[0]; i++) {
        const struct cfg_opt root = {"", CFG_SECTION, 0, sizeof(struct t_all),
                                     .sub = bad_tables[i]};
        assert_int_equal(cfg_defaults(&root, &a, &d), -EINVAL);
        diag_format(&d, text, sizeof text);
        assert_string_equal(text, want[i]);
        assert_int_equal(cfg_load_buffer(&root, "t.yaml", "", 0, &a, &d), -EINVAL);
    }
}

static void test_config_diag_format_leaves_out_what_is_unknown(void **state)
{
    (void)state;
    char buf[64];
    struct diag d = {.file = "f.yaml", .line = 3, .col = 7};
    strcpy(d.msg, "bad");
    assert_int_equal(diag_format(&d, buf, sizeof buf), 15);
    assert_string_equal(buf, "f.yaml:3:7: bad");
    d.col = 0;
    diag_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "f.yaml:3: bad");
    d.line = 0;
    diag_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "f.yaml: bad");
    d.file = NULL;
    diag_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "<input>: bad");
    volatile size_t small = 4; /* not a constant: gcc would warn of the cut we test */
    assert_int_equal(diag_format(&d, buf, small), 12);
    assert_string_equal(buf, "<in");
}

/* --- the daemon's schema ----------------------------------------------- */

static int d_load(const char *yaml, struct dconfig *out, struct diag *d)
{
    return dconfig_load_buffer("flightrec.yaml", yaml, strlen(yaml), out, d);
}

static void d_expect_fail(const char *yaml, const char *want)
{
    struct dconfig c, before;
    memset(&c, 0xa5, sizeof c);
    before = c;
    struct diag d;
    char text[256];
    assert_int_equal(d_load(yaml, &c, &d), -EINVAL);
    diag_format(&d, text, sizeof text);
    assert_string_equal(text, want);
    assert_memory_equal(&c, &before, sizeof c);
}

static void test_config_daemon_defaults(void **state)
{
    (void)state;
    struct dconfig c;
    memset(&c, 0xa5, sizeof c);
    dconfig_defaults(&c);
    assert_string_equal(addr_text(&c.http.listen), "127.0.0.1:6060");
    assert_false(c.http.allow_remote);
    assert_string_equal(c.http.unix_socket, "/run/flightrec/http.sock");
    assert_false(c.http.allow_trigger);
    assert_string_equal(c.control_socket, "/run/flightrec/control.sock");
    assert_int_equal(c.recording.window_ns, 10000000000ull);
    assert_int_equal(c.recording.max_bytes, 256ull << 20);
    assert_int_equal(c.limits.max_concurrent_snapshots, 2);
    assert_int_equal(c.limits.max_connections, 64);
    assert_int_equal(c.limits.max_snapshots_per_hour, 12);
    assert_string_equal(c.snapshots.dir, "/var/lib/flightrec/snapshots");
    assert_int_equal(c.snapshots.max_files, 100);
    assert_int_equal(c.snapshots.max_bytes, 1ull << 30);
    assert_int_equal(c.snapshots.max_age_ns, 24 * 3600000000000ull);
    assert_int_equal(c.snapshots.format, DFORMAT_PERFETTO);
    assert_int_equal(c.n_rules, 0);
    struct dconfig_rule zero;
    memset(&zero, 0, sizeof zero);
    for (int i = 0; i < DCONFIG_RULES_MAX; i++)
        assert_memory_equal(&c.rules[i], &zero, sizeof zero);
}

static void test_config_shipped_file_is_the_defaults(void **state)
{
    (void)state;
    struct dconfig def, c;
    memset(&c, 0xa5, sizeof c);
    dconfig_defaults(&def);
    struct diag d = {0};
    int err = dconfig_load(FR_CONFIG_FILE, &c, &d);
    if (err) {
        char text[256];
        diag_format(&d, text, sizeof text);
        print_error("%s\n", text);
    }
    assert_int_equal(err, 0);
    assert_memory_equal(&c, &def, sizeof c);
}

/* Each row of rows is a key of map in doc, recursively: the shipped file
 * shows every option, not only the same values. */
static void expect_every_key(yaml_document_t *doc, yaml_node_t *map, const struct cfg_opt *rows,
                             const char *section)
{
    assert_non_null(map);
    assert_int_equal(map->type, YAML_MAPPING_NODE);
    for (const struct cfg_opt *o = rows; o->key; o++) {
        yaml_node_t *v = NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, o->key) == 0)
                v = yaml_document_get_node(doc, p->value);
        }
        if (!v)
            print_error("config/flightrec.yaml lacks %s%s%s\n", section, *section ? "." : "",
                        o->key);
        assert_non_null(v);
        if (o->type == CFG_SECTION)
            expect_every_key(doc, v, o->sub, o->key);
    }
}

static void test_config_shipped_file_shows_every_key(void **state)
{
    (void)state;
    FILE *f = fopen(FR_CONFIG_FILE, "rb");
    assert_non_null(f);
    yaml_parser_t p;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    assert_true(yaml_parser_load(&p, &doc));
    expect_every_key(&doc, yaml_document_get_root_node(&doc), dconfig_schema.sub, "");
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
}

static void test_config_daemon_listen_must_be_loopback(void **state)
{
    (void)state;
    d_expect_fail("http:\n  listen: 0.0.0.0:6060\n",
                  "flightrec.yaml:2:11: http.listen: 0.0.0.0:6060 is not a loopback address; "
                  "set http.allow_remote: true to serve other hosts");
    d_expect_fail("http:\n  allow_remote: false\n  listen: \"[::]:80\"\n",
                  "flightrec.yaml:3:11: http.listen: [::]:80 is not a loopback address; "
                  "set http.allow_remote: true to serve other hosts");
    struct dconfig c;
    /* allow_remote before or after listen: the check runs on the section. */
    assert_int_equal(d_load("http:\n  listen: 0.0.0.0:6060\n  allow_remote: true\n", &c, NULL), 0);
    assert_string_equal(addr_text(&c.http.listen), "0.0.0.0:6060");
    assert_int_equal(d_load("http: {allow_remote: true, listen: '192.0.2.1:80'}", &c, NULL), 0);
    assert_int_equal(d_load("http: {listen: '[::1]:7070'}", &c, NULL), 0);
    assert_int_equal(d_load("http: {listen: 'localhost:7070'}", &c, NULL), 0);
    assert_string_equal(addr_text(&c.http.listen), "127.0.0.1:7070");
}

static void test_config_daemon_keys_and_ranges(void **state)
{
    (void)state;
    struct dconfig c;
    assert_int_equal(d_load("http:\n"
                            "  allow_trigger: true\n"
                            "  unix_socket: /tmp/fr/http.sock\n"
                            "control_socket: /tmp/fr/control.sock\n"
                            "recording:\n"
                            "  window: 1h\n"
                            "  max_bytes: 1MiB\n"
                            "limits:\n"
                            "  max_concurrent_snapshots: 16\n"
                            "  max_connections: 4096\n"
                            "  max_snapshots_per_hour: 1\n",
                            &c, NULL),
                     0);
    assert_true(c.http.allow_trigger);
    assert_string_equal(c.http.unix_socket, "/tmp/fr/http.sock");
    assert_string_equal(c.control_socket, "/tmp/fr/control.sock");
    assert_int_equal(c.recording.window_ns, 3600000000000ull);
    assert_int_equal(c.recording.max_bytes, 1u << 20);
    assert_int_equal(c.limits.max_concurrent_snapshots, 16);
    assert_int_equal(c.limits.max_connections, 4096);
    assert_int_equal(c.limits.max_snapshots_per_hour, 1);
    assert_int_equal(c.n_rules, 0);

    d_expect_fail("recording:\n  window: 50ms\n",
                  "flightrec.yaml:2:11: recording.window: \"50ms\" is out of range 100ms..1h");
    d_expect_fail("recording:\n  max_bytes: 32GiB\n",
                  "flightrec.yaml:2:14: recording.max_bytes: \"32GiB\" is out of range "
                  "1MiB..16GiB");
    d_expect_fail("limits:\n  max_connections: 0\n",
                  "flightrec.yaml:2:20: limits.max_connections: \"0\" is out of range 1..4096");
    d_expect_fail("limits:\n  max_concurrent_snapshots: 17\n",
                  "flightrec.yaml:2:29: limits.max_concurrent_snapshots: \"17\" is out of range "
                  "1..16");
    d_expect_fail("limits:\n  max_snapshots_per_hour: 3601\n",
                  "flightrec.yaml:2:27: limits.max_snapshots_per_hour: \"3601\" is out of range "
                  "1..3600");
    d_expect_fail("http:\n  lisen: 0.0.0.0:80\n",
                  "flightrec.yaml:2:3: http: unknown key \"lisen\" (did you mean \"listen\"?)");
    assert_int_equal(d_load("http: {unix_socket: ''}", &c, NULL), 0);
    assert_string_equal(c.http.unix_socket, "");
    d_expect_fail("control_socket: ''\n", "flightrec.yaml:1:17: control_socket: must not be empty");
    d_expect_fail("control_socket: control.sock\n",
                  "flightrec.yaml:1:17: control_socket: \"control.sock\" is not an absolute path");
    d_expect_fail(
        "http: {unix_socket: "
        "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaa.sock}\n",
        "flightrec.yaml:1:21: http.unix_socket: \"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "...\" is longer than 107 bytes");
    d_expect_fail("rules:\n  name: slow\n",
                  "flightrec.yaml:2:3: rules: expected a list, found a map");
    d_expect_fail("snapshots:\n  - a\n",
                  "flightrec.yaml:2:3: snapshots: expected a map, found a list");
    d_expect_fail("rule:\n  - a\n",
                  "flightrec.yaml:1:1: unknown key \"rule\" (did you mean \"rules\"?)");
}

static struct dconfig d_load_ok(const char *yaml)
{
    struct dconfig c;
    struct diag d = {0};
    int err = d_load(yaml, &c, &d);
    if (err) {
        char text[256];
        diag_format(&d, text, sizeof text);
        print_error("input %s\nfailed: %s\n", yaml, text);
    }
    assert_int_equal(err, 0);
    return c;
}

static const struct cfg_opt *d_row(const struct cfg_opt *rows, const char *key)
{
    for (const struct cfg_opt *o = rows; o->key; o++)
        if (strcmp(o->key, key) == 0)
            return o;
    fail_msg("no row %s", key);
    return NULL;
}

/* The commented-out rules in config/flightrec.yaml, from "# rules:" to the
 * end of that comment block, uncommented: they load and show every key. */
static void test_config_shipped_rules_example_loads(void **state)
{
    (void)state;
    FILE *f = fopen(FR_CONFIG_FILE, "rb");
    assert_non_null(f);
    char line[256], *yaml = calloc(1, 16384);
    assert_non_null(yaml);
    size_t n = 0;
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        if (!in && strcmp(line, "# rules:\n") == 0)
            in = true;
        if (in && line[0] != '#')
            break;
        if (in) {
            size_t skip = line[1] == ' ' ? 2 : 1;
            assert_true(n + strlen(line) < 16384);
            n += (size_t)sprintf(yaml + n, "%s", line + skip);
        }
    }
    fclose(f);
    assert_true(in);
    struct dconfig c = d_load_ok(yaml);
    assert_int_equal(c.n_rules, 2);
    assert_string_equal(c.rules[0].name, "slow-orders");
    assert_int_equal(c.rules[0].on, DRULE_ON_TASK);
    assert_string_equal(c.rules[0].match, "GET /orders");
    assert_int_equal(c.rules[0].threshold_ns, 500000000ull);
    assert_string_equal(c.rules[1].name, "crash");
    assert_int_equal(c.rules[1].on, DRULE_ON_EXIT);
    for (const struct cfg_opt *o = d_row(dconfig_schema.sub, "rules")->sub; o->key; o++) {
        char key[64];
        snprintf(key, sizeof key, "%s:", o->key);
        if (!strstr(yaml, key))
            print_error("the example rules in config/flightrec.yaml lack %s\n", o->key);
        assert_non_null(strstr(yaml, key));
    }
    free(yaml);
}

static void test_config_daemon_rules_round_trip(void **state)
{
    (void)state;
    struct dconfig c =
        d_load_ok("recording: {window: 1h}\n"
                  "snapshots:\n"
                  "  dir: /srv/flightrec\n"
                  "  max_files: 100000\n"
                  "  max_bytes: 1024G\n"
                  "  max_age: 8760h\n"
                  "  format: json\n"
                  "rules:\n"
                  "  - name: slow-orders\n"
                  "    on: task\n"
                  "    match: GET /orders\n"
                  "    process: 'shop-*'\n"
                  "    threshold: 500ms\n"
                  "    count: 1000\n"
                  "    within: 1h\n"
                  "    before: 1h\n"
                  "    after: 1m\n"
                  "    cooldown: 24h\n"
                  "    max_per_hour: 3600\n"
                  "    scope: all\n"
                  "  - name: crash\n"
                  "    on: exit\n"
                  "  - {name: db.wait_1, on: wait, match: 'pg:*', threshold: 50ms}\n"
                  "  - {name: errors, on: log, match: error, after: 0, cooldown: 0}\n"
                  "  - {name: Manual_2, on: manual, process: api}\n"
                  "  - {name: r, on: region, threshold: 24h, count: 2, within: 1ns}\n");
    assert_string_equal(c.snapshots.dir, "/srv/flightrec");
    assert_int_equal(c.snapshots.max_files, 100000);
    assert_int_equal(c.snapshots.max_bytes, 1ull << 40);
    assert_int_equal(c.snapshots.max_age_ns, 8760 * 3600000000000ull);
    assert_int_equal(c.snapshots.format, DFORMAT_JSON);
    assert_int_equal(c.n_rules, 6);

    const struct dconfig_rule *r = &c.rules[0];
    assert_string_equal(r->name, "slow-orders");
    assert_int_equal(r->on, DRULE_ON_TASK);
    assert_string_equal(r->match, "GET /orders");
    assert_string_equal(r->process, "shop-*");
    assert_int_equal(r->threshold_ns, 500000000ull);
    assert_int_equal(r->count, 1000);
    assert_int_equal(r->within_ns, 3600000000000ull);
    assert_int_equal(r->before_ns, 3600000000000ull);
    assert_int_equal(r->after_ns, 60000000000ull);
    assert_int_equal(r->cooldown_ns, 24 * 3600000000000ull);
    assert_int_equal(r->max_per_hour, 3600);
    assert_int_equal(r->scope, DRULE_SCOPE_ALL);

    /* Left out: the defaults. */
    r = &c.rules[1];
    assert_string_equal(r->name, "crash");
    assert_int_equal(r->on, DRULE_ON_EXIT);
    assert_string_equal(r->match, "*");
    assert_string_equal(r->process, "*");
    assert_int_equal(r->threshold_ns, 0);
    assert_int_equal(r->count, 1);
    assert_int_equal(r->within_ns, 0);
    assert_int_equal(r->before_ns, 0);
    assert_int_equal(r->after_ns, 1000000000ull);
    assert_int_equal(r->cooldown_ns, 60000000000ull);
    assert_int_equal(r->max_per_hour, 0);
    assert_int_equal(r->scope, DRULE_SCOPE_PROCESS);

    assert_int_equal(c.rules[2].on, DRULE_ON_WAIT);
    assert_string_equal(c.rules[2].match, "pg:*");
    assert_int_equal(c.rules[2].threshold_ns, 50000000ull);
    assert_int_equal(c.rules[3].on, DRULE_ON_LOG);
    assert_string_equal(c.rules[3].match, "error");
    assert_int_equal(c.rules[3].after_ns, 0);
    assert_int_equal(c.rules[3].cooldown_ns, 0);
    assert_int_equal(c.rules[4].on, DRULE_ON_MANUAL);
    assert_string_equal(c.rules[4].name, "Manual_2");
    assert_string_equal(c.rules[4].process, "api");
    assert_int_equal(c.rules[5].on, DRULE_ON_REGION);
    assert_int_equal(c.rules[5].count, 2);
    assert_int_equal(c.rules[5].within_ns, 1);
    struct dconfig_rule zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&c.rules[6], &zero, sizeof zero);

    /* A name of 47 bytes; 64 rules. */
    char *yaml = malloc(64 * 80 + 32);
    assert_non_null(yaml);
    size_t n = (size_t)sprintf(yaml, "rules:\n");
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(yaml + n, "  - {name: %045d%02d, on: manual}\n", 0, i);
    c = d_load_ok(yaml);
    assert_int_equal(c.n_rules, 64);
    assert_int_equal(strlen(c.rules[63].name), 47);
    free(yaml);
}

static void test_config_daemon_rule_errors(void **state)
{
    (void)state;
    d_expect_fail("rules:\n  - name: a\n    on: task\n    treshold: 1s\n",
                  "flightrec.yaml:4:5: rules[0]: unknown key \"treshold\" (did you mean "
                  "\"threshold\"?)");
    d_expect_fail("rules:\n  - name: a\n    on: tsk\n",
                  "flightrec.yaml:3:9: rules[0].on: \"tsk\" is not one of task, region, wait, "
                  "log, exit, manual");
    d_expect_fail("rules:\n  - {name: a, on: exit, scope: host}\n",
                  "flightrec.yaml:2:32: rules[0].scope: \"host\" is not one of process, all");
    d_expect_fail("rules:\n  - on: exit\n", "flightrec.yaml:2:5: rules[0]: name is required");
    d_expect_fail("rules:\n  - name: a\n    match: x\n",
                  "flightrec.yaml:2:5: rules[0]: on is required (task, region, wait, log, exit "
                  "or manual)");
    d_expect_fail("rules:\n  - {name: a, on: exit}\n  - name: b\n    on: exit\n    name: c\n",
                  "flightrec.yaml:5:5: rules[1].name: duplicate key (first at line 3)");
    d_expect_fail("rules:\n  - crash\n",
                  "flightrec.yaml:2:5: rules[0]: expected a map, found \"crash\"");

    /* Names: the second of two equal ones is the error, at its name. */
    d_expect_fail("rules:\n"
                  "  - {name: crash, on: exit}\n"
                  "  - {name: slow, on: task, threshold: 1s}\n"
                  "  - name: crash\n"
                  "    on: manual\n",
                  "flightrec.yaml:4:11: rules[2].name: \"crash\" is already the name of rules[0]");
    d_expect_fail("rules:\n  - {name: manual, on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"manual\" is kept for an on: manual rule");
    d_expect_fail("rules:\n  - {name: slow orders, on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"slow orders\": a name is made of "
                  "letters, digits, '.', '_' and '-'");
    d_expect_fail("rules:\n  - {name: a/b, on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"a/b\": a name is made of letters, "
                  "digits, '.', '_' and '-'");
    d_expect_fail("rules:\n  - {name: \"caf\\u00e9\", on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"caf\xc3\xa9\": a name is made of "
                  "letters, digits, '.', '_' and '-'");
    d_expect_fail("rules:\n  - {name: -x, on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"-x\" must not start with '.' or '-'");
    d_expect_fail("rules:\n  - {name: .x, on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \".x\" must not start with '.' or '-'");
    d_expect_fail("rules:\n  - {name: '', on: exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: must not be empty");
    d_expect_fail("rules:\n  - {name: 123456789012345678901234567890123456789012345678, on: "
                  "exit}\n",
                  "flightrec.yaml:2:12: rules[0].name: \"1234567890123456789012345678901234567890"
                  "...\" is longer than 47 bytes");

    /* What applies depends on `on`; a key set to its default is set. */
    d_expect_fail("rules:\n  - name: slow\n    on: task\n",
                  "flightrec.yaml:2:5: rules[0]: threshold is required for on: task");
    d_expect_fail("rules:\n  - {name: w, on: wait, match: 'pg:*'}\n",
                  "flightrec.yaml:2:5: rules[0]: threshold is required for on: wait");
    d_expect_fail("rules:\n  - name: crash\n    on: exit\n    threshold: 1s\n",
                  "flightrec.yaml:4:16: rules[0].threshold: does not apply to on: exit");
    d_expect_fail("rules:\n  - {name: e, on: log, threshold: 1s}\n",
                  "flightrec.yaml:2:35: rules[0].threshold: does not apply to on: log");
    d_expect_fail("rules:\n  - {name: m, on: manual, match: '*'}\n",
                  "flightrec.yaml:2:34: rules[0].match: does not apply to on: manual");
    d_expect_fail("rules:\n  - {name: t, on: task, threshold: 0}\n",
                  "flightrec.yaml:2:36: rules[0].threshold: \"0\" is out of range 1ns..24h");
    d_expect_fail("rules:\n  - {name: t, on: task, threshold: 1s, match: ''}\n",
                  "flightrec.yaml:2:47: rules[0].match: must not be empty");
    d_expect_fail("rules:\n  - name: t\n    on: task\n    threshold: 1s\n    count: 3\n",
                  "flightrec.yaml:2:5: rules[0]: within is required when count is above 1");
    d_expect_fail("rules:\n  - {name: t, on: exit, count: 1, within: 1m}\n",
                  "flightrec.yaml:2:43: rules[0].within: does not apply when count is 1");
    d_expect_fail("rules:\n  - {name: t, on: exit, count: 1001}\n",
                  "flightrec.yaml:2:32: rules[0].count: \"1001\" is out of range 1..1000");
    d_expect_fail("rules:\n  - {name: t, on: exit, after: 61s}\n",
                  "flightrec.yaml:2:32: rules[0].after: \"61s\" is out of range 0ns..1m");
    d_expect_fail("rules:\n  - {name: t, on: exit, max_per_hour: 3601}\n",
                  "flightrec.yaml:2:39: rules[0].max_per_hour: \"3601\" is out of range 0..3600");

    /* before against recording.window, in either order in the file. */
    d_expect_fail("rules:\n  - name: a\n    on: exit\n    before: 30s\n",
                  "flightrec.yaml:4:13: rules[0].before: 30s is longer than recording.window "
                  "(10s)");
    d_expect_fail("rules:\n  - {name: a, on: exit}\n  - {name: b, on: exit, before: 2s}\n"
                  "recording:\n  window: 1500ms\n",
                  "flightrec.yaml:3:33: rules[1].before: 2s is longer than recording.window "
                  "(1500ms)");
    assert_int_equal(d_load_ok("recording: {window: 30s}\nrules: [{name: a, on: exit, before: "
                               "30s}]\n")
                         .rules[0]
                         .before_ns,
                     30000000000ull);

    /* 65 rules: refused at the 65th. */
    char *yaml = malloc(65 * 40 + 16);
    assert_non_null(yaml);
    size_t n = (size_t)sprintf(yaml, "rules:\n");
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(yaml + n, "  - {name: r%d, on: manual}\n", i);
    d_expect_fail(yaml, "flightrec.yaml:66:5: rules: more than 64 rules");
    free(yaml);
}

static void test_config_daemon_snapshots_errors(void **state)
{
    (void)state;
    d_expect_fail("snapshots:\n  dir: flightrec/snapshots\n",
                  "flightrec.yaml:2:8: snapshots.dir: \"flightrec/snapshots\" is not an absolute "
                  "path");
    d_expect_fail("snapshots: {dir: ''}\n",
                  "flightrec.yaml:1:18: snapshots.dir: must not be empty");
    d_expect_fail("snapshots: {max_files: 0}\n",
                  "flightrec.yaml:1:24: snapshots.max_files: \"0\" is out of range 1..100000");
    d_expect_fail("snapshots: {max_bytes: 1025G}\n",
                  "flightrec.yaml:1:24: snapshots.max_bytes: \"1025G\" is out of range "
                  "1MiB..1024GiB");
    d_expect_fail("snapshots: {max_age: 59s}\n",
                  "flightrec.yaml:1:22: snapshots.max_age: \"59s\" is out of range 1m..8760h");
    d_expect_fail("snapshots: {format: protobuf}\n",
                  "flightrec.yaml:1:21: snapshots.format: \"protobuf\" is not one of perfetto, "
                  "json");
    d_expect_fail("snapshots: {keep: 100}\n",
                  "flightrec.yaml:1:13: snapshots: unknown key \"keep\"");
}

static void test_config_daemon_failed_reload_keeps_old(void **state)
{
    (void)state;
    struct dconfig cur, before;
    assert_int_equal(d_load("limits: {max_connections: 5}", &cur, NULL), 0);
    before = cur;
    struct diag d;
    assert_int_equal(dconfig_load("/nonexistent/flightrec.yaml", &cur, &d), -ENOENT);
    assert_int_equal(d_load("limits: {max_connections: 6}\nbogus: 1\n", &cur, &d), -EINVAL);
    assert_memory_equal(&cur, &before, sizeof cur);
    assert_int_equal(cur.limits.max_connections, 5);

    /* Rules too: a bad last rule keeps all of the old ones. */
    assert_int_equal(d_load("rules: [{name: a, on: exit}, {name: b, on: manual}]", &cur, NULL), 0);
    before = cur;
    assert_int_equal(d_load("rules: [{name: c, on: exit}, {name: c, on: manual}]", &cur, &d),
                     -EINVAL);
    assert_memory_equal(&cur, &before, sizeof cur);
    assert_int_equal(cur.n_rules, 2);
    assert_string_equal(cur.rules[1].name, "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_come_from_the_table),
        cmocka_unit_test(test_config_empty_input_gives_the_defaults),
        cmocka_unit_test(test_config_every_type_parses),
        cmocka_unit_test(test_config_bool_is_true_or_false),
        cmocka_unit_test(test_config_uint_range_and_width),
        cmocka_unit_test(test_config_size_uses_units),
        cmocka_unit_test(test_config_bad_duration_names_line_and_column),
        cmocka_unit_test(test_config_string_is_bounded_and_clean),
        cmocka_unit_test(test_config_addr_forms),
        cmocka_unit_test(test_config_unknown_key_is_an_error),
        cmocka_unit_test(test_config_duplicate_key_is_an_error),
        cmocka_unit_test(test_config_wrong_kinds),
        cmocka_unit_test(test_config_tags_are_refused),
        cmocka_unit_test(test_config_anchors_and_aliases_are_refused),
        cmocka_unit_test(test_config_nesting_is_bounded),
        cmocka_unit_test(test_config_directives),
        cmocka_unit_test(test_config_one_document_only),
        cmocka_unit_test(test_config_syntax_errors_name_the_place),
        cmocka_unit_test(test_config_check_callback_points_at_the_key),
        cmocka_unit_test(test_config_input_size_is_bounded),
        cmocka_unit_test(test_config_pathological_inputs_stop_early),
        cmocka_unit_test(test_config_enum_takes_one_of_its_names),
        cmocka_unit_test(test_config_list_items_get_their_defaults),
        cmocka_unit_test(test_config_list_errors_name_the_item),
        cmocka_unit_test(test_config_item_check_tells_set_from_default),
        cmocka_unit_test(test_config_section_check_points_into_items),
        cmocka_unit_test(test_config_file_errors),
        cmocka_unit_test(test_config_bad_default_is_caught),
        cmocka_unit_test(test_config_diag_format_leaves_out_what_is_unknown),
        cmocka_unit_test(test_config_daemon_defaults),
        cmocka_unit_test(test_config_shipped_file_is_the_defaults),
        cmocka_unit_test(test_config_shipped_file_shows_every_key),
        cmocka_unit_test(test_config_daemon_listen_must_be_loopback),
        cmocka_unit_test(test_config_daemon_keys_and_ranges),
        cmocka_unit_test(test_config_shipped_rules_example_loads),
        cmocka_unit_test(test_config_daemon_rules_round_trip),
        cmocka_unit_test(test_config_daemon_rule_errors),
        cmocka_unit_test(test_config_daemon_snapshots_errors),
        cmocka_unit_test(test_config_daemon_failed_reload_keeps_old),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

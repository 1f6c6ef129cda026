/* fuzz_config.c - libFuzzer target for the config loader (common/config.c
 * over daemon/config_schema.c).
 *
 * The input is a config file as anyone with write access to it could leave
 * it. Beyond memory safety (ASan, UBSan) we check the loader's contracts
 * and abort when one breaks: a failed load leaves *out byte for byte as it
 * was and fills a diag with a NUL-terminated message and a file name; a
 * successful one gives a config inside the schema's bounds (strings
 * NUL-terminated and absolute, ranges, loopback unless allowed); the
 * same input gives the same answer twice (no hidden state); and the depth
 * limit, which the loader counts on tokens before libyaml composes
 * anything, agrees with the nesting of libyaml's own events.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/config.cmake) and
 * with the replay driver fuzz_replay.c for builds without libFuzzer
 * (tests/fuzz/replay/config.cmake).
 */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/config.h"
#include "common/diag.h"
#include "daemon/config_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: broken contract: %s (%s:%d)\n", what, __FILE__,          \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* 1 when libyaml's events nest deeper than CFG_DEPTH_MAX, 0 when they do
 * not, -1 when a syntax error comes first. Stops at the first level too
 * deep, so deep flow nesting stays cheap here too. */
static int events_too_deep(const uint8_t *data, size_t size)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        abort();
    yaml_parser_set_input_string(&p, size ? data : (const uint8_t *)"", size);
    int depth = 0, res = 0;
    for (bool end = false; !end && !res;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            res = -1;
            break;
        }
        if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
            res = ++depth > CFG_DEPTH_MAX;
        else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
            depth--;
        end = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    return res;
}

static void check_path(const char *p, size_t cap, bool may_be_empty)
{
    size_t len = strnlen(p, cap);
    CHECK(len < cap, "path not NUL-terminated");
    CHECK(len > 0 || may_be_empty, "empty path");
    CHECK(len == 0 || p[0] == '/', "path not absolute");
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f, "control character in a path");
}

static void check_config(const struct dconfig *c)
{
    CHECK(c->http.allow_remote || cfg_addr_is_loopback(&c->http.listen),
          "non-loopback listen without allow_remote");
    CHECK(c->http.listen.len == sizeof(struct sockaddr_in) ||
              c->http.listen.len == sizeof(struct sockaddr_in6),
          "listen address without a length");
    check_path(c->http.unix_socket, sizeof c->http.unix_socket, true);
    check_path(c->control_socket, sizeof c->control_socket, false);
    CHECK(c->recording.window_ns >= 100000000ull && c->recording.window_ns <= 3600000000000ull,
          "window out of range");
    CHECK(c->recording.max_bytes >= 1ull << 20 && c->recording.max_bytes <= 16ull << 30,
          "max_bytes out of range");
    CHECK(c->limits.max_concurrent_snapshots >= 1 && c->limits.max_concurrent_snapshots <= 16,
          "max_concurrent_snapshots out of range");
    CHECK(c->limits.max_connections >= 1 && c->limits.max_connections <= 4096,
          "max_connections out of range");
    CHECK(c->limits.max_snapshots_per_hour >= 1 && c->limits.max_snapshots_per_hour <= 3600,
          "max_snapshots_per_hour out of range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dconfig c, before, again;
    struct diag d, d2;
    memset(&c, 0xa5, sizeof c);
    before = c;
    memset(&d, 0x5a, sizeof d);

    int err = dconfig_load_buffer("fuzz.yaml", data, size, &c, &d);
    if (err) {
        CHECK(err == -EINVAL || err == -ENOMEM || err == -EFBIG, "unexpected error code");
        CHECK(memcmp(&c, &before, sizeof c) == 0, "a failed load touched *out");
        CHECK(memchr(d.msg, 0, sizeof d.msg) != NULL, "diag message not NUL-terminated");
        CHECK(d.msg[0] != 0, "empty diag message");
        CHECK(d.file != NULL, "diag without a file name");
        CHECK(d.col == 0 || d.line != 0, "a column without a line");
        char text[512];
        CHECK(diag_format(&d, text, sizeof text) < (int)sizeof text, "diag longer than its buffer");
    } else {
        check_config(&c);
    }

    int deep = events_too_deep(data, size);
    CHECK(err != 0 || deep == 0, "loaded a document nested deeper than the limit");
    CHECK(deep != 1 || err != 0, "accepted nesting deeper than the limit");
    CHECK(!err || strncmp(d.msg, "nested deeper than", 18) != 0 || deep != 0,
          "refused nesting within the limit");

    memset(&again, 0xa5, sizeof again);
    int err2 = dconfig_load_buffer("fuzz.yaml", data, size, &again, &d2);
    CHECK(err2 == err, "same input, different result");
    CHECK(memcmp(&c, &again, sizeof c) == 0, "same input, different config");
    if (err)
        CHECK(d2.line == d.line && d2.col == d.col && strcmp(d2.msg, d.msg) == 0,
              "same input, different diag");
    return 0;
}

/* fuzz_config.c - libFuzzer target for the config loader (common/config.c
 * over daemon/config_schema.c).
 *
 * The input is a config file as anyone with write access to it could leave
 * it. Beyond memory safety (ASan, UBSan) we check the loader's contracts
 * and abort when one breaks: a failed load leaves *out byte for byte as it
 * was and fills a diag with a NUL-terminated message and a file name; a
 * successful one gives a config inside the schema's bounds (strings
 * NUL-terminated and absolute, ranges, loopback unless allowed, rules
 * that obey the checks across their keys, unused rule slots zero); the
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

static void check_string(const char *s, size_t cap, size_t min)
{
    size_t len = strnlen(s, cap);
    CHECK(len < cap, "string not NUL-terminated");
    CHECK(len >= min, "string too short");
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "control character in a string");
}

static void check_rule(const struct dconfig *c, uint32_t i)
{
    const struct dconfig_rule *r = &c->rules[i];
    check_string(r->name, sizeof r->name, 1);
    CHECK(r->name[0] != '.' && r->name[0] != '-', "rule name starts with . or -");
    CHECK(strspn(r->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
              strlen(r->name),
          "rule name with a bad character");
    for (uint32_t j = 0; j < i; j++)
        CHECK(strcmp(r->name, c->rules[j].name) != 0, "two rules of one name");
    CHECK(r->on >= DRULE_ON_TASK && r->on <= DRULE_ON_MANUAL, "rule on out of range");
    check_string(r->match, sizeof r->match, 1);
    check_string(r->process, sizeof r->process, 1);
    bool timed = r->on == DRULE_ON_TASK || r->on == DRULE_ON_REGION || r->on == DRULE_ON_WAIT;
    CHECK(timed ? r->threshold_ns > 0 && r->threshold_ns <= 24 * 3600000000000ull
                : r->threshold_ns == 0,
          "rule threshold does not fit its on");
    CHECK(timed || r->on == DRULE_ON_LOG || strcmp(r->match, "*") == 0,
          "rule match set for exit or manual");
    CHECK(r->count >= 1 && r->count <= 1000, "rule count out of range");
    CHECK(r->count > 1 ? r->within_ns > 0 && r->within_ns <= 3600000000000ull : r->within_ns == 0,
          "rule within does not fit its count");
    CHECK(r->before_ns <= c->recording.window_ns, "rule before longer than the window");
    CHECK(r->after_ns <= 60000000000ull, "rule after out of range");
    CHECK(r->cooldown_ns <= 24 * 3600000000000ull, "rule cooldown out of range");
    CHECK(r->max_per_hour <= 3600, "rule max_per_hour out of range");
    CHECK(r->scope == DRULE_SCOPE_PROCESS || r->scope == DRULE_SCOPE_ALL,
          "rule scope out of range");
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
    check_path(c->snapshots.dir, sizeof c->snapshots.dir, false);
    CHECK(c->snapshots.max_files >= 1 && c->snapshots.max_files <= 100000,
          "snapshots.max_files out of range");
    CHECK(c->snapshots.max_bytes >= 1ull << 20 && c->snapshots.max_bytes <= 1ull << 40,
          "snapshots.max_bytes out of range");
    CHECK(c->snapshots.max_age_ns >= 60000000000ull &&
              c->snapshots.max_age_ns <= 8760 * 3600000000000ull,
          "snapshots.max_age out of range");
    CHECK(c->snapshots.format == DFORMAT_PERFETTO || c->snapshots.format == DFORMAT_JSON,
          "snapshots.format out of range");
    CHECK(c->n_rules <= DCONFIG_RULES_MAX, "more rules than the array holds");
    for (uint32_t i = 0; i < c->n_rules && i < DCONFIG_RULES_MAX; i++)
        check_rule(c, i);
    static const struct dconfig_rule zero;
    for (uint32_t i = c->n_rules; i < DCONFIG_RULES_MAX; i++)
        CHECK(memcmp(&c->rules[i], &zero, sizeof zero) == 0, "a rule slot past n_rules not zero");
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

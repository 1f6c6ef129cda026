/* fuzz_store_name.c - libFuzzer target for the snapshot store's file
 * names (daemon/store_name.c).
 *
 * The store parses every name it finds in its directory to tell its own
 * files from anything else there, and builds names from what processes
 * call themselves; both are input we do not control. The input is used
 * twice:
 *  - as a file name: when the parser accepts it, the fields are within
 *    their bounds and alphabet, the name is a plain name (no '/', no
 *    leading dot) and building it again from the fields gives back the
 *    same bytes (one spelling per snapshot); a temporary name made from
 *    it is never accepted;
 *  - as a rule and a process (split at the first NUL) with a time and a
 *    pid drawn from it: every name built from them, for each file of a
 *    snapshot and with a suffix, is a plain name the parser accepts and
 *    gives back the same fields.
 * A broken contract aborts.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/store.cmake) and
 * with the replay driver fuzz_replay.c for builds without libFuzzer
 * (tests/fuzz/replay/store.cmake).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/store_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_store_name: broken contract: %s (%s:%d)\n", what, __FILE__,      \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool part_ok(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > STORE_PART_MAX || p[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._", p[i]))
            return false;
    return true;
}

static bool same(const struct store_name *a, const struct store_name *b)
{
    return a->time_ms == b->time_ms && a->pid == b->pid && a->n == b->n &&
           strcmp(a->rule, b->rule) == 0 && strcmp(a->process, b->process) == 0;
}

static void check_plain(const char *name, size_t len)
{
    CHECK(len > 0 && len < STORE_FILE_MAX, "name length out of bounds");
    CHECK(memchr(name, '/', len) == NULL, "a '/' in a name");
    CHECK(memchr(name, 0, len) == NULL, "a NUL in a name");
    CHECK(name[0] != '.', "a name starting with a dot");
}

static void parse_direction(const uint8_t *data, size_t size)
{
    struct store_name nm;
    enum store_file f;
    if (store_name_parse((const char *)data, size, &nm, &f) != 0)
        return;
    check_plain((const char *)data, size);
    CHECK(f == STORE_FILE_PFTRACE || f == STORE_FILE_JSON || f == STORE_FILE_META, "bad kind");
    CHECK(part_ok(nm.rule) && part_ok(nm.process), "a part outside the alphabet");
    CHECK(nm.n >= 1 && nm.n <= STORE_SUFFIX_MAX, "suffix out of range");
    char back[STORE_FILE_MAX];
    size_t n = store_name_file(&nm, f, back);
    CHECK(n == size && memcmp(back, data, size) == 0, "parse then build changes the name");

    /* ".<name>.tmp" is the store's temporary file, never a snapshot's. */
    char tmp[STORE_FILE_MAX + 8];
    tmp[0] = '.';
    memcpy(tmp + 1, data, size);
    memcpy(tmp + 1 + size, ".tmp", 4);
    CHECK(store_name_parse(tmp, size + 5, &nm, &f) != 0, "a temporary name parsed");
}

static void build_direction(const uint8_t *data, size_t size)
{
    /* rule, NUL, process (NUL-terminated copies) */
    char *buf = malloc(size + 2);
    if (!buf)
        return;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = 0;
    const char *rule = buf, *process = buf + strlen(buf) + 1;
    if (process > buf + size)
        process = buf + size + 1;

    uint64_t h = 1469598103934665603u; /* FNV-1a: a time and a pid from the input */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211u;

    struct store_name nm, back;
    store_name_init(&nm, h, rule, process, (uint32_t)(h >> 32));
    CHECK(part_ok(nm.rule) && part_ok(nm.process), "sanitised part outside the alphabet");
    for (uint32_t n = 1; n <= 2; n++) {
        nm.n = n == 1 ? 1 : 2 + (uint32_t)(h % (STORE_SUFFIX_MAX - 1));
        for (int f = STORE_FILE_PFTRACE; f <= STORE_FILE_META; f++) {
            char name[STORE_FILE_MAX];
            enum store_file bf;
            size_t len = store_name_file(&nm, (enum store_file)f, name);
            check_plain(name, len);
            CHECK(strlen(name) == len, "length differs from the string");
            CHECK(store_name_parse(name, len, &back, &bf) == 0, "a built name does not parse");
            CHECK(bf == (enum store_file)f, "kind changed");
            CHECK(same(&back, &nm), "fields changed through the name");
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* names are short; longer inputs add nothing */
    parse_direction(data, size);
    build_direction(data, size);
    return 0;
}

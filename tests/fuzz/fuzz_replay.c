/* fuzz_replay.c - runs a fuzz target's corpus without libFuzzer.
 *
 * The gcc and sanitizer builds of CI have no libFuzzer, yet they should
 * see every input the fuzzer once found interesting. This main() feeds
 * each corpus file to LLVMFuzzerTestOneInput() as it is, then a fixed set
 * of variants made from it in-process: truncations at the sizes where a
 * reader's checks change (header, first page, half, one byte short), a
 * longer copy, and random byte flips and word overwrites from a seed
 * derived from the file name, so a run is the same every time and a
 * failing variant can be named and replayed.
 *
 * Usage: fuzz_replay [-n VARIANTS] [DIR|FILE]...; with no path, the corpus
 * directory compiled in as FUZZ_CORPUS_DIR. Exits 0, 1 when a corpus
 * cannot be read (a crash is the sanitizer's exit), 77 when there is no
 * corpus to replay.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Present only in sanitizer builds; lets us name the input that failed. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

#define FILES_MAX        4096
#define VARIANTS_DEFAULT 2000

/* What runs now, for the death callback and the signal handler. */
static char current[512];

static void say_current(void)
{
    static const char pre[] = "fuzz_replay: failed on ";
    /* write(), not stdio: this may run inside a signal handler. */
    if (write(2, pre, sizeof pre - 1) < 0 || write(2, current, strlen(current)) < 0 ||
        write(2, "\n", 1) < 0)
        return;
}

static void on_fatal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* splitmix64: small, seedable, the same on every platform. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t name_seed(const char *name)
{
    const char *base = strrchr(name, '/');
    uint64_t h = 1469598103934665603u; /* FNV-1a of the base name: paths differ per checkout */
    for (const char *c = base ? base + 1 : name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    return h;
}

static int read_file(const char *path, uint8_t **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    int err = 0;
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        err = -errno;
        goto close_file;
    }
    *size = (size_t)st.st_size;
    *out = malloc(*size ? *size : 1);
    if (!*out) {
        err = -ENOMEM;
        goto close_file;
    }
    if (*size && fread(*out, 1, *size, f) != *size) {
        err = -EIO;
        free(*out);
    }
close_file:
    fclose(f);
    return err;
}

/* Values that sit on the edges of the reader's checks, for word writes:
 * the input's size, powers of two (sizes, capacities, counts) and their
 * neighbours, all ones, random. */
static uint64_t edge_value(uint64_t *rs, size_t size)
{
    uint64_t r = next_rand(rs);
    uint64_t near = (r >> 8) % 3; /* -1, 0, +1 below */
    switch (r % 4) {
    case 0:
        return size + near - 1;
    case 1:
        return (UINT64_C(1) << (r >> 16) % 64) + near - 1;
    case 2:
        return (r >> 16) & 1 ? UINT64_MAX - near : UINT32_MAX - near;
    default:
        return next_rand(rs);
    }
}

/* Variant k of a corpus input, written into v (capacity size + 4096);
 * returns its size and describes it in what. */
static size_t make_variant(const uint8_t *in, size_t size, unsigned k, uint64_t seed, uint8_t *v,
                           char *what, size_t whatlen)
{
    /* Truncations first: where the reader's view of the input changes. */
    const size_t cuts[] = {0, 1, 159, 160, 207, 208, 351, 352, 4096, size / 2, size - 1};
    const size_t ncuts = sizeof cuts / sizeof cuts[0];
    if (k < ncuts) {
        size_t n = cuts[k] < size ? cuts[k] : size;
        memcpy(v, in, n);
        snprintf(what, whatlen, "truncated to %zu", n);
        return n;
    }
    if (k == ncuts) {
        /* A mapping longer than the region the header describes. */
        memcpy(v, in, size);
        memset(v + size, 0xa5, 4096);
        snprintf(what, whatlen, "4096 bytes appended");
        return size + 4096;
    }
    uint64_t rs = seed ^ (uint64_t)k * 0x2545f4914f6cdd1du;
    memcpy(v, in, size);
    if (size == 0) {
        snprintf(what, whatlen, "empty");
        return 0;
    }
    /* Most of a real region is a zeroed string arena; aim half of the
     * edits at the first page, where the header and the layout live. */
    unsigned edits = 1 + next_rand(&rs) % 8;
    for (unsigned e = 0; e < edits; e++) {
        uint64_t r = next_rand(&rs);
        size_t span = (r & 1) && size > 4096 ? 4096 : size;
        size_t at = (r >> 1) % span;
        if ((r >> 40) % 3 == 0 && size >= 8) {
            uint64_t val = edge_value(&rs, size);
            at &= ~(size_t)7;
            if (at + 8 > size)
                at = size - 8;
            memcpy(v + at, &val, 8);
        } else {
            v[at] ^= (uint8_t)(1u << ((r >> 48) % 8));
        }
    }
    snprintf(what, whatlen, "%u edits, variant %u", edits, k);
    return size;
}

static int replay_file(const char *path, unsigned variants)
{
    uint8_t *in = NULL;
    size_t size = 0;
    int err = read_file(path, &in, &size);
    if (err < 0) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(-err));
        return err;
    }
    snprintf(current, sizeof current, "%s (as is)", path);
    LLVMFuzzerTestOneInput(in, size);

    uint8_t *v = malloc(size + 4096);
    if (!v) {
        free(in);
        return -ENOMEM;
    }
    uint64_t seed = name_seed(path);
    for (unsigned k = 0; k < variants; k++) {
        char what[128];
        size_t n = make_variant(in, size, k, seed, v, what, sizeof what);
        snprintf(current, sizeof current, "%s (%s)", path, what);
        LLVMFuzzerTestOneInput(v, n);
    }
    free(v);
    free(in);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir, in name order so that runs match. */
static int replay_dir(const char *dir, unsigned variants, unsigned *nfiles)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    char *names[FILES_MAX];
    size_t n = 0;
    int err = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < FILES_MAX) {
        if (e->d_name[0] == '.')
            continue;
        if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
            err = -ENOMEM;
            goto free_names;
        }
        struct stat st;
        if (stat(names[n], &st) == 0 && S_ISREG(st.st_mode))
            n++;
        else
            free(names[n]);
    }
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n && err == 0; i++) {
        err = replay_file(names[i], variants);
        ++*nfiles;
    }
free_names:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return err;
}

int main(int argc, char **argv)
{
    unsigned variants = VARIANTS_DEFAULT, nfiles = 0;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        variants = (unsigned)strtoul(argv[2], NULL, 10);
        first = 3;
    }
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(say_current);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGFPE, on_fatal);

#ifdef FUZZ_CORPUS_DIR
    static char *fallback[] = {NULL, FUZZ_CORPUS_DIR, NULL};
    if (first >= argc) {
        argv = fallback;
        argc = 2;
        first = 1;
    }
#endif
    for (int i = first; i < argc; i++) {
        struct stat st;
        int err = stat(argv[i], &st) < 0 ? -errno
                  : S_ISDIR(st.st_mode)  ? replay_dir(argv[i], variants, &nfiles)
                                         : (nfiles++, replay_file(argv[i], variants));
        if (err < 0) {
            fprintf(stderr, "fuzz_replay: %s: %s\n", argv[i], strerror(-err));
            return 1;
        }
    }
    if (nfiles == 0) {
        fprintf(stderr, "fuzz_replay: no corpus to replay\n");
        return 77;
    }
    fprintf(stderr, "fuzz_replay: %u inputs, %u variants each\n", nfiles, variants);
    return 0;
}

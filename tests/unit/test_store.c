/* test_store.c - the snapshot store (daemon/store.c, store_name.c,
 * store_meta.c) on real directories under /tmp.
 *
 * Failures of the disk are real ones, made without privileges: a file
 * size limit (RLIMIT_FSIZE, SIGXFSZ ignored) in a forked child gives
 * EFBIG everywhere; a small tmpfs in a user and mount namespace of a
 * forked child gives ENOSPC and EROFS (skipped where unprivileged user
 * namespaces are off). Age limits are tested with times relative to the
 * real clock, and with store_expire() given a time.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/sink.h"
#include "daemon/store.h"
#include "daemon/store_name.h"

#define SEC  1000000000ull
#define HOUR (3600 * SEC)

static char root[64]; /* a fresh directory per test */
static char dir[128]; /* root/snap: the store's */

static uint64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/fr-test-store-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/snap", root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(root);
    return 0;
}

static struct store_limits limits(const char *d, uint32_t files, uint64_t bytes, uint64_t age)
{
    struct store_limits l = {.max_files = files, .max_bytes = bytes, .max_age_ns = age};
    snprintf(l.dir, sizeof l.dir, "%s", d);
    return l;
}

static const struct store_trigger one_trigger = {.mono_ns = 5 * SEC,
                                                 .pid = 4242,
                                                 .tid = 4243,
                                                 .measured_ns = 700000000,
                                                 .subject = "GET /orders",
                                                 .reason = "over threshold"};

static const struct store_meta a_meta = {.on = "task",
                                         .threshold_ns = 500000000,
                                         .measured_ns = 700000000,
                                         .trigger_mono_ns = 5 * SEC,
                                         .triggers = &one_trigger,
                                         .ntriggers = 1,
                                         .window_from_ns = 1 * SEC,
                                         .window_to_ns = 6 * SEC};

/* One whole write of `bytes` bytes of trace; the trace's name in name. */
static int write_meta(struct store *s, uint64_t wall_ns, const char *rule, const char *process,
                      uint32_t pid, enum store_format format, size_t bytes,
                      const struct store_meta *m, char name[STORE_FILE_MAX])
{
    struct store_key k = {wall_ns, rule, process, pid, format};
    struct store_tx tx;
    int err = store_begin(s, &k, &tx);
    if (err)
        return err;
    char *data = malloc(bytes + 1);
    memset(data, 'x', bytes);
    err = sink_fd_write(&tx.fd, data, bytes);
    free(data);
    if (err) {
        store_abort(s, &tx);
        return err;
    }
    char dummy[STORE_FILE_MAX];
    return store_commit(s, &tx, m, name ? name : dummy, STORE_FILE_MAX);
}

static int write_snap(struct store *s, uint64_t wall_ns, const char *rule, const char *process,
                      size_t bytes, char name[STORE_FILE_MAX])
{
    return write_meta(s, wall_ns, rule, process, 4242, STORE_PERFETTO, bytes, &a_meta, name);
}

/* The names in d, sorted, each followed by '\n'. */
static char *listing(const char *d)
{
    struct dirent **ents;
    int n = scandir(d, &ents, NULL, alphasort);
    char *out = calloc(1, 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (strcmp(nm, ".") && strcmp(nm, "..")) {
            out = realloc(out, len + strlen(nm) + 2);
            len += (size_t)sprintf(out + len, "%s\n", nm);
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    return out;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool has(const char *d, const char *name)
{
    char p[2048];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", d, name);
    return lstat(p, &st) == 0;
}

static void put_file(const char *d, const char *name, size_t bytes)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", d, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc('y', f);
    fclose(f);
}

/* The name's sidecar and temporary names. */
static void sidecar_of(const char *trace, char out[STORE_FILE_MAX])
{
    struct store_name nm;
    enum store_file f;
    assert_int_equal(store_name_parse(trace, strlen(trace), &nm, &f), 0);
    store_name_file(&nm, STORE_FILE_META, out);
}

/* python3 -c script with path on stdin: exit status, output in *out;
 * -1000 without python3. */
static int python(const char *script, const char *path, char **out)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0)
        return -1000;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "python3 -c '%s' < '%s' 2>&1", script, path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    int st = pclose(f);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void save(const char *text, size_t len, char path[128])
{
    snprintf(path, 128, "%s/doc.json", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

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

/* ---- writing ---- */

static void test_store_hostile_names_stay_plain_files_in_the_dir(void **state)
{
    (void)state;
    char long_name[301];
    memset(long_name, 'z', 300);
    long_name[300] = 0;
    const char *hostile[] = {
        "../../etc/passwd", "/", "\n",  long_name, "", "..", ".", "a/../../b", "x\r\ny\t\"\\",
        "\xff\xfe\x01",     "-", ".tmp"};
    const size_t n = sizeof hostile / sizeof hostile[0];
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t t = wall_now();
    for (size_t i = 0; i < n; i++) {
        char name[STORE_FILE_MAX], p[2048];
        assert_int_equal(write_snap(s, t, hostile[i], hostile[n - 1 - i], 10, name), 0);
        assert_null(strchr(name, '/'));
        assert_true(name[0] != '.');
        struct store_name nm;
        enum store_file f;
        assert_int_equal(store_name_parse(name, strlen(name), &nm, &f), 0);
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, name);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 10);
    }
    /* Nothing anywhere else: root holds the store's directory only, and
     * the directory the n snapshots. */
    char *top = listing(root);
    assert_string_equal(top, "snap\n");
    free(top);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 2 * n);
    free(files);
    store_close(s);
}

static void test_store_same_base_gets_a_suffix(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t t = wall_now();
    char a[STORE_FILE_MAX], b[STORE_FILE_MAX], c[STORE_FILE_MAX], d[STORE_FILE_MAX];
    assert_int_equal(write_snap(s, t, "rule", "a/b", 1, a), 0);
    assert_int_equal(write_snap(s, t, "rule", "a:b", 1, b), 0);     /* sanitises the same */
    assert_int_equal(write_snap(s, t, "rule", "a\nb", 1, c), 0);    /* and again */
    assert_int_equal(write_snap(s, t + 1, "rule", "a_b", 1, d), 0); /* the same ms */
    struct store_name na, nb, nc, nd;
    enum store_file f;
    assert_int_equal(store_name_parse(a, strlen(a), &na, &f), 0);
    assert_int_equal(store_name_parse(b, strlen(b), &nb, &f), 0);
    assert_int_equal(store_name_parse(c, strlen(c), &nc, &f), 0);
    assert_int_equal(store_name_parse(d, strlen(d), &nd, &f), 0);
    assert_int_equal(na.n, 1);
    assert_int_equal(nb.n, 2);
    assert_int_equal(nc.n, 3);
    assert_int_equal(nd.n, 4);
    assert_true(strstr(b, "-a_b-4242-2.pftrace") != NULL);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 8);
    free(files);
    store_close(s);
}

static void check_mode(const char *name, mode_t want)
{
    char p[2048];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    if ((st.st_mode & 07777) != want)
        fail_msg("%s: mode %o, want %o", name, st.st_mode & 07777, want);
}

static void test_store_files_are_0640_whatever_the_umask(void **state)
{
    (void)state;
    mode_t old = umask(077); /* the directory too: 0750 */
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    char name[STORE_FILE_MAX], meta[STORE_FILE_MAX];
    const mode_t masks[] = {0, 077, 022, 0777};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        umask(masks[i]);
        assert_int_equal(write_snap(s, wall_now(), "r", "p", 3, name), 0);
        sidecar_of(name, meta);
        check_mode(name, 0640);
        check_mode(meta, 0640);
    }
    umask(old);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    store_close(s);
}

static void test_store_abort_leaves_nothing(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    struct store_key k = {wall_now(), "r", "p", 1, STORE_JSON};
    struct store_tx tx;
    assert_int_equal(store_begin(s, &k, &tx), 0);
    assert_int_equal(sink_fd_write(&tx.fd, "{}", 2), 0);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 1); /* the temporary file */
    assert_int_equal(files[0], '.');
    free(files);
    store_abort(s, &tx);
    files = listing(dir);
    assert_string_equal(files, "");
    free(files);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 0);
    assert_int_equal(st.write_failures, 1);
    assert_int_equal(st.written, 0);
    /* the name is free again */
    char name[STORE_FILE_MAX];
    assert_int_equal(write_meta(s, k.wall_ns, "r", "p", 1, STORE_JSON, 2, &a_meta, name), 0);
    assert_true(strstr(name, "-r-p-1.trace.json") != NULL);
    store_close(s);
}

/* ---- limits ---- */

static void test_store_evicts_oldest_by_count(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 3, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t t = wall_now() - 10 * SEC;
    char names[5][STORE_FILE_MAX];
    for (int i = 0; i < 5; i++)
        assert_int_equal(write_snap(s, t + (uint64_t)i * SEC, "r", "p", 100, names[i]), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(has(dir, names[i]), i >= 2);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 6);
    free(files);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 3);
    assert_int_equal(st.written, 5);
    assert_int_equal(st.evicted, 2);
    store_close(s);
}

static void test_store_evicts_oldest_by_bytes_and_keeps_the_newest(void **state)
{
    (void)state;
    struct store *s;
    /* a snapshot: 10000 bytes of trace and a sidecar under 1000 */
    struct store_limits l = limits(dir, 0, 25000, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t t = wall_now() - 10 * SEC;
    char names[6][STORE_FILE_MAX];
    for (int i = 0; i < 4; i++)
        assert_int_equal(write_snap(s, t + (uint64_t)i * SEC, "r", "p", 10000, names[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(has(dir, names[i]), i >= 2);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 2);
    assert_true(st.bytes <= 25000 && st.bytes > 20000);

    /* Larger than max_bytes by itself: kept, alone. */
    assert_int_equal(write_snap(s, t + 4 * SEC, "r", "big", 30000, names[4]), 0);
    assert_true(has(dir, names[4]));
    assert_false(has(dir, names[3]));
    store_stats(s, &st);
    assert_int_equal(st.files, 1);
    assert_true(st.bytes > 30000);
    /* until a newer one comes */
    assert_int_equal(write_snap(s, t + 5 * SEC, "r", "p", 10, names[5]), 0);
    assert_false(has(dir, names[4]));
    store_stats(s, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.evicted, 5);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 2);
    free(files);
    store_close(s);
}

static void test_store_evicts_by_age_on_write_expire_and_list(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, HOUR);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t now = wall_now();
    char old[STORE_FILE_MAX], fresh[STORE_FILE_MAX], edge[STORE_FILE_MAX];

    /* The snapshot just written is kept, however old its time... */
    assert_int_equal(write_snap(s, now - 2 * HOUR, "r", "old", 10, old), 0);
    assert_true(has(dir, old));
    /* ...until the next write. */
    assert_int_equal(write_snap(s, now, "r", "fresh", 10, fresh), 0);
    assert_false(has(dir, old));
    assert_true(has(dir, fresh));

    /* store_expire() at a given time */
    assert_int_equal(store_expire(s, now + HOUR / 2), 0);
    assert_true(has(dir, fresh));
    assert_int_equal(store_expire(s, now + 2 * HOUR), 1);
    assert_false(has(dir, fresh));

    /* Listing expires at the current time: a snapshot one second from
     * its max_age is listed, then not once it passed. */
    assert_int_equal(write_snap(s, wall_now() - HOUR + SEC, "r", "edge", 10, edge), 0);
    char *json;
    size_t len;
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_non_null(strstr(json, "\"edge\""));
    free(json);
    struct timespec pause = {1, 500000000};
    nanosleep(&pause, NULL);
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_null(strstr(json, "\"edge\""));
    assert_string_equal(json, "[]\n");
    free(json);
    assert_false(has(dir, edge));
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 0);
    assert_int_equal(st.evicted, 3);
    char *files = listing(dir);
    assert_string_equal(files, "");
    free(files);
    store_close(s);
}

static void test_store_reopen_enforces_limits_on_files_already_there(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const uint64_t t = wall_now() - 100 * SEC;
    char names[5][STORE_FILE_MAX];
    for (int i = 0; i < 5; i++)
        assert_int_equal(write_snap(s, t + (uint64_t)i * SEC, "r", "p", 1000, names[i]), 0);
    store_close(s);
    /* A complete snapshot put there by hand counts too; it is the oldest. */
    struct store_name nm;
    char by_hand[STORE_FILE_MAX];
    store_name_init(&nm, t - SEC, "hand", "made", 1);
    store_name_file(&nm, STORE_FILE_PFTRACE, by_hand);
    put_file(dir, by_hand, 1000);
    char by_hand_meta[STORE_FILE_MAX];
    store_name_file(&nm, STORE_FILE_META, by_hand_meta);
    put_file(dir, by_hand_meta, 100);

    l = limits(dir, 3, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 3);
    assert_int_equal(st.evicted, 3);
    assert_int_equal(st.last_err, 0);
    assert_false(has(dir, by_hand));
    for (int i = 0; i < 5; i++)
        assert_int_equal(has(dir, names[i]), i >= 2);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 6);
    free(files);
    store_close(s);

    /* bytes across a restart too: two of ~1.6 KB fit in 3500 */
    l = limits(dir, 0, 3500, 0);
    assert_int_equal(store_open(&s, &l), 0);
    store_stats(s, &st);
    assert_int_equal(st.files, 2);
    assert_true(st.bytes <= 3500);
    assert_false(has(dir, names[2]));
    store_close(s);

    /* and age */
    l = limits(dir, 0, 0, 50 * SEC);
    assert_int_equal(store_open(&s, &l), 0);
    store_stats(s, &st);
    assert_int_equal(st.files, 0);
    store_close(s);
}

static void test_store_open_deletes_stale_temps_and_incomplete_snapshots(void **state)
{
    (void)state;
    assert_int_equal(mkdir(dir, 0750), 0);
    const uint64_t t = wall_now() - 100 * SEC;
    struct store_name nm[6];
    char f[STORE_FILE_MAX], tmp[STORE_FILE_MAX + 8];
    for (int i = 0; i < 6; i++)
        store_name_init(&nm[i], t + (uint64_t)i * SEC, "r", "p", (uint32_t)i);
    /* 0: a write that crashed before its renames */
    store_name_file(&nm[0], STORE_FILE_PFTRACE, f);
    snprintf(tmp, sizeof tmp, ".%s.tmp", f);
    put_file(dir, tmp, 10);
    store_name_file(&nm[0], STORE_FILE_META, f);
    snprintf(tmp, sizeof tmp, ".%s.tmp", f);
    put_file(dir, tmp, 10);
    /* 1: a trace without its sidecar; 2: a sidecar without its trace */
    store_name_file(&nm[1], STORE_FILE_JSON, f);
    put_file(dir, f, 10);
    store_name_file(&nm[2], STORE_FILE_META, f);
    put_file(dir, f, 10);
    /* 3: complete */
    char keep_trace[STORE_FILE_MAX], keep_meta[STORE_FILE_MAX];
    store_name_file(&nm[3], STORE_FILE_JSON, keep_trace);
    put_file(dir, keep_trace, 10);
    store_name_file(&nm[3], STORE_FILE_META, keep_meta);
    put_file(dir, keep_meta, 10);
    /* 4: two traces for one sidecar: not something we write */
    store_name_file(&nm[4], STORE_FILE_JSON, f);
    put_file(dir, f, 10);
    store_name_file(&nm[4], STORE_FILE_PFTRACE, f);
    put_file(dir, f, 10);
    store_name_file(&nm[4], STORE_FILE_META, f);
    put_file(dir, f, 10);
    /* 5: a symlink named like a trace is not ours: left; its sidecar is
     * then an orphan */
    char link_name[STORE_FILE_MAX], p[2048];
    store_name_file(&nm[5], STORE_FILE_PFTRACE, link_name);
    snprintf(p, sizeof p, "%s/%s", dir, link_name);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    store_name_file(&nm[5], STORE_FILE_META, f);
    put_file(dir, f, 10);
    /* foreign files */
    const char *foreign[] = {"notes.txt",
                             ".hidden",
                             ".x.tmp",
                             "README",
                             "20261123T101502.123Z-r-p-1.pftrace.bak",
                             "20261123T101502.123Z-r-p-01.pftrace"};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        put_file(dir, foreign[i], 5);

    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    /* left: the foreign files, the complete snapshot and the symlink */
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        assert_true(has(dir, foreign[i]));
    assert_true(has(dir, keep_trace));
    assert_true(has(dir, keep_meta));
    assert_true(has(dir, link_name));
    char *files = listing(dir);
    if (count_lines(files) != sizeof foreign / sizeof foreign[0] + 3)
        fail_msg("left:\n%s", files);
    free(files);

    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.bytes, 20);
    assert_int_equal(st.evicted, 0);
    char *json;
    size_t len;
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_non_null(strstr(json, keep_trace));
    assert_null(strstr(json, "notes"));
    assert_null(strstr(json, "-01"));
    assert_int_equal(count_lines(json), 3); /* [, one entry, ] */
    free(json);
    store_close(s);
}

/* ---- failures ---- */

/* In forked children: a failed check exits with its line. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #c);                         \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static void run_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Only the store's directory, with no file in it. */
static bool dir_is_empty(const char *d)
{
    char *files = listing(d);
    bool empty = files[0] == 0;
    if (!empty)
        fprintf(stderr, "child: left in %s:\n%s", d, files);
    free(files);
    return empty;
}

static struct store_trigger big_trigger[1];

static void file_size_limit_child(void)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    rl.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);

    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    CHECK(store_open(&s, &l) == 0);
    /* The trace fails while the encoder writes: EFBIG, the caller aborts. */
    CHECK(write_snap(s, wall_now(), "r", "p", 8192, NULL) == -EFBIG);
    CHECK(dir_is_empty(dir));
    /* The sidecar fails at commit (a 5000-byte subject). */
    char subject[5001];
    memset(subject, 's', 5000);
    subject[5000] = 0;
    big_trigger[0] = one_trigger;
    big_trigger[0].subject = subject;
    struct store_meta m = a_meta;
    m.triggers = big_trigger;
    CHECK(write_meta(s, wall_now(), "r", "p", 1, STORE_PERFETTO, 100, &m, NULL) == -EFBIG);
    CHECK(dir_is_empty(dir));
    struct store_stats st;
    store_stats(s, &st);
    CHECK(st.write_failures == 2 && st.written == 0 && st.files == 0);
    CHECK(st.last_err == -EFBIG);

    /* The next write tries again, and succeeds once there is room. */
    rl.rlim_cur = rl.rlim_max;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    char name[STORE_FILE_MAX];
    CHECK(write_meta(s, wall_now(), "r", "p", 1, STORE_PERFETTO, 8192, &m, name) == 0);
    CHECK(has(dir, name));
    store_stats(s, &st);
    CHECK(st.written == 1 && st.files == 1);
    store_close(s);
}

static void test_store_file_size_limit_fails_cleanly_then_recovers(void **state)
{
    (void)state;
    run_child(file_size_limit_child);
}

/* A tmpfs of `pages` pages at root/mnt, in new user and mount namespaces
 * (the child's own); exits 77 where that is not allowed. */
static void small_tmpfs(unsigned pages, char mnt[128])
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        fprintf(stderr, "child: no user namespace: %s\n", strerror(errno));
        _exit(77);
    }
    char map[64];
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) {
        CHECK(write(fd, "deny", 4) == 4);
        close(fd);
    }
    fd = open("/proc/self/uid_map", O_WRONLY);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    CHECK(fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map));
    close(fd);
    fd = open("/proc/self/gid_map", O_WRONLY);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    CHECK(fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map));
    close(fd);
    CHECK(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    snprintf(mnt, 128, "%s/mnt", root);
    CHECK(mkdir(mnt, 0755) == 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%uk,mode=0755", pages * 4);
    if (mount("tmpfs", mnt, "tmpfs", 0, opts) < 0) {
        fprintf(stderr, "child: cannot mount a tmpfs: %s\n", strerror(errno));
        _exit(77);
    }
}

/* Fills the file system of d until exactly `room` bytes (whole pages)
 * are left, with a foreign file. */
static void fill(const char *d, off_t room)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/filler", d);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    static char page[4096];
    off_t size = 0;
    while (write(fd, page, sizeof page) == (ssize_t)sizeof page)
        size += (off_t)sizeof page;
    CHECK(errno == ENOSPC);
    CHECK(ftruncate(fd, size > room ? size - room : 0) == 0);
    close(fd);
}

static void disk_full_child(void)
{
    char mnt[128], d[256];
    small_tmpfs(64, mnt); /* 256 KiB */
    snprintf(d, sizeof d, "%s/snap", mnt);
    struct store *s;
    struct store_limits l = limits(d, 0, 0, 0);
    CHECK(store_open(&s, &l) == 0);

    /* A trace larger than the disk: ENOSPC while encoding. */
    CHECK(write_snap(s, wall_now(), "r", "p", 1 << 20, NULL) == -ENOSPC);
    CHECK(dir_is_empty(d));
    /* One page left: the trace fits, the sidecar does not. */
    fill(mnt, 4096);
    CHECK(write_snap(s, wall_now(), "r", "p", 4096, NULL) == -ENOSPC);
    CHECK(dir_is_empty(d));
    struct store_stats st;
    store_stats(s, &st);
    CHECK(st.write_failures == 2 && st.written == 0 && st.last_err == -ENOSPC);

    /* Room again: the next write succeeds. */
    char p[2048], name[STORE_FILE_MAX];
    snprintf(p, sizeof p, "%s/filler", mnt);
    CHECK(unlink(p) == 0);
    CHECK(write_snap(s, wall_now(), "r", "p", 4096, name) == 0);
    CHECK(has(d, name));

    /* Read-only: EROFS at begin, nothing left; writable again: works. */
    CHECK(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
    CHECK(write_snap(s, wall_now(), "r", "ro", 10, NULL) == -EROFS);
    CHECK(mount(NULL, mnt, NULL, MS_REMOUNT, NULL) == 0);
    CHECK(write_snap(s, wall_now(), "r", "rw", 10, NULL) == 0);
    store_stats(s, &st);
    CHECK(st.written == 2 && st.files == 2 && st.write_failures == 3);
    char *files = listing(d);
    CHECK(count_lines(files) == 4);
    free(files);

    /* The directory gone and the disk read-only at open: the store
     * cannot make it; once it can, the next write does. */
    store_close(s);
    rm_rf(d);
    CHECK(!has(mnt, "snap"));
    CHECK(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
    CHECK(store_open(&s, &l) == 0);
    store_stats(s, &st);
    CHECK(st.files == 0 && st.last_err == -EROFS);
    CHECK(write_snap(s, wall_now(), "r", "p", 10, NULL) == -EROFS);
    CHECK(mount(NULL, mnt, NULL, MS_REMOUNT, NULL) == 0);
    CHECK(write_snap(s, wall_now(), "r", "p", 10, name) == 0);
    CHECK(has(d, name));
    store_close(s);
}

static void test_store_disk_full_and_read_only_on_a_small_tmpfs(void **state)
{
    (void)state;
    run_child(disk_full_child);
}

static void test_store_missing_dir_is_made_when_it_can_be(void **state)
{
    (void)state;
    /* root/blocker is a file: root/blocker/snap cannot be made (even by
     * root), so open succeeds empty and every write fails... */
    char blocked[256], p[300];
    snprintf(p, sizeof p, "%s/blocker", root);
    put_file(root, "blocker", 1);
    snprintf(blocked, sizeof blocked, "%s/blocker/a/snap", root);
    struct store *s;
    struct store_limits l = limits(blocked, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.last_err, -ENOTDIR);
    assert_int_equal(write_snap(s, wall_now(), "r", "p", 10, NULL), -ENOTDIR);
    char *json;
    size_t len;
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_string_equal(json, "[]\n");
    free(json);
    /* ...until the way is clear: then the next write makes it, 0750. */
    assert_int_equal(unlink(p), 0);
    char name[STORE_FILE_MAX];
    assert_int_equal(write_snap(s, wall_now(), "r", "p", 10, name), 0);
    assert_true(has(blocked, name));
    struct stat sb;
    assert_int_equal(stat(blocked, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    store_stats(s, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.write_failures, 1);

    /* Deleted while open: made again at the next write, the index
     * starting over from what is there (nothing). */
    rm_rf(p);
    assert_int_equal(write_snap(s, wall_now(), "r", "again", 10, name), 0);
    assert_true(has(blocked, name));
    store_stats(s, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_non_null(strstr(json, name));
    assert_int_equal(count_lines(json), 3);
    free(json);
    store_close(s);

    assert_int_equal(store_open(&s, &(struct store_limits){.dir = "relative/dir"}), -EINVAL);
}

static void test_store_new_dir_on_set_limits_rescans(void **state)
{
    (void)state;
    char other[256];
    snprintf(other, sizeof other, "%s/other", root);
    const uint64_t t = wall_now() - 100 * SEC;
    struct store *s;
    /* three snapshots in `other`, and a stale temporary file */
    struct store_limits lo = limits(other, 0, 0, 0);
    assert_int_equal(store_open(&s, &lo), 0);
    char in_other[3][STORE_FILE_MAX];
    for (int i = 0; i < 3; i++)
        assert_int_equal(write_snap(s, t + (uint64_t)i * SEC, "o", "p", 10, in_other[i]), 0);
    store_close(s);
    put_file(other, ".20261123T101502.123Z-r-p-1.meta.json.tmp", 3);

    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    char mine[STORE_FILE_MAX];
    assert_int_equal(write_snap(s, t + 10 * SEC, "d", "p", 10, mine), 0);
    /* a write begun in dir... */
    struct store_key k = {wall_now(), "late", "p", 1, STORE_PERFETTO};
    struct store_tx tx;
    assert_int_equal(store_begin(s, &k, &tx), 0);

    lo.max_files = 2;
    assert_int_equal(store_set_limits(s, &lo), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.files, 2);
    assert_false(has(other, in_other[0]));
    assert_false(has(other, ".20261123T101502.123Z-r-p-1.meta.json.tmp"));
    assert_true(has(dir, mine)); /* the old directory is left as it is */
    char *json;
    size_t len;
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_null(strstr(json, mine));
    assert_non_null(strstr(json, in_other[2]));
    free(json);

    /* ...cannot end in either directory. */
    assert_int_equal(sink_fd_write(&tx.fd, "abc", 3), 0);
    assert_int_equal(store_commit(s, &tx, &a_meta, NULL, 0), -ESTALE);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 2);
    free(files);
    files = listing(other);
    assert_int_equal(count_lines(files), 4);
    free(files);

    /* Same directory, lower limits: evicted at once; bad limits refused. */
    lo.max_files = 1;
    assert_int_equal(store_set_limits(s, &lo), 0);
    assert_false(has(other, in_other[1]));
    assert_true(has(other, in_other[2]));
    assert_int_equal(store_set_limits(s, &(struct store_limits){.dir = ""}), -EINVAL);
    store_stats(s, &st);
    assert_int_equal(st.files, 1);
    store_close(s);
}

/* ---- reading ---- */

static void test_store_open_file_serves_only_indexed_names(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    char pf[STORE_FILE_MAX], js[STORE_FILE_MAX], meta[STORE_FILE_MAX];
    const uint64_t t = wall_now();
    assert_int_equal(write_snap(s, t, "r", "p", 1234, pf), 0);
    assert_int_equal(write_meta(s, t, "r", "q", 9, STORE_JSON, 77, &a_meta, js), 0);
    sidecar_of(pf, meta);

    int fd;
    uint64_t size;
    const char *ct;
    assert_int_equal(store_open_file(s, pf, &fd, &size, &ct), 0);
    assert_int_equal(size, 1234);
    assert_string_equal(ct, "application/octet-stream");
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(c, 'x');
    assert_int_equal(write(fd, "y", 1), -1); /* read-only */
    close(fd);
    assert_int_equal(store_open_file(s, js, &fd, &size, &ct), 0);
    assert_int_equal(size, 77);
    assert_string_equal(ct, "application/json");
    close(fd);
    assert_int_equal(store_open_file(s, meta, &fd, &size, &ct), 0);
    assert_string_equal(ct, "application/json");
    assert_true(size > 100);
    close(fd);

    /* not a name of ours */
    char tmp[STORE_FILE_MAX + 8], path[STORE_FILE_MAX + 8], wrong[STORE_FILE_MAX];
    snprintf(tmp, sizeof tmp, ".%s.tmp", pf);
    snprintf(path, sizeof path, "snap/%s", pf);
    put_file(dir, "notes.txt", 3);
    const char *invalid[] = {"../x",      "/etc/passwd",      "..", ".", "", tmp, path,
                             "notes.txt", "../snap/notes.txt"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        if (store_open_file(s, invalid[i], &fd, &size, &ct) != -EINVAL)
            fail_msg("served %s", invalid[i]);
    assert_int_equal(store_open_file(s, NULL, &fd, &size, &ct), -EINVAL);

    /* ours, but no such snapshot: another format, unknown, or on disk
     * without being indexed */
    struct store_name nm;
    enum store_file f;
    assert_int_equal(store_name_parse(pf, strlen(pf), &nm, &f), 0);
    store_name_file(&nm, STORE_FILE_JSON, wrong);
    assert_int_equal(store_open_file(s, wrong, &fd, &size, &ct), -ENOENT);
    nm.pid++;
    store_name_file(&nm, STORE_FILE_PFTRACE, wrong);
    assert_int_equal(store_open_file(s, wrong, &fd, &size, &ct), -ENOENT);
    put_file(dir, wrong, 3);
    assert_int_equal(store_open_file(s, wrong, &fd, &size, &ct), -ENOENT);
    store_close(s);
}

static void test_store_list_is_json_newest_first(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    char *json;
    size_t len;
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_string_equal(json, "[]\n");
    assert_int_equal(len, 3);
    free(json);

    const uint64_t t = wall_now() - 10 * SEC;
    char a[STORE_FILE_MAX], b[STORE_FILE_MAX], c[STORE_FILE_MAX];
    assert_int_equal(write_snap(s, t + 2 * SEC, "slow-orders", "svc\"api\n", 100, b), 0);
    assert_int_equal(write_snap(s, t + 1 * SEC, "../x", "p", 100, a), 0);
    assert_int_equal(write_meta(s, t + 3 * SEC, "r", "q", 7, STORE_JSON, 5, &a_meta, c), 0);
    assert_int_equal(store_list_json(s, &json, &len), 0);
    assert_int_equal(strlen(json), len);
    char *pc = strstr(json, c), *pb = strstr(json, b), *pa = strstr(json, a);
    assert_true(pc && pb && pa && pc < pb && pb < pa);
    assert_non_null(strstr(json, "\"rule\":\"slow_orders\",\"process\":\"svc_api_\",\"pid\":4242,"
                                 "\"format\":\"perfetto\"}"));
    assert_non_null(strstr(json, "\"format\":\"json\""));

    char path[128], *out;
    save(json, len, path);
    int st =
        python("import json,sys\n"
               "d=json.load(sys.stdin)\n"
               "print(len(d), [e[\"pid\"] for e in d], d[2][\"rule\"], d[0][\"trace\"][-11:],\n"
               "      d[0][\"sidecar\"][-10:], d[0][\"time\"][10:11], d[0][\"bytes\"] > 5,\n"
               "      sorted(d[0].keys()))",
               path, &out);
    if (st == -1000) {
        fprintf(stderr, "# python3 absent: list JSON not parsed\n");
    } else {
        if (st != 0)
            fail_msg("python3 rejects the list (%d):\n%s\n%s", st, out, json);
        assert_string_equal(out, "3 [7, 4242, 4242] _x .trace.json .meta.json T True "
                                 "['bytes', 'format', 'name', 'pid', 'process', 'rule', "
                                 "'sidecar', 'time', 'trace']\n");
        free(out);
    }
    free(json);
    store_close(s);
}

static void test_store_sidecar_says_why(void **state)
{
    (void)state;
    struct store *s;
    struct store_limits l = limits(dir, 0, 0, 0);
    assert_int_equal(store_open(&s, &l), 0);
    const struct store_trigger trig[2] = {
        {.mono_ns = 5 * SEC,
         .pid = 4242,
         .tid = 4243,
         .measured_ns = 700000000,
         .subject = "GET /orders \"x\"\n\x01\xff",
         .reason = "over threshold"},
        {.mono_ns = 6 * SEC, .pid = 4242, .tid = 4244, .measured_ns = STORE_NONE},
    };
    struct store_meta m = {.on = "task",
                           .threshold_ns = STORE_NONE,
                           .measured_ns = 700000000,
                           .trigger_mono_ns = 5 * SEC,
                           .triggers = trig,
                           .ntriggers = 2,
                           .window_from_ns = 1 * SEC,
                           .window_to_ns = 7 * SEC};
    const uint64_t t = 1795428902123456789ull;
    char name[STORE_FILE_MAX], meta[STORE_FILE_MAX], path[2048];
    assert_int_equal(
        write_meta(s, t, "../slow-orders", "svc/\"api\"", 4242, STORE_PERFETTO, 321, &m, name), 0);
    assert_string_equal(name, "20261123T101502.123Z-_slow_orders-svc__api_-4242.pftrace");
    sidecar_of(name, meta);
    snprintf(path, sizeof path, "%s/%s", dir, meta);

    char *out;
    int st = python(
        "import json,sys\n"
        "d=json.load(sys.stdin)\n"
        "t=d[\"triggers\"]\n"
        "print(d[\"rule\"], d[\"on\"], d[\"threshold_ns\"], d[\"measured_ns\"], d[\"time\"],\n"
        "      d[\"time_unix_ns\"], d[\"time_mono_ns\"], d[\"pid\"], d[\"process\"], len(t),\n"
        "      ascii(t[0][\"subject\"]), t[0][\"tid\"], t[1][\"measured_ns\"], t[1][\"subject\"],\n"
        "      d[\"window\"], d[\"format\"], d[\"trace\"], d[\"trace_bytes\"], sep=\"|\")",
        path, &out);
    if (st == -1000) {
        fprintf(stderr, "# python3 absent: sidecar not parsed\n");
        FILE *f = fopen(path, "r");
        char doc[4096] = "";
        assert_true(fread(doc, 1, sizeof doc - 1, f) > 0);
        fclose(f);
        assert_non_null(strstr(doc, "\"threshold_ns\": null"));
        assert_non_null(strstr(doc, "\"trace_bytes\": 321"));
    } else {
        if (st != 0)
            fail_msg("python3 rejects the sidecar (%d):\n%s", st, out);
        assert_string_equal(out, "../slow-orders|task|None|700000000|"
                                 "2026-11-23T10:15:02.123456789Z|1795428902123456789|5000000000|"
                                 "4242|svc/\"api\"|2|'GET /orders \"x\"\\n\\x01\\ufffd'|4243|None|"
                                 "None|{'from_mono_ns': 1000000000, 'to_mono_ns': 7000000000}|"
                                 "perfetto|20261123T101502.123Z-_slow_orders-svc__api_-4242."
                                 "pftrace|321\n");
        free(out);
    }
    store_close(s);
}

/* ---- threads ---- */

#define WRITERS 4
#define WRITES  15

static struct store *shared;
static uint64_t base_time;

static void *writer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < WRITES; i++) {
        char proc[16];
        snprintf(proc, sizeof proc, "w%u", (unsigned)id);
        /* the same ms for every writer: suffixes under contention */
        int err = write_snap(shared, base_time + (uint64_t)i * 1000000, "r", proc, 500, NULL);
        if (err)
            return (void *)(intptr_t)err;
        err = write_snap(shared, base_time + (uint64_t)i * 1000000, "same", "p", 10, NULL);
        if (err)
            return (void *)(intptr_t)err;
    }
    return NULL;
}

static void test_store_writers_in_parallel_with_listing(void **state)
{
    (void)state;
    struct store_limits l = limits(dir, 10, 0, 0);
    assert_int_equal(store_open(&shared, &l), 0);
    base_time = wall_now() - 10 * SEC;
    pthread_t th[WRITERS];
    for (uintptr_t i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < 50; i++) {
        char *json;
        size_t len;
        assert_int_equal(store_list_json(shared, &json, &len), 0);
        assert_true(count_lines(json) <= 12);
        free(json);
    }
    for (int i = 0; i < WRITERS; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
    struct store_stats st;
    store_stats(shared, &st);
    assert_int_equal(st.written, 2 * WRITERS * WRITES);
    assert_int_equal(st.files, 10);
    assert_int_equal(st.evicted, 2 * WRITERS * WRITES - 10);
    assert_int_equal(st.write_failures, 0);
    char *files = listing(dir);
    assert_int_equal(count_lines(files), 20);
    assert_true(files[0] != '.');
    free(files);
    store_close(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_name_round_trips_and_refuses_near_misses),
        cmocka_unit_test(test_store_name_sanitises_rule_and_process),
        cmocka_unit_test_setup_teardown(test_store_hostile_names_stay_plain_files_in_the_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_same_base_gets_a_suffix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_files_are_0640_whatever_the_umask, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_evicts_oldest_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_evicts_oldest_by_bytes_and_keeps_the_newest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_evicts_by_age_on_write_expire_and_list, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_enforces_limits_on_files_already_there,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_open_deletes_stale_temps_and_incomplete_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_file_size_limit_fails_cleanly_then_recovers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_disk_full_and_read_only_on_a_small_tmpfs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_missing_dir_is_made_when_it_can_be, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_new_dir_on_set_limits_rescans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_file_serves_only_indexed_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_list_is_json_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_sidecar_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_writers_in_parallel_with_listing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cmd_snapshot.c - flightrec snapshot: asks the daemon for the window of
 * some processes and writes it to a file, atomically (a temporary file in
 * the same directory, renamed once the whole response arrived), so a
 * failed or cut transfer never leaves a truncated trace behind. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

struct out {
    const char *path; /* NULL: the daemon's suggestion; "-": stdout */
    char final[512], tmp[540];
    int fd;
    const struct cli_response *r;
};

/* The file name from Content-Disposition, reduced to a safe base name. */
static void suggested(const char *disp, char *buf, size_t len)
{
    const char *q = strstr(disp, "filename=\"");
    size_t n = 0;
    if (q)
        for (q += 10; *q && *q != '"' && n + 1 < len; q++)
            if (*q != '/' && *q != '\\' && (unsigned char)*q >= 0x20)
                buf[n++] = *q;
    buf[n] = 0;
    if (n == 0 || buf[0] == '.')
        snprintf(buf, len, "flightrec.pftrace");
}

static int open_out(struct out *o)
{
    if (o->fd >= 0)
        return 0;
    if (o->path && strcmp(o->path, "-") == 0) {
        o->fd = 1;
        return 0;
    }
    if (o->path)
        snprintf(o->final, sizeof o->final, "%s", o->path);
    else
        suggested(o->r->disposition, o->final, sizeof o->final);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp-%d", o->final, (int)getpid());
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return o->fd < 0 ? -errno : 0;
}

static int on_body(void *arg, const char *buf, size_t len)
{
    struct out *o = arg;
    int err = open_out(o);
    return err ? err : cli_write_fd(&o->fd, buf, len);
}

int cmd_snapshot(const struct cli_target *t, int argc, char **argv)
{
    char query[2048] = "";
    struct out o = {.fd = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char *key = strcmp(a, "--pid") == 0       ? "pid"
                          : strcmp(a, "--process") == 0 ? "process"
                          : strcmp(a, "--seconds") == 0 ? "seconds"
                          : strcmp(a, "--format") == 0  ? "format"
                                                        : NULL;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v) {
            o.path = v;
            i++;
        } else if (key && v) {
            if (cli_query_append(query, sizeof query, key, v) < 0)
                return cli_fail("snapshot: too many selections") + 1;
            i++;
        } else {
            return cli_fail("snapshot: unknown option or missing value: %s", a) + 1;
        }
    }
    char path[2200];
    snprintf(path, sizeof path, "/debug/flightrecorder%s", query);
    struct cli_response r = {.on_body = on_body, .arg = &o};
    o.r = &r;
    char why[256];
    int err = cli_request(t, "GET", path, &r, why, sizeof why);
    if (!err && r.status == 200)
        err = open_out(&o); /* an empty trace is still a file */
    if (o.fd > 1 && close(o.fd) < 0 && !err)
        err = -errno;
    bool file = o.fd > 1;
    if (err || r.status != 200) {
        if (file)
            unlink(o.tmp);
        if (err)
            return cli_fail("%s", err == -EEXIST ? "snapshot: temporary file exists" : why);
        return cli_fail("snapshot: the daemon answered %d: %s", r.status, r.reason);
    }
    if (file) {
        if (rename(o.tmp, o.final) < 0) {
            unlink(o.tmp);
            return cli_fail("snapshot: cannot write %s: %s", o.final, strerror(errno));
        }
        fprintf(stderr, "flightrec: wrote %zu bytes to %s\n", r.body_bytes, o.final);
    }
    return 0;
}

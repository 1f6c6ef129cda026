/* cmd_snapshots.c - flightrec snapshots: what the daemon's rules wrote to
 * its snapshot store, newest first (as a table rendered by the daemon,
 * ?format=text, or as its JSON); `flightrec snapshots get NAME [-o FILE]`
 * fetches one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

static int get(const struct cli_target *t, const char *name, const char *out)
{
    char path[512], q[400] = "";
    /* the name travels as one path segment: percent-encode it */
    if (cli_query_append(q, sizeof q, "n", name) < 0)
        return cli_fail("snapshots: name too long") + 1;
    snprintf(path, sizeof path, "/debug/flightrecorder/snapshots/%s", q + 3);
    int fd = 1;
    if (out && strcmp(out, "-") != 0) {
        fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0)
            return cli_fail("snapshots: cannot create %s: %s", out, strerror(errno));
    }
    struct cli_response r = {.on_body = cli_write_fd, .arg = &fd};
    char why[256];
    int err = cli_request(t, "GET", path, &r, why, sizeof why);
    if (fd > 1)
        close(fd);
    if (err < 0 || r.status != 200) {
        if (fd > 1)
            unlink(out);
        return err < 0 ? cli_fail("%s", why)
                       : cli_fail("snapshots: the daemon answered %d: %s", r.status, r.reason);
    }
    return 0;
}

int cmd_snapshots(const struct cli_target *t, int argc, char **argv)
{
    const char *path = "/debug/flightrecorder/snapshots?format=text";
    if (argc >= 3 && strcmp(argv[1], "get") == 0) {
        const char *out = NULL;
        if (argc == 5 && (strcmp(argv[3], "-o") == 0 || strcmp(argv[3], "--output") == 0))
            out = argv[4];
        else if (argc != 3)
            return cli_fail("snapshots get NAME [-o FILE]") + 1;
        return get(t, argv[2], out ? out : argv[2]);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            path = "/debug/flightrecorder/snapshots";
        else
            return cli_fail("snapshots: unknown option %s", argv[i]) + 1;
    }
    int fd = 1;
    struct cli_response r = {.on_body = cli_write_fd, .arg = &fd};
    char why[256];
    if (cli_request(t, "GET", path, &r, why, sizeof why) < 0)
        return cli_fail("%s", why);
    if (r.status != 200)
        return cli_fail("snapshots: the daemon answered %d: %s", r.status, r.reason);
    return 0;
}

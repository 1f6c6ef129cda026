/* cmd_trigger.c - flightrec trigger: asks the daemon to write a snapshot
 * to its store now (POST /debug/flightrecorder/trigger), under its manual
 * rule's cooldown and caps. */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

int cmd_trigger(const struct cli_target *t, int argc, char **argv)
{
    char query[1024] = "";
    for (int i = 1; i < argc; i += 2) { /* options and their values */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char *key = strcmp(a, "--reason") == 0 ? "reason" : strcmp(a, "--pid") == 0 ? "pid" : NULL;
        if (!key || !v)
            return cli_fail("trigger: unknown option or missing value: %s", a) + 1;
        if (cli_query_append(query, sizeof query, key, v) < 0)
            return cli_fail("trigger: %s is too long", a) + 1;
    }
    char path[1100];
    snprintf(path, sizeof path, "/debug/flightrecorder/trigger%s", query);
    int out = 1;
    struct cli_response r = {.on_body = cli_write_fd, .arg = &out};
    char why[256];
    if (cli_request(t, "POST", path, &r, why, sizeof why) < 0)
        return cli_fail("%s", why);
    if (r.status != 202)
        return cli_fail("trigger: the daemon answered %d: %s", r.status, r.reason);
    return 0;
}

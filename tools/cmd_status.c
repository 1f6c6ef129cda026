/* cmd_status.c - flightrec status: the daemon's processes, as a table
 * (rendered by the daemon, ?format=text) or as its JSON. */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

int cmd_status(const struct cli_target *t, int argc, char **argv)
{
    const char *path = "/debug/flightrecorder/processes?format=text";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            path = "/debug/flightrecorder/processes";
        else
            return cli_fail("status: unknown option %s", argv[i]) + 1;
    }
    int out = 1;
    struct cli_response r = {.on_body = cli_write_fd, .arg = &out};
    char why[256];
    if (cli_request(t, "GET", path, &r, why, sizeof why) < 0)
        return cli_fail("%s", why);
    if (r.status != 200)
        return cli_fail("status: the daemon answered %d: %s", r.status, r.reason);
    return 0;
}

/* flightrec.c - the flightrec command: talks to flightrecd.
 *
 * One file per subcommand (cmd_*.c); this one picks the subcommand and
 * where the daemon is (--socket, --url, FLIGHTREC_HTTP). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static const char usage[] =
    "NAME\n"
    "    flightrec - talk to the flightrec daemon\n"
    "\n"
    "SYNOPSIS\n"
    "    flightrec [--socket PATH | --url http://HOST:PORT] COMMAND [OPTIONS]\n"
    "\n"
    "COMMANDS\n"
    "    status [--json]\n"
    "        Registered processes: pid, name, state, threads, the time span their\n"
    "        rings cover, events dropped.\n"
    "    snapshot [-o FILE] [--pid N]... [--process GLOB]... [--seconds S]\n"
    "             [--format perfetto|json]\n"
    "        Writes the last S seconds (default: the daemon's window) of the\n"
    "        selected processes (default: all) to FILE (default: the name the\n"
    "        daemon suggests, in the current directory; '-' for stdout). Open\n"
    "        it in https://ui.perfetto.dev.\n"
    "    trigger [--reason TEXT] [--pid N]\n"
    "        Asks the daemon to write a snapshot to its store now, of process N\n"
    "        or of every process, under its manual rule's cooldown and caps\n"
    "        (over the unix socket; over TCP only with http.allow_trigger).\n"
    "    snapshots [--json]\n"
    "        The snapshots the daemon's rules wrote, newest first.\n"
    "    snapshots get NAME [-o FILE]\n"
    "        Fetches one (to FILE, default NAME in the current directory; '-'\n"
    "        for stdout).\n"
    "\n"
    "OPTIONS\n"
    "    --socket PATH   the daemon's HTTP unix socket (default " CLI_SOCKET_DEFAULT ",\n"
    "                    or $FLIGHTREC_HTTP)\n"
    "    --url URL       the daemon's TCP address instead, e.g. http://127.0.0.1:6060\n"
    "    -h, --help      this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the daemon is unreachable or refused; 2 bad usage.\n";

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("flightrec: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int main(int argc, char **argv)
{
    const char *where = getenv("FLIGHTREC_HTTP");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((strcmp(argv[i], "--socket") == 0 || strcmp(argv[i], "--url") == 0) && i + 1 < argc) {
            where = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "flightrec: unknown option %s\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i == argc) {
        fputs(usage, stderr);
        return 2;
    }
    struct cli_target t;
    char why[256];
    if (cli_target_parse(&t, where && *where ? where : CLI_SOCKET_DEFAULT, why, sizeof why) < 0) {
        cli_fail("%s", why);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "status") == 0)
        return cmd_status(&t, argc - i, argv + i);
    if (strcmp(cmd, "snapshot") == 0)
        return cmd_snapshot(&t, argc - i, argv + i);
    if (strcmp(cmd, "trigger") == 0)
        return cmd_trigger(&t, argc - i, argv + i);
    if (strcmp(cmd, "snapshots") == 0)
        return cmd_snapshots(&t, argc - i, argv + i);
    if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "flightrec: unknown command %s\n\n%s", cmd, usage);
    return 2;
}

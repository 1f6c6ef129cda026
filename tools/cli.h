/* cli.h - what the flightrec subcommands share: where the daemon is. */
#ifndef FR_TOOLS_CLI_H
#define FR_TOOLS_CLI_H

#include "tools/cli_http.h"

#define CLI_SOCKET_DEFAULT "/run/flightrec/http.sock"

/* Each returns the process exit status: 0, 1 (failed), 2 (usage). */
int cmd_status(const struct cli_target *t, int argc, char **argv);
int cmd_snapshot(const struct cli_target *t, int argc, char **argv);
int cmd_trigger(const struct cli_target *t, int argc, char **argv);
int cmd_snapshots(const struct cli_target *t, int argc, char **argv);

/* Prints "flightrec: <msg>" to stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

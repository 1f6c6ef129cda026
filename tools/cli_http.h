/* cli_http.h - the CLI's HTTP/1.1 client: one request to flightrecd over
 * its unix socket or TCP, the response parsed with llhttp and its body
 * handed over as it arrives. Blocking; the CLI does one thing at a time.
 */
#ifndef FR_TOOLS_CLI_HTTP_H
#define FR_TOOLS_CLI_HTTP_H

#include <stddef.h>

/* Where the daemon is: a socket path ("/run/...") or "http://host:port". */
struct cli_target {
    char unix_path[108]; /* "" when TCP */
    char host[64];
    char port[8];
};

/* Parses a --url ("http://127.0.0.1:6060") or socket path ("/run/...").
 * Returns 0 or -EINVAL with why. */
int cli_target_parse(struct cli_target *t, const char *spec, char *why, size_t whylen);

struct cli_response {
    int status;
    char disposition[256]; /* Content-Disposition, "" if none */
    char reason[256];      /* first line of an error body */
    size_t body_bytes;
    /* Called with body bytes as they come (2xx only; error bodies go to
     * reason). Returns 0, or -errno to stop. */
    int (*on_body)(void *arg, const char *buf, size_t len);
    void *arg;
};

/* GET (or POST) target path. Returns 0 when a response came (any status),
 * or -errno with why filled: the daemon unreachable, a broken response,
 * on_body's error. */
int cli_request(const struct cli_target *t, const char *method, const char *path,
                struct cli_response *r, char *why, size_t whylen);

/* An on_body that writes the body to the descriptor *(int *)arg, all of
 * it (retrying short writes and EINTR). Returns 0 or -errno. */
int cli_write_fd(void *arg, const char *buf, size_t len);

/* Appends "?key=val" (or "&key=val") to the query string q (cap bytes),
 * percent-encoding val. Returns 0, or -1 when it does not fit. */
int cli_query_append(char *q, size_t cap, const char *key, const char *val);

#endif

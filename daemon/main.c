/* main.c - flightrecd: keeps the last seconds of every instrumented
 * process and serves them over HTTP.
 *
 *   flightrecd [--config PATH]        run in the foreground (systemd style)
 *   flightrecd --check-config PATH    validate a config and exit
 *
 * Owns the loop and wires the modules: the control socket (registration),
 * the registry, the HTTP server and its routes. Logs go to stderr, one
 * line each. SIGHUP reloads the config (a bad one is refused and the old
 * one kept), SIGTERM and SIGINT stop cleanly; systemd hears READY,
 * RELOADING and STOPPING through sd_notify. Idle means idle: with nothing
 * asked of it, no timer wakes the loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "common/config.h"
#include "daemon/autosnap.h"
#include "daemon/config_schema.h"
#include "daemon/control.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "daemon/snapshot.h"
#include "daemon/status.h"

#ifndef FR_VERSION
#define FR_VERSION "0.1.0"
#endif

#define PENDING_MAX 64      /* control connections that have not said HELLO yet */
#define PROCS_MAX 4096      /* registered processes, ended ones included */
#define REGION_MAX (64ull << 30)
#define SOCKET_GROUP "flightrec"

struct daemon {
    uv_loop_t *loop;
    const char *config_path; /* borrows argv; NULL: built-in defaults */
    struct dconfig cfg;
    struct registry reg;
    struct control ctl;
    struct http_server *http;
    struct capture_spare spare; /* decode memory of HTTP and rule snapshots */
    struct snap_service snap;
    struct autosnap autosnap;
    struct metrics_src msrc;
    struct status_src ssrc;
    uv_signal_t sig_hup, sig_term, sig_int;
    int stopping;
};

/* Loads path (NULL: defaults) into *out, or prints why not. */
static int load(const char *path, struct dconfig *out)
{
    struct diag d;
    int err = path ? dconfig_load(path, out, &d) : (dconfig_defaults(out), 0);
    if (err < 0) {
        char line[512];
        diag_format(&d, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    return err;
}

/* A route behind the Host check. */
struct guarded {
    http_handler_fn fn;
    void *arg;
    const struct daemon *dm;
};

/* Without http.allow_remote, only requests that name the loopback in
 * Host are served: a web page that rebinds its DNS name to 127.0.0.1
 * sends its own name, and must not read traces. */
static bool host_is_local(const char *host)
{
    if (!host)
        return false;
    size_t n = strcspn(host, ":");
    if (host[0] == '[') /* [::1]:6060 */
        return strncmp(host, "[::1]", 5) == 0 && (host[5] == 0 || host[5] == ':');
    return (n == 9 && strncmp(host, "localhost", 9) == 0) ||
           (n >= 7 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n);
}

static void guard(struct http_req *req, void *arg)
{
    const struct guarded *g = arg;
    if (!g->dm->cfg.http.allow_remote && !host_is_local(http_req_header(req, "Host"))) {
        http_reply_error(req, 403, "Host must name the loopback (set http.allow_remote to "
                                   "serve other names)");
        return;
    }
    g->fn(req, g->arg);
}

/* Group flightrec for http.sock, where it exists and is not the daemon's
 * own group already: under systemd it is (the unit runs as that group),
 * and the unit's syscall filter forbids chown. */
static const char *socket_group(void)
{
    struct group *g = getgrnam(SOCKET_GROUP);
    return g && g->gr_gid != getegid() ? SOCKET_GROUP : NULL;
}

static void healthz(struct http_req *req, void *arg)
{
    (void)arg;
    http_reply(req, 200, "text/plain", "ok\n", 3);
}

/* Each process gets a socket and a mapping: take all the descriptors the
 * hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            dlog("cannot raise the open-file limit: %s", strerror(errno));
    }
}

static void apply_limits(struct daemon *dm)
{
    dm->reg.window_ns = dm->cfg.recording.window_ns;
    dm->snap.window_ns = dm->cfg.recording.window_ns;
    dm->snap.max_bytes = dm->cfg.recording.max_bytes;
    dm->snap.max_running = dm->cfg.limits.max_concurrent_snapshots;
}

static void on_reload(uv_signal_t *h, int sig)
{
    struct daemon *dm = h->data;
    struct dconfig next;
    (void)sig;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)(uv_hrtime() / 1000));
    if (!dm->config_path || load(dm->config_path, &next) < 0) {
        if (dm->config_path) {
            dlog("reload: %s refused; the running config stays", dm->config_path);
            dm->msrc.config_reload_failures++;
        }
        sd_notify(0, "READY=1");
        return;
    }
    /* Sockets stay where they are until a restart: moving them under
     * running clients would cut them off. */
    if (strcmp(next.control_socket, dm->cfg.control_socket) != 0 ||
        strcmp(next.http.unix_socket, dm->cfg.http.unix_socket) != 0 ||
        memcmp(&next.http.listen, &dm->cfg.http.listen, sizeof next.http.listen) != 0)
        dlog("reload: socket addresses change at the next restart");
    if (next.limits.max_connections != dm->cfg.limits.max_connections)
        dlog("reload: limits.max_connections changes at the next restart");
    struct dconfig old = dm->cfg;
    dm->cfg = next;
    memcpy(dm->cfg.control_socket, old.control_socket, sizeof old.control_socket);
    memcpy(dm->cfg.http.unix_socket, old.http.unix_socket, sizeof old.http.unix_socket);
    dm->cfg.http.listen = old.http.listen;
    apply_limits(dm);
    control_window_changed(&dm->ctl);
    if (autosnap_reload(&dm->autosnap, &dm->cfg) < 0)
        dlog("reload: out of memory for the new rules; the old rules stay");
    dm->msrc.config_reloads++;
    dlog("reload: %s in force", dm->config_path);
    sd_notify(0, "READY=1");
}

static void signals_closed(uv_handle_t *h)
{
    (void)h;
}

static void autosnap_stopped(struct autosnap *a)
{
    struct daemon *dm = uv_loop_get_data(uv_default_loop());
    (void)a;
    uv_close((uv_handle_t *)&dm->sig_hup, signals_closed);
    uv_close((uv_handle_t *)&dm->sig_term, signals_closed);
    uv_close((uv_handle_t *)&dm->sig_int, signals_closed);
}

/* Pending rule snapshots are written before the loop ends. */
static void control_stopped(struct control *c)
{
    struct daemon *dm = uv_loop_get_data(uv_default_loop());
    (void)c;
    autosnap_stop(&dm->autosnap, autosnap_stopped);
}

static void http_stopped(struct http_server *srv)
{
    struct daemon *dm = uv_loop_get_data(uv_default_loop());
    (void)srv;
    control_stop(&dm->ctl, control_stopped);
}

static void on_stop(uv_signal_t *h, int sig)
{
    struct daemon *dm = h->data;
    if (dm->stopping++)
        return;
    dlog("stopping on signal %d", sig);
    sd_notify(0, "STOPPING=1");
    uv_signal_stop(&dm->sig_hup);
    http_stop(dm->http, http_stopped);
}

static int start_http(struct daemon *dm)
{
    char listen[64];
    cfg_addr_format(&dm->cfg.http.listen, listen, sizeof listen);
    struct http_cfg hc = {
        .listen = listen,
        .unix_path = dm->cfg.http.unix_socket[0] ? dm->cfg.http.unix_socket : NULL,
        .unix_mode = 0660,
        /* membership of group flightrec grants reading snapshots; where
         * the group does not exist (a developer's machine) the socket
         * keeps the daemon's group */
        .unix_group = socket_group(),
        .max_conns = dm->cfg.limits.max_connections,
    };
    int err = http_new(dm->loop, &hc, &dm->http);
    if (err < 0)
        return err;
    static struct guarded routes[7];
    static const struct {
        const char *method, *path;
    } at[7] = {
        {"GET", "/healthz"},
        {"GET", "/metrics"},
        {"GET", "/debug/flightrecorder"},
        {"GET", "/debug/flightrecorder/processes"},
        {"POST", "/debug/flightrecorder/trigger"},
        {"GET", "/debug/flightrecorder/snapshots"},
        {"GET", "/debug/flightrecorder/snapshots/*"},
    };
    routes[0] = (struct guarded){healthz, NULL, dm};
    routes[1] = (struct guarded){metrics_handle, &dm->msrc, dm};
    routes[2] = (struct guarded){snap_handle, &dm->snap, dm};
    routes[3] = (struct guarded){status_handle, &dm->ssrc, dm};
    routes[4] = (struct guarded){autosnap_handle_trigger, &dm->autosnap, dm};
    routes[5] = (struct guarded){autosnap_handle_list, &dm->autosnap, dm};
    routes[6] = (struct guarded){autosnap_handle_get, &dm->autosnap, dm};
    for (int i = 0; i < 7; i++)
        if ((err = http_route(dm->http, at[i].method, at[i].path, guard, &routes[i])) < 0)
            return err;
    err = http_start(dm->http);
    if (err < 0)
        dlog("cannot listen on %s or %s: %s", listen, dm->cfg.http.unix_socket, strerror(-err));
    return err;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: flightrecd [--config PATH]\n"
               "       flightrecd --check-config PATH\n"
               "       flightrecd --version\n\n"
               "Runs in the foreground and logs to stderr. Without --config it uses\n"
               "built-in defaults, which equal config/flightrec.yaml.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"check-config", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static struct daemon dm;
    const char *check = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            dm.config_path = optarg;
            break;
        case 'k':
            check = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("flightrecd %s\n", FR_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (check) {
        if (load(check, &dm.cfg) < 0)
            return 1;
        printf("%s: ok\n", check);
        return 0;
    }
    if (load(dm.config_path, &dm.cfg) < 0)
        return 1;

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    dm.loop = uv_default_loop();
    uv_loop_set_data(dm.loop, &dm);
    struct registry_limits lim = {.max_procs = PROCS_MAX, .max_region = REGION_MAX};
    registry_init(&dm.reg, dm.cfg.recording.window_ns, &lim);
    snap_service_init(&dm.snap, dm.loop, &dm.reg, &dm.spare, dm.cfg.recording.window_ns,
                      dm.cfg.recording.max_bytes, dm.cfg.limits.max_concurrent_snapshots);
    dm.msrc = (struct metrics_src){.reg = &dm.reg, .snap = &dm.snap, .ctl = &dm.ctl};
    dm.ssrc = (struct status_src){.reg = &dm.reg};

    uv_signal_init(dm.loop, &dm.sig_hup);
    uv_signal_init(dm.loop, &dm.sig_term);
    uv_signal_init(dm.loop, &dm.sig_int);
    dm.sig_hup.data = dm.sig_term.data = dm.sig_int.data = &dm;
    int err = autosnap_start(&dm.autosnap, dm.loop, &dm.reg, &dm.spare, &dm.cfg);
    if (err < 0) {
        dlog("cannot start the rules: %s", strerror(-err));
        return 1;
    }
    dm.msrc.autosnap = &dm.autosnap;
    err = control_start(&dm.ctl, dm.loop, &dm.reg, dm.cfg.control_socket, PENDING_MAX);
    if (err < 0) {
        dlog("cannot listen on %s: %s", dm.cfg.control_socket, strerror(-err));
        return 1;
    }
    dm.ctl.hooks = (struct control_hooks){autosnap_registered, autosnap_trigger, autosnap_ended,
                                          &dm.autosnap};
    if (start_http(&dm) < 0) {
        /* the same way down as a stop: http, then control, then signals */
        dm.stopping = 1;
        if (dm.http)
            http_stop(dm.http, http_stopped);
        else
            control_stop(&dm.ctl, control_stopped);
        uv_run(dm.loop, UV_RUN_DEFAULT);
        return 1;
    }
    dm.msrc.http = dm.http;
    uv_signal_start(&dm.sig_hup, on_reload, SIGHUP);
    uv_signal_start(&dm.sig_term, on_stop, SIGTERM);
    uv_signal_start(&dm.sig_int, on_stop, SIGINT);

    char listen[64];
    cfg_addr_format(&dm.cfg.http.listen, listen, sizeof listen);
    dlog("ready: http://%s/debug/flightrecorder, %s; processes register at %s", listen,
        dm.cfg.http.unix_socket, dm.cfg.control_socket);
    sd_notifyf(0, "READY=1\nSTATUS=serving http://%s", listen);

    uv_run(dm.loop, UV_RUN_DEFAULT);
    http_free(dm.http);
    autosnap_free(&dm.autosnap);
    capture_spare_fini(&dm.spare);
    registry_fini(&dm.reg);
    uv_loop_close(dm.loop);
    dlog("stopped");
    return 0;
}

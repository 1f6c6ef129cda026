/* test_control.c - registration over the control socket, with real
 * processes (forked children that use the real library) and hostile
 * clients that speak the protocol badly. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/ctl.h"
#include "daemon/control.h"
#include "include/flightrec.h"

static char dir[64], path[128];
static uv_loop_t loop;
static struct registry reg;
static struct control ctl;

/* Runs the loop until cond() or ms pass. */
static bool run_until(bool (*cond)(void *), void *arg, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    while (!cond(arg) && uv_hrtime() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return cond(arg);
}

static bool has_pid(void *arg)
{
    struct proc *p = registry_find_pid(&reg, (uint32_t)(uintptr_t)arg);
    return p != NULL;
}

static bool has_ended(void *arg)
{
    struct proc *p = registry_find_pid(&reg, (uint32_t)(uintptr_t)arg);
    return p && p->state != PROC_LIVE;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fr-test-control-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/control.sock", dir);
    uv_loop_init(&loop);
    struct registry_limits lim = {.max_procs = 64, .max_region = 1ull << 34};
    registry_init(&reg, 2000000000ull, &lim);
    assert_int_equal(control_start(&ctl, &loop, &reg, path, 8), 0);
    return 0;
}

static void stopped(struct control *c)
{
    (void)c;
}

static int teardown(void **state)
{
    (void)state;
    control_stop(&ctl, stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    registry_fini(&reg);
    uv_loop_close(&loop);
    rmdir(dir);
    return 0;
}

/* A child that registers through the real library, records, then ends
 * as told: exit(code), or waits to be killed (code < 0). */
static pid_t spawn(int code, int go_fd)
{
    pid_t pid = fork();
    if (pid)
        return pid;
    setenv("FLIGHTREC_SOCKET", path, 1);
    fr_init("control-child");
    fr_region_begin("child work");
    fr_region_end();
    char b;
    if (read(go_fd, &b, 1) != 1)
        _exit(90);
    if (code < 0)
        pause();
    exit(code); /* exit(), not _exit(): on_exit handlers send GOODBYE */
}

static void test_control_registers_and_sees_a_normal_exit(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = spawn(3, go[0]);
    assert_true(run_until(has_pid, (void *)(uintptr_t)pid, 5000));
    struct proc *p = registry_find_pid(&reg, (uint32_t)pid);
    assert_int_equal(p->state, PROC_LIVE);
    assert_string_equal(p->name, "control-child");

    /* the daemon reads the child's events through its own mapping */
    struct trace_proc tp;
    assert_int_equal(reader_read(&p->rd, NULL, &tp), 0);
    assert_int_equal(tp.nthreads, 1);
    assert_int_equal(tp.threads[0].n, 2);
    trace_proc_free(&tp);

    assert_int_equal(write(go[1], "x", 1), 1);
    assert_true(run_until(has_ended, (void *)(uintptr_t)pid, 5000));
    p = registry_find_pid(&reg, (uint32_t)pid);
    assert_int_equal(p->state, PROC_EXITED);
    assert_int_equal(p->exit_status, 3);
    waitpid(pid, NULL, 0);
    close(go[0]);
    close(go[1]);
}

static void test_control_sees_sigkill_as_death_and_keeps_the_data(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = spawn(-1, go[0]);
    assert_true(run_until(has_pid, (void *)(uintptr_t)pid, 5000));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_true(run_until(has_ended, (void *)(uintptr_t)pid, 5000));
    struct proc *p = registry_find_pid(&reg, (uint32_t)pid);
    assert_int_equal(p->state, PROC_DIED);
    struct trace_proc tp;
    assert_int_equal(reader_read(&p->rd, NULL, &tp), 0);
    assert_int_equal(tp.threads[0].n, 2); /* its last events, post mortem */
    trace_proc_free(&tp);
    close(go[0]);
    close(go[1]);
}

/* ---- hostile clients ---- */

static int raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_with_fd(int fd, const void *msg, size_t len, int memfd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct iovec iov = {(void *)msg, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (memfd >= 0) {
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = sizeof ctrl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &memfd, sizeof(int));
    }
    assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)len);
}

struct reply_wait {
    int fd;
    struct fr_ctl_msg m;
    ssize_t n;
};

static bool got_reply(void *arg)
{
    struct reply_wait *w = arg;
    w->n = recv(w->fd, &w->m, sizeof w->m, MSG_DONTWAIT);
    return w->n >= 0;
}

/* Sends msg (with memfd, if >= 0) and returns the daemon's answer. */
static struct reply_wait exchange(const void *msg, size_t len, int memfd)
{
    struct reply_wait w = {.fd = raw_connect()};
    send_with_fd(w.fd, msg, len, memfd);
    run_until(got_reply, &w, 3000);
    close(w.fd);
    return w;
}

static struct fr_ctl_msg hello(void)
{
    struct fr_ctl_msg m = {.magic = FR_CTL_MAGIC, .version = FR_CTL_VERSION,
                           .type = FR_CTL_HELLO, .abi_major = 1};
    return m;
}

static int memfd_of(size_t size, bool sealed, bool garbage)
{
    int fd = memfd_create("hostile", MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    if (garbage) {
        char *m = mmap(NULL, size, PROT_WRITE, MAP_SHARED, fd, 0);
        for (size_t i = 0; i < size; i++)
            m[i] = (char)(i * 131 + 7);
        munmap(m, size);
    }
    if (sealed)
        assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    return fd;
}

static void test_control_refuses_bad_regions_and_keeps_serving(void **state)
{
    (void)state;
    uint64_t refused = reg.refused_total;
    struct fr_ctl_msg m = hello();
    struct reply_wait w;

    int fd = memfd_of(1 << 20, false, false);
    w = exchange(&m, sizeof m, fd);
    close(fd);
    assert_int_equal(w.m.type, FR_CTL_REFUSED);
    assert_int_equal(w.m.status, -EPERM);
    assert_non_null(strstr(w.m.text, "sealed"));

    fd = memfd_of(100, true, false);
    w = exchange(&m, sizeof m, fd);
    close(fd);
    assert_int_equal(w.m.type, FR_CTL_REFUSED);
    assert_int_equal(w.m.status, -EFBIG);

    fd = memfd_of(1 << 20, true, true);
    w = exchange(&m, sizeof m, fd);
    close(fd);
    assert_int_equal(w.m.type, FR_CTL_REFUSED);
    assert_int_equal(w.m.status, -EPROTO);
    assert_int_equal(reg.refused_total, refused + 3);

    /* no fd, and garbage: refused before the registry */
    w = exchange(&m, sizeof m, -1);
    assert_int_equal(w.m.type, FR_CTL_REFUSED);
    w = exchange("garbage", 7, -1);
    assert_int_equal(w.m.type, FR_CTL_REFUSED);
    assert_int_equal(reg.count, 0 + (size_t)(registry_find_pid(&reg, 0) != NULL));

    /* still serving: a real process registers */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = spawn(0, go[0]);
    assert_true(run_until(has_pid, (void *)(uintptr_t)pid, 5000));
    assert_int_equal(write(go[1], "x", 1), 1);
    waitpid(pid, NULL, 0);
    close(go[0]);
    close(go[1]);
}

static bool pending_zero(void *arg)
{
    (void)arg;
    return ctl.pending == 0;
}

static void test_control_closes_silent_clients_and_bounds_them(void **state)
{
    (void)state;
    int fds[20];
    for (int i = 0; i < 20; i++)
        fds[i] = raw_connect();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(ctl.pending <= ctl.max_pending);
    /* the handshake deadline closes the rest */
    assert_true(run_until(pending_zero, NULL, 5000));
    for (int i = 0; i < 20; i++) {
        char b[200];
        ssize_t n = recv(fds[i], b, sizeof b, MSG_DONTWAIT);
        assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
        close(fds[i]);
    }
}

static void test_control_refuses_a_socket_another_daemon_listens_on(void **state)
{
    (void)state;
    struct control other;
    struct stat st;
    assert_int_equal(control_start(&other, &loop, &reg, path, 8), -EADDRINUSE);
    assert_int_equal(stat(path, &st), 0); /* still ours, still there */
    assert_int_equal(st.st_mode & 0777, 0666);
    int fd = raw_connect();
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_control_registers_and_sees_a_normal_exit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_control_sees_sigkill_as_death_and_keeps_the_data,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_refuses_bad_regions_and_keeps_serving, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_control_closes_silent_clients_and_bounds_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_control_refuses_a_socket_another_daemon_listens_on,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

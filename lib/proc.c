/* proc.c - creates the process's region and hands out its rings.
 *
 * Owns the mapping, the memfd and the ring pool. Runs on application
 * threads, on slow paths only: first event of the process (init), first
 * event of a thread (claim), thread exit (release), fork.
 *
 * Pool policy: a ring given back keeps its data until that data is older
 * than the window and is then reused first; next come rings never used;
 * then the exited ring with the oldest data (counted as evicted); when
 * every ring has a live owner the event is dropped and counted.
 */
#define _GNU_SOURCE
#include "lib/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/units.h"
#include "include/flightrec.h"
#include "lib/client.h"
#include "lib/clock.h"
#include "lib/rules.h"
#include "lib/trigger.h"
#include "lib/thread.h"

struct fr__proc fr__proc = {.fd = -1};
__thread struct fr__thread fr__self __attribute__((tls_model("initial-exec")));
FR_API int fr__on = 1;

static pthread_key_t exit_key;
static fr__lock_t init_lock;

/* The region of the parent, still mapped in a forked child until the
 * child's own region exists and has copied its strings. */
static struct {
    unsigned char *base;
    size_t size;
    struct fr__strtab strtab;
    char name[FR_ABI_NAME_MAX];
} inherited;

int fr__thread_tid(void)
{
    struct fr__thread *t = &fr__self;
    if (!t->tid)
        t->tid = (int)syscall(SYS_gettid);
    return t->tid;
}

static int env_u64(const char *name, int (*parse)(const char *, uint64_t *), uint64_t def,
                   uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = getenv(name);
    uint64_t v = def;
    if (s && *s && parse(s, &v) < 0)
        v = def; /* a bad value must not stop the application: default */
    *out = v < min ? min : v > max ? max : v;
    return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -EINVAL; /* strtoull would take "-1" and " 5" */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        return -EINVAL;
    *out = v;
    return 0;
}

int fr__proc_layout_from_env(struct fr_abi_layout *l)
{
    uint64_t bytes, threads;
    env_u64("FLIGHTREC_RING_BYTES", units_parse_size, FR__RING_BYTES_DEFAULT,
            FR_ABI_RING_BYTES_MIN, FR_ABI_RING_BYTES_MAX, &bytes);
    env_u64("FLIGHTREC_MAX_THREADS", parse_count, FR__MAX_THREADS_DEFAULT, 1,
            FR_ABI_RINGS_MAX - 1, &threads);
    uint64_t p2 = FR_ABI_RING_BYTES_MIN;
    while (p2 < bytes)
        p2 <<= 1;
    memset(l, 0, sizeof *l);
    l->ring_bytes = p2;
    l->ring_count = (uint32_t)threads;
    l->strtab_cap = FR__STRTAB_CAP;
    l->strtab_bytes = FR__STRTAB_BYTES;
    fr_abi_layout_compute(l);
    return 0;
}

/* Maps a region of l->size bytes: a sealed memfd, or anonymous shared
 * memory when memfd is not to be had. */
static int map_region(struct fr__proc *p, const struct fr_abi_layout *l)
{
    int err;
    int fd = memfd_create("flightrec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        goto anonymous;
    if (ftruncate(fd, (off_t)l->size) < 0)
        goto close_fd;
    /* Readers map it; a writer that could shrink it would SIGBUS them. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        goto close_fd;
    p->base = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p->base == MAP_FAILED)
        goto close_fd;
    p->fd = fd;
    p->size = l->size;
    return 0;
close_fd:
    close(fd);
anonymous:
    p->base = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->base == MAP_FAILED) {
        err = -errno;
        p->base = NULL;
        return err;
    }
    p->fd = -1;
    p->size = l->size;
    return 0;
}

static void name_process(struct fr_abi_header *h, const char *name)
{
    extern char *program_invocation_short_name;
    const char *env = getenv("FLIGHTREC_NAME");
    if (env && *env)
        name = env;
    if ((!name || !*name) && inherited.name[0])
        name = inherited.name; /* a forked child keeps its parent's name */
    if (!name || !*name)
        name = program_invocation_short_name;
    snprintf(h->process_name, FR_ABI_NAME_MAX, "%s", name ? name : "");
}

static void on_thread_exit(void *arg)
{
    (void)arg;
    fr__thread_release(&fr__self);
}

static int create(struct fr__proc *p, const char *name)
{
    struct fr_abi_layout l;
    int err;

    fr__proc_layout_from_env(&l);
    err = map_region(p, &l);
    if (err < 0)
        return err;
    p->task_next = calloc(l.ring_count, sizeof *p->task_next);
    if (!p->task_next) {
        err = -ENOMEM;
        goto unmap;
    }
    p->layout = l;
    p->hdr = (struct fr_abi_header *)p->base;
    p->rings = (struct fr_abi_ring *)(p->base + l.rings_off);
    p->data = p->base + l.ring_data_off;

    struct fr_abi_header *h = p->hdr;
    h->abi_major = FR_ABI_MAJOR;
    h->abi_minor = FR_ABI_MINOR;
    h->header_size = sizeof *h;
    h->region_size = l.size;
    h->pid = (uint32_t)getpid();
    h->strtab_off = l.strtab_off;
    h->strtab_cap = l.strtab_cap;
    h->strtab_bytes = l.strtab_bytes;
    h->rings_off = l.rings_off;
    h->ring_count = l.ring_count;
    h->ring_hdr_size = sizeof(struct fr_abi_ring);
    h->ring_data_off = l.ring_data_off;
    h->ring_bytes = l.ring_bytes;
    h->clock_off = l.clock_off;
    h->rules_off = l.rules_off;
    h->rules_cap = FR_ABI_RULES_MAX;
    name_process(h, name);
    atomic_store_explicit(&h->window_ns, FR__WINDOW_NS_DEFAULT, memory_order_relaxed);

    err = fr__strtab_init(&p->strtab, (struct fr_abi_strtab *)(p->base + l.strtab_off),
                          l.strtab_cap, l.strtab_bytes, &h->strtab_overflow);
    if (err < 0)
        goto free_tasks;
    p->strtab.on_new = fr__rules_new_name;
    if (inherited.base) {
        /* same layout as the parent's (same environment): cannot fail */
        fr__strtab_copy(&p->strtab, &inherited.strtab);
        fr__strtab_fini(&inherited.strtab);
        munmap(inherited.base, inherited.size);
        inherited.base = NULL;
    }
    fr__clock_init(h, (struct fr_abi_clock_table *)(p->base + l.clock_off));
    /* release: pairs with the acquire load of the magic in reader_open();
     * a reader that sees it sees a laid-out region. */
    __atomic_store_n(&h->magic, FR_ABI_MAGIC, __ATOMIC_RELEASE);
    return 0;
free_tasks:
    free(p->task_next);
    p->task_next = NULL;
unmap:
    munmap(p->base, p->size);
    if (p->fd >= 0)
        close(p->fd);
    p->base = NULL;
    p->fd = -1;
    return err;
}

int fr__proc_init(const char *name)
{
    struct fr__proc *p = &fr__proc;
    int st = atomic_load_explicit(&p->init, memory_order_acquire);
    if (st == FR__INIT_READY)
        return 0;
    if (st == FR__INIT_FAILED)
        return p->init_err;
    if (!__atomic_load_n(&fr__on, __ATOMIC_RELAXED))
        return -ECANCELED;
    if (fr__lock(&init_lock, fr__thread_tid()) < 0)
        return -EDEADLK;
    st = atomic_load_explicit(&p->init, memory_order_relaxed);
    if (st == FR__INIT_NONE) {
        static bool key_made;
        int err = 0;
        if (!key_made && pthread_key_create(&exit_key, on_thread_exit) != 0)
            err = -EAGAIN;
        key_made = key_made || err == 0;
        if (err == 0)
            err = create(p, name);
        if (err == 0)
            fr__client_start(p->fd); /* no daemon connection is no failure */
        p->init_err = err;
        /* release: pairs with the acquire above; a thread that sees READY
         * sees the whole region. */
        atomic_store_explicit(&p->init, err ? FR__INIT_FAILED : FR__INIT_READY,
                              memory_order_release);
        if (err)
            __atomic_store_n(&fr__on, 0, __ATOMIC_RELAXED);
    }
    fr__unlock(&init_lock);
    return p->init_err;
}

static void store_name(struct fr_abi_ring *r, const uint64_t w[FR_ABI_THREAD_NAME_MAX / 8])
{
    for (size_t i = 0; i < FR_ABI_THREAD_NAME_MAX / 8; i++)
        atomic_store_explicit(&r->name[i], w[i], memory_order_relaxed);
}

/* Picks a ring for a new owner; pool lock held. */
static struct fr_abi_ring *pick(struct fr__proc *p, uint64_t now, uint32_t *idx)
{
    uint64_t window = fr__clock_ns_to_ticks(
        atomic_load_explicit(&p->hdr->window_ns, memory_order_relaxed));
    struct fr_abi_ring *oldest = NULL;
    uint32_t oldest_idx = 0;
    uint64_t oldest_exit = UINT64_MAX;
    for (uint32_t i = 0; i < p->next_free; i++) {
        struct fr_abi_ring *r = &p->rings[i];
        if (atomic_load_explicit(&r->state, memory_order_relaxed) != FR_ABI_RING_EXITED)
            continue;
        uint64_t ex = atomic_load_explicit(&r->exit_tsc, memory_order_relaxed);
        if (ex < oldest_exit) {
            oldest_exit = ex;
            oldest = r;
            oldest_idx = i;
        }
    }
    if (oldest && now - oldest_exit >= window) {
        *idx = oldest_idx; /* expired: nothing lost */
        return oldest;
    }
    if (p->next_free < p->layout.ring_count) {
        *idx = p->next_free++;
        return &p->rings[*idx];
    }
    if (oldest) {
        atomic_fetch_add_explicit(&p->hdr->rings_evicted, 1, memory_order_relaxed);
        *idx = oldest_idx;
        return oldest;
    }
    return NULL;
}

bool fr__thread_claim(struct fr__thread *t)
{
    struct fr__proc *p = &fr__proc;
    if (fr__proc_init(NULL) < 0)
        return false; /* no region: nothing recorded, nowhere to count */
    if (t->exiting)
        goto drop; /* after its ring went back, e.g. a late signal handler */
    /* Every ring had a live owner last time: try again only once one was
     * given back, so a thread without a ring costs little per event. */
    if (t->no_ring_gen && t->no_ring_gen == atomic_load_explicit(&p->pool_gen, memory_order_relaxed) + 1)
        goto drop;
    /* The kernel's name of the thread until it names itself; read before
     * the gen window opens, which readers have to wait out. */
    uint64_t comm[FR_ABI_THREAD_NAME_MAX / 8] = {0};
    prctl(PR_GET_NAME, (char *)comm, 0, 0, 0);
    if (fr__lock(&p->pool_lock, fr__thread_tid()) < 0)
        goto drop;
    if (t->ring) {
        /* a signal handler claimed one for this thread meanwhile */
        fr__unlock(&p->pool_lock);
        return true;
    }
    uint64_t now = fr__clock_now();
    uint32_t idx;
    struct fr_abi_ring *r = pick(p, now, &idx);
    if (!r) {
        t->no_ring_gen = atomic_load_explicit(&p->pool_gen, memory_order_relaxed) + 1;
        fr__unlock(&p->pool_lock);
        goto drop;
    }
    uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
    /* gen seqlock: odd while ownership changes; readers drop what they
     * copied if gen moved. Release fence orders the odd gen first. */
    atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    /* A previous owner never stops mid-record, but a hostile or crashed
     * one might have: start from an even seq. */
    uint64_t seq = atomic_load_explicit(&r->seq, memory_order_relaxed) & ~(uint64_t)1;
    atomic_store_explicit(&r->seq, seq, memory_order_relaxed);
    atomic_store_explicit(&r->start_pos, seq >> 1, memory_order_relaxed);
    atomic_store_explicit(&r->tid, (uint32_t)fr__thread_tid(), memory_order_relaxed);
    atomic_store_explicit(&r->claim_tsc, now, memory_order_relaxed);
    atomic_store_explicit(&r->exit_tsc, 0, memory_order_relaxed);
    atomic_store_explicit(&r->cur_task, 0, memory_order_relaxed);
    store_name(r, comm);
    atomic_store_explicit(&r->state, FR_ABI_RING_LIVE, memory_order_relaxed);
    /* release: pairs with the acquire re-read of gen in reader.c. */
    atomic_store_explicit(&r->gen, g + 2, memory_order_release);
    fr__unlock(&p->pool_lock);

    t->ring_idx = idx;
    t->data = (_Atomic uint64_t *)(p->data + (uint64_t)idx * p->layout.ring_bytes);
    t->mask = p->layout.ring_bytes / FR_ABI_UNIT - 1;
    t->task_next = p->task_next[idx];
    t->no_ring_gen = 0;
    t->ring = r;
    pthread_setspecific(exit_key, t);
    return true;
drop:
    atomic_fetch_add_explicit(&p->hdr->dropped_no_ring, 1, memory_order_relaxed);
    return false;
}

void fr__thread_release(struct fr__thread *t)
{
    struct fr__proc *p = &fr__proc;
    struct fr_abi_ring *r = t->ring;
    t->exiting = true; /* events from later destructors are dropped */
    if (!r || t->busy)
        return; /* a handler that interrupted a record: leave the ring to it */
    if (fr__lock(&p->pool_lock, fr__thread_tid()) < 0)
        return;
    uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
    atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&r->exit_tsc, fr__clock_now(), memory_order_relaxed);
    atomic_store_explicit(&r->state, FR_ABI_RING_EXITED, memory_order_relaxed);
    atomic_store_explicit(&r->gen, g + 2, memory_order_release);
    p->task_next[t->ring_idx] = t->task_next;
    t->ring = NULL;
    atomic_fetch_add_explicit(&p->pool_gen, 1, memory_order_relaxed);
    fr__unlock(&p->pool_lock);
}

void fr__thread_drop_nested(struct fr__thread *t)
{
    atomic_fetch_add_explicit(&t->ring->dropped, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&fr__proc.hdr->dropped_nested, 1, memory_order_relaxed);
}

/* fork: hold the locks across it so that the child never inherits one
 * held by a thread that does not exist there. */
static void before_fork(void)
{
    int tid = fr__thread_tid();
    fr__lock(&init_lock, tid);
    fr__lock(&fr__proc.pool_lock, tid);
    fr__lock(&fr__proc.strtab.lock, tid);
}

static void after_fork_parent(void)
{
    fr__unlock(&fr__proc.strtab.lock);
    fr__unlock(&fr__proc.pool_lock);
    fr__unlock(&init_lock);
}

static void after_fork_child(void)
{
    struct fr__proc *p = &fr__proc;
    struct fr__thread *t = &fr__self;
    fr__lock_reset(&init_lock);
    fr__lock_reset(&p->pool_lock);
    fr__lock_reset(&p->strtab.lock);
    fr__clock_after_fork_child();
    fr__client_after_fork_child();
    fr__rules_after_fork_child();
    fr__trigger_after_fork_child();
    memset(t, 0, sizeof *t);
    if (atomic_load_explicit(&p->init, memory_order_relaxed) != FR__INIT_READY)
        return;
    /* The parent's region stays mapped (shared!) until the child's own
     * exists; the child never writes to it. */
    if (inherited.base) {
        fr__strtab_fini(&inherited.strtab);
        munmap(inherited.base, inherited.size);
    }
    inherited.base = p->base;
    inherited.size = p->size;
    inherited.strtab = p->strtab;
    memcpy(inherited.name, p->hdr->process_name, sizeof inherited.name);
    inherited.name[sizeof inherited.name - 1] = 0;
    if (p->fd >= 0)
        close(p->fd);
    free(p->task_next);
    memset(p, 0, sizeof *p);
    p->fd = -1;
    atomic_store_explicit(&p->init, FR__INIT_NONE, memory_order_relaxed);
}

__attribute__((constructor)) static void on_load(void)
{
    const char *d = getenv("FLIGHTREC_DISABLE");
    if (d && *d && strcmp(d, "0") != 0) {
        __atomic_store_n(&fr__on, 0, __ATOMIC_RELAXED);
        return;
    }
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

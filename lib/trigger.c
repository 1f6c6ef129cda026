/* trigger.c - the trigger mailbox and record (see trigger.h). */
#define _GNU_SOURCE
#include "lib/trigger.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/client.h"
#include "lib/lock.h"
#include "lib/proc.h"
#include "lib/thread.h"

enum { SLOT_FREE, SLOT_WRITING, SLOT_FULL };

static struct {
    _Atomic uint32_t state;
    struct fr__trig t;
} box[FR__TRIGGER_SLOTS];

static _Atomic int wake_fd = -1;
static fr__lock_t wake_lock;

void fr__trigger_record(struct fr__thread *t, uint64_t now, const struct fr__trig *tr,
                        uint32_t rule_id, uint32_t subject_id)
{
    const uint64_t cont[2][2] = {
        {tr->measured_ns, tr->threshold_ns},
        {subject_id, tr->task_id},
    };
    fr__rec_putn(t, now, fr_rec_w1(FR_REC_TRIGGER, 0, tr->on, rule_id), cont, 2);
}

static void lost(void)
{
    if (fr__proc.hdr)
        atomic_fetch_add_explicit(&fr__proc.hdr->triggers_lost, 1, memory_order_relaxed);
}

int fr__trigger_post(const struct fr__trig *tr)
{
    int fd = atomic_load_explicit(&wake_fd, memory_order_acquire);
    if (fd < 0 || !fr__client_connected()) {
        lost();
        return -ENOTCONN;
    }
    for (unsigned i = 0; i < FR__TRIGGER_SLOTS; i++) {
        uint32_t expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong_explicit(&box[i].state, &expect, SLOT_WRITING,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        box[i].t = *tr;
        /* release: the drainer that sees FULL sees the trigger. */
        atomic_store_explicit(&box[i].state, SLOT_FULL, memory_order_release);
        uint64_t one = 1;
        ssize_t n = write(fd, &one, sizeof one);
        (void)n; /* the counter cannot overflow here; a lost wake-up is caught by the next */
        return 0;
    }
    lost();
    return -EAGAIN;
}

int fr__trigger_wake_fd(void)
{
    int fd = atomic_load_explicit(&wake_fd, memory_order_acquire);
    if (fd >= 0 || fr__lock(&wake_lock, fr__thread_tid()) < 0)
        return fd;
    fd = atomic_load_explicit(&wake_fd, memory_order_relaxed);
    if (fd < 0) {
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        atomic_store_explicit(&wake_fd, fd, memory_order_release);
    }
    fr__unlock(&wake_lock);
    return fd;
}

size_t fr__trigger_drain(struct fr__trig *out, size_t max)
{
    int fd = atomic_load_explicit(&wake_fd, memory_order_acquire);
    uint64_t v;
    if (fd >= 0 && read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
        return 0;
    size_t n = 0;
    for (unsigned i = 0; i < FR__TRIGGER_SLOTS && n < max; i++) {
        /* claimed, not just read: the exiting thread drains too
         * (send_goodbye() in client.c), and a trigger must go out once */
        uint32_t expect = SLOT_FULL;
        if (!atomic_compare_exchange_strong_explicit(&box[i].state, &expect, SLOT_WRITING,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        out[n++] = box[i].t;
        atomic_store_explicit(&box[i].state, SLOT_FREE, memory_order_release);
    }
    return n;
}

void fr__trigger_after_fork_child(void)
{
    int fd = atomic_exchange(&wake_fd, -1);
    if (fd >= 0)
        close(fd);
    fr__lock_reset(&wake_lock);
    for (unsigned i = 0; i < FR__TRIGGER_SLOTS; i++)
        atomic_store_explicit(&box[i].state, SLOT_FREE, memory_order_relaxed);
}

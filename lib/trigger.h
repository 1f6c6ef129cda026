/* trigger.h - telling the daemon that a rule fired, without waiting.
 *
 * A recording thread that fires a rule records a trigger in its own ring
 * (the marker a snapshot shows) and posts it to a small lock-free mailbox
 * in process memory, then writes an eventfd the client thread polls: one
 * syscall per trigger, none when nothing fires. The client thread drains
 * the mailbox into TRIGGER messages on the control connection. A full
 * mailbox, or no daemon to tell, loses the message (counted in the
 * header's triggers_lost); the ring record stays. Safe in signal handlers.
 */
#ifndef FR_LIB_TRIGGER_H
#define FR_LIB_TRIGGER_H

#include <stddef.h>
#include <stdint.h>

#include "common/abi.h"
#include "common/ctl.h"

struct fr__thread;

#define FR__TRIGGER_SLOTS 32u

struct fr__trig {
    uint32_t on, tid;
    uint64_t mono_ns, measured_ns, threshold_ns, task_id;
    char rule[FR_ABI_RULE_NAME_MAX];
    char subject[FR_CTL_TEXT_MAX];
};

/* Records the trigger's FR_REC_TRIGGER in t's ring at now (record clock). */
void fr__trigger_record(struct fr__thread *t, uint64_t now, const struct fr__trig *tr,
                        uint32_t rule_id, uint32_t subject_id);

/* Posts tr for the client thread. Returns 0; -ENOTCONN when no daemon
 * holds the region (nothing to tell); -EAGAIN when the mailbox is full. */
int fr__trigger_post(const struct fr__trig *tr);

/* Client thread: the eventfd to poll (created on first call; -1 if none
 * could be), and the posted triggers, up to max, taken out. */
int fr__trigger_wake_fd(void);
size_t fr__trigger_drain(struct fr__trig *out, size_t max);

/* In a forked child: the parent's eventfd and mailbox are not ours. */
void fr__trigger_after_fork_child(void);

#endif

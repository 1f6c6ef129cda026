/* ctl.h - the control protocol between libflightrec and flightrecd.
 *
 * A process registers by connecting to the daemon's control socket
 * (AF_UNIX, SOCK_SEQPACKET: message boundaries, and a close the daemon
 * sees at once) and sending HELLO with its region's memfd attached
 * (SCM_RIGHTS). The daemon answers WELCOME with the window to keep and
 * keeps the connection open, or REFUSED with a reason and closes it. A
 * process that exits normally sends GOODBYE with its exit status first; a
 * connection that closes without one means the process died.
 *
 * Rules: before WELCOME, and again after a reload, the daemon writes the
 * rules that apply to the process into its region's rule table (abi.h)
 * and sends RULES (WELCOME implies it). When a rule fires, or the
 * application calls fr_trigger(), the library sends TRIGGER; the daemon
 * answers nothing (the application never waits for it).
 *
 * Every message is one struct fr_ctl_msg, fixed size, in the host's byte
 * order (both ends are on one machine). The daemon trusts nothing in it:
 * the pid is the one SO_PEERCRED reports, and the region itself is
 * checked (abi_major and region_size are informational).
 */
#ifndef FR_COMMON_CTL_H
#define FR_COMMON_CTL_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define FR_CTL_MAGIC 0x4c544346u /* "FCTL" */
#define FR_CTL_VERSION 2 /* 2: RULES, TRIGGER, 256-byte messages */
#define FR_CTL_SOCKET_DEFAULT "/run/flightrec/control.sock"
#define FR_CTL_TEXT_MAX 128

enum fr_ctl_type {
    FR_CTL_HELLO = 1,   /* process → daemon, with the memfd */
    FR_CTL_WELCOME = 2, /* daemon → process: window_ns */
    FR_CTL_REFUSED = 3, /* daemon → process: status = -errno, text = reason */
    FR_CTL_GOODBYE = 4, /* process → daemon: status = exit status */
    FR_CTL_RULES = 5,   /* daemon → process: the rule table changed */
    FR_CTL_TRIGGER = 6, /* process → daemon: a rule fired, or fr_trigger() */
};

struct fr_ctl_msg {
    uint32_t magic;
    uint16_t version;
    uint16_t type;        /* enum fr_ctl_type */
    uint32_t abi_major;   /* HELLO: the region's ABI */
    int32_t status;       /* GOODBYE: exit status; REFUSED: -errno */
    uint64_t region_size; /* HELLO */
    uint64_t window_ns;   /* WELCOME */
    char text[FR_CTL_TEXT_MAX]; /* REFUSED: why; TRIGGER: the subject; NUL-terminated */
    /* TRIGGER: what fired. text holds the subject (the task, region or
     * wait name, the log category, or fr_trigger()'s reason), cut. */
    uint64_t mono_ns;      /* when: the end of the span, CLOCK_MONOTONIC */
    uint64_t measured_ns;  /* the span's duration; 0 for a log or manual */
    uint64_t threshold_ns; /* the rule's */
    uint64_t task_id;      /* the offending task, 0: none */
    uint32_t tid;          /* the thread that recorded it */
    uint32_t on;           /* enum fr_abi_rule_on */
    char rule[48];         /* the rule's name, NUL-terminated; "" for manual */
    uint64_t reserved;
};
static_assert(sizeof(struct fr_ctl_msg) == 256, "update docs/abi.md");

#endif

/* abi.h - the shared-memory layout between libflightrec and its readers.
 *
 * A process's region is one memfd: a header page, a clock table, a string
 * table, an array of ring headers and the ring data. The library (writer)
 * and the daemon/CLI (readers) may come from different builds, so every
 * field is fixed-width, every offset is from the region start, sizes and
 * offsets are pinned below and docs/abi.md describes the same thing in
 * prose. Fields are only ever appended (abi_minor); a reader refuses an
 * unknown abi_major.
 *
 * Readers treat all of it as untrusted: see common/reader.c.
 */
#ifndef FR_COMMON_ABI_H
#define FR_COMMON_ABI_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Records are written and read as little-endian words, in place. */
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flightrec's ABI is little-endian");

#define FR_ABI_MAGIC 0x43455246u /* "FREC" in memory; a wrong-endian reader sees garbage */
#define FR_ABI_MAJOR 1
#define FR_ABI_MINOR 1 /* 1: the rule table */

#define FR_ABI_HEADER_PAGE 4096u /* the header owns the first page */
#define FR_ABI_UNIT 16u          /* every record is a whole number of 16-byte units */
#define FR_ABI_NAME_MAX 64u      /* process name bytes, NUL included */
#define FR_ABI_THREAD_NAME_MAX 48u
#define FR_ABI_CLOCK_CAP 64u /* calibration points kept (a ring) */
#define FR_ABI_STR_MAX 255u  /* longest interned string, bytes */
#define FR_ABI_LOG_MAX 1024u /* longest log message kept whole */

/* Limits a reader enforces on the header, whatever the writer claims. */
#define FR_ABI_RINGS_MAX 65536u
#define FR_ABI_RING_BYTES_MIN 4096u
#define FR_ABI_RING_BYTES_MAX (1u << 30)
#define FR_ABI_STRTAB_CAP_MAX (1u << 20)
#define FR_ABI_STRTAB_BYTES_MAX (64u << 20)

/* Well-known string ids. Id 0 is the empty name (NULL or ""); id 1 is the
 * name used when a name could not be interned: the table is full, or the
 * intern was attempted where it could not take the table's lock. */
#define FR_ABI_STR_EMPTY 0u
#define FR_ABI_STR_OVERFLOW 1u
#define FR_ABI_STR_OVERFLOW_TEXT "(flightrec: string table full)"

enum fr_abi_clock_source {
    FR_ABI_CLOCK_MONOTONIC = 1, /* record timestamps are CLOCK_MONOTONIC ns */
    FR_ABI_CLOCK_TSC = 2,       /* raw TSC; convert through the clock table */
};

enum fr_abi_proc_state {
    FR_ABI_PROC_RUNNING = 0,
    FR_ABI_PROC_EXITED = 1, /* fr_shutdown() or a normal exit; exit_status set */
};

enum fr_abi_ring_state {
    FR_ABI_RING_FREE = 0,   /* never owned */
    FR_ABI_RING_LIVE = 1,   /* owned by a running thread */
    FR_ABI_RING_EXITED = 2, /* its thread exited; data kept until older than the window */
};

/* One calibration point: the same instant on every clock we convert to.
 * tsc is the record clock (TSC ticks, or MONOTONIC ns when the source is
 * FR_ABI_CLOCK_MONOTONIC). */
struct fr_abi_clock_point {
    uint64_t tsc;
    uint64_t mono_ns;
    uint64_t real_ns;
    uint64_t boot_ns;
};
static_assert(sizeof(struct fr_abi_clock_point) == 32, "update docs/abi.md");

struct fr_abi_header {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t header_size; /* sizeof(struct fr_abi_header) of the writer */
    uint32_t flags;       /* none defined yet */
    uint64_t region_size; /* bytes of the whole memfd */
    uint32_t pid;         /* as the writer saw it; informational only */
    uint32_t clock_source;
    uint64_t strtab_off;   /* struct fr_abi_strtab */
    uint32_t strtab_cap;   /* entries */
    uint32_t strtab_bytes; /* arena bytes */
    uint64_t rings_off;    /* ring_count × struct fr_abi_ring */
    uint32_t ring_count;
    uint32_t ring_hdr_size;
    uint64_t ring_data_off; /* ring i's data at ring_data_off + i × ring_bytes */
    uint64_t ring_bytes;    /* power of two */
    uint64_t clock_off;     /* struct fr_abi_clock_table */
    uint32_t clock_cap;
    uint32_t reserved0;
    char process_name[FR_ABI_NAME_MAX];

    /* Written while the process runs. */
    _Atomic uint64_t window_ns;       /* an exited thread's ring is reused once its data is older */
    _Atomic uint64_t dropped_no_ring; /* events lost: every ring had a live owner */
    _Atomic uint64_t rings_evicted;   /* exited rings reused before their data expired */
    _Atomic uint64_t strtab_overflow; /* names that got FR_ABI_STR_OVERFLOW */
    _Atomic uint32_t state;           /* enum fr_abi_proc_state; EXITED by fr_shutdown() */
    _Atomic int32_t exit_status;
    _Atomic uint64_t dropped_nested; /* events lost to a signal handler nesting */
    uint64_t rules_off;  /* struct fr_abi_rules, page-aligned; 0: none (abi_minor 0) */
    uint32_t rules_cap;  /* entries */
    uint32_t reserved1;
    _Atomic uint64_t triggers_lost; /* triggers recorded but not told to a daemon */
    uint64_t reserved[15];
};
static_assert(sizeof(struct fr_abi_header) == 352, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, strtab_off) == 32, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, ring_bytes) == 72, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, process_name) == 96, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, window_ns) == 160, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, dropped_nested) == 200, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_header, rules_off) == 208, "update docs/abi.md");

/* The rule table: thresholds the daemon publishes into the region (the
 * only place the daemon writes), for the library to compare durations
 * with when a task, region or wait ends, or a log is recorded. The daemon
 * writes it under a seqlock (seq odd while it writes) and then tells the
 * process over the control connection; the library copies it out and
 * treats it as untrusted (counts and strings are bounded on its side).
 * Only rules whose process glob matches the process are published. */
#define FR_ABI_RULES_MAX 64u
#define FR_ABI_RULE_NAME_MAX 48u  /* bytes, NUL included */
#define FR_ABI_RULE_GLOB_MAX 112u /* bytes, NUL included */

enum fr_abi_rule_on {
    FR_ABI_RULE_TASK = 1,   /* a task's duration, begin to end */
    FR_ABI_RULE_REGION = 2, /* a region's duration */
    FR_ABI_RULE_WAIT = 3,   /* a blocking wait's duration */
    FR_ABI_RULE_LOG = 4,    /* any log of a matching category (no threshold) */
    FR_ABI_RULE_MANUAL = 5, /* not in the table: fr_trigger() */
};

struct fr_abi_rule {
    uint32_t on; /* enum fr_abi_rule_on */
    uint32_t reserved0;
    uint64_t threshold_ns;
    char name[FR_ABI_RULE_NAME_MAX];  /* the rule's name, NUL-terminated */
    char match[FR_ABI_RULE_GLOB_MAX]; /* fnmatch(3) glob on the name or category */
};
static_assert(sizeof(struct fr_abi_rule) == 176, "update docs/abi.md");

struct fr_abi_rules {
    _Atomic uint32_t seq; /* odd while the daemon writes */
    uint32_t count;
    uint64_t gen; /* the daemon's config generation */
    struct fr_abi_rule rules[];
};
static_assert(offsetof(struct fr_abi_rules, rules) == 16, "update docs/abi.md");
#define FR_ABI_RULES_BYTES                                                                         \
    fr_abi_align(offsetof(struct fr_abi_rules, rules) + FR_ABI_RULES_MAX * sizeof(struct fr_abi_rule), \
                 4096)

/* Calibration points, a seqlock-protected ring of clock_cap entries: the
 * writer makes seq odd, writes point (count % cap), bumps count, makes seq
 * even. Readers retry a bounded number of times. */
struct fr_abi_clock_table {
    _Atomic uint32_t seq;
    uint32_t reserved0;
    _Atomic uint64_t count;           /* points ever written */
    _Atomic uint64_t points[][4];     /* [clock_cap][4]: struct fr_abi_clock_point */
};
static_assert(offsetof(struct fr_abi_clock_table, points) == 16, "update docs/abi.md");

/* String table: entries below count are immutable once count covers them
 * (published with a release store). */
struct fr_abi_str {
    uint32_t off; /* into the arena */
    uint32_t len; /* bytes, no NUL stored */
};
struct fr_abi_strtab {
    _Atomic uint32_t count;
    uint32_t reserved0;
    uint64_t arena_off; /* from the start of this struct */
    struct fr_abi_str entries[];
};
static_assert(offsetof(struct fr_abi_strtab, entries) == 16, "update docs/abi.md");

/* A ring's header. seq is written per record; dropped per dropped event
 * and cur_task per task record (both outside gen: they are single words).
 * Ownership and name change under the gen seqlock, by one thread at a
 * time (the owner, or the claimer of a ring nobody owns). */
struct fr_abi_ring {
    _Atomic uint64_t seq;     /* 2 × head + 1 while a record is being written */
    _Atomic uint64_t dropped; /* events this ring's owners could not record */
    uint64_t reserved0[6];    /* the writer-hot line: nothing else lives here */
    _Atomic uint32_t gen;     /* odd while ownership or name changes */
    _Atomic uint32_t state;   /* enum fr_abi_ring_state */
    _Atomic uint32_t tid;
    _Atomic uint32_t reserved1;
    _Atomic uint64_t start_pos; /* head when the current owner claimed the ring */
    _Atomic uint64_t claim_tsc;
    _Atomic uint64_t exit_tsc;
    _Atomic uint64_t cur_task; /* the owner's current task now (0: none) */
    _Atomic uint64_t name[FR_ABI_THREAD_NAME_MAX / 8];
    uint64_t reserved2[12];
};
static_assert(sizeof(struct fr_abi_ring) == 256, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_ring, gen) == 64, "update docs/abi.md");
static_assert(offsetof(struct fr_abi_ring, name) == 112, "update docs/abi.md");

/* Records. A record is one or more 16-byte units read as two
 * little-endian words. The first unit: w0 = timestamp, w1 = type (bits
 * 0-7) | flags (8-15) | arg (16-31) | name id (32-63). Every following unit
 * is a continuation: byte 8 (the low byte of w1) is FR_REC_CONT, the other
 * 15 bytes carry payload (w0, then w1 >> 8). Because every unit says
 * whether it starts a record, a reader can start anywhere in a ring. */
enum fr_rec_type {
    FR_REC_REGION_BEGIN = 1, /* 1 unit; arg = depth (saturating) */
    FR_REC_REGION_END = 2,   /* 1 unit; name = the region ended, arg = depth */
    FR_REC_TASK_BEGIN = 3,   /* FR_REC_TASK_UNITS */
    FR_REC_TASK_END = 4,
    FR_REC_TASK_ATTACH = 5,
    FR_REC_TASK_DETACH = 6,
    FR_REC_LOG = 7,          /* 1 + ceil(len / 15) units; arg = len, name = category */
    FR_REC_COUNTER = 8,      /* 2 units: value in c1.w0 */
    FR_REC_FLOW_BEGIN = 9,   /* 2 units: flow id in c1.w0 */
    FR_REC_FLOW_END = 10,
    FR_REC_WAIT_BEGIN = 11,  /* 1 unit; arg = enum fr_wait, name = what */
    FR_REC_WAIT_END = 12,    /* 1 unit; same arg and name as its begin */
    FR_REC_TRIGGER = 13,     /* FR_REC_TRIGGER_UNITS; a rule fired (or fr_trigger()) */
    FR_REC_TYPE_MAX = 13,
    FR_REC_CONT = 0xa5,
};

/* Task records: unit 0 as above (name = task name); c1: w0 = task id,
 * w1 >> 8 = parent id; c2: w0 = the thread's current task before the
 * record, w1 >> 8 = after it; c3: w0 = the task's begin timestamp. Task
 * ids fit in 56 bits so that they fit either payload word. */
#define FR_REC_TASK_UNITS 4u

/* Trigger records, written just before the END record of the span that
 * fired (same timestamp), or alone for a log or fr_trigger(). Unit 0:
 * arg = enum fr_abi_rule_on, name = the rule's name (interned; for
 * fr_trigger() "manual"). c1: w0 = measured duration ns, w1 >> 8 =
 * threshold ns; c2: w0 = the subject's name id (task, region or wait
 * name, log category, or the fr_trigger() reason), w1 >> 8 = task id
 * (FR_ABI_RULE_TASK) or 0. */
#define FR_REC_TRIGGER_UNITS 3u
#define FR_REC_ID_BITS 56
#define FR_REC_ID_MASK ((UINT64_C(1) << FR_REC_ID_BITS) - 1)

#define FR_REC_F_LOG_CUT 0x01u /* the message was longer and was cut */

#define FR_REC_LOG_PER_UNIT 15u
#define FR_REC_LOG_UNITS(len) (1u + ((len) + FR_REC_LOG_PER_UNIT - 1) / FR_REC_LOG_PER_UNIT)
#define FR_REC_MAX_UNITS FR_REC_LOG_UNITS(FR_ABI_LOG_MAX)

static inline uint64_t fr_rec_w1(unsigned type, unsigned flags, unsigned arg, uint32_t name)
{
    return (uint64_t)(type & 0xff) | (uint64_t)(flags & 0xff) << 8 |
           (uint64_t)(arg & 0xffff) << 16 | (uint64_t)name << 32;
}
static inline uint64_t fr_rec_cont_w1(uint64_t payload56)
{
    return (uint64_t)FR_REC_CONT | (payload56 & FR_REC_ID_MASK) << 8;
}
static inline unsigned fr_rec_type(uint64_t w1)
{
    return (unsigned)(w1 & 0xff);
}
static inline unsigned fr_rec_flags(uint64_t w1)
{
    return (unsigned)(w1 >> 8 & 0xff);
}
static inline unsigned fr_rec_arg(uint64_t w1)
{
    return (unsigned)(w1 >> 16 & 0xffff);
}
static inline uint32_t fr_rec_name(uint64_t w1)
{
    return (uint32_t)(w1 >> 32);
}

/* Region layout shared by the writer (which lays it out) and tests. */
struct fr_abi_layout {
    uint32_t ring_count;
    uint64_t ring_bytes;
    uint32_t strtab_cap;
    uint32_t strtab_bytes;
    uint64_t clock_off, strtab_off, rules_off, rings_off, ring_data_off, size;
};

static inline uint64_t fr_abi_align(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline void fr_abi_layout_compute(struct fr_abi_layout *l)
{
    uint64_t off = FR_ABI_HEADER_PAGE;
    l->clock_off = off;
    off += offsetof(struct fr_abi_clock_table, points) +
           (uint64_t)FR_ABI_CLOCK_CAP * sizeof(struct fr_abi_clock_point);
    off = fr_abi_align(off, 4096);
    l->strtab_off = off;
    off += offsetof(struct fr_abi_strtab, entries) +
           (uint64_t)l->strtab_cap * sizeof(struct fr_abi_str) + l->strtab_bytes;
    off = fr_abi_align(off, 4096);
    l->rules_off = off;
    off += FR_ABI_RULES_BYTES;
    l->rings_off = off;
    off += (uint64_t)l->ring_count * sizeof(struct fr_abi_ring);
    off = fr_abi_align(off, 4096);
    l->ring_data_off = off;
    off += (uint64_t)l->ring_count * l->ring_bytes;
    l->size = off;
}

#endif

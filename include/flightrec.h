/* flightrec.h - record what a native process does, always, at the cost of
 * reading the clock; flightrecd keeps the last seconds and writes them out
 * when asked or when a latency rule is broken.
 *
 * The only installed header of libflightrec. Self-contained: C11/gnu11 or
 * C++, `-I include -lflightrec`.
 *
 * Every call is safe from any thread, never blocks on anything outside the
 * process, never fails the application and never aborts. Names passed as
 * string literals are interned once per call site; other strings go through
 * a slower, bounded path. FLIGHTREC_DISABLE=1 makes every call a no-op.
 *
 * Many calls are macros over exported functions of the same name: put the
 * name in parentheses, `(fr_region_begin)(name)`, to call the function.
 * Symbols starting with fr__ are exported only for these macros and are not
 * API.
 */
#ifndef FLIGHTREC_H
#define FLIGHTREC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FR_API __attribute__((visibility("default")))

#define FLIGHTREC_VERSION_MAJOR 0
#define FLIGHTREC_VERSION_MINOR 1
#define FLIGHTREC_VERSION_PATCH 0

/* A task: a unit of work (a request) that may begin on one thread and end
 * on another. Returned by value so that fr_task_end() on any thread knows
 * the name and start without a lock. id 0 means "no task" (recording is
 * disabled); ending it does nothing. Ids are unique within a process. */
typedef struct fr_task_id {
    uint64_t id;
    uint64_t parent;
    uint64_t start; /* library clock ticks */
    uint32_t name;  /* interned name */
    uint32_t reserved;
} fr_task_id;

/* What a thread is blocked on: the blocking profiles of `go tool trace`
 * (sync, syscall, network, ...) plus one for anything else. */
enum fr_wait {
    FR_WAIT_LOCK = 1,    /* mutex, rwlock, condition variable */
    FR_WAIT_IO = 2,      /* disk or file I/O */
    FR_WAIT_NET = 3,     /* network I/O */
    FR_WAIT_SYSCALL = 4, /* another blocking system call */
    FR_WAIT_OTHER = 5,   /* anything else: a queue, a sleep, a future */
};

/* Optional: the first event of a process initialises with the program
 * name. FLIGHTREC_NAME overrides process_name (which may be NULL); the
 * first initialisation fixes the name. Idempotent and thread-safe.
 * Returns 0; -ECANCELED when FLIGHTREC_DISABLE is set or after
 * fr_shutdown(); -ENOMEM or another -errno when no memory could be had for
 * the recording (every call is then a no-op). */
FR_API int fr_init(const char *process_name);

/* Stops recording for good (also before the first event) and marks the
 * process as exited with a normal status. Safe to call at exit, twice, or
 * never. Data already recorded stays readable. */
FR_API void fr_shutdown(void);

/* Names the calling thread (up to 47 bytes kept). The name outlives the
 * thread and the process in the shared region. */
FR_API void fr_thread_name(const char *name);

FR_API fr_task_id fr_task_begin(const char *name);
FR_API fr_task_id fr_task_begin_child(fr_task_id parent, const char *name);
FR_API void fr_task_end(fr_task_id task);
/* Makes a task begun elsewhere the current task of this thread (a worker
 * picking up a request); fr_task_detach() undoes the last attach. */
FR_API void fr_task_attach(fr_task_id task);
FR_API void fr_task_detach(void);

/* A region is a span of time on the calling thread; regions nest, and
 * fr_region_end() ends the innermost one (it does nothing when none is
 * open). A region belongs to the thread's current task, if any. */
FR_API void fr_region_begin(const char *name);
FR_API void fr_region_end(void);

/* Messages of up to 1024 bytes are kept whole; longer ones are cut and
 * marked as cut. */
FR_API void fr_log(const char *category, const char *message);
FR_API void fr_logf(const char *category, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

FR_API void fr_counter(const char *name, int64_t value);

/* An arrow from the event at fr_flow_begin(id) to the one at
 * fr_flow_end(id), across threads. */
FR_API void fr_flow_begin(uint64_t flow_id);
FR_API void fr_flow_end(uint64_t flow_id);

/* Time this thread spends blocked. Waits do not nest: a wait begun inside
 * another is folded into the outer one. */
FR_API void fr_wait_begin(enum fr_wait kind, const char *what);
FR_API void fr_wait_end(void);

/* Asks flightrecd to write this process's window to its snapshot store
 * now, under its `on: manual` rule (cooldown and caps apply), with reason
 * (up to 127 bytes; interned like a name, so keep the set of reasons
 * small) in the file's sidecar. A marker "trigger: manual" is recorded on
 * the calling thread either way. Never blocks: the request is handed to
 * the library's own thread. Returns 0 (handed over; the daemon decides);
 * -ENOTCONN no daemon holds this process now; -EAGAIN too many triggers
 * not forwarded yet; -ECANCELED recording is off. */
FR_API int fr_trigger(const char *reason);

/* Writes the last `seconds` of this process's recording (up to its newest
 * event; all of it when less was recorded) to fd as a Perfetto trace, for
 * ui.perfetto.dev, without a daemon. It only reads the recording, so
 * recording threads never wait for it; it allocates and calls write(2) on
 * the calling thread (not async-signal-safe). Returns 0; -EINVAL (seconds
 * <= 0 or NaN); -EBADF (fd < 0); -ENODATA (recording is off, or this
 * process has not recorded yet); -ENOMEM; or the -errno of a failed
 * write, after which fd holds a truncated trace. */
FR_API int fr_write_snapshot(int fd, double seconds);

/* ---- Not API: what the macros below expand to. ---- */

FR_API extern int fr__on; /* 0 once FLIGHTREC_DISABLE or fr_shutdown() */
FR_API uint32_t fr__intern_site(uint32_t *site, const char *name);
FR_API uint32_t fr__intern(const char *name);
FR_API void fr__region_begin(uint32_t name);
FR_API void fr__region_end(void);
FR_API void fr__task_begin(fr_task_id *out, const fr_task_id *parent, uint32_t name);
FR_API void fr__task_end(const fr_task_id *task);
FR_API void fr__log(uint32_t category, const char *message);
FR_API void fr__counter(uint32_t name, int64_t value);
FR_API void fr__wait_begin(enum fr_wait kind, uint32_t what);

/* The check lays out the disabled case as the fall-through and the call
 * as the jump. Measured in one bench-hotpath run (docs/performance.md):
 * the enabled cost does not move (the call is ~15 ns behind a TSC read
 * either way), while a disabled call drops from 0.055x to 0.020x rdtsc,
 * because the other layout costs a taken branch over every call site. */
#define FR__ON() __builtin_expect(!!__atomic_load_n(&fr__on, __ATOMIC_RELAXED), 0)

/* The id of a name: cached per call site when the name is a compile-time
 * constant, looked up each time otherwise (a buffer reused with another
 * text must not keep the first text's id). */
#define FR__NAME_ID(name)                                                                          \
    __extension__({                                                                                \
        static uint32_t fr__site;                                                                  \
        uint32_t fr__nid;                                                                          \
        if (__builtin_constant_p(name)) {                                                          \
            fr__nid = __atomic_load_n(&fr__site, __ATOMIC_ACQUIRE);                                \
            if (__builtin_expect(fr__nid == 0, 0))                                                 \
                fr__nid = fr__intern_site(&fr__site, (name));                                      \
        } else {                                                                                   \
            fr__nid = fr__intern(name);                                                            \
        }                                                                                          \
        fr__nid;                                                                                   \
    })

#define fr_region_begin(name)                                                                      \
    do {                                                                                           \
        if (FR__ON())                                                                              \
            fr__region_begin(FR__NAME_ID(name));                                                   \
    } while (0)

#define fr_region_end()                                                                            \
    do {                                                                                           \
        if (FR__ON())                                                                              \
            fr__region_end();                                                                      \
    } while (0)

#define fr_task_begin(name)                                                                        \
    __extension__({                                                                                \
        fr_task_id fr__tb = {0, 0, 0, 0, 0};                                                       \
        if (FR__ON())                                                                              \
            fr__task_begin(&fr__tb, 0, FR__NAME_ID(name));                                         \
        fr__tb;                                                                                    \
    })

#define fr_task_begin_child(parent, name)                                                          \
    __extension__({                                                                                \
        fr_task_id fr__tc = {0, 0, 0, 0, 0}, fr__tp = (parent);                                    \
        if (FR__ON())                                                                              \
            fr__task_begin(&fr__tc, &fr__tp, FR__NAME_ID(name));                                   \
        fr__tc;                                                                                    \
    })

#define fr_task_end(task)                                                                          \
    do {                                                                                           \
        fr_task_id fr__te = (task);                                                                \
        if (FR__ON())                                                                              \
            fr__task_end(&fr__te);                                                                 \
    } while (0)

#define fr_log(category, message)                                                                  \
    do {                                                                                           \
        const char *fr__m = (message);                                                             \
        if (FR__ON())                                                                              \
            fr__log(FR__NAME_ID(category), fr__m);                                                 \
    } while (0)

#define fr_counter(name, value)                                                                    \
    do {                                                                                           \
        int64_t fr__v = (value);                                                                   \
        if (FR__ON())                                                                              \
            fr__counter(FR__NAME_ID(name), fr__v);                                                 \
    } while (0)

#define fr_wait_begin(kind, what)                                                                  \
    do {                                                                                           \
        enum fr_wait fr__k = (kind);                                                               \
        if (FR__ON())                                                                              \
            fr__wait_begin(fr__k, FR__NAME_ID(what));                                              \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif

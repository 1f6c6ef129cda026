/* snapshot.c - fr_write_snapshot(): the process's own recording as a
 * Perfetto trace, with no daemon involved.
 *
 * Runs on the calling application thread and only reads the region,
 * through the same reader as the daemon: rings are copied and whatever a
 * writer overwrites meanwhile is dropped, so recording threads never wait
 * for it. It allocates (ring copies, the decoded trace, one output chunk)
 * and writes to the caller's fd; it records nothing itself.
 */
#include <errno.h>

#include "common/perfetto.h"
#include "common/reader.h"
#include "include/flightrec.h"
#include "lib/proc.h"

FR_API int fr_write_snapshot(int fd, double seconds)
{
    if (!(seconds > 0)) /* NaN too */
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    /* acquire: pairs with the release store of init in fr__proc_init(); a
     * READY region is wholly laid out. Not READY: never initialised,
     * FLIGHTREC_DISABLE, a failed init, or a forked child before its own
     * first event. */
    if (atomic_load_explicit(&fr__proc.init, memory_order_acquire) != FR__INIT_READY)
        return -ENODATA;

    struct reader r;
    int err = reader_open(&r, fr__proc.base, fr__proc.size);
    if (err < 0)
        return err;
    /* The window ends at the newest event, not now, as the daemon's does:
     * an idle process still shows its last activity. */
    uint64_t newest = reader_newest(&r), from = 0;
    double ns = seconds * 1e9 + 0.5; /* 0.3 s is 299999999.99... ns in binary */
    if (ns < (double)newest)
        from = newest - (uint64_t)ns; /* else everything */

    struct trace_proc tp;
    struct reader_opts o = {.from_ns = from};
    err = reader_read(&r, &o, &tp);
    if (err < 0)
        return err;
    /* A window longer than the recording starts when recording did (the
     * first ring claim), not seconds before it: slices cut by the window
     * start begin there. */
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < tp.nthreads; i++)
        if (tp.threads[i].claim_ns < first)
            first = tp.threads[i].claim_ns;
    if (first != UINT64_MAX && first > from)
        from = first;
    struct window_input in = {.proc = &tp, .pid = 0, .from_ns = from};
    struct enc_sink sink = {sink_fd_write, &fd};
    err = perfetto_encode(&in, 1, &sink, 0);
    trace_proc_free(&tp);
    return err;
}

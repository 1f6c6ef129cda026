/* client.h - keeps the process registered with flightrecd.
 *
 * One background thread per process (named "flightrec", every signal
 * blocked, started with the region, absent under FLIGHTREC_DISABLE,
 * restarted in a forked child, joined by fr_shutdown()): it connects to
 * the control socket, hands over the region's memfd, and reconnects when
 * the daemon restarts. It never touches the hot path, and the application
 * never waits for it.
 */
#ifndef FR_LIB_CLIENT_H
#define FR_LIB_CLIENT_H

#include <stdbool.h>

/* Starts the thread for the region just created (memfd fd). Returns 0,
 * or -errno when no thread could be started (recording goes on; the
 * daemon will just not see this process). */
int fr__client_start(int region_fd);

/* Says goodbye with status if connected, stops and joins the thread. */
void fr__client_stop(int status);

/* True while a daemon holds this process's region. */
bool fr__client_connected(void);

/* In a forked child: the parent's thread does not exist here; drop the
 * inherited descriptors. */
void fr__client_after_fork_child(void);

#endif

/* log.h - flightrecd's log: one line per event on stderr, which systemd's
 * journal keeps (no timestamps of our own, no levels beyond the words). */
#ifndef FR_DAEMON_LOG_H
#define FR_DAEMON_LOG_H

void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

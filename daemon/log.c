/* log.c - see log.h. One fprintf per line: stderr is unbuffered, and a
 * line written whole is not interleaved with another thread's. */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>

void dlog(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "flightrecd: %s\n", line);
}

/* lttng_tp.c - instantiates the probes of lttng_tp.h and the tracepoint
 * definitions, inside bench-hotpath-lttng itself (static linkage: no
 * provider library to preload). Exactly one file may do this.
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "bench/lttng_tp.h"

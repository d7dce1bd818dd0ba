#ifndef SBX_BASE_TIME_H
#define SBX_BASE_TIME_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: use for deadlines and durations. */
int64_t sbx_now_ms(void);
/* Nanoseconds of CLOCK_MONOTONIC, for fine measurements. */
int64_t sbx_now_ns(void);
/* Milliseconds since the Unix epoch (CLOCK_REALTIME), for timestamps. */
int64_t sbx_wall_ms(void);

#endif

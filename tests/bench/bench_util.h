#ifndef SBX_BENCH_UTIL_H
#define SBX_BENCH_UTIL_H

/* Helpers shared by the benchmark drivers (libc only). */

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t now_ns(void);
/* strtol of the whole string within [min, max]; 0 or -EINVAL. */
int parse_long(const char *s, long min, long max, long *out);
/* qsort comparator for int64_t. */
int cmp_i64(const void *a, const void *b);

#endif

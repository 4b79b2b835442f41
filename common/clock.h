/*
 * clock.h - the monotonic clock in milliseconds, the one time base of
 * timeouts, deadlines and backoff across the tree (never the wall clock,
 * which jumps).
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t common_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t common_mono_ms(void)
{
    return common_mono_ns() / 1000000;
}

#endif

/*
 * timer.h - libevent timers in milliseconds, for every daemon module (obs
 * is under all of them): one conversion, one arming rule, one teardown.
 */
#ifndef GW_TIMER_H
#define GW_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>

/* ms milliseconds as a struct timeval; negative counts as 0. */
static inline struct timeval gw_timer_tv(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* event_add(ev) to fire after ms milliseconds (negative: at once); a
 * persistent event fires every ms. Returns event_add's 0 or -1. */
static inline int gw_timer_in(struct event *ev, int64_t ms)
{
    struct timeval tv = gw_timer_tv(ms);
    return event_add(ev, &tv);
}

/* event_free on each of the n events that is not NULL. */
static inline void gw_events_free(struct event *const *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i] != NULL)
            event_free(ev[i]);
}

#endif

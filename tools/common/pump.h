/*
 * pump.h - the loop every tool runs around one apns_client: submit until the
 * client has no credit (APNS_EAGAIN), resume from on_credit, and at the end
 * drain the client and leave the event loop.
 *
 * The tool says what to send (next) and hears how each submit went (sent);
 * the pump
 * owns the loop around apns_client_submit(), re-entrancy (a submit can call
 * back into the tool, which may pump again: that run is folded into the one
 * in progress) and the finish sequence: cli_pump_finish() drains the client
 * from the loop; when the drain completes, or 5 s later if it never does,
 * the loop is broken and event_base_dispatch() returns.
 */
#ifndef CLI_PUMP_H
#define CLI_PUMP_H

#include <stddef.h>

#include <event2/event.h>

#include "apns/client.h"

typedef struct cli_pump {
    apns_client *client; /* set before the first cli_pump_run() */
    /* Fills *n with the next notification to send and returns 1, or returns
     * 0 when there is nothing to send now. Does not move on: the same one is
     * asked for again when the client had no credit for it. */
    int (*next)(void *ud, apns_notification *n);
    /* n was submitted: rc 0 (one on_result callback follows) or the error
     * the client refused it with (no callback will come). Move on here. */
    void (*sent)(void *ud, const apns_notification *n, int rc);
    void *ud;

    struct event_base *base;
    struct event *ev_finish;
    int in_pump, repump;
    int finishing;         /* 1: drain scheduled; 2: draining */
    struct cli_pump *link; /* the pumps alive (pump.c finds its own in on_drained) */
} cli_pump;

/* Sets up the finish event on base. The client (set later in p->client)
 * must be created with the same ud. Returns 0 or -1 (out of memory); on 0,
 * cli_pump_cleanup() is due before p's memory goes. */
int cli_pump_init(cli_pump *p, struct event_base *base, int (*next)(void *, apns_notification *),
                  void (*sent)(void *, const apns_notification *, int), void *ud);
void cli_pump_cleanup(cli_pump *p);

/* Submits until next() says 0 or the client has no credit. Call it to
 * start, and from the client's on_credit callback. */
void cli_pump_run(cli_pump *p);

/* Drains the client (from the loop, not from here) and then breaks the
 * loop. Idempotent. */
void cli_pump_finish(cli_pump *p);

#endif

/*
 * pump.c - the tools' submit loop and finish sequence (pump.h).
 */
#include "pump.h"

#include <string.h>

/* apns_client_drain() calls back with the client's ud: the tool's state
 * (the pump's ud), not the pump. The pumps alive are listed here to find
 * the one for it. (Taking ud for the pump broke the loop on a pointer into
 * the tool's state, so every run waited out the 5 s fallback.) */
static cli_pump *pumps;

static void on_drained(apns_client *c, void *ud)
{
    for (cli_pump *p = pumps; p != NULL; p = p->link)
        if (p->client == c && p->ud == ud) {
            event_base_loopbreak(p->base);
            return;
        }
}

static void finish_cb(evutil_socket_t fd, short what, void *ud)
{
    cli_pump *p = ud;
    static const struct timeval grace = {5, 0};
    (void)fd;

    if ((what & EV_TIMEOUT) && p->finishing == 2) {
        event_base_loopbreak(p->base); /* the drain did not complete in time */
        return;
    }
    p->finishing = 2;
    event_add(p->ev_finish, &grace); /* fallback if on_drained never comes */
    apns_client_drain(p->client, on_drained);
}

int cli_pump_init(cli_pump *p, struct event_base *base, int (*next)(void *, apns_notification *),
                  void (*sent)(void *, const apns_notification *, int), void *ud)
{
    memset(p, 0, sizeof(*p));
    p->base = base;
    p->next = next;
    p->sent = sent;
    p->ud = ud;
    p->ev_finish = event_new(base, -1, 0, finish_cb, p);
    if (p->ev_finish == NULL)
        return -1;
    p->link = pumps;
    pumps = p;
    return 0;
}

void cli_pump_cleanup(cli_pump *p)
{
    for (cli_pump **pp = &pumps; *pp != NULL; pp = &(*pp)->link)
        if (*pp == p) {
            *pp = p->link;
            break;
        }
    if (p->ev_finish != NULL)
        event_free(p->ev_finish);
    p->ev_finish = NULL;
}

void cli_pump_run(cli_pump *p)
{
    if (p->in_pump) { /* called back from inside submit */
        p->repump = 1;
        return;
    }
    p->in_pump = 1;
    do {
        apns_notification n;

        p->repump = 0;
        while (!p->finishing && p->next(p->ud, &n)) {
            int rc = apns_client_submit(p->client, &n);
            if (rc == APNS_EAGAIN)
                break; /* resume in on_credit */
            p->sent(p->ud, &n, rc);
        }
    } while (p->repump);
    p->in_pump = 0;
}

void cli_pump_finish(cli_pump *p)
{
    static const struct timeval now = {0, 0};

    if (p->finishing)
        return;
    p->finishing = 1;
    event_add(p->ev_finish, &now);
}

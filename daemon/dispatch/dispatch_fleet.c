/*
 * dispatch_fleet.c - a team's provider token when the queue is JetStream:
 * the fleet's one token (daemon/queue/jetstream/js_token.c, through gw_queue_token_get), never one
 * minted for this process.
 *
 * Design note. With backend = jetstream several apnsd processes send for
 * the same team. If each minted its own JWT, APNs would see the team's
 * token change whenever another process sends, and answer
 * TooManyProviderTokenUpdates (two pods are enough). So a team's
 * apns_token_cache is external (libapns never mints into it) and this file
 * fills it from the queue's shared token store:
 *
 *  - when the team is built (start, or a reload that read its key again):
 *    gw_queue_token_get() returns the stored token while it is younger than the
 *    team's token_refresh, else this node mints one and stores it under a
 *    compare-and-set; one node's token wins and every node uses it;
 *  - again when the token reaches its refresh age (issued + token_refresh,
 *    plus up to 5 s of jitter so the nodes do not all ask in the same
 *    millisecond; a race would be safe anyway, just wasted work);
 *  - ExpiredProviderToken for a token at least 20 minutes old: asked again
 *    with that token as stale, so one node replaces it for the fleet (a
 *    younger token means a wrong clock, and replacing it would only earn
 *    TooManyProviderTokenUpdates);
 *  - on failure (cluster unreachable) the current token is kept (APNs takes
 *    it for up to an hour) and it asks again after 1, 2, 4 ... 30 s.
 *
 * Until the first token arrives the team's apps lease nothing
 * (gw__d_app_hungry), so no chunk waits on a node that cannot send it.
 *
 * Lifetime. A request in progress owns a gw_dfetch; the team points to it.
 * When the team goes first, the fetch keeps the signing key (the queue's
 * thread may be signing with it) and frees it in the callback, which the
 * queue calls exactly once, also when it is closed (GW_QUEUE_ECLOSED).
 */
#include "dispatch_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backoff.h"
#include "rng.h"

#define FLEET_JITTER_MS   5000
#define FLEET_RETRY_MS    1000
#define FLEET_RETRY_MAX   30000
#define FLEET_MIN_NEXT_MS 1000

typedef struct gw_dfetch {
    gw_dteam *t;           /* NULL: the team was freed meanwhile */
    apns_signing_key *key; /* the team's (borrowed), or owned once t is NULL */
} gw_dfetch;

static int mint(void *ud, char *jwt, size_t jwt_len)
{
    gw_dfetch *f = ud;

    return apns_jwt_sign(f->key, (int64_t)time(NULL), jwt, jwt_len);
}

static void on_token(int err, const char *detail, const char *jwt, int64_t issued_ms, int minted,
                     void *ud)
{
    gw_dfetch *f = ud;
    gw_dteam *t = f->t;
    int64_t now = gw__d_now(), next;

    if (t == NULL) { /* the team went first: the key is ours now */
        apns_signing_key_free(f->key);
        free(f);
        return;
    }
    t->fleet_fetch = NULL;
    free(f);
    if (err != 0) {
        int64_t wait =
            common_backoff_ms(FLEET_RETRY_MS, FLEET_RETRY_MAX, ++t->fleet_fails, &t->fleet_rng);
        if (err == GW_QUEUE_ECLOSED)
            return;
        gw_log(t->fleet_fails == 1 ? GW_LOG_WARN : GW_LOG_DEBUG, "dispatch",
               t->fleet_issued_ms ? "cannot refresh the fleet's provider token: keeping the "
                                    "current one"
                                  : "cannot get the fleet's provider token: the team's apps wait",
               "team", t->label, "error", gw_queue_err_name(err), "detail", detail, NULL);
        gw_timer_in(t->fleet_ev, wait);
        return;
    }
    if (t->fleet_fails > 1)
        gw_log(GW_LOG_INFO, "dispatch", "fleet's provider token reachable again", "team", t->label,
               NULL);
    t->fleet_fails = 0;
    if (apns_token_cache_put(t->cache, jwt, issued_ms / 1000) != 0) {
        gw_log(GW_LOG_ERROR, "dispatch", "the fleet's provider token is unusable (too long)",
               "team", t->label, NULL);
        gw_timer_in(t->fleet_ev, FLEET_RETRY_MAX);
        return;
    }
    if (issued_ms != t->fleet_issued_ms)
        gw_log(GW_LOG_INFO, "dispatch",
               minted ? "provider token minted for the fleet" : "provider token from the fleet",
               "team", t->label, "age_s", GW_LOG_INT((now - issued_ms) / 1000), NULL);
    int first = t->fleet_issued_ms == 0;
    t->fleet_issued_ms = issued_ms;
    /* The next ask: at the refresh age, jittered. */
    next = issued_ms + t->refresh_ms + (int64_t)common_rng_below(&t->fleet_rng, FLEET_JITTER_MS);
    gw_timer_in(t->fleet_ev, next - now < FLEET_MIN_NEXT_MS ? FLEET_MIN_NEXT_MS : next - now);
    if (first) { /* its apps may lease now */
        for (gw_app *a = t->d->apps; a != NULL; a = a->next)
            if (a->team == t)
                gw__d_feed_soon(a);
        gw_dispatch_kick(t->d);
    }
}

/* Asks the queue for the fleet's token; stale: the JWT APNs called
 * expired, or NULL. */
static void fetch(gw_dteam *t, const char *stale)
{
    gw_dfetch *f;
    int rc;

    if (t->fleet_fetch != NULL)
        return;
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        gw_timer_in(t->fleet_ev, FLEET_RETRY_MS);
        return;
    }
    f->t = t;
    f->key = t->key;
    rc = gw_queue_token_get(t->d->o.q, t->team_id, t->key_id, t->refresh_ms, stale, mint, f,
                            on_token, f);
    if (rc != 0) {
        free(f);
        if (t->fleet_fails++ == 0)
            gw_log(GW_LOG_WARN, "dispatch", "cannot ask for the fleet's provider token", "team",
                   t->label, "error", gw_queue_err_name(rc), NULL);
        gw_timer_in(t->fleet_ev, FLEET_RETRY_MS);
        return;
    }
    t->fleet_fetch = f;
}

static void fleet_cb(int fd, short what, void *ud)
{
    fetch(ud, NULL);
}

int gw__d_fleet_start(gw_dispatch *d, gw_dteam *t)
{
    t->d = d;
    t->fleet = 1;
    t->fleet_rng = common_rng_seed();
    t->fleet_ev = evtimer_new(d->o.base, fleet_cb, t);
    if (t->fleet_ev == NULL)
        return APNS_ENOMEM;
    fetch(t, NULL);
    return 0;
}

void gw__d_fleet_stop(gw_dteam *t)
{
    if (!t->fleet)
        return;
    gw_events_free(&t->fleet_ev, 1);
    t->fleet_ev = NULL;
    if (t->fleet_fetch != NULL) {
        t->fleet_fetch->t = NULL;
        t->key = NULL; /* the fetch frees it */
        t->fleet_fetch = NULL;
    }
}

int gw__d_fleet_ready(const gw_dteam *t)
{
    return !t->fleet || t->fleet_issued_ms != 0;
}

void gw__d_fleet_expired(gw_dteam *t)
{
    apns_token tok;
    int64_t now_s = gw__d_now() / 1000;

    memset(&tok, 0, sizeof(tok));
    if (apns_token_cache_get(t->cache, now_s, &tok) != 0)
        return;
    if (now_s - tok.issued_at < APNS_TOKEN_MIN_AGE_S) {
        gw_log(GW_LOG_WARN, "dispatch",
               "ExpiredProviderToken for a token younger than 20 minutes: is this "
               "machine's clock right? keeping it",
               "team", t->label, NULL);
        return;
    }
    gw_log(GW_LOG_INFO, "dispatch", "ExpiredProviderToken: replacing the fleet's provider token",
           "team", t->label, NULL);
    fetch(t, tok.jwt);
}

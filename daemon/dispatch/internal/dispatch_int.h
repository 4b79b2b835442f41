/*
 * dispatch_int.h - the dispatcher's internals, shared by dispatch.c (lease
 * loop, lifecycle, reload), dispatch_app.c (an app's client and credentials
 * from its config), dispatch_send.c (feeding tokens to a client and judging
 * its answers), dispatch_record.c (outcome batches, results, chunk release),
 * dispatch_drain.c (stopping) and dispatch_feedback.c (binary apps' feedback
 * service).
 * Not an API: nothing outside daemon/dispatch*.c includes it.
 */
#ifndef GW_DISPATCH_INT_H
#define GW_DISPATCH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "apns/channel.h"
#include "apns/client.h"
#include "apns/features.h" /* APNS_HAVE_LEGACY */
#if APNS_HAVE_LEGACY
#include "apns/feedback.h"
#endif
#include "apns/fcm_auth.h"
#include "apns/jwt.h"
#include "dispatch.h"
#include "list.h"
#include "log.h"
#include "timer.h" /* struct event */

#define GW_D_PROBE_MS        60000 /* default pause before a probe */
#define GW_D_UNKNOWN_APP_MS  60000 /* chunks of an app not in the config come back after */
#define GW_D_RECORD_RETRY_MS 5000  /* a chunk whose outcomes failed to record: re-lease after */
#define GW_D_LEASE_ERROR_MS  1000  /* a failed lease is tried again after */
#define GW_D_HOLD_MS         1000  /* recording failed: send nothing for this long, */
#define GW_D_HOLD_MAX_MS     8000  /* doubling while it keeps failing, up to this; */
#define GW_D_HOLD_PROBE      64    /* then this many in flight per app until one is stored */
#define GW_D_UNREC_MAX                                                                             \
    65536                       /* final outcomes kept for re-recording, at most; at the           \
                                   cap sends stop, past it an outcome is given up (resent) */
#define GW_D_REREC_MS     100   /* re-record a kept batch after this, */
#define GW_D_REREC_MAX_MS 500   /* doubling while it keeps failing, up to this */
#define GW_D_REREC_TRIES  3     /* failures while other records succeed: given up */
#define GW_D_IDLE_POLL_MS 500   /* idle: look for newly submitted future work (send_at) */
#define GW_D_BATCH_MAX    1024  /* outcomes per record() */
#define GW_D_LEASE_MAX    16    /* chunks per lease() */
#define GW_D_FEED_MAX     4096  /* tokens examined per feed turn before yielding */
#define GW_D_STATS_MS     1000  /* gauges (connections, in flight) refresh */
#define GW_D_RETIRE_MS    60000 /* a retiring app's last answers are waited for this long */

typedef struct gw_app gw_app;

/* One signing key and its token cache, shared by every app that signs with
 * this team id + key id (the config enforces one file per team+key). */
typedef struct gw_dteam {
    char *label; /* "TEAMID/KEYID": the jwt_refreshes_total label */
    char *team_id, *key_id, *key_file;
    int64_t refresh_ms;
    apns_signing_key *key;
    apns_token_cache *cache;
    int refs;
    uint64_t gen;            /* gw_dispatch.reload_gen when it was loaded */
    uint64_t refreshes_seen; /* for the counter's deltas */
    struct gw_dteam *next;

    /* backend = jetstream: the fleet's token (dispatch_fleet.c); the cache
     * is external then */
    int fleet;
    gw_dispatch *d;
    struct gw_dfetch *fleet_fetch; /* a request in progress, or NULL */
    struct event *fleet_ev;        /* the next look */
    int fleet_fails;
    int64_t fleet_issued_ms; /* of the token in the cache; 0 = none yet */
    uint64_t fleet_rng;
} gw_dteam;

/* An FCM service account's runtime (dispatch_fcm.c): the key file, the
 * external token cache its apps' clients present, and the apns_fcm_auth
 * that keeps the cache filled (one token request per refresh window for
 * every app of the account). */
typedef struct gw_dfcm {
    char *label; /* the account id (client_email[@token_url]): metrics, logs */
    char *key_file, *token_url, *ca_file, *proxy;
    apns_fcm_account *account;
    apns_token_cache *cache;
    apns_fcm_auth *auth;
    int ready; /* the cache got its first token: the apps may lease */
    int refs;
    uint64_t gen; /* gw_dispatch.reload_gen when it was loaded */
    uint64_t requests_seen;
    gw_dispatch *d;
    struct gw_dfcm *next;

    /* backend = jetstream: the fleet's one access token per account through
     * the queue's token store (no apns_fcm_auth then) */
    int fleet;
    char fleet_key[40];                /* the store's key id: "fcm" + a hash of the label */
    struct gw_dfcm_fetch *fleet_fetch; /* a request in progress, or NULL */
    struct event *fleet_ev;            /* the next look */
    struct event *fleet_stale_ev;      /* a client saw the token refused as expired */
    int fleet_fails;
    int64_t fleet_issued_ms;
    uint64_t fleet_rng, fleet_mints; /* mints: token requests this node made */
} gw_dfcm;

/* A leased chunk as the dispatcher holds it. Freed when it is released and
 * nothing refers to it any more. */
/* The reason of a token failed because its job holds an expiration past
 * GW_JOB_TIME_MAX (or below -1): it could never be sent. */
#define GW_D_REASON_EXPIRATION "invalid_expiration"

typedef struct gw_dchunk {
    gw_chunk *c; /* NULL once handed back (forced release at a drain timeout) */
    gw_app *app;
    uint32_t cursor;    /* next token to look at */
    uint32_t in_flight; /* tokens held by the client */
    uint32_t recording; /* outcomes handed to gw_queue_record, not yet durable */
    int64_t not_before; /* release hint: pending tokens not before this */
    uint64_t mark;      /* dispatch_record.c: seen in this batch */
    uint8_t parked;     /* its job cannot be sent: logged once */
    common_list link;   /* gw_app.chunks */
    /* apns-ids in token order: one hex increment a token (feed, results) */
    gw_apns_id_cursor feed_id, result_id;
} gw_dchunk;

/* One token handed to a client (n->user_data). Preallocated per app. */
typedef struct gw_flight {
    gw_dchunk *dc;
    uint32_t idx;
    uint8_t probe;          /* sent as the probe of a paused app */
    struct gw_flight *next; /* free list */
} gw_flight;

/* An app's runtime: what it needs of its config is copied here, so a
 * retiring app outlives the config it was built from. */
struct gw_app {
    gw_dispatch *d;
    char *name;
    char *topic; /* default apns-topic when a job names none */
    uint32_t connections;
    uint32_t rate_limit;
    apns_retry_policy retry; /* the dispatcher's durable retries */
    gw_dteam *team;          /* token auth; NULL for certificates and FCM */
    gw_dfcm *fcm;            /* provider = fcm: its service account; else NULL */
    apns_client *client;

    /* Channel publishes (dispatch_app.c, gw__d_pub_client): with
     * publish_host = broadcast a second client of the same credentials to
     * api-broadcast[.sandbox].push.apple.com, made at the first publish
     * (pub_opts keeps what it needs; pub_own its strings); with push they
     * ride `client`. */
    int pub_separate;
    apns_client_opts pub_opts;
    char *pub_own[7];
    apns_client *pub;
    int pub_failed; /* the client could not be made: logged once */
    int client_drained, pub_drained;
    uint64_t pub_goaways_seen;

    common_clist chunks; /* gw_dchunk.link, by turn (seq), then lease order */
    uint64_t unsent;     /* tokens beyond the cursors of held chunks */

    gw_flight *flights;
    size_t n_flights;
    gw_flight *free_flights;
    size_t in_flight;
    int starved; /* feed stopped for want of a flight or credit */

    double bucket; /* rate limit: token bucket */
    int64_t bucket_ms;
    struct event *rate_ev;

    /* APNs refused the credentials (0: it did not): waiting for the probe
     * time, which came (one token may go), and the probe went. */
    enum { GW_D_PAUSED = 1, GW_D_PROBING, GW_D_PROBE_SENT } paused;
    char pause_reason[64];
    int64_t probe_at;
    struct event *probe_ev; /* retiring: the retire deadline */

    int retiring;       /* removed or replaced by a reload: finishing, then freed */
    int drained;        /* apns_client_drain()'s on_drained fired */
    int retire_expired; /* the retire deadline passed: freed without waiting */

    struct event *feed_ev;
    uint64_t goaways_seen;
    uint64_t log_last, log_repeats; /* libapns log lines: repeats are counted */
    int64_t log_at;
    int log_level;
    uint64_t rng;

    /* binary transport: the feedback service */
#if APNS_HAVE_LEGACY
    apns_feedback_opts fb;
    apns_feedback *fb_fetch;
#endif
    char *fb_own[7]; /* owns fb's strings */

    /* broadcast channels (dispatch_channel.c): the channel-management
     * client, made at the first channel operation */
    apns_channel_opts ch_opts;
    char *ch_own[7]; /* owns ch_opts' strings */
    int ch_usable;   /* 0: transport binary or no manage_port (ch_why) */
    char ch_why[160];
    apns_channel_client *ch;
    common_list ch_pending; /* gw_dchan.link: operations not answered yet */
    int64_t fb_interval_ms;
    struct event *fb_ev;

    gw_app *next;
};

typedef struct gw_dentry {
    gw_dchunk *dc;
    const char *rs;  /* a static reason name, or NULL: reason[] holds it */
    char reason[48]; /* copy of a borrowed reason string */
} gw_dentry;

/* The reason an outcome entry carries (copies of an entry stay valid). */
static inline const char *gw__d_dentry_reason(const gw_dentry *e)
{
    return e->rs != NULL ? e->rs : e->reason;
}

/* One gw_queue_record() call: its outcomes and what the callback needs. */
typedef struct gw_dbatch {
    gw_dispatch *d;         /* NULL: the dispatcher was freed first (orphan) */
    int err;                /* record() refused it at once: reported from the loop */
    int rerecord;           /* kept after a failed record: posted again (dispatch_record.c) */
    int tries;              /* re-records failed while other records succeeded */
    size_t gone;            /* a re-record in flight: its outcomes given up meanwhile (a
                               forced release), no longer in gw_dispatch.n_unrec */
    uint64_t ok_at;         /* gw_dispatch.ok_serial when (re)posted */
    struct gw_dbatch *next; /* gw_dispatch.unrec */
    size_t n, cap;
    gw_outcome *v;
    gw_dentry *e;
    common_list link; /* gw_dispatch.outstanding */
} gw_dbatch;

/* A lease in progress (survives the dispatcher, see gw_dispatch_free). */
typedef struct gw_dlease {
    gw_dispatch *d;
    gw_queue *q;
    size_t max;
    uint64_t kick_gen;
} gw_dlease;

struct gw_dispatch {
    gw_dispatch_opts o;
    int64_t probe_ms;
    int64_t unknown_ms;
    uint32_t chunk_tokens;
    gw_app *apps;     /* active, config order */
    gw_app *retiring; /* removed / replaced, finishing */
    gw_dteam *teams;
    gw_dfcm *fcms;       /* FCM service accounts in use */
    uint64_t reload_gen; /* counts reloads */

    /* leasing */
    gw_dlease *lease; /* in progress, or NULL */
    int more;         /* the queue may have due work */
    uint64_t kick_gen;
    size_t leased, cap;
    size_t lease_cap; /* chunks per lease: the window in full chunks (count_apps) */
    /* tokens of the chunks held, and their bound (count_apps): the memory
     * bound, whatever the chunks' sizes and whichever app is hungry */
    uint64_t leased_tokens, cap_tokens;
    uint64_t over_kick; /* kick_gen of the last lease past the budget (gw__d_maybe_lease) */
    struct event *wake_ev;
    int64_t wake_at; /* armed for; INT64_MAX when not */

    /* outcome batches */
    gw_dbatch *cur;
    gw_dbatch *spare;        /* a recorded batch's arrays, kept for the next one */
    common_list outstanding; /* posted batches (gw_dbatch.link) */
    uint64_t batch_serial;
    struct event *flush_ev;

    /* drain */
    int draining;
    int drain_phase; /* 1: finishing chunks; 2: closing clients; 3: done */
    void (*drain_done)(void *ud);
    void *drain_ud;
    struct event *drain_timer, *done_ev, *reap_ev;

    /* hold: answers cannot be stored (disk full, cluster failing over), so
     * sending more would only make duplicates (dispatch_record.c) */
    int64_t hold_until; /* 0 or the end of the current hold */
    int64_t hold_ms;    /* the last hold's length; 0 once recording works */
    struct event *hold_ev;

    /* final outcomes whose record failed, kept (chunks still held) and
     * recorded again, oldest first, one batch at a time (dispatch_record.c) */
    gw_dbatch *unrec, *unrec_tail;
    size_t n_unrec;     /* outcomes in them (and in the one being re-recorded) */
    int rerec_busy;     /* kept batches posted */
    int64_t rerec_ms;   /* the current backoff; 0 = none */
    uint64_t ok_serial; /* counts records that succeeded */
    struct event *rerec_ev;

    struct event *stats_ev;
    char unknown_warned[128]; /* rate limit of the "not configured" warning */
    int64_t unknown_warned_at;
};

/* ---- dispatch_app.c: channel publishes ---- */
/* The client a chunk goes through: the app's, or for a channel publish with
 * publish_host = broadcast its second client (made now if need be; NULL
 * when it cannot be made, detail says why). */
apns_client *gw__d_client_for(gw_app *a, const gw_chunk *c, char *detail, size_t detail_len);

/* ---- dispatch_channel.c ---- */
/* Copies what the channel client needs from the app's config. 0 or APNS_ENOMEM. */
int gw__d_channel_init(gw_app *a, const gw_dispatch_app_config *ac);
/* Retire: pending operations are answered, then the client closes. */
void gw__d_channel_retire(gw_app *a);
/* Frees the client; pending operations get no callback. */
void gw__d_channel_free(gw_app *a);

/* ---- dispatch.c, dispatch_drain.c ---- */
int64_t gw__d_now(void);
void gw__d_maybe_lease(gw_dispatch *d);
void gw__d_wake_at(gw_dispatch *d, int64_t at_ms);
void gw__d_check_drain(gw_dispatch *d);
void gw__d_reap_soon(gw_dispatch *d);
void gw__d_on_drained(apns_client *c, void *ud);

/* 1 while sends are held because recording answers fails. */
int gw__d_held(const gw_dispatch *d);
void gw__d_hold_cb(int fd, short what, void *ud);

/* ---- dispatch_app.c ---- */
/* Frees a team that no app refers to (its fleet fetch, if any, keeps the key). */
void gw__d_team_free(gw_dteam *t);
/* Builds an app's runtime (credentials, client) from its config; `fresh_key`
 * forces a new token cache even when one for the same team+key exists (the
 * key file's contents changed). Not yet linked into d's lists. */
int gw__d_app_new(gw_dispatch *d, const gw_config *cfg, const gw_config_app *app, int fresh_key,
                  gw_app **out, char *detail, size_t detail_len);
/* Live settings of an UPDATED app. */
void gw__d_app_update(gw_app *a, const gw_config_app *app);
/* Stops feeding, hands its chunks back as they go idle, drains its client;
 * freed by the reaper once drained and empty. */
void gw__d_app_retire(gw_app *a);
/* 1 when a retiring app can be freed. */
int gw__d_app_done(const gw_app *a);
void gw__d_app_free(gw_app *a);
/* The stats timer: gauges and counters of every app and team. */
void gw__d_stats_cb(int fd, short what, void *ud);

/* ---- dispatch_fcm.c ---- */
/* The runtime of app's service account, shared (refs) with the apps of the
 * same account; fresh: only one loaded by this reload may be shared. */
int gw__d_fcm_get(gw_dispatch *d, const gw_config *cfg, const gw_config_app *app, int fresh,
                  gw_dfcm **out, char *detail, size_t detail_len);
void gw__d_fcm_put(gw_dispatch *d, gw_dfcm *f);
void gw__d_fcm_free(gw_dfcm *f);
/* The stats timer: token requests per account. */
void gw__d_fcm_stats(gw_dispatch *d);

/* ---- dispatch_fleet.c ---- */
/* Makes t take the fleet's token (its cache must be external) and asks for
 * it. Returns 0 or APNS_ENOMEM. */
int gw__d_fleet_start(gw_dispatch *d, gw_dteam *t);
/* Before t is freed (no-op for a team that is not the fleet's). */
void gw__d_fleet_stop(gw_dteam *t);
/* 1 when t can sign requests (always, unless waiting for the fleet). */
int gw__d_fleet_ready(const gw_dteam *t);
/* APNs answered ExpiredProviderToken. */
void gw__d_fleet_expired(gw_dteam *t);

/* The app's chunks in feed order: the first (dc NULL) or the one after dc;
 * NULL at the end. */
static inline gw_dchunk *gw__d_chunk_next(const gw_app *a, const gw_dchunk *dc)
{
    common_list *n = dc == NULL ? common_list_first(&a->chunks.head)
                                : common_list_next(&a->chunks.head, &dc->link);
    return n != NULL ? COMMON_CONTAINER_OF(n, gw_dchunk, link) : NULL;
}

/* ---- dispatch_send.c ---- */
void gw__d_on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud);
void gw__d_on_credit(apns_client *c, size_t credit, void *ud);
void gw__d_feed_cb(int fd, short what, void *ud);
void gw__d_probe_cb(int fd, short what, void *ud);
void gw__d_feed_soon(gw_app *a);
/* Whether the app would take more tokens than it holds. */
int gw__d_app_hungry(gw_app *a);
/* Adds a leased chunk to its app and feeds it. */
void gw__d_app_take(gw_app *a, gw_chunk *c);
/* Probe at once (a reload of a paused app). */
void gw__d_probe_now(gw_app *a);

/* ---- dispatch_record.c ---- */
/* Queues one outcome for token idx of dc (dc->recording++). */
void gw__d_emit(gw_dispatch *d, gw_dchunk *dc, uint32_t idx, gw_token_state st, int status,
                apns_reason reason, const char *reason_str, int64_t apns_ts_ms, int64_t retry_at_ms,
                gw_dead_source dead);
void gw__d_flush(gw_dispatch *d);
void gw__d_flush_cb(int fd, short what, void *ud);
/* Frees an outcome batch and its arrays. */
void gw__d_batch_free(gw_dbatch *b);
/* Releases dc if nothing refers to it and its app is done with it. */
void gw__d_chunk_check(gw_dchunk *dc);
/* Every chunk of the app (after a pause, a retire, a drain). */
void gw__d_app_check_chunks(gw_app *a);
/* Hands a chunk that is not (or no longer) routed to an app back. */
void gw__d_release_raw(gw_dispatch *d, gw_chunk *c, int64_t not_before);
/* Drain timeout: hands every held chunk back at once (outcomes of them
 * still waiting to be re-recorded are given up, with a log line). */
void gw__d_force_release(gw_app *a);
/* gw_dispatch_free: frees the kept batches and the re-record timer. */
void gw__d_record_free(gw_dispatch *d);
/* ---- dispatch_feedback.c ---- */
void gw__d_feedback_start(gw_app *a);
void gw__d_feedback_stop(gw_app *a);

#endif

/*
 * dispatch.h - the dispatcher: leases chunks from the queue, sends their due
 * tokens through one libapns client per (app credential, environment),
 * records every answer back into the queue, and reports final per-token
 * results to hooks (API ?wait, webhooks).
 *
 * Grouping: token-auth apps that sign with the same team id + key id share
 * one apns_signing_key and apns_token_cache (one JWT per key, in every
 * environment: see gw_dispatch_team.same_key_as); each app gets its own
 * apns_client (transport http2 or binary) so apps never block each other.
 * Backpressure is the client's credit: a chunk is leased only when the
 * app's client has room, so memory is bounded by max_in_flight per app,
 * never by the queue.
 *
 * What each APNs answer does to a token (accepted, rejected, dead, durable
 * retry, failed, expired), how a paused app probes, and where a duplicate
 * can come from: the design note at the top of dispatch.c.
 *
 * All calls on the loop thread.
 */
#ifndef GW_DISPATCH_H
#define GW_DISPATCH_H

#include <stdint.h>

#include "apns/channel.h"
#include "config.h"
#include "dispatch_keys.h"
#include "metrics.h"
#include "queue.h"

struct event_base;

/* One final answer for one token (after its outcome is durable). */
typedef struct gw_token_result {
    const char *app;
    const char *job_id;
    uint64_t index;       /* job-wide token index */
    const char *token;    /* lower-case hex; a channel publish: its channel id; NULL for a
                             device token unless gw_dispatch_opts.result_ids */
    const char *channel;  /* a channel publish: its channel id; NULL for a device token */
    const char *apns_id;  /* the apns-id sent; NULL unless gw_dispatch_opts.result_ids */
    gw_token_state state; /* ACCEPTED, REJECTED, EXPIRED, FAILED */
    int status;           /* HTTP status (REJECTED; FAILED: of the last answer, 0 if none) */
    const char *reason;   /* APNs reason (REJECTED; FAILED: of the last answer, or the
                             libapns error name), "" otherwise */
    int64_t apns_ts_ms;   /* 410 timestamp, 0 if none */
    gw_dead_source dead;  /* NONE unless the token entered the registry */
} gw_token_result;

typedef void (*gw_result_hook)(void *ud, const gw_token_result *r);

typedef struct gw_dispatch_opts {
    struct event_base *base;
    gw_queue *q;
    gw_metrics *m;            /* optional (NULL: no metrics) */
    gw_result_hook on_result; /* optional; borrowed pointers valid for the call; fires
                                 once per final answer, after it is durable */
    int result_ids;           /* on_result gets each token's text and apns-id (rendered per
                                 token: ~1,000 instructions); 0: they are NULL (apnsd's
                                 listeners, ?wait and the webhook outbox, use neither) */
    void *ud;
    int64_t probe_interval_ms; /* a paused app probes after this; 0 = 60000 */
    int64_t unknown_app_ms;    /* work of an app not (or no longer) in the config is
                                  looked at again after this; 0 = 60000 */
} gw_dispatch_opts;

typedef struct gw_dispatch gw_dispatch;

/* Loads every app's credentials (keys, certificates) through libapns and
 * starts the clients. Returns 0, APNS_ECONFIG (a key or certificate cannot be
 * used: detail names the app and file), APNS_ENOMEM. */
int gw_dispatch_new(gw_dispatch **out, const gw_dispatch_opts *o, const gw_config *cfg,
                    char *detail, size_t detail_len);

/* New work may be leasable (the queue's on_work). */
void gw_dispatch_kick(gw_dispatch *d);

/* Applies a reloaded config: unchanged apps keep their clients and
 * connections, updated ones take the new live settings, replaced/added apps
 * get new clients, removed apps drain. On error nothing changes. */
int gw_dispatch_reload(gw_dispatch *d, const gw_config *cfg, const gw_config_diff *diff,
                       char *detail, size_t detail_len);

/* 1 when every app has a connection up or is paused (for /readyz). */
int gw_dispatch_ready(const gw_dispatch *d);

/* 1 if the app is paused on a credential error. */
int gw_dispatch_app_paused(const gw_dispatch *d, const char *app);

typedef struct gw_dispatch_stats {
    size_t apps, paused, retiring; /* retiring: removed/replaced by a reload, finishing */
    size_t leased;                 /* chunks held */
    size_t in_flight;              /* tokens handed to clients, not yet answered */
    int held;                      /* sends held: answers cannot be recorded now */
} gw_dispatch_stats;

void gw_dispatch_stats_get(const gw_dispatch *d, gw_dispatch_stats *s);

/*
 * A broadcast channel operation at APNs' channel-management service for
 * `app` (iOS 18 Live Activities), on the app's own management client (made
 * at the first call: environment, manage_host / manage_port, credentials,
 * CA file and proxy of the app; APNs' 429/5xx retried by libapns).
 * policy: create's storage policy (0 or 1); id: read's and delete's
 * channel id. Returns 0, after which cb runs exactly once from the loop
 * with libapns's result (r->outcome ACCEPTED, REJECTED with APNs' reason,
 * or FAILED with r->error) — unless the dispatcher is freed first —; or an
 * error with `detail` written: APNS_EINVAL (no such app, or an argument
 * libapns refuses: ECHANNELID, ...), APNS_ECONFIG (the app cannot manage
 * channels: transport binary, or environment custom without manage_port),
 * APNS_EAGAIN (too many operations at once), APNS_ESHUTDOWN (draining),
 * APNS_ENOMEM.
 */
typedef void (*gw_dispatch_channel_cb)(const apns_channel_result *r, void *ud);
int gw_dispatch_channel(gw_dispatch *d, const char *app, apns_channel_op op,
                        apns_storage_policy policy, const char *id, gw_dispatch_channel_cb cb,
                        void *ud, char *detail, size_t detail_len);

/* Stops leasing; in-flight notifications are answered, their outcomes
 * recorded, leased chunks released, then every client closes its
 * connections; then `done` fires from the loop (or after timeout_ms, with
 * the chunks handed back at once and whatever is left unrecorded resent
 * after restart). A reload is refused (APNS_ESHUTDOWN) once draining. */
void gw_dispatch_drain(gw_dispatch *d, int64_t timeout_ms, void (*done)(void *ud), void *ud);

/* Frees everything at once: clients without callbacks, held chunks handed
 * back to the queue. Call it before gw_queue_free() (the queue frees
 * chunks still leased). Normally after a drain. NULL is a no-op. */
void gw_dispatch_free(gw_dispatch *d);

#endif

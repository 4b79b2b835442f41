/*
 * webhook.h - per-app webhooks: final per-token results and dead tokens are
 * POSTed to the app's webhook_url in JSON batches (up to webhook_batch
 * events, or what is there after webhook_interval_ms), signed with
 * HMAC-SHA256 using webhook_secret (users' documentation: docs/webhooks.md):
 *
 *   POST <url>   Content-Type: application/json
 *   X-Apnsd-Signature: sha256=<hex>      X-Apnsd-Timestamp: <unix seconds>
 *   X-Apnsd-Delivery: <32 hex>           (same for every attempt of one batch)
 *   {"app":"shop","results":[{"event_id":1041,"job_id":..,"index":3,
 *     "token":..,"apns_id":..,"state":"rejected","status":410,
 *     "reason":"Unregistered","timestamp":1700000000123,"dead":true,
 *     "dead_source":"410"}, ...]}
 *
 * Per result: event_id (outbox mode), job_id, index, token, apns_id, state
 * (accepted, rejected, expired, failed) and dead are always present; status
 * when not 0, reason when not empty, timestamp (APNs' 410 time, ms) when not
 * 0, dead_source (gw_dead_source_name) when dead.
 *
 * Durable (outbox mode, gw_webhooks_set_outbox: what apnsd runs). The
 * events are written by the queue in the same commit as the outcomes they
 * describe (queue.h, "Webhook outbox"; webhook_events = rejections writes
 * only rejected tokens' events); this module reads an app's oldest ones in
 * batches, delivers them, and acknowledges (deletes) them after a 2xx. So
 * nothing is lost by kill -9 or a receiver that is down: delivery is at
 * least once. The delivery id is derived from the batch's stored events
 * (SHA-256 of the body), so a batch read again after a restart carries the
 * same id; event ids never change. Retention: each
 * read first drops the app's oldest events beyond webhook_retention or
 * older than webhook_retention_age (counted, logged once per episode); a
 * retention read runs every interval also while a batch is retried, so the
 * bound holds while the receiver is down. Memory: one batch per app. With
 * a fleet (JetStream) every node reads every app's outbox; a dead node's
 * batch comes back to the others after ack_wait.
 *
 * Without an outbox (tests of this module alone) results wait in memory,
 * at most max_pending per app; beyond that the oldest are dropped.
 *
 * The signature covers "<timestamp>.<body>" so a replayed body with a new
 * timestamp fails; a retry is signed again with its own timestamp and carries
 * the same body and X-Apnsd-Delivery id, so a receiver can drop a batch it
 * has already processed (a batch whose 2xx answer was lost is sent again).
 * User info in the URL (https://user:pass@host/) is sent as HTTP Basic auth.
 *
 * Delivery: libcurl's multi interface on the caller's event loop, one
 * request in flight per app, connections kept alive between batches. A
 * failed attempt (name lookup, connection or TLS error, timeout, non-2xx
 * answer) is retried with the same batch after a jittered exponential
 * backoff (1s doubling to 5min, each delay drawn from [d/2, d]:
 * common_backoff_ms).
 *
 * https:// is verified (certificate chain and host name or IP address)
 * against the system store plus the app's ca_file when it has one (the
 * app's ca_file usually names a private CA such as apns-sim's; trusting both
 * keeps a public webhook endpoint working). http:// is allowed.
 *
 * Host names are resolved by the system resolver (getaddrinfo on a libcurl
 * thread: nsswitch.conf, /etc/hosts, DNS), never blocking the loop.
 * Proxies come from the environment, as libcurl reads it when a connection
 * is made: http_proxy (lower case only) for http:// URLs, HTTPS_PROXY or
 * https_proxy (a CONNECT tunnel; TLS still ends at the webhook server) for
 * https://, ALL_PROXY as a fallback, and NO_PROXY (comma-separated host
 * names, domains, addresses) for the receivers to reach directly.
 *
 * Metrics (gw_metrics, may be NULL): webhook_deliveries_total{app,result}
 * counts results (ok, retry, dropped: by retention, or without an outbox
 * by the memory bound); webhook_pending{app} and webhook_outbox_depth{app}
 * are the outbox depth as of the last read (without an outbox: results
 * waiting or in flight).
 *
 * All calls on the loop thread. The only callback the caller sees is the
 * flush's `done`, which may call anything here, gw_webhooks_free included.
 * The daemon must ignore SIGPIPE (a webhook server may close a connection
 * while a request is being written).
 */
#ifndef GW_WEBHOOK_H
#define GW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dispatch.h"
#include "metrics.h"
#include "webhook_keys.h"

struct event_base;

typedef struct gw_webhooks gw_webhooks;

/* Tunables; gw_webhooks_new starts with the defaults below. */
typedef struct gw_webhook_limits {
    size_t max_pending;         /* results waiting per app without an outbox (default 10000) */
    int64_t backoff_min_ms;     /* first retry delay (default 1000) */
    int64_t backoff_max_ms;     /* retry delay cap (default 300000) */
    int64_t request_timeout_ms; /* lookup + connect + TLS + request + answer (default 10000) */
} gw_webhook_limits;

#define GW_WEBHOOK_MAX_PENDING 10000

/*
 * Creates the webhook sender for every app of cfg with a webhook_url. The
 * config is read now (URLs parsed, CA files checked) and not kept. m is
 * borrowed (may be NULL) and must outlive w. The first call in the process
 * initialises libcurl (curl_global_init, once, thread-safe: see webhook.c).
 * Returns 0, APNS_ECONFIG (bad URL or unusable ca_file: detail names the
 * app), APNS_ENOMEM (also when libcurl cannot start: detail says so),
 * APNS_EINVAL.
 */
int gw_webhooks_new(gw_webhooks **out, struct event_base *base, const gw_config *cfg, gw_metrics *m,
                    char *detail, size_t detail_len);

/*
 * Outbox mode: events come from q's durable webhook outbox (queue.h,
 * "Webhook outbox") instead of memory. Tells q which apps write events
 * (again after every gw_webhooks_set_config), and from then on reads each
 * app's oldest events in batches, delivers them, and acknowledges them
 * after a 2xx; gw_webhooks_result becomes a hint that a batch may be
 * ready. q is borrowed and must outlive w; when q is freed right after
 * gw_webhooks_free (no loop turn between), the outbox requests still in
 * flight are simply never answered. Call once, right after
 * gw_webhooks_new; a second call is ignored.
 */
void gw_webhooks_set_outbox(gw_webhooks *w, gw_queue *q);

/* Replaces the tunables (for later deliveries, backoffs and drops); a 0 in a
 * field keeps that field's current value. For tests and tuning. */
void gw_webhooks_set_limits(gw_webhooks *w, const gw_webhook_limits *l);

/* Queues a result for its app's webhook (no-op when the app has none). The
 * strings are copied; r is borrowed for the call. */
void gw_webhooks_result(gw_webhooks *w, const gw_token_result *r);

/* Results of one app waiting or in flight (0 for unknown apps). */
size_t gw_webhooks_pending(const gw_webhooks *w, const char *app);

/*
 * After a reload: apps whose webhook settings changed take the new ones
 * (a changed URL or ca_file: the batch in flight is sent again to the new
 * URL; waiting results are kept), apps added get one, apps that lost their
 * webhook_url (or were removed) drop what they hold (counted). On error
 * (APNS_ECONFIG with detail, APNS_ENOMEM) nothing changes.
 */
int gw_webhooks_set_config(gw_webhooks *w, const gw_config *cfg, char *detail, size_t detail_len);

/*
 * Drain: sends everything batched now (no interval wait; a batch waiting
 * for a retry is tried at once) and keeps sending, retrying with backoff,
 * until nothing is left (outbox mode: a read found the outbox empty) or
 * timeout_ms passes; then whatever is left is dropped (counted, logged;
 * outbox mode: left in the outbox for the next start) and `done` fires — always later, from the
 * loop, never from inside this call. Results queued during the drain are sent at once too. Calling
 * it again replaces the deadline and the callback.
 */
void gw_webhooks_flush(gw_webhooks *w, int64_t timeout_ms, void (*done)(void *ud), void *ud);

/* Cancels requests in flight (their results are lost, counted nowhere),
 * closes the kept-alive connections and frees everything, leaving nothing
 * to a later loop turn: the loop may be freed right after. A host name
 * lookup still running on a libcurl resolver thread is not waited for: the
 * thread ends on its own and touches nothing of w's. NULL is fine. */
void gw_webhooks_free(gw_webhooks *w);

/* HMAC-SHA256 of "<timestamp>.<body>" as lower-case hex (65 bytes incl.
 * NUL). Exposed for tests and for apps verifying in C. Returns 0 or
 * APNS_ECRYPTO. */
int gw_webhook_sign(const char *secret, long long timestamp, const char *body, size_t len,
                    char out[65]);

#endif

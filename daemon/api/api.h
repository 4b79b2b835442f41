/*
 * api.h - apnsd's HTTP API: our own strict HTTP/1.1 server (api_http.c, the
 * sans-I/O parser; api_conn.c, connections on libevent bufferevents). Plain
 * HTTP only: TLS belongs to a proxy in front (docs/api.md). Routes are one
 * table in api.c (method, path pattern, auth, handler, metrics label):
 *
 *   POST   /v1/push                          submit one notification or a batch (202)
 *   GET    /v1/notifications/{id}            job state, counts, per-token outcomes (small jobs)
 *   GET    /v1/apps/{app}/dead-tokens        ?since=&cursor=&limit= (paged)
 *   DELETE /v1/apps/{app}/dead-tokens/{token}
 *   POST   /v1/apps/{app}/channels            create a broadcast channel at APNs (201)
 *   GET    /v1/apps/{app}/channels[/{id}]     apnsd's records of the app's channels
 *   DELETE /v1/apps/{app}/channels/{id}       delete at APNs and the record (204)
 *   POST   /v1/apps/{app}/channels:sync       records := APNs' list of the app's channels
 *   GET    /v1/openapi.json                  docs/openapi.json, built in (no auth)
 *   GET    /metrics                          Prometheus text (no auth)
 *   GET    /healthz                          the process serves (no auth)
 *   GET    /readyz                           queue working and every app connected or paused
 *
 * Auth: "Authorization: Bearer <key>" where the key is one of the app's
 * api_keys (hashed once, looked up in a hash table of key digests); a key
 * authorises the apps that list it, only. Requests without a valid key get
 * 401 from their head alone: their body is never read and they touch
 * nothing (no queue call). HEAD is served by every GET route, without a
 * body. Every answer but /metrics is JSON; every error is
 * {"error":{"status":N,"code":"...","message":"...","field":"...","request_id":"..."}}
 * with the field named where one is to blame (400, 401, 403, 404, 405, 413,
 * 429 with Retry-After, 500, 503). Nothing is answered 202 before it is
 * durable. docs/api.md documents every route and code.
 *
 * The request body parser is a pure function (gw_push_parse, fuzzed by
 * tests/fuzz/fuzz_push_request.c).
 *
 * All calls on the loop thread (the event_base given in the options).
 */
#ifndef GW_API_H
#define GW_API_H

#include <stddef.h>
#include <stdint.h>

#include "api_keys.h"
#include "config.h"
#include "dispatch.h"
#include "metrics.h"
#include "queue.h"

struct event_base;

typedef struct gw_api_opts {
    struct event_base *base;
    const gw_config *cfg; /* borrowed; replaced by gw_api_set_config */
    gw_queue *q;
    gw_metrics *m;  /* NULL: nothing recorded, /metrics is 404 */
    gw_dispatch *d; /* for /readyz; NULL: readiness is the queue's alone */
} gw_api_opts;

typedef struct gw_api gw_api;

/* Binds every [server] listen address (port 0: an ephemeral port, see
 * gw_api_port). Returns 0, APNS_EINVAL (missing base, cfg or q),
 * APNS_ECONNECT (detail names the address and errno), APNS_ENOMEM. */
int gw_api_new(gw_api **out, const gw_api_opts *o, char *detail, size_t detail_len);

/* The port listen address i is bound to (after port 0: the one the kernel
 * chose); 0 when i is out of range. */
uint16_t gw_api_port(const gw_api *a, size_t i);

/* A final per-token result (wired from the dispatcher's on_result hook):
 * completes ?wait requests. Cheap when nobody waits. */
void gw_api_on_result(gw_api *a, const gw_token_result *r);

/* After a reload (API keys, topics, apps, limits). cfg is borrowed until the
 * next call or gw_api_free; requests in progress keep no pointer into the
 * previous one, so it may be freed right after this call. */
void gw_api_set_config(gw_api *a, const gw_config *cfg);

/* Drain: new pushes get 503 {"code":"draining"}, /readyz says 503, ?wait
 * requests are answered at once with what is known; reads still served. */
void gw_api_stop_accepting(gw_api *a);

/* Push requests not answered yet (waiting for storage or a ?wait). A drain
 * runs the loop until this is 0 (or its timeout) before freeing. */
size_t gw_api_pending(const gw_api *a);

/* Closes the listeners and frees everything. Requests still open are answered
 * 503 first. Contexts of pushes still waiting for their submit callbacks are
 * freed too, so the loop must not run between gw_api_free() and
 * gw_queue_free() (which runs no callback); or free the queue first. */
void gw_api_free(gw_api *a);

/* SHA-256 computations of presented API keys since the process started (a
 * counter for tests: one per authenticated request, whatever the number of
 * keys). */
uint64_t gw_api_key_hashes(void);

/* Route i of the table: its method ("GET", "POST", "DELETE"), path pattern
 * ("/v1/notifications/{id}") and whether it takes an API key. Returns 0, or
 * -1 when i is past the last route (the outputs are then untouched). Static
 * strings. For checks of the documentation against the table. */
int gw_api_route_info(size_t i, const char **method, const char **path, int *auth);

/* ---- errors ----------------------------------------------------------- */

/* XX(NAME, status, "code", "when") - every error an answer can carry. The
 * code string is the stable, machine-readable part of an error body. */
#define GW_API_ERROR_MAP(XX)                                                                       \
    XX(MALFORMED_JSON, 400, "malformed_json", "the body is not one well-formed JSON object")       \
    XX(DUPLICATE_KEY, 400, "duplicate_key", "a JSON object names the same key twice")              \
    XX(UNKNOWN_FIELD, 400, "unknown_field", "a key the API does not know")                         \
    XX(MISSING_FIELD, 400, "missing_field", "a required key is absent")                            \
    XX(INVALID_FIELD, 400, "invalid_field", "a value of the wrong type or out of range")           \
    XX(UNKNOWN_APP, 400, "unknown_app", "the app named is not configured")                         \
    XX(BAD_TOKEN, 400, "bad_token", "a device token is not 16..200 hex digits of even length")     \
    XX(BAD_PAYLOAD, 400, "bad_payload",                                                            \
       "the payload or a builder field is not acceptable to APNs")                                 \
    XX(PAYLOAD_TOO_LARGE, 400, "payload_too_large", "the payload exceeds 4096 (voip 5120) bytes")  \
    XX(TOO_MANY_TOKENS, 400, "too_many_tokens", "more device tokens than [server] max_tokens")     \
    XX(TOO_MANY_NOTIFICATIONS, 400, "too_many_notifications",                                      \
       "more notifications in one request than the API takes")                                     \
    XX(INVALID_QUERY, 400, "invalid_query", "a query parameter is unknown or has a bad value")     \
    XX(INVALID_HEADER, 400, "invalid_header",                                                      \
       "a request header the API reads has a bad value (Idempotency-Key)")                         \
    XX(IDEMPOTENCY_KEY_REUSED, 422, "idempotency_key_reused",                                      \
       "the Idempotency-Key (or apns_id) was used with another body")                              \
    XX(IDEMPOTENCY_IN_PROGRESS, 409, "idempotency_in_progress",                                    \
       "a request with this Idempotency-Key is still being stored")                                \
    XX(UNAUTHORIZED, 401, "unauthorized", "no Authorization: Bearer key, or an unknown key")       \
    XX(FORBIDDEN, 403, "forbidden", "the key does not belong to the app named")                    \
    XX(NOT_FOUND, 404, "not_found", "no such route, job, app or dead token")                       \
    XX(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "the route exists for other methods")        \
    XX(CHANNEL_NOT_FOUND, 404, "channel_not_found",                                                \
       "a channel publish names a channel apnsd has no record of (POST .../channels:sync)")        \
    XX(CHANNEL_LIMIT, 409, "channel_limit",                                                        \
       "the app holds the most broadcast channels allowed (APNs: CannotCreateChannelConfig)")      \
    XX(APNS_REJECTED, 502, "apns_rejected",                                                        \
       "APNs refused a channel operation; its reason is in the message")                           \
    XX(APNS_UNAVAILABLE, 503, "apns_unavailable",                                                  \
       "APNs gave no usable answer to a channel operation (connection, retries)")                  \
    XX(CHANNELS_UNAVAILABLE, 400, "channels_unavailable",                                          \
       "the app cannot manage broadcast channels (transport binary, no manage_port)")              \
    XX(BAD_REQUEST, 400, "bad_request",                                                            \
       "the HTTP framing is invalid (RFC 9112): the connection is closed")                         \
    XX(REQUEST_TIMEOUT, 408, "request_timeout",                                                    \
       "the request was not complete within [server] request_timeout")                             \
    XX(BODY_TOO_LARGE, 413, "body_too_large", "the body exceeds [server] max_body")                \
    XX(TOO_MANY_TOKENS_FOR_QUEUE, 413, "too_many_tokens_for_queue",                                \
       "more device tokens than [queue] max_depth: the request can never be queued")               \
    XX(EXPECTATION_FAILED, 417, "expectation_failed", "an Expect other than 100-continue")         \
    XX(HEADERS_TOO_LARGE, 431, "headers_too_large", "over 64 KiB of head or 100 header fields")    \
    XX(NOT_IMPLEMENTED, 501, "not_implemented",                                                    \
       "a transfer coding other than chunked; Idempotency-Key on a backend without it")            \
    XX(HTTP_VERSION, 505, "http_version_not_supported", "an HTTP version other than 1.x")          \
    XX(BUSY, 503, "busy",                                                                          \
       "request bodies in flight over [server] max_body_in_flight, or no connection free")         \
    XX(OVERLOADED, 429, "overloaded", "the queue is over [queue] max_depth or its backlog")        \
    XX(RATE_LIMITED, 429, "rate_limited", "the API key is over its app's api_rate_limit")          \
    XX(INTERNAL, 500, "internal", "an unexpected failure (out of memory, ...)")                    \
    XX(STORAGE_UNAVAILABLE, 503, "storage_unavailable",                                            \
       "the queue cannot store or read (disk full, read-only, I/O error, ...)")                    \
    XX(DRAINING, 503, "draining", "the gateway is shutting down and takes no new pushes")          \
    XX(NOT_READY, 503, "not_ready", "GET /readyz: storage failing or an app not connected")

typedef enum gw_api_errcode {
#define GW_API_ERRCODE_ENUM(name, status, code, doc) GW_API_E_##name,
    GW_API_ERROR_MAP(GW_API_ERRCODE_ENUM)
#undef GW_API_ERRCODE_ENUM
        GW_API_E_COUNT
} gw_api_errcode;

/* Where a request is wrong: HTTP status, machine code, field path
 * ("notifications[2].tokens[17]", "tokens[0]", "wait") and a sentence. */
typedef struct gw_api_error {
    int status;
    char code[32];
    char field[96];
    char message[256];
} gw_api_error;

/* Fills e (status and code from the table; message from fmt). field may be
 * NULL or "". Returns -1, so a parser can `return gw_api_error_set(...)`. */
int gw_api_error_set(gw_api_error *e, gw_api_errcode c, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* "malformed_json", ...; "internal" out of range. Static. */
const char *gw_api_errcode_name(gw_api_errcode c);
int gw_api_errcode_status(gw_api_errcode c);

/* ---- the request parser ---------------------------------------------- */

#define GW_PUSH_MAX_NOTIFICATIONS 1000 /* notifications in one request */

/* One notification of a push request, validated against the config and
 * libapns's rules. The job's strings point into this item's own memory. */
typedef struct gw_push_item {
    gw_job job;        /* app, topic, push fields, payload, tokens (owned) */
    size_t n_tokens;   /* job.tokens.count as parsed (gw_queue_submit empties the list) */
    char *payload_buf; /* owned: rendered payload (builder fields) or the raw one */
    char *strings;     /* owned: app, topic, collapse id, apns id, channel */
} gw_push_item;

typedef struct gw_push_request {
    size_t n;
    gw_push_item *items;
    int batch; /* the body was {"notifications":[...]}: field paths are prefixed */
} gw_push_request;

/*
 * Parses and validates a POST /v1/push body: {"notifications":[...]} or one
 * notification object (docs/api.md lists the fields). `api_key` is the
 * bearer key of the request: a notification whose app does not list it is
 * 403 (NULL: every app allowed, for tools and tests). Device tokens go
 * straight into each job's binary token list; at most [server] max_tokens
 * in all. Returns 0 (out filled; free with gw_push_request_free) or -1 with
 * *err filled (out empty). Never aborts, whatever the bytes.
 */
int gw_push_parse(const char *body, size_t len, const gw_config *cfg, const char *api_key,
                  gw_push_request *out, gw_api_error *err);
void gw_push_request_free(gw_push_request *r);

/* Field i of a notification as gw_push_parse accepts it: its name, and the
 * JSON Schema types of the values it takes, space-separated ("string",
 * "string object", "boolean integer" for a flag that also takes 0/1).
 * Returns the types, or NULL when i is past the last field. Static strings.
 * For checks of the documentation against the parser. */
const char *gw_push_field_info(size_t i, const char **name);
/* The same for a notification to an app with provider = fcm. */
const char *gw_push_fcm_field_info(size_t i, const char **name);

#endif

/*
 * api_int.h - what the api_*.c files share: the server object, the
 * per-request context, reply helpers, auth, the route handlers and the raw
 * token scanner. Not an API: only daemon/api*.c include it.
 */
#ifndef GW_API_INT_H
#define GW_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "api_http.h"
#include "list.h"
#include "queue_keys.h"

struct bufferevent;
struct evbuffer;
struct evconnlistener;
struct event;

#define GW__API_REQ_ID_MAX 128 /* X-Request-Id echoed up to this length */
#define GW__API_ARG_MAX    256 /* one {capture} of a route path */
#define GW__API_ARGS       2
#define GW__API_DIGEST     32 /* SHA-256 of an API key */

typedef struct gw_api_req gw_api_req;
typedef struct gw__push gw__push;

/* ---- the server -------------------------------------------------------- */

typedef struct gw__conn gw__conn;

struct gw_api {
    struct event_base *base;
    const gw_config *cfg;
    gw_queue *q;
    gw_metrics *m;
    gw_dispatch *d;
    int draining;
    size_t n_bound;
    struct evconnlistener **listeners;
    common_list open; /* every request context not yet freed (gw_api_req.link) */
    void *waits;      /* the ?wait registry (api_wait.c): a tsearch tree of jobs by id */
    /* connections (api_conn.c) */
    common_list conns;          /* gw__conn.link, longest idle first among the idle ones */
    size_t n_conns;             /* open connections */
    size_t max_conns;           /* [server] max_connections, or derived from RLIMIT_NOFILE */
    uint64_t body_bytes;        /* request-body bytes admitted (reserved) now */
    uint64_t body_budget;       /* [server] max_body_in_flight */
    struct event *accept_retry; /* listeners paused after accept() failed */
    int64_t accept_backoff_ms;
    int64_t limit_logged_ms;        /* when the last connection-limit line was written */
    uint64_t limit_unlogged;        /* limit events since then, not logged */
    gw_api_keyset *keys;            /* every app's key digests: "some app has this key" (api.c) */
    struct gw__api_bucket *buckets; /* per digest of keys (same index): rate limits (api.c) */
};

/* One API key's request rate limit (api.c): a token bucket. */
typedef struct gw__api_bucket {
    double rate;   /* requests per second; 0: no limit */
    double burst;  /* the bucket's size */
    double tokens; /* requests it may make now */
    int64_t at_ms; /* monotonic time tokens was computed at */
    char app[128]; /* the app whose limit it is (the metric's label) */
    char text[24]; /* its api_rate_limit as written: "100/s" */
} gw__api_bucket;

/* One request from the moment its head is parsed until it is answered AND
 * no queue callback that carries it is outstanding. */
struct gw_api_req {
    gw_api *api;
    gw__conn *conn; /* NULL once answered, or when the client went away */
    int open;       /* 1 until answered (a request whose client left is answered to no one) */
    int head_only;  /* HEAD: the answer carries no body */
    const struct gw__route *route;
    char method[16];
    char *target;              /* owned copy: "/v1/push?wait=5" */
    struct evbuffer *body;     /* the request body (read before the handler runs) */
    uint64_t body_reserved;    /* bytes of api->body_bytes this request holds */
    struct evbuffer *out_hdrs; /* "Name: value\r\n" lines of the answer */
    char id[GW__API_REQ_ID_MAX + 1];
    double t0; /* monotonic seconds at arrival */
    uint8_t key[GW__API_DIGEST];
    int has_key;
    char key_text[260]; /* the bearer key (for gw_push_parse); wiped on free */
    char arg[GW__API_ARGS][GW__API_ARG_MAX];
    int pending;                        /* queue callbacks outstanding */
    gw__push *push;                     /* POST /v1/push state */
    char idem_key[GW_IDEM_KEY_MAX + 1]; /* POST /v1/push: its Idempotency-Key ("" = none) */
    struct gw__chan *chan;              /* channel routes' state (api_channels.c); freed with r */
    common_list link;                   /* gw_api.open */
};

typedef void (*gw__handler)(gw_api_req *r);

typedef struct gw__route {
    const char *method;  /* "GET" (HEAD is served by GET routes), "POST", "DELETE" */
    const char *pattern; /* "/v1/apps/{app}/dead-tokens/{token}" */
    int auth;            /* 1: a valid bearer key is required */
    gw__handler fn;
    const char *name; /* the metrics' route label */
} gw__route;

/* json_integer(v), or NULL (a "o*" value json_pack leaves out) when v is 0. */
static inline json_t *gw__json_int(json_int_t v)
{
    return v != 0 ? json_integer(v) : NULL;
}

/* ---- replies (api.c) ----------------------------------------------------- */

/* Sends status with body (stolen; NULL = none) as application/json, adds
 * X-Request-Id, records metrics, marks r answered and frees it when no
 * callback is outstanding. */
void gw__api_reply_json(gw_api_req *r, int status, json_t *body);
void gw__api_reply_raw(gw_api_req *r, int status, const char *content_type, struct evbuffer *body);
void gw__api_reply_error(gw_api_req *r, const gw_api_error *e);
void gw__api_reply_errorf(gw_api_req *r, gw_api_errcode c, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* A queue error (gw__api_queue_error) as the answer; 429 with Retry-After. */
void gw__api_reply_queue_error(gw_api_req *r, int err, const char *detail, const char *what);
/* Adds a response header (before the reply). */
void gw__api_header(gw_api_req *r, const char *name, const char *value);

/* A queue callback carrying r arrived: returns 1 when r is still to be
 * answered; 0 when it was answered meanwhile (r may have been freed). */
int gw__api_req_resume(gw_api_req *r);
/* A queue call with r as ud returned rc: 0 holds r until the callback (which
 * never runs from inside the posting call); else, unless what is NULL, the
 * queue error is the answer. Returns rc. */
int gw__api_posted(gw_api_req *r, int rc, const char *what);

/* The query string as key/value pairs (the caller clears q), or -1 after
 * answering 400 invalid_query: bad encoding, or a parameter not in
 * `allowed` (NULL-terminated), named. */
struct evkeyvalq;
int gw__api_query(gw_api_req *r, struct evkeyvalq *q, const char *const *allowed);

/* ---- requests and connections (api.c <-> api_conn.c) ------------------- */

/* The connection layer parsed a head: a new request on c. Matches the route
 * and authenticates from the head alone; may answer at once (404, 405, 401,
 * ...). The request is attached to c (gw__conn_attach) until answered, so
 * c's current request is NULL on return when it was answered. Returns 0,
 * or -1 (out of memory: nothing answered). */
int gw__api_on_head(gw_api *a, gw__conn *c, const gw_api_http_head *h);
/* A request whose client left before its handler ran: forgotten (freed
 * once no callback holds it); nothing is answered or counted. */
void gw__api_abandon(gw_api_req *r);
/* A request on c whose head could not be parsed or whose framing failed:
 * answers e (JSON) and the connection closes after it. */
void gw__api_conn_error(gw_api *a, gw__conn *c, const gw_api_error *e);
/* The body of r is complete in r->body: runs the route's handler. */
void gw__api_on_body(gw_api_req *r);

/* Sends r's answer on its connection (api_conn.c): the status line, the
 * lines in r->out_hdrs, Content-Length, and body unless r->head_only.
 * Detaches r from the connection, which reads its next request (or closes,
 * after a refusal or Connection: close). */
void gw__conn_send(gw__conn *c, gw_api_req *r, int status, const char *phrase,
                   struct evbuffer *body);
/* r is c's current request (until gw__conn_send or gw__conn_forget). */
void gw__conn_attach(gw__conn *c, gw_api_req *r);
/* The client of r went away or r is freed: r forgets its connection. */
void gw__conn_forget(gw_api_req *r);
/* Returns the body bytes r holds to the budget (the gauge follows). */
void gw__api_body_release(gw_api_req *r);

/* Listeners and connections: gw__api_listen binds every [server] listen
 * address (0, or APNS_ECONNECT with detail); gw__api_conns_free closes
 * everything. */
int gw__api_listen(gw_api *a, char *detail, size_t detail_len);
void gw__api_conns_free(gw_api *a);
/* The connection limit in force: [server] max_connections, or (0) the
 * RLIMIT_NOFILE soft limit less a reserve for APNs connections, the store,
 * webhooks and logs. */
size_t gw__api_max_connections(const gw_config *cfg);

/* ---- auth (api.c) ------------------------------------------------------ */

void gw__api_key_digest(const char *key, size_t len, uint8_t out[GW__API_DIGEST]);
/* 1 when the key (by digest) is one of the app's keys; every key of the app
 * is compared, in constant time. */
int gw__api_app_allows(const gw_config_app *app, const uint8_t digest[GW__API_DIGEST]);

/* gw_push_parse with the key's digest (NULL: any app), hashed once by the
 * caller (api_push.c). */
int gw__push_parse(const char *body, size_t len, const gw_config *cfg, const uint8_t *key,
                   gw_push_request *out, gw_api_error *err);

/* ---- errors (api_json.c) -------------------------------------------------- */

/* Maps a queue error (code + detail) to an API error: 429, 503, 404, 500. */
void gw__api_queue_error(gw_api_error *e, int err, const char *detail, const char *what);
/* The error body {"error":{...}}. */
json_t *gw__api_error_json(const gw_api_error *e, const char *request_id);

/* ---- handlers ---------------------------------------------------------- */

void gw__api_h_push(gw_api_req *r); /* api_submit.c */

/* ---- idempotency (api_idem.c) ------------------------------------------- */

/* POST /v1/push's head: copies a valid Idempotency-Key into r->idem_key;
 * answers 400 invalid_header (a repeated header, or a value that is not
 * 1..255 printable ASCII characters) and returns -1. */
int gw__api_idem_header(gw_api_req *r, const gw_api_http_head *h);
/* The idempotency scope of r: the hex SHA-256 of its API key ("-" without
 * one), GW_IDEM_SCOPE_MAX characters at most. */
void gw__api_idem_scope(const gw_api_req *r, char out[GW_IDEM_SCOPE_MAX + 1]);
/* SHA-256 of the request body. */
void gw__api_idem_hash(const void *body, size_t len, uint8_t out[GW_IDEM_HASH]);
void gw__api_h_status(gw_api_req *r);         /* api_status.c */
void gw__api_h_cancel(gw_api_req *r);         /* api_status.c */
void gw__api_h_dead_list(gw_api_req *r);      /* api_dead.c */
void gw__api_h_dead_delete(gw_api_req *r);    /* api_dead.c */
void gw__api_h_channel_create(gw_api_req *r); /* api_channels.c */
void gw__api_h_channel_list(gw_api_req *r);
void gw__api_h_channel_get(gw_api_req *r);
void gw__api_h_channel_delete(gw_api_req *r);
void gw__api_h_channel_sync(gw_api_req *r);
/* The app of the path (r->arg[0]) when the key may act for it; else NULL
 * after answering 404 or 403 (api_dead.c). */
const gw_config_app *gw__api_path_app(gw_api_req *r);
/* The environment name channel records of app are kept under
 * ("production", "sandbox", "custom"; api_channels.c). Static. */
const char *gw__api_channel_env(const gw_config_app *app);
void gw__api_h_metrics(gw_api_req *r); /* api_health.c */
void gw__api_h_healthz(gw_api_req *r);
void gw__api_h_readyz(gw_api_req *r);
void gw__api_h_openapi(gw_api_req *r);

/* docs/openapi.json, built in (generated by api/openapi_embed.cmake). */
extern const char gw__api_openapi_json[];
extern const size_t gw__api_openapi_json_len;

/* The push state of a request is freed with the request. */
void gw__api_push_free(gw__push *p);

/* ---- ?wait (api_wait.c) ------------------------------------------------ */

/* One job of a push request (api_submit.c); with ?wait, also its per-token
 * results, found by id in the wait registry. */
typedef struct gw__job {
    char id[GW_JOB_ID_LEN + 1];      /* first: the registry compares jobs as this string */
    char apns_id[GW_JOB_ID_LEN + 1]; /* base, lower-case */
    size_t n;                        /* tokens */
    int durable;                     /* its submit callback said 0 */
    gw__push *owner;
    char *channel; /* a channel publish: its channel id (owned); NULL for tokens */
    /* ?wait only (NULL otherwise) */
    uint8_t *tokens;          /* the n tokens: a copy of the job's gw_token_list buffer */
    struct gw__wait_res *res; /* n results */
    size_t n_final;
} gw__job;

typedef struct gw__wait_res {
    uint8_t state; /* gw_token_state */
    uint8_t dead;  /* gw_dead_source */
    int16_t status;
    char reason[48];
    int64_t apns_ts_ms;
} gw__wait_res;

/* Registers j (0 or APNS_ENOMEM). The registry is empty once every request
 * is freed: it has nothing of its own to free. */
int gw__waits_add(gw_api *a, gw__job *j);
/* Unregisters j; a no-op when j is not registered. */
void gw__waits_remove(gw_api *a, gw__job *j);
/* Results and pending tokens of a job as JSON ({"results":[...]}). */
json_t *gw__wait_job_json(const gw__job *j);
/* A job's result arrived (api_submit.c): answers the request when complete. */
void gw__api_push_result(gw__push *p);

/* ---- the raw token scanner (api_tokens.c) -------------------------------- */

/* Token arrays lifted out of a body before jansson sees it: a 1,000,000
 * token broadcast becomes one binary gw_token_list, never a million jansson
 * strings. `copy` is the body with each lifted array written as [] (NULL
 * when nothing was lifted). */
#define GW__TOKENS_TOP ((size_t)-1) /* the top-level "tokens" of a single notification */

typedef struct gw__lifted {
    size_t notification; /* index in "notifications", or GW__TOKENS_TOP */
    gw_token_list list;  /* the tokens as APNs tokens (binary) */
    int taken;           /* moved into an item */
    /* The array in the body ('[' .. past ']'): an FCM app's tokens are read
     * again from it, verbatim (gw__lifted_raw). */
    const char *start, *end;
    /* A token that is not an APNs token: the error, reported only when the
     * notification is for an APNs app. */
    int bad;
    gw_api_error bad_err;
} gw__lifted;

/* The lifted array's tokens as FCM registration tokens (verbatim, libapns's
 * apns_fcm_token_check) into out (initialised by the caller). Returns 0 or
 * -1 with err naming the token. */
int gw__lifted_raw(const gw__lifted *lf, size_t idx, gw_token_list *out, gw_api_error *err);
/* One FCM token given as JSON string content (raw, possibly escaped). */
int gw__token_add_raw(gw_token_list *l, const char *s, size_t len, int escaped, const char *field,
                      gw_api_error *err);

typedef struct gw__scan {
    gw__lifted *v;
    size_t n, cap;
    char *copy;
    size_t copy_len;
    struct gw__span {
        size_t copy_off, orig_off;
    } * map; /* copy offset -> body offset, one entry per lifted array + (0,0) */
    size_t n_map;
    size_t total; /* tokens lifted */
} gw__scan;

/* Scans a body that apns_json_check_object() accepted. Returns 0 or -1 with
 * err (a token that is not a hex string, too many tokens in all, a
 * duplicate "tokens" / "notifications" key). */
int gw__scan_tokens(const char *body, size_t len, size_t max_tokens, gw__scan *s,
                    gw_api_error *err);
void gw__scan_free(gw__scan *s);
/* The lifted list of notification i (or GW__TOKENS_TOP), or NULL. */
gw__lifted *gw__scan_find(gw__scan *s, size_t notification);
/* Offset in the copy -> offset in the body. */
size_t gw__scan_orig_offset(const gw__scan *s, size_t copy_off);
/* The field path ("notifications[1].alert.title") of the value or key at byte
 * `off` of a valid JSON body; "" for the top level. */
void gw__json_path_at(const char *body, size_t len, size_t off, char *out, size_t out_len);

/* The path of field `name` of notification idx (or GW__TOKENS_TOP) into out:
 * "notifications[3].alert.title" or "alert.title". Returns out. */
const char *gw__api_field(char *out, size_t len, size_t idx, const char *name);

/* Adds one token given as JSON string content (raw, possibly with escapes).
 * Returns 0 or -1 with err naming `field` (APNs' sentence from libapns). */
int gw__token_add(gw_token_list *l, const char *s, size_t len, int escaped, const char *field,
                  gw_api_error *err);

#endif

/*
 * api.c - the HTTP API server: the route table, request contexts, auth,
 * replies, metrics. Handlers live in api_submit.c (POST /v1/push, and its
 * drain: gw_api_stop_accepting),
 * api_status.c, api_dead.c and api_health.c; the body parser in api_push.c
 * and api_tokens.c; ?wait bookkeeping in api_wait.c; errors in api_json.c.
 *
 * Design note
 * -----------
 * Routes are data: one table of (method, path pattern, auth, handler,
 * metrics label). A path matches a pattern segment by segment; "{name}"
 * captures one segment into r->arg[]. A path that matches some pattern but
 * not its method is 405 with Allow; no pattern at all is 404.
 *
 * Every request gets a context (gw_api_req) when the connection layer
 * (api_conn.c) has parsed its head. It is
 * freed when two things are true: the request was answered (r->open 0)
 * and no queue callback that carries it is outstanding (r->pending 0).
 * Handlers that call the queue hold the context (gw__api_posted) and every
 * callback starts with gw__api_req_resume(), so a callback never touches a
 * freed request, and a request is never answered twice. All contexts sit on
 * one list so gw_api_free() can answer and free what is left.
 *
 * Auth runs from the head alone, before a byte of the body is read
 * (gw__api_on_head): the bearer key is hashed (SHA-256) once per request and
 * looked up in a hash table of every app's key digests (gw_api_keyset,
 * built at config load), then compared in full with CRYPTO_memcmp, so the
 * cost is one hash and one probe whatever the number of keys. A lookup's
 * timing can depend on the digest of the key sent, never on a stored key's
 * characters (finding a key from it would take a SHA-256 preimage).
 * Requests without a valid key are answered 401 before the handler runs:
 * they never reach the queue, and their body is never read. Which app a key
 * may act for is decided per app later (a key may be listed by several
 * apps): gw__api_app_allows(), one probe into the app's own set.
 *
 * Rate limits: each key has a token bucket (gw__api_bucket, at the key's
 * index in the table) of its app's api_rate_limit and api_rate_burst (a key
 * of several apps: the lowest rate, with that app's burst). A request with a
 * valid key takes one token; with none left it is answered 429
 * rate_limited before its body is read, Retry-After = the whole seconds
 * until the bucket holds a token again. Buckets keep their fill across a
 * reload (by key digest), so SIGHUP grants no fresh burst.
 *
 * Bodies over [server] max_body, and bodies that would take the bytes in
 * flight over max_body_in_flight, are refused from their Content-Length
 * (413, 503 busy) by the connection layer before they are read; chunked
 * bodies are counted as they arrive.
 *
 * Every answer carries X-Request-Id (the client's, when it is 1..128 safe
 * characters, else a fresh UUID) and, except /metrics, Content-Type
 * application/json.
 */
#include "api_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "apns/notification.h"
#include "clock.h"
#include "log.h"
#include "timer.h"

/* ---- the route table ------------------------------------------------------- */

static const gw__route routes[] = {
    {"POST", "/v1/push", 1, gw__api_h_push, "push"},
    {"GET", "/v1/notifications/{id}", 1, gw__api_h_status, "notification"},
    {"DELETE", "/v1/notifications/{id}", 1, gw__api_h_cancel, "notification_cancel"},
    {"GET", "/v1/apps/{app}/dead-tokens", 1, gw__api_h_dead_list, "dead_tokens"},
    {"DELETE", "/v1/apps/{app}/dead-tokens/{token}", 1, gw__api_h_dead_delete, "dead_token"},
    {"POST", "/v1/apps/{app}/channels", 1, gw__api_h_channel_create, "channels"},
    {"GET", "/v1/apps/{app}/channels", 1, gw__api_h_channel_list, "channels"},
    {"POST", "/v1/apps/{app}/channels:sync", 1, gw__api_h_channel_sync, "channels_sync"},
    {"GET", "/v1/apps/{app}/channels/{id}", 1, gw__api_h_channel_get, "channel"},
    {"DELETE", "/v1/apps/{app}/channels/{id}", 1, gw__api_h_channel_delete, "channel"},
    {"GET", "/v1/openapi.json", 0, gw__api_h_openapi, "openapi"},
    {"GET", "/metrics", 0, gw__api_h_metrics, "metrics"},
    {"GET", "/healthz", 0, gw__api_h_healthz, "healthz"},
    {"GET", "/readyz", 0, gw__api_h_readyz, "readyz"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static uint64_t key_hashes; /* gw_api_key_hashes() */

int gw_api_route_info(size_t i, const char **method, const char **path, int *auth)
{
    if (i >= N_ROUTES)
        return -1;
    *method = routes[i].method;
    *path = routes[i].pattern;
    *auth = routes[i].auth;
    return 0;
}

/* Segment-by-segment match; captures "{x}" segments into r->arg (also on
 * a mismatch: only the matched route's handler reads them). */
static int path_match(const char *pattern, const char *path, gw_api_req *r)
{
    int n_arg = 0;

    while (*pattern != '\0' && *path != '\0') {
        const char *pe = strchr(pattern + 1, '/'), *se = strchr(path + 1, '/');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t sl = se ? (size_t)(se - path) : strlen(path);

        if (pattern[0] != '/' || path[0] != '/')
            return 0;
        if (pattern[1] == '{') {
            if (sl <= 1 || n_arg >= GW__API_ARGS)
                return 0;
            if (sl - 1 >= GW__API_ARG_MAX) {
                /* Only a {token} (an FCM registration token is up to 4096
                 * bytes, percent-encoded up to 3 times that) may be longer:
                 * its handler reads it from r->target. */
                if (pl != sizeof "/{token}" - 1 || memcmp(pattern, "/{token}", pl) != 0)
                    return 0;
                r->arg[n_arg][0] = '\0';
            } else {
                memcpy(r->arg[n_arg], path + 1, sl - 1);
                r->arg[n_arg][sl - 1] = '\0';
            }
            n_arg++;
        } else if (pl != sl || memcmp(pattern, path, pl) != 0) {
            return 0;
        }
        pattern += pl;
        path += sl;
    }
    return *pattern == '\0' && *path == '\0';
}

/* ---- helpers ------------------------------------------------------------- */

static const char *phrase(int status)
{
    static const struct {
        int status;
        const char *text;
    } phrases[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {417, "Expectation Failed"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        if (phrases[i].status == status)
            return phrases[i].text;
    return "Unknown";
}

static int request_id_ok(const char *s)
{
    size_t n = s != NULL ? strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_.:/+=")
                         : 0;
    return n > 0 && n <= GW__API_REQ_ID_MAX && s[n] == '\0';
}

static void req_free(gw_api_req *r)
{
    common_list_remove(&r->link);
    gw__conn_forget(r);
    gw__api_body_release(r);
    gw__api_push_free(r->push); /* NULL is fine */
    free(r->chan);
    OPENSSL_cleanse(r->key_text, sizeof r->key_text);
    if (r->body != NULL)
        evbuffer_free(r->body);
    if (r->out_hdrs != NULL)
        evbuffer_free(r->out_hdrs);
    free(r->target);
    free(r);
}

static void maybe_free(gw_api_req *r)
{
    if (!r->open && r->pending == 0)
        req_free(r);
}

int gw__api_posted(gw_api_req *r, int rc, const char *what)
{
    if (rc == 0)
        r->pending++;
    else if (what != NULL)
        gw__api_reply_queue_error(r, rc, NULL, what);
    return rc;
}

int gw__api_req_resume(gw_api_req *r)
{
    r->pending--;
    if (r->open)
        return 1;
    maybe_free(r);
    return 0;
}

void gw__api_header(gw_api_req *r, const char *name, const char *value)
{
    /* Our own names and values: never a CR or LF (a request id is checked). */
    if (r->open && r->out_hdrs != NULL)
        evbuffer_add_printf(r->out_hdrs, "%s: %s\r\n", name, value);
}

/* ---- replies ------------------------------------------------------------- */

static int dump_cb(const char *buf, size_t size, void *data)
{
    return evbuffer_add(data, buf, size);
}

void gw__api_reply_raw(gw_api_req *r, int status, const char *content_type, struct evbuffer *body)
{
    gw_api *a = r->api;
    const char *route;
    char st[16];
    double dt;

    if (!r->open)
        return;
    gw__api_header(r, "Content-Type", content_type);
    gw__api_header(r, "X-Request-Id", r->id);
    gw__api_header(r, "Cache-Control", "no-store");
    dt = (double)common_mono_ns() / 1e9 - r->t0;
    snprintf(st, sizeof st, "%d", status);
    if (gw_log_enabled(GW_LOG_DEBUG))
        gw_log(GW_LOG_DEBUG, "api", "request", "method", r->method, "path",
               r->target ? r->target : "-", "status", GW_LOG_INT(status), "ms",
               GW_LOG_DOUBLE(dt * 1000), "request_id", r->id, NULL);
    if (r->conn != NULL)
        gw__conn_send(r->conn, r, status, phrase(status), status == 204 ? NULL : body);
    r->open = 0;
    gw__api_body_release(r);

    route = r->route != NULL ? r->route->name : "unmatched";
    gw_metrics_add(a->m, GW_M_API_REQUESTS, route, st, 1); /* a->m may be NULL */
    gw_metrics_observe(a->m, GW_M_API_LATENCY, route, dt);
    maybe_free(r);
}

void gw__api_reply_json(gw_api_req *r, int status, json_t *body)
{
    struct evbuffer *b = evbuffer_new();

    if (b != NULL && body != NULL) {
        json_dump_callback(body, dump_cb, b, JSON_COMPACT | JSON_REAL_PRECISION(15));
        evbuffer_add(b, "\n", 1);
    }
    json_decref(body);
    gw__api_reply_raw(r, status, "application/json", b);
    if (b != NULL)
        evbuffer_free(b);
}

void gw__api_reply_error(gw_api_req *r, const gw_api_error *e)
{
    if (!r->open)
        return;
    /* Our own failures are worth a line; what a client can cause at will
     * (501, 505, busy) is only counted, or a hostile client writes the log. */
    if (e->status >= 500 && e->status != 501 && e->status != 505 && strcmp(e->code, "busy") != 0) {
        char st[16];
        snprintf(st, sizeof st, "%d", e->status);
        gw_log(GW_LOG_WARN, "api", "request failed", "status", st, "code", e->code, "route",
               r->route ? r->route->name : "unmatched", "request_id", r->id, "error", e->message,
               NULL);
    }
    if (e->status == 401)
        gw__api_header(r, "WWW-Authenticate",
                       r->has_key ? "Bearer realm=\"apnsd\", error=\"invalid_token\""
                                  : "Bearer realm=\"apnsd\"");
    gw__api_reply_json(r, e->status, gw__api_error_json(e, r->id));
}

void gw__api_reply_queue_error(gw_api_req *r, int err, const char *detail, const char *what)
{
    gw_api_error e;

    gw__api_queue_error(&e, err, detail, what);
    if (e.status == 429)
        gw__api_header(r, "Retry-After", "1");
    gw__api_reply_error(r, &e);
}

void gw__api_reply_errorf(gw_api_req *r, gw_api_errcode c, const char *field, const char *fmt, ...)
{
    gw_api_error e;
    va_list ap;

    gw_api_error_set(&e, c, field, "%s", "");
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    gw__api_reply_error(r, &e);
}

/* ---- query strings --------------------------------------------------------- */

int gw__api_query(gw_api_req *r, struct evkeyvalq *q, const char *const *allowed)
{
    const char *s = r->target != NULL ? strchr(r->target, '?') : NULL;
    struct evkeyval *kv;

    TAILQ_INIT(q);
    if (s != NULL)
        s++;
    if (s != NULL && s[0] != '\0' && evhttp_parse_query_str(s, q) != 0) {
        evhttp_clear_headers(q);
        gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, NULL,
                             "the query string is not valid (name=value&...)");
        return -1;
    }
    TAILQ_FOREACH(kv, q, next)
    {
        size_t i = 0;
        for (; allowed[i] != NULL; i++)
            if (strcmp(kv->key, allowed[i]) == 0)
                break;
        if (allowed[i] == NULL) {
            char f[64];
            snprintf(f, sizeof f, "%.60s", kv->key);
            gw__api_reply_errorf(r, GW_API_E_INVALID_QUERY, f, "unknown query parameter");
            evhttp_clear_headers(q);
            return -1;
        }
    }
    return 0;
}

/* ---- auth ------------------------------------------------------------------ */

void gw__api_key_digest(const char *key, size_t len, uint8_t out[GW__API_DIGEST])
{
    key_hashes++;
    gw_api_key_sha256(key, len, out);
}

uint64_t gw_api_key_hashes(void)
{
    return key_hashes;
}

int gw__api_app_allows(const gw_config_app *app, const uint8_t digest[GW__API_DIGEST])
{
    return app != NULL && gw_api_keyset_has(&gw_api_app_config_of(app)->keyset, digest);
}

/* 0 when the key of r (index i of the table) may make a request now (one
 * token taken); else answers 429 rate_limited with Retry-After. */
static int rate_take(gw_api_req *r, long i)
{
    gw_api *a = r->api;
    gw__api_bucket *b = a->buckets != NULL && i >= 0 ? &a->buckets[i] : NULL;
    int64_t now = common_mono_ns() / 1000000;
    double wait;
    char ra[32];

    if (b == NULL || b->rate <= 0)
        return 0;
    if (now > b->at_ms)
        b->tokens += (double)(now - b->at_ms) * b->rate / 1000.0;
    b->at_ms = now;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 0;
    }
    wait = ceil((1 - b->tokens) / b->rate);
    snprintf(ra, sizeof ra, "%.0f", wait < 1 ? 1 : wait);
    gw__api_header(r, "Retry-After", ra);
    gw_metrics_add(a->m, GW_M_API_RATE_LIMITED, b->app, NULL, 1);
    gw__api_reply_errorf(r, GW_API_E_RATE_LIMITED, "Authorization",
                         "this API key is over its rate limit ([app %s] api_rate_limit = %s, "
                         "burst %.0f): retry after %s s",
                         b->app, b->text, b->burst, ra);
    return -1;
}

/* 0 when the request carries a key of some app; else answers 401. */
static int authenticate(gw_api_req *r, const gw_api_http_head *hd)
{
    const char *h = gw_api_http_field_get(hd, "Authorization", NULL);
    size_t n;
    long i;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        gw__api_reply_errorf(r, GW_API_E_UNAUTHORIZED, "Authorization",
                             h == NULL ? "send Authorization: Bearer <api key>"
                                       : "the Authorization header must be Bearer <api key>");
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    n = strlen(h);
    r->has_key = 1;
    if (n == 0 || n >= sizeof r->key_text) {
        gw__api_reply_errorf(r, GW_API_E_UNAUTHORIZED, "Authorization", "unknown API key");
        return -1;
    }
    memcpy(r->key_text, h, n);
    r->key_text[n] = '\0';
    gw__api_key_digest(r->key_text, n, r->key);
    i = gw_api_keyset_find(r->api->keys, r->key);
    if (i < 0) {
        gw__api_reply_errorf(r, GW_API_E_UNAUTHORIZED, "Authorization", "unknown API key");
        return -1;
    }
    return rate_take(r, i);
}

/* The buckets of ks (built from cfg's apps in order, n entries), keeping
 * the fill of keys old/ob had. NULL on allocation failure. */
static gw__api_bucket *build_buckets(const gw_config *cfg, const gw_api_keyset *ks,
                                     const gw_api_keyset *old, const gw__api_bucket *ob)
{
    gw__api_bucket *v = calloc(ks->n ? ks->n : 1, sizeof(*v));
    int64_t now = common_mono_ns() / 1000000;
    size_t o = 0;

    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const gw_api_app_config *ac = gw_api_app_config_of(&cfg->apps[i]);
        for (size_t k = 0; k < ac->keyset.n; k++, o++) {
            long j = gw_api_keyset_find(ks, ks->d[o]); /* the first of equal digests */
            gw__api_bucket *b = &v[j];
            if (ac->api_rate <= 0 || (b->rate > 0 && b->rate <= ac->api_rate))
                continue;
            b->rate = ac->api_rate;
            b->burst = ac->api_rate_burst > 0 ? ac->api_rate_burst : 1;
            snprintf(b->app, sizeof b->app, "%s", cfg->apps[i].name);
            snprintf(b->text, sizeof b->text, "%s", ac->api_rate_limit);
        }
    }
    for (size_t j = 0; j < ks->n; j++) {
        long p = ob != NULL ? gw_api_keyset_find(old, ks->d[j]) : -1;
        v[j].tokens = v[j].burst;
        v[j].at_ms = now;
        if (p >= 0 && ob[p].rate > 0 && v[j].rate > 0) {
            v[j].tokens = ob[p].tokens < v[j].burst ? ob[p].tokens : v[j].burst;
            v[j].at_ms = ob[p].at_ms;
        }
    }
    return v;
}

/* The table of every app's key digests (authenticate), from cfg. */
static int build_keys(gw_api *a, const gw_config *cfg)
{
    gw_api_keyset *ks = calloc(1, sizeof(*ks));
    gw__api_bucket *b;
    uint8_t(*d)[GW_API_KEY_DIGEST];
    size_t n = 0, o = 0;
    int rc;

    for (size_t i = 0; i < cfg->n_apps; i++)
        n += gw_api_app_config_of(&cfg->apps[i])->keyset.n;
    d = malloc((n ? n : 1) * GW_API_KEY_DIGEST);
    if (ks == NULL || d == NULL) {
        free(ks);
        free(d);
        return APNS_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const gw_api_keyset *s = &gw_api_app_config_of(&cfg->apps[i])->keyset;
        memcpy(d + o, s->d, s->n * GW_API_KEY_DIGEST);
        o += s->n;
    }
    rc = gw_api_keyset_build(ks, (const uint8_t(*)[GW_API_KEY_DIGEST])d, n, NULL);
    OPENSSL_cleanse(d, (n ? n : 1) * GW_API_KEY_DIGEST);
    free(d);
    if (rc != 0) {
        free(ks);
        return rc;
    }
    b = build_buckets(cfg, ks, a->keys, a->buckets);
    if (b == NULL) {
        gw_api_keyset_clear(ks);
        free(ks);
        return APNS_ENOMEM;
    }
    if (a->keys != NULL) {
        gw_api_keyset_clear(a->keys);
        free(a->keys);
    }
    free(a->buckets);
    a->keys = ks;
    a->buckets = b;
    for (size_t i = 0; i < cfg->n_apps; i++) /* at 0 from the start, limited or not */
        if (gw_metrics_register(a->m, GW_M_API_RATE_LIMITED, cfg->apps[i].name, NULL) != 0)
            return APNS_ENOMEM;
    return 0;
}

/* ---- requests ------------------------------------------------------------ */

static gw_api_req *req_new(gw_api *a, gw__conn *c, const char *rid)
{
    gw_api_req *r = calloc(1, sizeof(*r));

    if (r == NULL || (r->out_hdrs = evbuffer_new()) == NULL) {
        free(r);
        return NULL;
    }
    r->api = a;
    r->open = 1;
    r->t0 = (double)common_mono_ns() / 1e9;
    snprintf(r->method, sizeof r->method, "-");
    common_list_push_front(&a->open, &r->link);
    if (c != NULL)
        gw__conn_attach(c, r);
    if (request_id_ok(rid))
        snprintf(r->id, sizeof r->id, "%s", rid);
    else if (apns_uuid_generate(r->id) != 0)
        snprintf(r->id, sizeof r->id, "-");
    return r;
}

void gw__api_conn_error(gw_api *a, gw__conn *c, const gw_api_error *e)
{
    gw_api_req *r = req_new(a, c, NULL);

    if (r != NULL)
        gw__api_reply_error(r, e);
}

void gw__api_abandon(gw_api_req *r)
{
    gw__conn_forget(r);
    if (r->open) {
        r->open = 0;
        maybe_free(r);
    }
}

int gw__api_on_head(gw_api *a, gw__conn *c, const gw_api_http_head *h)
{
    gw_api_req *r = req_new(a, c, gw_api_http_field_get(h, "X-Request-Id", NULL));
    const char *m = h->method;
    char allow[64] = "", *path;
    size_t pl;

    if (r == NULL)
        return -1;
    r->target = strdup(h->target);
    if (r->target == NULL) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return 0;
    }
    snprintf(r->method, sizeof r->method, "%.15s", m);
    r->head_only = strcmp(m, "HEAD") == 0;
    pl = strcspn(r->target, "?");
    path = strndup(r->target, pl);
    if (path == NULL) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        int get = strcmp(routes[i].method, "GET") == 0;
        if (!path_match(routes[i].pattern, path, r))
            continue;
        if (strcmp(routes[i].method, m) == 0 || (get && r->head_only)) {
            r->route = &routes[i];
            break;
        }
        size_t o = strlen(allow);
        snprintf(allow + o, sizeof allow - o, "%s%s%s", o ? ", " : "", routes[i].method,
                 get ? ", HEAD" : "");
    }
    if (r->route == NULL && allow[0] != '\0') {
        gw__api_header(r, "Allow", allow);
        gw__api_reply_errorf(r, GW_API_E_METHOD_NOT_ALLOWED, NULL, "%s is not allowed here; use %s",
                             r->method, allow);
    } else if (r->route == NULL) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, NULL, "no route %s %.100s", r->method, path);
    } else if (r->route->auth) {
        if (authenticate(r, h) == 0 && r->route->fn == gw__api_h_push)
            (void)gw__api_idem_header(r, h);
    }
    free(path);
    return 0;
}

void gw__api_on_body(gw_api_req *r)
{
    if (r->open)
        r->route->fn(r);
}

/* ---- lifecycle -------------------------------------------------------------- */

static void apply_limits(gw_api *a)
{
    const gw_api_server_config *s = gw_api_server_config_of(a->cfg);

    a->body_budget = s->max_body_in_flight;
    a->max_conns = gw__api_max_connections(a->cfg);
}

int gw_api_new(gw_api **out, const gw_api_opts *o, char *detail, size_t detail_len)
{
    gw_api *a;
    int rc;

    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (out == NULL || o == NULL || o->base == NULL || o->cfg == NULL || o->q == NULL)
        return APNS_EINVAL;
    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return APNS_ENOMEM;
    common_list_init(&a->open);
    common_list_init(&a->conns);
    a->base = o->base;
    a->cfg = o->cfg;
    a->q = o->q;
    a->m = o->m;
    a->d = o->d;
    /* Each route's duration histogram, the connection-limit events and the
     * idempotency results at 0 from the start (a status's request counter starts with its first
     * answer). */
    static const char *const limit_events[] = {"closed_idle", "refused", "out_of_descriptors"};
    int reg = gw_metrics_register(a->m, GW_M_LOG_SUPPRESSED, "api", NULL);
    reg |= gw_metrics_register(a->m, GW_M_API_IDLE_CLOSED, NULL, NULL);
    for (size_t i = 0; i < N_ROUTES; i++)
        reg |= gw_metrics_register(a->m, GW_M_API_LATENCY, routes[i].name, NULL);
    for (size_t i = 0; i < sizeof limit_events / sizeof limit_events[0]; i++)
        reg |= gw_metrics_register(a->m, GW_M_API_CONN_LIMITED, limit_events[i], NULL);
    static const char *const idem_results[] = {"replayed", "key_reused", "in_progress"};
    for (size_t i = 0; i < sizeof idem_results / sizeof idem_results[0]; i++)
        reg |= gw_metrics_register(a->m, GW_M_API_IDEMPOTENCY, idem_results[i], NULL);
    apply_limits(a);
    if (reg != 0 || build_keys(a, a->cfg) != 0) {
        gw_api_free(a);
        return APNS_ENOMEM;
    }
    rc = gw__api_listen(a, detail, detail_len);
    if (rc != 0) {
        gw_api_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void gw_api_set_config(gw_api *a, const gw_config *cfg)
{
    if (a == NULL || cfg == NULL)
        return;
    /* On failure (out of memory) the previous keys stay: a copy, not a
     * pointer into the old config. */
    if (build_keys(a, cfg) != 0)
        gw_log(GW_LOG_ERROR, "api", "out of memory: API keys not reloaded", NULL);
    a->cfg = cfg;
    apply_limits(a);
}

size_t gw_api_pending(const gw_api *a)
{
    size_t n = 0;

    if (a == NULL)
        return 0;
    COMMON_LIST_FOREACH(it, tmp, &a->open)
    {
        const gw_api_req *r = COMMON_CONTAINER_OF(it, gw_api_req, link);
        n += r->push != NULL && r->open;
    }
    return n;
}

void gw_api_free(gw_api *a)
{
    if (a == NULL)
        return;
    COMMON_LIST_FOREACH(it, tmp, &a->open)
    {
        gw_api_req *r = COMMON_CONTAINER_OF(it, gw_api_req, link);
        if (r->open)
            gw__api_reply_errorf(r, GW_API_E_DRAINING, NULL, "the gateway is shutting down");
    }
    /* What is left waits for queue callbacks that will not run (see api.h). */
    while (!common_list_empty(&a->open))
        req_free(COMMON_CONTAINER_OF(common_list_first(&a->open), gw_api_req, link));
    gw__api_conns_free(a);
    if (a->keys != NULL) {
        gw_api_keyset_clear(a->keys);
        free(a->keys);
    }
    free(a->buckets);
    free(a);
}

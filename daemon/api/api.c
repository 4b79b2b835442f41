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
 * Every request gets a context (gw_api_req) when evhttp hands it over. It is
 * freed when two things are true: the request was answered (r->req NULL)
 * and no queue callback that carries it is outstanding (r->pending 0).
 * Handlers that call the queue hold the context (gw__api_posted) and every
 * callback starts with gw__api_req_resume(), so a callback never touches a
 * freed request, and a request is never answered twice. All contexts sit on
 * one list so gw_api_free() can answer and free what is left.
 *
 * Auth runs before any handler of an authenticated route: the bearer key is
 * hashed (SHA-256) and compared with CRYPTO_memcmp against the hash of every
 * key of every app, without stopping at a match, so the time taken does not
 * depend on which key matched or how much of it. Requests without a valid
 * key are answered 401 before the handler runs: they never reach the queue.
 * Which app a key may act for is decided per app later (a key may be listed
 * by several apps): gw__api_app_allows().
 *
 * Bodies above [server] max_body are refused by evhttp itself while reading
 * (evhttp_set_max_body_size): libevent 2.1 answers those 413 with its own
 * short HTML page and closes the connection; it offers no hook to write that
 * answer (2.2 has evhttp_set_errorcb). The server runs with lingering close
 * (EVHTTP_SERVER_LINGERING_CLOSE): the rest of the declared body is read and
 * discarded before the 413 is written, so a client still sending its body
 * reads the 413 instead of a reset (without it, curl saw "Broken pipe" and
 * no status). Discarding keeps memory flat; the request timeout bounds a
 * client that stops sending. The push handler checks the length again and
 * answers a JSON 413 for anything that gets through.
 *
 * Every answer carries X-Request-Id (the client's, when it is 1..128 safe
 * characters, else a fresh UUID) and, except /metrics, Content-Type
 * application/json.
 */
#include "api_int.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include <openssl/evp.h>

#include "apns/notification.h"
#include "clock.h"
#include "log.h"
#include "timer.h"

/* ---- the route table ------------------------------------------------------- */

static const gw__route routes[] = {
    {EVHTTP_REQ_POST, "/v1/push", 1, gw__api_h_push, "push"},
    {EVHTTP_REQ_GET, "/v1/notifications/{id}", 1, gw__api_h_status, "notification"},
    {EVHTTP_REQ_GET, "/v1/apps/{app}/dead-tokens", 1, gw__api_h_dead_list, "dead_tokens"},
    {EVHTTP_REQ_DELETE, "/v1/apps/{app}/dead-tokens/{token}", 1, gw__api_h_dead_delete,
     "dead_token"},
    {EVHTTP_REQ_GET, "/metrics", 0, gw__api_h_metrics, "metrics"},
    {EVHTTP_REQ_GET, "/healthz", 0, gw__api_h_healthz, "healthz"},
    {EVHTTP_REQ_GET, "/readyz", 0, gw__api_h_readyz, "readyz"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static const struct {
    int cmd;
    const char *name;
} methods[] = {
    {EVHTTP_REQ_GET, "GET"},     {EVHTTP_REQ_POST, "POST"},       {EVHTTP_REQ_HEAD, "HEAD"},
    {EVHTTP_REQ_PUT, "PUT"},     {EVHTTP_REQ_DELETE, "DELETE"},   {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    {EVHTTP_REQ_TRACE, "TRACE"}, {EVHTTP_REQ_CONNECT, "CONNECT"}, {EVHTTP_REQ_PATCH, "PATCH"},
};

static const char *method_name(int cmd)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].cmd == cmd)
            return methods[i].name;
    return "?";
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
            if (sl <= 1 || sl - 1 >= GW__API_ARG_MAX || n_arg >= GW__API_ARGS)
                return 0;
            memcpy(r->arg[n_arg], path + 1, sl - 1);
            r->arg[n_arg][sl - 1] = '\0';
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
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {413, "Payload Too Large"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
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
    gw__api_push_free(r->push); /* NULL is fine */
    OPENSSL_cleanse(r->key_text, sizeof r->key_text);
    free(r);
}

static void maybe_free(gw_api_req *r)
{
    if (r->req == NULL && r->pending == 0)
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
    if (r->req != NULL)
        return 1;
    maybe_free(r);
    return 0;
}

void gw__api_header(gw_api_req *r, const char *name, const char *value)
{
    if (r->req != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
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

    if (r->req == NULL)
        return;
    gw__api_header(r, "Content-Type", content_type);
    gw__api_header(r, "X-Request-Id", r->id);
    gw__api_header(r, "Cache-Control", "no-store");
    dt = (double)common_mono_ns() / 1e9 - r->t0;
    snprintf(st, sizeof st, "%d", status);
    if (gw_log_enabled(GW_LOG_DEBUG)) {
        char ms[32];
        snprintf(ms, sizeof ms, "%.3f", dt * 1000);
        gw_log(GW_LOG_DEBUG, "api", "request", "method",
               method_name((int)evhttp_request_get_command(r->req)), "path",
               evhttp_request_get_uri(r->req), "status", st, "ms", ms, "request_id", r->id, NULL);
    }
    evhttp_send_reply(r->req, status, phrase(status), status == 204 ? NULL : body);
    r->req = NULL;

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
    if (r->req == NULL)
        return;
    if (e->status >= 500) {
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
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
    const char *s = u != NULL ? evhttp_uri_get_query(u) : NULL;
    struct evkeyval *kv;

    TAILQ_INIT(q);
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
    unsigned int n = GW__API_DIGEST;
    if (EVP_Digest(key, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, GW__API_DIGEST); /* matches no key: hashes are never all zero */
}

int gw__api_app_allows(const gw_config_app *app, const uint8_t digest[GW__API_DIGEST])
{
    static const uint8_t zero[GW__API_DIGEST];
    const gw_strv *keys;
    int ok = 0;

    if (app == NULL || CRYPTO_memcmp(digest, zero, GW__API_DIGEST) == 0)
        return 0;
    keys = &gw_api_app_config_of(app)->all_api_keys;
    for (size_t i = 0; i < keys->n; i++) {
        uint8_t d[GW__API_DIGEST];
        const char *k = keys->v[i];
        gw__api_key_digest(k, strlen(k), d);
        ok |= CRYPTO_memcmp(d, digest, GW__API_DIGEST) == 0;
    }
    return ok;
}

/* 0 when the request carries a key of some app; else answers 401. */
static int authenticate(gw_api_req *r)
{
    const gw_config *cfg = r->api->cfg;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    size_t n;
    int ok = 0;

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
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    r->has_key = 1;
    if (n == 0 || n >= sizeof r->key_text) {
        gw__api_reply_errorf(r, GW_API_E_UNAUTHORIZED, "Authorization", "unknown API key");
        return -1;
    }
    memcpy(r->key_text, h, n);
    r->key_text[n] = '\0';
    gw__api_key_digest(r->key_text, n, r->key);
    for (size_t i = 0; i < cfg->n_apps; i++)
        ok |= gw__api_app_allows(&cfg->apps[i], r->key);
    if (!ok) {
        gw__api_reply_errorf(r, GW_API_E_UNAUTHORIZED, "Authorization", "unknown API key");
        return -1;
    }
    return 0;
}

/* ---- dispatch ----------------------------------------------------------------- */

static void on_request(struct evhttp_request *req, void *arg)
{
    gw_api *a = arg;
    gw_api_req *r = calloc(1, sizeof(*r));
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    int cmd = (int)evhttp_request_get_command(req);
    char allow[64] = "";

    if (r == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    r->api = a;
    r->req = req;
    r->t0 = (double)common_mono_ns() / 1e9;
    common_list_push_front(&a->open, &r->link);
    if (request_id_ok(rid))
        snprintf(r->id, sizeof r->id, "%s", rid);
    else if (apns_uuid_generate(r->id) != 0)
        snprintf(r->id, sizeof r->id, "-");
    if (path == NULL || path[0] == '\0')
        path = "/";

    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!path_match(routes[i].pattern, path, r))
            continue;
        if (routes[i].method == cmd) {
            r->route = &routes[i];
            break;
        }
        size_t o = strlen(allow);
        snprintf(allow + o, sizeof allow - o, "%s%s", o ? ", " : "", method_name(routes[i].method));
    }
    if (r->route == NULL && allow[0] != '\0') {
        gw__api_header(r, "Allow", allow);
        gw__api_reply_errorf(r, GW_API_E_METHOD_NOT_ALLOWED, NULL, "%s is not allowed here; use %s",
                             method_name(cmd), allow);
        return;
    }
    if (r->route == NULL) {
        gw__api_reply_errorf(r, GW_API_E_NOT_FOUND, NULL, "no route %s %.100s", method_name(cmd),
                             path);
        return;
    }
    if (r->route->auth && authenticate(r) != 0)
        return;
    r->route->fn(r);
}

/* ---- lifecycle -------------------------------------------------------------- */

static void apply_limits(gw_api *a)
{
    const gw_api_server_config *s = gw_api_server_config_of(a->cfg);
    struct timeval tv = gw_timer_tv(s->request_timeout_ms);

    evhttp_set_max_body_size(a->http, (ev_ssize_t)s->max_body);
    evhttp_set_flags(a->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_max_headers_size(a->http, 64 * 1024);
    evhttp_set_timeout_tv(a->http, &tv);
}

int gw_api_new(gw_api **out, const gw_api_opts *o, char *detail, size_t detail_len)
{
    gw_api *a;
    const gw_api_server_config *s;

    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    if (out == NULL || o == NULL || o->base == NULL || o->cfg == NULL || o->q == NULL)
        return APNS_EINVAL;
    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return APNS_ENOMEM;
    common_list_init(&a->open);
    a->base = o->base;
    a->cfg = o->cfg;
    a->q = o->q;
    a->m = o->m;
    a->d = o->d;
    /* Each route's duration histogram at 0 from the start (a status's
     * request counter starts with its first answer). */
    for (size_t i = 0; i < N_ROUTES; i++)
        if (gw_metrics_register(a->m, GW_M_API_LATENCY, routes[i].name, NULL) != 0) {
            gw_api_free(a);
            return APNS_ENOMEM;
        }
    s = gw_api_server_config_of(a->cfg);
    a->http = evhttp_new(a->base);
    a->bound = calloc(s->listen.n ? s->listen.n : 1, sizeof(*a->bound));
    if (a->http == NULL || a->bound == NULL) {
        gw_api_free(a);
        return APNS_ENOMEM;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, on_request, a);
    apply_limits(a);
    for (size_t i = 0; i < s->listen.n; i++) {
        const gw_api_listen_addr *l = &s->listen_addrs[i];
        a->bound[i] = evhttp_bind_socket_with_handle(a->http, l->host, l->port);
        if (a->bound[i] == NULL) {
            int e = errno;
            if (detail != NULL)
                snprintf(detail, detail_len, "[server] listen: cannot listen on %s: %s",
                         s->listen.v[i], e ? strerror(e) : "bind failed");
            gw_api_free(a);
            return APNS_ECONNECT;
        }
        a->n_bound++;
    }
    *out = a;
    return 0;
}

uint16_t gw_api_port(const gw_api *a, size_t i)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (a == NULL || i >= a->n_bound)
        return 0;
    if (getsockname(evhttp_bound_socket_get_fd(a->bound[i]), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void gw_api_set_config(gw_api *a, const gw_config *cfg)
{
    if (a == NULL || cfg == NULL)
        return;
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
        n += r->push != NULL && r->req != NULL;
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
        if (r->req != NULL)
            gw__api_reply_errorf(r, GW_API_E_DRAINING, NULL, "the gateway is shutting down");
    }
    /* What is left waits for queue callbacks that will not run (see api.h). */
    while (!common_list_empty(&a->open))
        req_free(COMMON_CONTAINER_OF(common_list_first(&a->open), gw_api_req, link));
    if (a->http != NULL)
        evhttp_free(a->http);
    free(a->bound);
    free(a);
}

/*
 * test_api.c - the HTTP API end to end on 127.0.0.1: gw_api on an ephemeral
 * port over a real SQLite queue in a temporary directory, with a small
 * configuration loaded by gw_config_load_string, driven by a raw HTTP/1.1
 * client on the same event loop (the client pumps the loop while it waits,
 * so server, queue callbacks and client all run on this thread).
 *
 * Covered: auth (401 touches nothing, 403 for another app), the 4xx bodies
 * naming their field, 404/405, 413, 429 with Retry-After (the API's depth
 * check and the queue's own), 202 only once durable, 503 with the queue
 * read-only and with the disk full, then recovery, job status, dead-token
 * paging and DELETE, /healthz, /readyz, /metrics, ?wait answered from
 * gw_api_on_result calls made here (the test leases the job like the
 * dispatcher would), drain, request ids, a broadcast through HTTP (timed,
 * printed), docs/api.md naming every error code, and GET /v1/openapi.json
 * serving docs/openapi.json as it is in the tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sqlite3.h>

#include "test_queue_util.h"

#include "api.h"
#include "apnsd_keys.h"
#include "metrics.h"
#include "queue_keys.h"

/* The tests change limits of a loaded config in place (the API reads them
 * on every request). */
#define SERVER(c) ((gw_api_server_config *)gw_api_server_config_of(c))
#define QUEUE(c)  ((gw_queue_config *)gw_queue_config_of(c))

#define SHOP_KEY "shop-key-0123456789abcdef"
#define NEWS_KEY "news-key-0123456789abcdef"
#define T1       "0000000000000000000000000000000000000000000000000000000000000001"
#define T2       "00000000000000000000000000000000000000000000000000000000000000a2"
#define T3       "00000000000000000000000000000000000000000000000000000000000000b3"

typedef struct fx {
    char *dir;
    char path[512];
    struct event_base *base;
    gw_config *cfg;
    gw_queue *q;
    gw_metrics *m;
    gw_api *api;
    uint16_t port;
} fx;

typedef struct resp {
    int status;
    char head[8192];
    char *body;
    size_t body_len;
    json_t *json;
} resp;

/* ---- fixture ------------------------------------------------------------- */

static gw_config *load_cfg(const char *dir)
{
    char text[4096];
    gw_config_errors e;
    gw_config *c = NULL;

    snprintf(text, sizeof text,
             "[server]\n"
             "listen = 127.0.0.1:1\n" /* replaced by port 0 below */
             "max_body = 8MiB\n"
             "max_tokens = 20000\n"
             "max_wait = 3s\n"
             "[queue]\n"
             "path = %s/queue.db\n"
             "small_job_tokens = 10\n"
             "max_depth = 0\n"
             "[app shop]\n"
             "topic = com.example.shop\n"
             "environment = sandbox\n"
             "key_file = %s/AuthKey.p8\n"
             "key_id = ABC123DEFG\n"
             "team_id = DEF123GHIJ\n"
             "api_keys = " SHOP_KEY ", shop-key-number-two-000000\n"
             "[app news]\n"
             "topic = com.example.news\n"
             "environment = sandbox\n"
             "key_file = %s/AuthKey.p8\n"
             "key_id = ABC123DEFG\n"
             "team_id = DEF123GHIJ\n"
             "api_keys = " NEWS_KEY "\n"
             "[app droid]\n"
             "provider = fcm\n"
             "service_account_file = %s/sa.json\n"
             "api_keys = " SHOP_KEY "\n",
             dir, dir, dir, dir);
    if (gw_config_load_string(&gw_apnsd_schema, text, "apnsd.ini", &c, &e) != 0) {
        gw_config_errors_print(&e, stderr);
        fail_msg("config does not load");
    }
    SERVER(c)->listen_addrs[0].port = 0;
    return c;
}

static int setup_with(void **state, uint64_t queue_max_depth)
{
    fx *f = calloc(1, sizeof(*f));
    gw_queue_opts o;
    gw_api_opts ao = {0};
    char key[600], detail[256];
    FILE *kf;

    f->dir = tq_tmpdir();
    snprintf(key, sizeof key, "%s/AuthKey.p8", f->dir);
    kf = fopen(key, "w");
    assert_non_null(kf);
    fputs("not parsed\n", kf);
    fclose(kf);
    chmod(key, 0600); /* a key every user may read is refused (insecure_secrets) */
    {
        char cmd[1400];
        assert_non_null(getenv("APNS_TEST_CERTS"));
        snprintf(cmd, sizeof cmd, "cp '%s/fcm/sa-demo.json' '%s/sa.json' && chmod 600 '%s/sa.json'",
                 getenv("APNS_TEST_CERTS"), f->dir, f->dir);
        assert_int_equal(system(cmd), 0);
    }
    f->cfg = load_cfg(f->dir);
    f->base = event_base_new();
    tq_opts(&o, f->base, 0);
    o.max_depth = queue_max_depth;
    tq_db_path(f->dir, f->path, sizeof f->path);
    f->q = tq_open(&o, f->path);
    assert_int_equal(gw_metrics_new(&f->m), 0);
    ao.base = f->base;
    ao.cfg = f->cfg;
    ao.q = f->q;
    ao.m = f->m;
    if (gw_api_new(&f->api, &ao, detail, sizeof detail) != 0)
        fail_msg("gw_api_new: %s", detail);
    f->port = gw_api_port(f->api, 0);
    assert_true(f->port != 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0);
}

static int setup_depth50(void **state)
{
    return setup_with(state, 50);
}

static int teardown(void **state)
{
    fx *f = *state;
    gw_queue_free(f->q); /* first: no callback runs after it (api.h) */
    gw_api_free(f->api);
    gw_metrics_free(f->m);
    gw_config_free(f->cfg);
    event_base_free(f->base);
    tq_rmdir(f->dir);
    free(f);
    return 0;
}

static void pump(fx *f, int ms)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    if (ms > 0)
        poll(NULL, 0, ms);
}

/* ---- a raw HTTP/1.1 client ------------------------------------------------ */

typedef struct conn {
    int fd;
} conn;

static conn h_start(fx *f, const char *method, const char *target, const char *key,
                    const char *extra, const char *body, size_t body_len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    char head[16384]; /* a 4096-byte registration token in the target */
    size_t hl, off = 0;
    conn c;
    char *all;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (getenv("APNSD_TEST_VERBOSE"))
        fprintf(stderr, "> %s %s\n", method, target);
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c.fd >= 0);
    assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    hl = (size_t)snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%sContent-Length: %zu\r\n"
                          "\r\n",
                          method, target, key ? "Authorization: Bearer " : "", key ? key : "",
                          key ? "\r\n" : "", extra ? extra : "", body ? body_len : 0);
    all = malloc(hl + body_len + 1);
    memcpy(all, head, hl);
    if (body != NULL)
        memcpy(all + hl, body, body_len);
    while (off < hl + body_len) {
        ssize_t w = send(c.fd, all + off, hl + body_len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pump(f, 0);
        } else {
            break; /* the server closed early (413): read its answer */
        }
    }
    free(all);
    return c;
}

static const char *header(const resp *r, const char *name)
{
    static char v[512];
    size_t n = strlen(name);
    const char *p = r->head;

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *s = p + n + 1, *e = strstr(s, "\r\n");
            while (*s == ' ')
                s++;
            snprintf(v, sizeof v, "%.*s", (int)(e ? e - s : (ptrdiff_t)strlen(s)), s);
            return v;
        }
    }
    return NULL;
}

static void h_finish(fx *f, conn c, resp *r)
{
    size_t len = 0, cap = 65536, need = (size_t)-1, hl = 0;
    char *buf = malloc(cap);
    double t0 = tq_secs();

    memset(r, 0, sizeof(*r));
    for (;;) {
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        ssize_t n;

        event_base_loop(f->base, EVLOOP_NONBLOCK);
        if (poll(&p, 1, 1) <= 0) {
            if (tq_secs() - t0 > 20)
                fail_msg("no answer within 20 s");
            continue;
        }
        if (len + 65536 > cap)
            buf = realloc(buf, cap *= 2);
        n = recv(c.fd, buf + len, cap - len - 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (hl == 0) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e != NULL) {
                const char *cl;
                hl = (size_t)(e - buf) + 4;
                snprintf(r->head, sizeof r->head, "%.*s", (int)hl, buf);
                cl = header(r, "Content-Length");
                need = cl ? hl + strtoul(cl, NULL, 10) : (size_t)-1;
                if (atoi(buf + 9) == 204)
                    need = hl; /* no body */
            }
        }
        if (hl != 0 && len >= need)
            break;
    }
    close(c.fd);
    assert_true(hl > 0);
    r->status = atoi(buf + 9);
    r->body_len = len - hl;
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, buf + hl, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    if (r->body_len > 0 && r->body[0] == '{')
        r->json = json_loadb(r->body, r->body_len, 0, NULL);
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

static void h(fx *f, const char *method, const char *target, const char *key, const char *body,
              resp *r)
{
    h_finish(f, h_start(f, method, target, key, NULL, body, body ? strlen(body) : 0), r);
}

/* The JSON value at a path like "error.field" or "notifications.0.id". */
static json_t *jget(const resp *r, const char *path)
{
    json_t *v = r->json;
    char buf[128], *save, *tok;

    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); v != NULL && tok != NULL;
         tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return v;
}

static const char *jstr(const resp *r, const char *path)
{
    const char *s = json_string_value(jget(r, path));
    return s ? s : "(none)";
}

static long long jint(const resp *r, const char *path)
{
    return json_integer_value(jget(r, path));
}

/* Asserts status, a JSON content type, and for errors the code and field. */
static void expect(const resp *r, int status, const char *code, const char *field)
{
    const char *ct = header(r, "Content-Type");
    if (r->status != status)
        fail_msg("status %d, want %d: %s", r->status, status, r->body);
    if (status != 204) {
        assert_non_null(ct);
        assert_string_equal(ct, "application/json");
        assert_non_null(r->json);
    }
    assert_non_null(header(r, "X-Request-Id"));
    if (code != NULL) {
        assert_string_equal(jstr(r, "error.code"), code);
        assert_int_equal(jint(r, "error.status"), status);
        assert_true(strlen(jstr(r, "error.message")) > 0);
        if (field != NULL)
            assert_string_equal(jstr(r, "error.field"), field);
    }
}

static void push(fx *f, const char *key, const char *body, resp *r)
{
    h(f, "POST", "/v1/push", key, body, r);
}

static void queue_done(fx *f, int (*fn)(gw_queue *, int64_t, gw_done_cb, void *), int64_t v)
{
    tq_res r = {0};
    assert_int_equal(fn(f->q, v, tq_on_done, &r), 0);
    tq_run_until(f->base, &r.done);
    assert_int_equal(r.err, 0);
}

static int set_ro(gw_queue *q, int64_t v, gw_done_cb cb, void *ud)
{
    return gw_queue_sqlite_set_read_only(q, (int)v, cb, ud);
}

/* Body of a push of n tokens for app. */
static char *push_body(const char *app, size_t n, uint64_t seed)
{
    char *b = malloc(n * 67 + 128), tok[65];
    size_t o = (size_t)sprintf(b, "{\"app\":\"%s\",\"alert\":\"hi\",\"tokens\":[", app);
    for (size_t i = 0; i < n; i++) {
        tq_token(seed, i, tok);
        o += (size_t)sprintf(b + o, "%s\"%s\"", i ? "," : "", tok);
    }
    sprintf(b + o, "]}");
    return b;
}

/* ---- tests --------------------------------------------------------------- */

static void health_and_request_ids(void **state)
{
    fx *f = *state;
    resp r;

    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_string_equal(jstr(&r, "status"), "ok");
    assert_int_equal(strlen(header(&r, "X-Request-Id")), 36); /* generated UUID */
    resp_free(&r);

    h_finish(f, h_start(f, "GET", "/healthz", NULL, "X-Request-Id: trace-42.a\r\n", NULL, 0), &r);
    assert_string_equal(header(&r, "X-Request-Id"), "trace-42.a");
    resp_free(&r);
    /* Not echoed when unsafe. */
    h_finish(f, h_start(f, "GET", "/healthz", NULL, "X-Request-Id: a b<c>\r\n", NULL, 0), &r);
    assert_int_equal(strlen(header(&r, "X-Request-Id")), 36);
    resp_free(&r);

    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_string_equal(jstr(&r, "status"), "ready");
    resp_free(&r);

    h(f, "GET", "/nope", NULL, NULL, &r);
    expect(&r, 404, "not_found", NULL);
    resp_free(&r);
    h(f, "GET", "/v1/push", SHOP_KEY, NULL, &r);
    expect(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(header(&r, "Allow"), "POST");
    resp_free(&r);
    h(f, "PUT", "/v1/apps/shop/dead-tokens/" T1, SHOP_KEY, NULL, &r);
    expect(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(header(&r, "Allow"), "DELETE");
    resp_free(&r);
}

static void auth_401_touches_nothing(void **state)
{
    fx *f = *state;
    gw_queue_stats before, after;
    resp r;
    char body[256];

    snprintf(body, sizeof body, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    gw_queue_stats_get(f->q, &before);

    push(f, NULL, body, &r);
    expect(&r, 401, "unauthorized", "Authorization");
    assert_string_equal(header(&r, "WWW-Authenticate"), "Bearer realm=\"apnsd\"");
    resp_free(&r);

    push(f, "shop-key-0123456789abcdeX", body, &r);
    expect(&r, 401, "unauthorized", "Authorization");
    assert_non_null(strstr(header(&r, "WWW-Authenticate"), "invalid_token"));
    resp_free(&r);

    h_finish(f,
             h_start(f, "POST", "/v1/push", NULL, "Authorization: Basic c2hvcDprZXk=\r\n", body,
                     strlen(body)),
             &r);
    expect(&r, 401, "unauthorized", "Authorization");
    resp_free(&r);

    h(f, "GET", "/v1/notifications/0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0", "nope-nope-nope-nope",
      NULL, &r);
    expect(&r, 401, "unauthorized", NULL);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens", NULL, NULL, &r);
    expect(&r, 401, "unauthorized", NULL);
    resp_free(&r);
    h(f, "DELETE", "/v1/apps/shop/dead-tokens/" T1, "x", NULL, &r);
    expect(&r, 401, "unauthorized", NULL);
    resp_free(&r);

    gw_queue_stats_get(f->q, &after);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(after.requests, before.requests);
    assert_int_equal(gw_queue_depth(f->q), 0);

    /* The second key of the app works too. */
    push(f, "shop-key-number-two-000000", body, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
}

static void forbidden_for_another_app(void **state)
{
    fx *f = *state;
    resp r;
    char body[256];

    snprintf(body, sizeof body, "{\"app\":\"news\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    push(f, SHOP_KEY, body, &r);
    expect(&r, 403, "forbidden", "app");
    resp_free(&r);
    h(f, "GET", "/v1/apps/news/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 403, "forbidden", "app");
    resp_free(&r);
    h(f, "DELETE", "/v1/apps/news/dead-tokens/" T1, SHOP_KEY, NULL, &r);
    expect(&r, 403, "forbidden", "app");
    resp_free(&r);
    h(f, "GET", "/v1/apps/ghost/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 404, "not_found", "app");
    resp_free(&r);
    assert_int_equal(gw_queue_depth(f->q), 0);
}

static const struct {
    const char *body;
    const char *code;
    const char *field;
} bad_bodies[] = {
    {"", "malformed_json", NULL},
    {"{\"app\":", "malformed_json", NULL},
    {"{\"app\":\"shop\",\"tokens\":[\"" T1 "\",\"zz\"],\"alert\":\"x\"}", "bad_token", "tokens[1]"},
    {"{\"notifications\":[{\"app\":\"shop\",\"token\":\"" T1
     "\",\"alert\":\"x\"},{\"app\":\"shop\","
     "\"tokens\":[\"" T1 "\",\"" T2 "\",\"123\"],\"alert\":\"x\"}]}",
     "bad_token", "notifications[1].tokens[2]"},
    {"{\"app\":\"shop\",\"token\":\"" T1 "\",\"priority\":\"high\",\"alert\":\"x\"}",
     "invalid_field", "priority"},
    {"{\"app\":\"ghost\",\"token\":\"" T1 "\",\"alert\":\"x\"}", "unknown_app", "app"},
    {"{\"app\":\"shop\",\"token\":\"" T1 "\"}", "missing_field", "payload"},
    {"{\"app\":\"shop\",\"token\":\"" T1 "\",\"sond\":\"x\"}", "unknown_field", "sond"},
    {"{\"app\":\"shop\",\"token\":\"" T1 "\",\"alert\":\"x\",\"alert\":\"y\"}", "duplicate_key",
     "alert"},
};

static void bad_requests_name_the_field(void **state)
{
    fx *f = *state;
    resp r;
    char *big = malloc(6000);

    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        push(f, SHOP_KEY, bad_bodies[i].body, &r);
        expect(&r, 400, bad_bodies[i].code, bad_bodies[i].field);
        resp_free(&r);
    }
    /* Oversize payload. */
    memset(big, 0, 6000);
    snprintf(big, 6000, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"", T1);
    memset(big + strlen(big), 'a', 5000);
    strcat(big, "\"}");
    push(f, SHOP_KEY, big, &r);
    expect(&r, 400, "payload_too_large", "payload");
    resp_free(&r);
    free(big);
    /* Query parameters. */
    h(f, "POST", "/v1/push?wiat=1", SHOP_KEY, "{}", &r);
    expect(&r, 400, "invalid_query", "wiat");
    resp_free(&r);
    h(f, "POST", "/v1/push?wait=soon", SHOP_KEY, "{}", &r);
    expect(&r, 400, "invalid_query", "wait");
    resp_free(&r);
    assert_int_equal(gw_queue_depth(f->q), 0);
    /* Still serving. */
    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
}

static void too_many_tokens_and_body_too_large(void **state)
{
    fx *f = *state;
    resp r;
    char *b;

    SERVER(f->cfg)->max_tokens = 5;
    gw_api_set_config(f->api, f->cfg);
    b = push_body("shop", 6, 1);
    push(f, SHOP_KEY, b, &r);
    expect(&r, 400, "too_many_tokens", "tokens");
    resp_free(&r);
    free(b);

    /* Over max_body: evhttp refuses while reading (libevent 2.1 writes that
     * 413 itself, as HTML, and closes); nothing reaches the queue. */
    SERVER(f->cfg)->max_body = 4096;
    gw_api_set_config(f->api, f->cfg);
    b = push_body("shop", 100, 1);
    push(f, SHOP_KEY, b, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    free(b);
    assert_int_equal(gw_queue_depth(f->q), 0);
    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
}

static void accepted_once_durable_and_status(void **state)
{
    fx *f = *state;
    resp r, s;
    tq_res q;
    char path[128], id[64], body[512];

    snprintf(body, sizeof body,
             "{\"app\":\"shop\",\"tokens\":[\"%s\",\"%s\"],\"alert\":\"hi\","
             "\"apns_id\":\"0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0\",\"collapse_id\":\"c\"}",
             T1, T2);
    push(f, SHOP_KEY, body, &r);
    expect(&r, 202, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "notifications")), 1);
    snprintf(id, sizeof id, "%s", jstr(&r, "notifications.0.id"));
    assert_int_equal(strlen(id), 36);
    assert_string_equal(jstr(&r, "notifications.0.apns_id"),
                        "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0");
    assert_int_equal(jint(&r, "notifications.0.tokens"), 2);
    resp_free(&r);

    /* Durable: the queue knows the job the moment the 202 is out. */
    assert_int_equal(tq_status(f->base, f->q, id, &q), 0);
    assert_int_equal(q.st.tokens, 2);
    assert_string_equal(q.st.app, "shop");

    snprintf(path, sizeof path, "/v1/notifications/%s", id);
    h(f, "GET", path, SHOP_KEY, NULL, &s);
    expect(&s, 200, NULL, NULL);
    assert_string_equal(jstr(&s, "id"), id);
    assert_string_equal(jstr(&s, "app"), "shop");
    assert_string_equal(jstr(&s, "state"), "queued");
    assert_int_equal(jint(&s, "tokens"), 2);
    assert_int_equal(jint(&s, "counts.pending"), 2);
    assert_int_equal(jint(&s, "counts.accepted"), 0);
    assert_true(jint(&s, "created_ms") > 0);
    assert_int_equal(json_array_size(jget(&s, "outcomes")), 2);
    assert_string_equal(jstr(&s, "outcomes.1.token"), T2);
    assert_string_equal(jstr(&s, "outcomes.1.state"), "pending");
    assert_string_equal(jstr(&s, "outcomes.1.apns_id"), "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f1");
    resp_free(&s);

    /* Upper-case ids are the same job; other apps' keys see nothing. */
    for (char *c = path + strlen("/v1/notifications/"); *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    h(f, "GET", path, SHOP_KEY, NULL, &s);
    expect(&s, 200, NULL, NULL);
    resp_free(&s);
    h(f, "GET", path, NEWS_KEY, NULL, &s);
    expect(&s, 404, "not_found", "id");
    resp_free(&s);
    h(f, "GET", "/v1/notifications/0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0", SHOP_KEY, NULL, &s);
    expect(&s, 404, "not_found", "id");
    resp_free(&s);
    h(f, "GET", "/v1/notifications/not-a-job", SHOP_KEY, NULL, &s);
    expect(&s, 404, "not_found", "id");
    resp_free(&s);
}

static void batch_gets_one_job_each(void **state)
{
    fx *f = *state;
    resp r;
    char body[1024];

    snprintf(body, sizeof body,
             "{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"%s\",\"%s\"],\"alert\":\"a\"},"
             "{\"app\":\"shop\",\"token\":\"%s\",\"push_type\":\"background\","
             "\"content_available\":true}]}",
             T1, T2, T3);
    push(f, SHOP_KEY, body, &r);
    expect(&r, 202, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "notifications")), 2);
    assert_int_equal(jint(&r, "notifications.0.tokens"), 2);
    assert_int_equal(jint(&r, "notifications.1.tokens"), 1);
    assert_string_not_equal(jstr(&r, "notifications.0.id"), jstr(&r, "notifications.1.id"));
    /* Without an apns_id, the base is the job id. */
    assert_string_equal(jstr(&r, "notifications.1.id"), jstr(&r, "notifications.1.apns_id"));
    assert_int_equal(gw_queue_depth(f->q), 3);
    /* The exact bytes (docs/api.md): one compact JSON object and a newline. */
    char want[512];
    snprintf(want, sizeof want,
             "{\"notifications\":[{\"id\":\"%s\",\"apns_id\":\"%s\",\"tokens\":2},"
             "{\"id\":\"%s\",\"apns_id\":\"%s\",\"tokens\":1}]}\n",
             jstr(&r, "notifications.0.id"), jstr(&r, "notifications.0.apns_id"),
             jstr(&r, "notifications.1.id"), jstr(&r, "notifications.1.apns_id"));
    assert_string_equal(r.body, want);
    resp_free(&r);

    /* With an Idempotency-Key the answer is stored (jansson's dump) and a
     * repeat gets it back: the same bytes as the first answer. */
    char *first;
    h_finish(f,
             h_start(f, "POST", "/v1/push", SHOP_KEY, "Idempotency-Key: batch-1\r\n", body,
                     strlen(body)),
             &r);
    expect(&r, 202, NULL, NULL);
    assert_null(header(&r, "Idempotent-Replayed"));
    first = strdup(r.body);
    resp_free(&r);
    h_finish(f,
             h_start(f, "POST", "/v1/push", SHOP_KEY, "Idempotency-Key: batch-1\r\n", body,
                     strlen(body)),
             &r);
    expect(&r, 202, NULL, NULL);
    assert_string_equal(header(&r, "Idempotent-Replayed"), "true");
    assert_string_equal(r.body, first);
    free(first);
    resp_free(&r);
}

static void over_depth_429(void **state)
{
    fx *f = *state;
    gw_queue_stats before, after;
    resp r;
    char *b = push_body("shop", 40, 7);

    push(f, SHOP_KEY, b, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);

    /* The API's own check: depth 40 > max_depth 30. The queue is not asked. */
    QUEUE(f->cfg)->max_depth = 30;
    gw_api_set_config(f->api, f->cfg);
    gw_queue_stats_get(f->q, &before);
    push(f, SHOP_KEY, b, &r);
    expect(&r, 429, "overloaded", NULL);
    assert_string_equal(header(&r, "Retry-After"), "5");
    resp_free(&r);
    gw_queue_stats_get(f->q, &after);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(gw_queue_depth(f->q), 40);

    QUEUE(f->cfg)->max_depth = 0;
    gw_api_set_config(f->api, f->cfg);
    push(f, SHOP_KEY, b, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
    free(b);
}

/* The queue's own limit (max_depth 50 in its options): a batch whose second
 * job would pass it gets 429, and (all or nothing, on SQLite: one
 * transaction) the body says neither is stored, and neither is. */
static void queue_depth_429_lists_what_is_stored(void **state)
{
    fx *f = *state;
    resp r;
    char *b40 = push_body("shop", 40, 1), *b20 = push_body("shop", 20, 2);
    char *batch = malloc(strlen(b40) + strlen(b20) + 64);

    sprintf(batch, "{\"notifications\":[%s,%s]}", b40, b20);
    push(f, SHOP_KEY, batch, &r);
    expect(&r, 429, "overloaded", NULL);
    assert_string_equal(header(&r, "Retry-After"), "5");
    for (int i = 0; i < 2; i++) {
        char k[64];
        snprintf(k, sizeof k, "notifications.%d.accepted", i);
        assert_true(json_is_false(jget(&r, k)));
        snprintf(k, sizeof k, "notifications.%d.id", i);
        assert_null(jget(&r, k));
        snprintf(k, sizeof k, "notifications.%d.index", i);
        assert_int_equal(jint(&r, k), i);
    }
    assert_int_equal(jint(&r, "notifications.0.tokens"), 40);
    assert_int_equal(gw_queue_depth(f->q), 0);
    resp_free(&r);
    free(b40);
    free(b20);
    free(batch);
}

/* Idempotency-Key on POST /v1/push, case by case (docs/api.md, Safe
 * retries): a literal table of requests in order, each with the status, the
 * error code and field, and whether the answer is a replay (byte-identical to
 * the answer of case `first`, with Idempotent-Replayed: true). The two API
 * keys are both shop's: the scope is the API key, not the app. */
static void idempotency_table(void **state)
{
    static const struct {
        const char *name, *key, *hdr; /* hdr: whole header lines, or NULL */
        int body;                     /* 1 or 2: two different bodies */
        int status;
        const char *code, *field;
        int replay_of; /* index of the case whose answer is replayed, or -1 */
    } cases[] = {
        {"first", SHOP_KEY, "Idempotency-Key: order-1\r\n", 1, 202, NULL, NULL, -1},
        {"repeat", SHOP_KEY, "Idempotency-Key: order-1\r\n", 1, 202, NULL, NULL, 0},
        {"repeat again", SHOP_KEY, "Idempotency-Key: order-1\r\n", 1, 202, NULL, NULL, 0},
        {"other body", SHOP_KEY, "Idempotency-Key: order-1\r\n", 2, 422, "idempotency_key_reused",
         "Idempotency-Key", -1},
        {"other api key", "shop-key-number-two-000000", "Idempotency-Key: order-1\r\n", 1, 202,
         NULL, NULL, -1},
        {"other api key repeat", "shop-key-number-two-000000", "Idempotency-Key: order-1\r\n", 1,
         202, NULL, NULL, 4},
        {"twice", SHOP_KEY, "Idempotency-Key: a\r\nIdempotency-Key: a\r\n", 1, 400,
         "invalid_header", "Idempotency-Key", -1},
        {"empty", SHOP_KEY, "Idempotency-Key:\r\n", 1, 400, "invalid_header", "Idempotency-Key",
         -1},
        {"non-ASCII", SHOP_KEY, "Idempotency-Key: caf\xc3\xa9\r\n", 1, 400, "invalid_header",
         "Idempotency-Key", -1},
        {"no key", SHOP_KEY, NULL, 1, 202, NULL, NULL, -1},
        {"no key again", SHOP_KEY, NULL, 1, 202, NULL, NULL, -1},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    fx *f = *state;
    char *bodies[3] = {NULL, push_body("shop", 2, 70), push_body("shop", 2, 71)};
    char *first[N] = {0};
    resp r;

    for (size_t i = 0; i < N; i++) {
        const char *b = bodies[cases[i].body];
        const char *rep;
        h_finish(f, h_start(f, "POST", "/v1/push", cases[i].key, cases[i].hdr, b, strlen(b)), &r);
        if (r.status != cases[i].status)
            fail_msg("%s: status %d, want %d: %s", cases[i].name, r.status, cases[i].status,
                     r.body);
        expect(&r, cases[i].status, cases[i].code, cases[i].field);
        rep = header(&r, "Idempotent-Replayed");
        if (cases[i].replay_of >= 0) {
            assert_non_null(rep);
            assert_string_equal(rep, "true");
            assert_string_equal(r.body, first[cases[i].replay_of]);
        } else {
            assert_null(rep);
        }
        first[i] = strdup(r.body);
        resp_free(&r);
    }
    /* Jobs stored: first, other api key, and each push without a key. */
    assert_int_equal(gw_queue_depth(f->q), 4 * 2);
    for (size_t i = 0; i < N; i++)
        free(first[i]);
    free(bodies[1]);
    free(bodies[2]);
}

static void read_only_503_then_recovery(void **state)
{
    fx *f = *state;
    resp r;
    char *b = push_body("shop", 3, 3);

    queue_done(f, set_ro, 1);
    push(f, SHOP_KEY, b, &r);
    expect(&r, 503, "storage_unavailable", NULL);
    assert_non_null(strstr(jstr(&r, "error.message"), "read"));
    assert_true(json_is_false(jget(&r, "notifications.0.accepted")));
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 503, "not_ready", NULL);
    assert_non_null(strstr(jstr(&r, "reasons.0"), "queue: writes fail"));
    resp_free(&r);
    assert_int_equal(gw_queue_depth(f->q), 0);
    /* A read that succeeds (a read-only file serves reads) does not make
     * the gateway ready: writes still fail. */
    h(f, "GET", "/v1/apps/shop/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 503, "not_ready", NULL);
    assert_non_null(strstr(jstr(&r, "reasons.0"), "queue: writes fail"));
    resp_free(&r);

    /* Writable again, no traffic: the store's write probe (while failing)
     * makes it ready before any push. */
    queue_done(f, set_ro, 0);
    {
        int ready = 0;
        for (int i = 0; i < 200 && !ready; i++) {
            h(f, "GET", "/readyz", NULL, NULL, &r);
            ready = r.status == 200;
            resp_free(&r);
            if (!ready)
                pump(f, 50);
        }
        assert_true(ready);
    }
    push(f, SHOP_KEY, b, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    assert_int_equal(gw_queue_depth(f->q), 3);
    free(b);
}

static void disk_full_503_then_recovery(void **state)
{
    fx *f = *state;
    resp r;
    int full = 0;
    char *b = push_body("shop", 5000, 4);

    queue_done(f, gw_queue_sqlite_set_max_bytes, 1); /* no room to grow */
    for (int i = 0; i < 20 && !full; i++) {
        push(f, SHOP_KEY, b, &r);
        if (r.status == 503) {
            expect(&r, 503, "storage_unavailable", NULL);
            assert_non_null(strstr(jstr(&r, "error.message"), "full"));
            full = 1;
        } else {
            expect(&r, 202, NULL, NULL);
        }
        resp_free(&r);
    }
    assert_true(full);
    /* Reads still work on a full disk; the gateway stays not ready. */
    h(f, "GET", "/v1/apps/shop/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 503, "not_ready", NULL);
    assert_non_null(strstr(jstr(&r, "reasons.0"), "queue: writes fail"));
    resp_free(&r);
    queue_done(f, gw_queue_sqlite_set_max_bytes, 0);
    push(f, SHOP_KEY, b, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    free(b);
}

static void dead_tokens_paging_and_delete(void **state)
{
    fx *f = *state;
    const char *toks[] = {T1, T2, T3};
    resp r;
    char path[256], cursor[GW_DEAD_CURSOR_MAX];

    for (int i = 0; i < 3; i++) {
        tq_res d = {0};
        assert_int_equal(gw_queue_dead_add(f->q, "shop", toks[i], GW_DEAD_UNREGISTERED,
                                           "Unregistered", 1700000000000LL + i, tq_on_done, &d),
                         0);
        tq_run_until(f->base, &d.done);
        assert_int_equal(d.err, 0);
    }
    h(f, "GET", "/v1/apps/shop/dead-tokens?limit=2", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 2);
    assert_string_equal(jstr(&r, "dead_tokens.0.token"), T1);
    assert_string_equal(jstr(&r, "dead_tokens.0.source"), "410");
    assert_string_equal(jstr(&r, "dead_tokens.0.reason"), "Unregistered");
    assert_int_equal(jint(&r, "dead_tokens.0.timestamp_ms"), 1700000000000LL);
    assert_true(jint(&r, "dead_tokens.0.recorded_ms") > 0);
    snprintf(cursor, sizeof cursor, "%s", jstr(&r, "next_cursor"));
    resp_free(&r);

    snprintf(path, sizeof path, "/v1/apps/shop/dead-tokens?limit=2&cursor=%s", cursor);
    h(f, "GET", path, SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 1);
    assert_string_equal(jstr(&r, "dead_tokens.0.token"), T3);
    assert_true(json_is_null(jget(&r, "next_cursor")));
    resp_free(&r);

    h(f, "GET", "/v1/apps/shop/dead-tokens?since=2100-01-01T00:00:00Z", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 0);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?since=1000", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 3);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?since=2001-02-03T04:05:06.789%2B01:00", SHOP_KEY, NULL,
      &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?since=yesterday", SHOP_KEY, NULL, &r);
    expect(&r, 400, "invalid_query", "since");
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?limit=0", SHOP_KEY, NULL, &r);
    expect(&r, 400, "invalid_query", "limit");
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?cursor=garbage", SHOP_KEY, NULL, &r);
    expect(&r, 400, "invalid_query", "cursor");
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens?page=2", SHOP_KEY, NULL, &r);
    expect(&r, 400, "invalid_query", "page");
    resp_free(&r);

    h(f, "DELETE", "/v1/apps/shop/dead-tokens/" T2, SHOP_KEY, NULL, &r);
    expect(&r, 204, NULL, NULL);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
    h(f, "DELETE", "/v1/apps/shop/dead-tokens/" T2, SHOP_KEY, NULL, &r);
    expect(&r, 404, "not_found", "token");
    resp_free(&r);
    h(f, "DELETE", "/v1/apps/shop/dead-tokens/xyz", SHOP_KEY, NULL, &r);
    expect(&r, 400, "bad_token", "token");
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens", SHOP_KEY, NULL, &r);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 2);
    resp_free(&r);
}

/* An FCM app's dead registration token, entered as dispatch enters one: TEXT
 * in the registry (an APNs token is a BLOB; store_sqlite_dead.c). */
static void seed_fcm_dead(fx *f, const char *tok)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO dead_token(app, token, source, reason, "
                                        "apns_ts, recorded) VALUES('droid', ?1, 1, "
                                        "'UNREGISTERED', 0, 1700000000000)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* DELETE /v1/apps/{app}/dead-tokens/{token} for an FCM app: the token is the
 * percent-decoded segment (RFC 3986 2.1), an opaque registration token (1..4096
 * printable non-space bytes, fcm-protocol.md); an APNs app keeps the hex rule. */
static const struct {
    const char *app;
    const char *seg;  /* the path segment as sent */
    int status;       /* expected answer */
    const char *code; /* its error code */
} dead_fcm_cases[] = {
    {"droid", "fYk3Q2x0RzWc:APA91bH-ab_c", 204, NULL},             /* ':' '-' '_' as they are */
    {"droid", "fYk3Q2x0RzWc:APA91bH-ab_c", 404, "not_found"},      /* gone now */
    {"droid", "fYk3Q2x0RzWc%3AAPA91bH%2Fx%2By", 204, NULL},        /* "...:APA91bH/x+y" */
    {"droid", "fYk3Q2x0RzWc%3aAPA91bH%2fx%2by", 404, "not_found"}, /* lower-case %xx: same token */
    {"droid", "AbCd%3AEfGh", 404, "not_found"},                    /* never dead: case is kept */
    {"droid", "abc%4", 400, "bad_token"},                          /* a cut escape */
    {"droid", "abc%zz", 400, "bad_token"},                         /* not hex digits */
    {"droid", "%20abc", 400, "bad_token"},                         /* decodes to a space */
    {"droid", "abc%00def", 400, "bad_token"},                      /* decodes to a NUL */
    {"shop", "fYk3Q2x0RzWc:APA91bH-ab_c", 400, "bad_token"},       /* APNs: hex only */
    {"shop", "0000000000000000000000000000000000000000000000000000000000000001", 404, "not_found"},
};

static void dead_token_delete_fcm(void **state)
{
    fx *f = *state;
    char path[10240], *big;
    resp r;

    seed_fcm_dead(f, "fYk3Q2x0RzWc:APA91bH-ab_c");
    seed_fcm_dead(f, "fYk3Q2x0RzWc:APA91bH/x+y");
    seed_fcm_dead(f, "abcd:efgh");
    h(f, "GET", "/v1/apps/droid/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 3);
    resp_free(&r);
    for (size_t i = 0; i < sizeof dead_fcm_cases / sizeof dead_fcm_cases[0]; i++) {
        snprintf(path, sizeof path, "/v1/apps/%s/dead-tokens/%s", dead_fcm_cases[i].app,
                 dead_fcm_cases[i].seg);
        h(f, "DELETE", path, SHOP_KEY, NULL, &r);
        if (r.status != dead_fcm_cases[i].status)
            fail_msg("case %zu (%s): status %d, want %d", i, path, r.status,
                     dead_fcm_cases[i].status);
        expect(&r, dead_fcm_cases[i].status, dead_fcm_cases[i].code,
               dead_fcm_cases[i].code ? "token" : NULL);
        resp_free(&r);
    }
    /* The longest token FCM allows: 4096 bytes, here 1364 of them as %XX. */
    big = malloc(4097);
    assert_non_null(big);
    memset(big, 'Z', 4096);
    for (int i = 0; i < 1364; i++)
        big[i] = ':';
    big[4096] = '\0';
    seed_fcm_dead(f, big);
    {
        size_t o = (size_t)snprintf(path, sizeof path, "/v1/apps/droid/dead-tokens/");
        for (int i = 0; i < 4096; i++)
            o += (size_t)(big[i] == ':' ? snprintf(path + o, sizeof path - o, "%%3A")
                                        : snprintf(path + o, sizeof path - o, "%c", big[i]));
    }
    free(big);
    h(f, "DELETE", path, SHOP_KEY, NULL, &r);
    expect(&r, 204, NULL, NULL);
    resp_free(&r);
    /* One byte more is refused, naming the token. */
    snprintf(path + strlen(path), sizeof path - strlen(path), "Z");
    h(f, "DELETE", path, SHOP_KEY, NULL, &r);
    expect(&r, 400, "bad_token", "token");
    resp_free(&r);

    h(f, "GET", "/v1/apps/droid/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(json_array_size(jget(&r, "dead_tokens")), 1);
    assert_string_equal(jstr(&r, "dead_tokens.0.token"), "abcd:efgh");
    resp_free(&r);
}

static void metrics_endpoint(void **state)
{
    fx *f = *state;
    resp r;

    h(f, "GET", "/healthz", NULL, NULL, &r);
    resp_free(&r);
    h(f, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "apnsd_api_requests_total{route=\"healthz\",status=\"200\"} 1"));
    assert_non_null(strstr(r.body, "apnsd_api_request_latency_seconds"));
    assert_non_null(strstr(r.body, "apnsd_queue_depth"));
    resp_free(&r);

    SERVER(f->cfg)->metrics = 0;
    h(f, "GET", "/metrics", NULL, NULL, &r);
    expect(&r, 404, "not_found", NULL);
    resp_free(&r);
}

/* ---- ?wait --------------------------------------------------------------- */

/* Leases the job's chunk like the dispatcher would (the test learns the job
 * id and tokens this way while the request is held). */
static gw_chunk *lease_one(fx *f)
{
    double t0 = tq_secs();
    for (;;) {
        tq_res l;
        assert_int_equal(tq_lease(f->base, f->q, 1, &l), 0);
        if (l.n == 1)
            return l.chunks[0];
        if (tq_secs() - t0 > 10)
            fail_msg("nothing to lease");
        pump(f, 5);
    }
}

static void result(fx *f, gw_chunk *c, uint32_t i, gw_token_state st, int status,
                   const char *reason, gw_dead_source dead)
{
    gw_token_result r = {0};
    char hex[APNS_TOKEN_HEX_MAX + 1], id[GW_JOB_ID_LEN + 1];

    gw_chunk_token_hex(c, i, hex);
    gw_chunk_apns_id(c, i, id);
    r.app = c->app;
    r.job_id = c->job_id;
    r.index = c->first + i;
    r.token = hex;
    r.apns_id = id;
    r.state = st;
    r.status = status;
    r.reason = reason;
    r.apns_ts_ms = dead ? 1700000000123LL : 0;
    r.dead = dead;
    gw_api_on_result(f->api, &r);
}

static void wait_answers_with_results(void **state)
{
    fx *f = *state;
    resp r;
    conn c;
    gw_chunk *ch;
    char body[512];

    snprintf(body, sizeof body,
             "{\"app\":\"shop\",\"tokens\":[\"%s\",\"%s\",\"%s\"],\"alert\":\"x\"}", T1, T2, T3);
    c = h_start(f, "POST", "/v1/push?wait=30", SHOP_KEY, NULL, body, strlen(body));
    ch = lease_one(f);
    assert_int_equal(ch->n_tokens, 3);
    assert_int_equal(gw_api_pending(f->api), 1);
    result(f, ch, 0, GW_TOKEN_ACCEPTED, 200, "", GW_DEAD_NONE);
    result(f, ch, 1, GW_TOKEN_REJECTED, 410, "Unregistered", GW_DEAD_UNREGISTERED);
    result(f, ch, 1, GW_TOKEN_ACCEPTED, 200, "", GW_DEAD_NONE); /* a duplicate is ignored */
    result(f, ch, 2, GW_TOKEN_RETRY, 0, "", GW_DEAD_NONE);      /* not final: ignored */
    result(f, ch, 2, GW_TOKEN_REJECTED, 400, "BadDeviceToken", GW_DEAD_BAD_DEVICE_TOKEN);
    h_finish(f, c, &r);
    expect(&r, 200, NULL, NULL);
    assert_true(json_is_true(jget(&r, "notifications.0.complete")));
    assert_string_equal(jstr(&r, "notifications.0.id"), ch->job_id);
    assert_string_equal(jstr(&r, "notifications.0.results.0.state"), "accepted");
    assert_string_equal(jstr(&r, "notifications.0.results.0.token"), T1);
    assert_string_equal(jstr(&r, "notifications.0.results.1.state"), "rejected");
    assert_int_equal(jint(&r, "notifications.0.results.1.status"), 410);
    assert_string_equal(jstr(&r, "notifications.0.results.1.reason"), "Unregistered");
    assert_string_equal(jstr(&r, "notifications.0.results.1.dead_token"), "410");
    assert_int_equal(jint(&r, "notifications.0.results.1.timestamp_ms"), 1700000000123LL);
    assert_string_equal(jstr(&r, "notifications.0.results.2.reason"), "BadDeviceToken");
    {
        char id[GW_JOB_ID_LEN + 1];
        gw_chunk_apns_id(ch, 2, id);
        assert_string_equal(jstr(&r, "notifications.0.results.2.apns_id"), id);
    }
    assert_int_equal(gw_api_pending(f->api), 0);
    resp_free(&r);
}

static void wait_times_out_with_pending(void **state)
{
    fx *f = *state;
    resp r;
    conn c;
    gw_chunk *ch;
    char body[512];
    double t0;

    SERVER(f->cfg)->max_wait_ms = 1000; /* ?wait=30 is cut to 1 s */
    snprintf(body, sizeof body, "{\"app\":\"shop\",\"tokens\":[\"%s\",\"%s\"],\"alert\":\"x\"}", T1,
             T2);
    t0 = tq_secs();
    c = h_start(f, "POST", "/v1/push?wait=30", SHOP_KEY, NULL, body, strlen(body));
    ch = lease_one(f);
    result(f, ch, 1, GW_TOKEN_ACCEPTED, 200, "", GW_DEAD_NONE);
    h_finish(f, c, &r);
    expect(&r, 200, NULL, NULL);
    assert_true(tq_secs() - t0 >= 0.9);
    assert_true(json_is_false(jget(&r, "notifications.0.complete")));
    assert_string_equal(jstr(&r, "notifications.0.results.0.state"), "pending");
    assert_string_equal(jstr(&r, "notifications.0.results.1.state"), "accepted");
    resp_free(&r);

    /* Larger than small_job_tokens (10): 400 naming wait, nothing stored. */
    {
        char *b = push_body("shop", 11, 9);
        push(f, SHOP_KEY, b, &r);
        resp_free(&r);
        h(f, "POST", "/v1/push?wait=1", SHOP_KEY, b, &r);
        expect(&r, 400, "invalid_query", "wait");
        resp_free(&r);
        free(b);
        assert_int_equal(gw_queue_depth(f->q), 2 + 11);
    }
    /* ?wait=0 is an ordinary push. */
    h(f, "POST", "/v1/push?wait=0", SHOP_KEY, body, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
}

/* The client goes away while its ?wait request is held: the answer goes
 * nowhere, nothing leaks, the server keeps serving. */
static void wait_client_gone(void **state)
{
    fx *f = *state;
    resp r;
    conn c;
    gw_chunk *ch;
    char body[256];

    snprintf(body, sizeof body, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    c = h_start(f, "POST", "/v1/push?wait=30", SHOP_KEY, NULL, body, strlen(body));
    ch = lease_one(f);
    close(c.fd);
    for (int i = 0; i < 5; i++)
        pump(f, 5);
    assert_int_equal(gw_api_pending(f->api), 1);
    result(f, ch, 0, GW_TOKEN_ACCEPTED, 200, "", GW_DEAD_NONE);
    for (int i = 0; i < 5; i++)
        pump(f, 5);
    assert_int_equal(gw_api_pending(f->api), 0);
    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
}

static void drain(void **state)
{
    fx *f = *state;
    resp r;
    conn c;
    char body[256];

    snprintf(body, sizeof body, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    /* A ?wait request in progress is answered at once on drain. */
    c = h_start(f, "POST", "/v1/push?wait=30", SHOP_KEY, NULL, body, strlen(body));
    (void)lease_one(f);
    pump(f, 10);
    gw_api_stop_accepting(f->api);
    h_finish(f, c, &r);
    expect(&r, 200, NULL, NULL);
    assert_string_equal(jstr(&r, "notifications.0.results.0.state"), "pending");
    resp_free(&r);

    push(f, SHOP_KEY, body, &r);
    expect(&r, 503, "draining", NULL);
    resp_free(&r);
    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/readyz", NULL, NULL, &r);
    expect(&r, 503, "not_ready", NULL);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens", SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
}

/* Shutting down with a push waiting for storage: the request is answered
 * 503 and its context freed (no leak, no callback afterwards). */
static void free_with_requests_open(void **state)
{
    fx *f = *state;
    char *b = push_body("shop", 3, 5);
    conn c = h_start(f, "POST", "/v1/push?wait=30", SHOP_KEY, NULL, b, strlen(b));
    double t0 = tq_secs();

    while (gw_api_pending(f->api) == 0 && tq_secs() - t0 < 10)
        pump(f, 1);
    assert_int_equal(gw_api_pending(f->api), 1);
    close(c.fd);
    free(b);
}

static void broadcast_through_http(void **state)
{
    fx *f = *state;
    size_t n = tq_small() ? 100000 : 1000000;
    char *b = push_body("shop", n, 11), path[128];
    resp r;
    tq_res q;
    double t0;

    SERVER(f->cfg)->max_tokens = (uint32_t)n;
    SERVER(f->cfg)->max_body = 128u << 20;
    gw_api_set_config(f->api, f->cfg);
    t0 = tq_secs();
    push(f, SHOP_KEY, b, &r);
    expect(&r, 202, NULL, NULL);
    print_message("[ measure  ] POST /v1/push: %zu tokens, %.1f MB, 202 after %.3f s "
                  "(parse + durable commit)\n",
                  n, strlen(b) / 1e6, tq_secs() - t0);
    assert_int_equal(jint(&r, "notifications.0.tokens"), (long long)n);
    assert_int_equal(tq_status(f->base, f->q, jstr(&r, "notifications.0.id"), &q), 0);
    assert_int_equal(q.st.tokens, n);
    snprintf(path, sizeof path, "/v1/notifications/%s", jstr(&r, "notifications.0.id"));
    resp_free(&r);
    h(f, "GET", path, SHOP_KEY, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(jint(&r, "counts.pending"), (long long)n);
    assert_null(jget(&r, "outcomes")); /* a large job reports counts only */
    resp_free(&r);
    free(b);
}

/* ---- hostile clients (issue 12) -------------------------------------------- */

/* A file of the source tree, NUL-terminated (caller frees). */
static char *source_file(const char *rel)
{
    char path[1024], *text;
    const char *src = __FILE__, *cut = strstr(src, "tests/daemon/");
    FILE *fp;
    long n;

    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*s%s", (int)(cut - src), src, rel);
    fp = fopen(path, "r");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return text;
}

static int raw_connect(fx *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pump(f, 0);
    return fd;
}

/* Sends n bytes (pumping the loop while the socket is full); returns the
 * bytes sent before the server closed. */
static size_t raw_send(fx *f, int fd, const char *b, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, b + off, n - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            pump(f, 1);
        else
            break;
    }
    return off;
}

typedef struct answers {
    int n;
    int status[8];
    char code[8][40];
    int json[8];      /* Content-Type application/json and a JSON body */
    long body_len[8]; /* bytes after the head */
    int eof;          /* the server closed */
    char first_head[8192];
} answers;

/* Reads answers on fd until the server closes or `want` answers arrived and
 * `settle` more loop turns brought nothing. head_only: every answer is to a
 * HEAD request (no body whatever Content-Length says). */
static void raw_read(fx *f, int fd, answers *a, int want, int settle, int head_only)
{
    char buf[65536];
    size_t len = 0;
    double t0 = tq_secs();
    int quiet = 0;

    memset(a, 0, sizeof(*a));
    while (tq_secs() - t0 < 20) {
        ssize_t n;
        pump(f, 1);
        n = recv(fd, buf + len, sizeof buf - len - 1, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            a->eof = 1;
            break;
        }
        if (n < 0) {
            if (a->n >= want && ++quiet > settle)
                break;
            continue;
        }
        quiet = 0;
        len += (size_t)n;
        buf[len] = '\0';
        for (;;) { /* complete answers at the front of buf */
            char *e = strstr(buf, "\r\n\r\n");
            resp r;
            const char *cl;
            size_t hl, bl;
            if (e == NULL)
                break;
            hl = (size_t)(e - buf) + 4;
            memset(&r, 0, sizeof r);
            snprintf(r.head, sizeof r.head, "%.*s", (int)hl, buf);
            cl = header(&r, "Content-Length");
            bl = head_only || cl == NULL ? 0 : strtoul(cl, NULL, 10);
            if (len < hl + bl)
                break;
            if (strncmp(buf, "HTTP/1.1 100 ", 13) != 0 && a->n < 8) {
                json_t *j = json_loadb(buf + hl, bl, 0, NULL);
                const char *ct = header(&r, "Content-Type");
                if (a->n == 0)
                    snprintf(a->first_head, sizeof a->first_head, "%s", r.head);
                a->status[a->n] = atoi(buf + 9);
                a->json[a->n] = ct != NULL && strcmp(ct, "application/json") == 0 && j != NULL;
                a->body_len[a->n] = (long)bl;
                snprintf(a->code[a->n], sizeof a->code[0], "%s",
                         json_string_value(json_object_get(json_object_get(j, "error"), "code"))
                             ?: "-");
                json_decref(j);
                a->n++;
            }
            memmove(buf, buf + hl + bl, len - hl - bl + 1);
            len -= hl + bl;
        }
    }
}

/* C escapes (\r \n \t \\ \xNN) of a golden cell; KEY -> SHOP_KEY. */
static size_t unescape(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    while (*s != '\0' && n + 64 < cap) {
        if (strncmp(s, "KEY", 3) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", SHOP_KEY);
            s += 3;
        } else if (s[0] == '\\' && s[1] == 'x') {
            char hx[3] = {s[2], s[3], 0};
            out[n++] = (char)strtol(hx, NULL, 16);
            s += 4;
        } else if (s[0] == '\\') {
            out[n++] = s[1] == 'r' ? '\r' : s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : s[1];
            s += 2;
        } else {
            out[n++] = *s++;
        }
    }
    return n;
}

/* tests/golden/http-framing.tsv: each row's bytes on a fresh connection. */
static void framing_golden_table(void **state)
{
    fx *f = *state;
    char *text = source_file("tests/golden/http-framing.tsv"), *save, *line;
    int rows = 0, header_seen = 0;

    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *col[7], *s2, raw[4096];
        int nc = 0;
        answers a;
        int fd;
        size_t n;

        if (line[0] == '#')
            continue;
        for (char *c = strtok_r(line, "\t", &s2); c != NULL && nc < 7;
             c = strtok_r(NULL, "\t", &s2))
            col[nc++] = c;
        assert_int_equal(nc, 7);
        if (!header_seen++) {
            assert_string_equal(col[0], "case");
            continue;
        }
        n = unescape(col[1], raw, sizeof raw);
        fd = raw_connect(f);
        raw_send(f, fd, raw, n);
        raw_read(f, fd, &a, atoi(col[4]), strcmp(col[5], "yes") == 0 ? 1000000 : 20, 0);
        close(fd);
        if (getenv("APNSD_TEST_VERBOSE"))
            fprintf(stderr, "%s: %d answers, first %d %s, eof %d\n", col[0], a.n, a.status[0],
                    a.code[0], a.eof);
        if (a.n != atoi(col[4]) || a.status[0] != atoi(col[2]) || strcmp(a.code[0], col[3]) != 0 ||
            a.eof != (strcmp(col[5], "yes") == 0) || (a.status[0] != 200 && !a.json[0]))
            fail_msg("%s: %d answers (want %s), first %d %s (want %s %s), json %d, closed %d "
                     "(want %s)\n%s",
                     col[0], a.n, col[4], a.status[0], a.code[0], col[2], col[3], a.json[0], a.eof,
                     col[5], a.first_head);
        rows++;
    }
    free(text);
    assert_true(rows >= 20);
    /* Nothing of it reached the queue; the server still serves. */
    assert_int_equal(gw_queue_depth(f->q), 0);
}

/* HEAD: the GET answer's status and headers, no body; the next request on
 * the connection is read right after it. HEAD of a POST route: 405, no body. */
static void head_has_no_body(void **state)
{
    fx *f = *state;
    static const char req[] = "HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                              "HEAD /v1/push HTTP/1.1\r\nHost: a\r\n\r\n";
    answers a;
    int fd = raw_connect(f);

    raw_send(f, fd, req, sizeof req - 1);
    raw_read(f, fd, &a, 2, 20, 1);
    close(fd);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.status[0], 200);
    assert_int_equal(a.status[1], 405);
    assert_false(a.eof);
    assert_non_null(strstr(a.first_head, "Content-Length: 16")); /* {"status":"ok"}\n */
}

/* Expect: 100-continue gets "100 Continue" only when the request will be
 * read: a request refused from its head gets its answer at once. */
static void expect_continue(void **state)
{
    fx *f = *state;
    char req[512], body[256];
    int fd, n;
    char got[512];
    ssize_t r = 0;
    answers a;

    snprintf(body, sizeof body, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    n = snprintf(req, sizeof req,
                 "POST /v1/push HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                 "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
                 SHOP_KEY, strlen(body));
    fd = raw_connect(f);
    raw_send(f, fd, req, (size_t)n);
    for (int i = 0; i < 2000 && r <= 0; i++) {
        pump(f, 1);
        r = recv(fd, got, sizeof got - 1, 0);
    }
    assert_true(r > 0);
    got[r] = '\0';
    assert_int_equal(strncmp(got, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    raw_send(f, fd, body, strlen(body));
    raw_read(f, fd, &a, 1, 20, 0);
    close(fd);
    assert_int_equal(a.status[0], 202);

    n = snprintf(
        req, sizeof req,
        "POST /v1/push HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer wrong-key-00000000000\r\n"
        "Expect: 100-continue\r\nContent-Length: 100000000\r\n\r\n");
    fd = raw_connect(f);
    raw_send(f, fd, req, (size_t)n);
    raw_read(f, fd, &a, 1, 1000000, 0);
    close(fd);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.status[0], 401);
    assert_true(a.eof);
}

static double metric_value(fx *f, const char *sample)
{
    resp r;
    const char *p;
    double v = 0;
    char want[256];

    snprintf(want, sizeof want, "\n%s", sample);
    h(f, "GET", "/metrics", NULL, NULL, &r);
    p = strstr(r.body, want);
    if (p != NULL)
        v = strtod(p + strlen(want), NULL);
    resp_free(&r);
    return v;
}

#define HUGE_CL 100000000ULL /* a 100 MB upload */

/* 20 clients without a valid key declare 100 MB bodies and start sending:
 * each is answered 401 from its head, nothing of the bodies is buffered. A
 * valid key past the budget of bodies in flight gets 503 busy. */
static void auth_before_body(void **state)
{
    fx *f = *state;
    enum { N = 20 };
    int fd[N];
    char req[512], *chunk = calloc(1, 65536);
    answers a;

    SERVER(f->cfg)->max_body = 1024 * 1024 * 1024;
    SERVER(f->cfg)->max_body_in_flight = 1024 * 1024 * 1024;
    gw_api_set_config(f->api, f->cfg);
    memset(chunk, ' ', 65536);
    for (int i = 0; i < N; i++) {
        int n = snprintf(req, sizeof req,
                         "POST /v1/push HTTP/1.1\r\nHost: a\r\n%sContent-Length: %llu\r\n\r\n",
                         i % 2 ? "Authorization: Bearer not-a-key-0123456789\r\n" : "", HUGE_CL);
        fd[i] = raw_connect(f);
        raw_send(f, fd[i], req, (size_t)n);
        raw_send(f, fd[i], chunk, 65536);
    }
    for (int i = 0; i < N; i++) {
        raw_read(f, fd[i], &a, 1, 1000000, 0);
        close(fd[i]);
        assert_int_equal(a.n, 1);
        assert_int_equal(a.status[0], 401);
        assert_string_equal(a.code[0], "unauthorized");
        assert_true(a.json[0]);
    }
    assert_true(metric_value(f, "apnsd_api_body_bytes ") == 0);

    /* A valid key: bodies are admitted up to the budget, then 503 busy. */
    SERVER(f->cfg)->max_body_in_flight = 3 * 1024 * 1024;
    gw_api_set_config(f->api, f->cfg);
    {
        int ok[3];
        for (int i = 0; i < 3; i++) {
            int n = snprintf(req, sizeof req,
                             "POST /v1/push HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                             "Content-Length: %d\r\n\r\n",
                             SHOP_KEY, 1200 * 1024);
            ok[i] = raw_connect(f);
            raw_send(f, ok[i], req, (size_t)n);
            for (int k = 0; k < 20; k++)
                pump(f, 1);
        }
        /* Two fit (2.4 MB of 3 MB), the third is refused at once. */
        raw_read(f, ok[2], &a, 1, 1000000, 0);
        assert_int_equal(a.status[0], 503);
        assert_string_equal(a.code[0], "busy");
        {
            double v = metric_value(f, "apnsd_api_body_bytes ");
            if (v != 2 * 1200 * 1024)
                fail_msg("apnsd_api_body_bytes %.0f, want %d", v, 2 * 1200 * 1024);
        }
        for (int i = 0; i < 3; i++)
            close(ok[i]);
        for (int k = 0; k < 50; k++)
            pump(f, 1);
        assert_true(metric_value(f, "apnsd_api_body_bytes ") == 0);
    }
    free(chunk);
    assert_int_equal(gw_queue_depth(f->q), 0);
}

/* A client trickling its head one byte at a time is cut at the request
 * deadline (1 s) with 408, however often it sends. */
static void slowloris_cut_at_deadline(void **state)
{
    fx *f = *state;
    char req[4096];
    size_t n, sent = 0;
    int fd;
    answers a;

    SERVER(f->cfg)->request_timeout_ms = 1000;
    gw_api_set_config(f->api, f->cfg);
    n = (size_t)snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: a\r\n");
    while (n < 3000)
        n += (size_t)snprintf(req + n, sizeof req - n, "X-Pad-%zu: y\r\n", n);
    n += (size_t)snprintf(req + n, sizeof req - n, "\r\n");
    fd = raw_connect(f);
    /* One byte every 20 ms would take a minute: each byte well within any
     * per-read timeout. */
    while (sent < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (send(fd, req + sent, 1, MSG_NOSIGNAL) != 1)
            break;
        sent++;
        pump(f, 20);
        if (poll(&p, 1, 0) > 0)
            break; /* the server answered */
    }
    raw_read(f, fd, &a, 1, 1000000, 0);
    close(fd);
    assert_true(sent < n);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.status[0], 408);
    assert_string_equal(a.code[0], "request_timeout");
    assert_true(a.eof);
}

/* [server] idle_timeout (1 s here) closes a connection with no request in
 * progress, just accepted or kept alive after an answer, quietly and
 * counted; a connection in the middle of a request is not idle: only
 * request_timeout (60 s, never reached here) bounds it, and its request is
 * answered after both idle ones were closed. */
static void idle_timeout_closes_idle_only(void **state)
{
    fx *f = *state;
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
    int fresh, kept, busy;
    answers a;

    SERVER(f->cfg)->idle_timeout_ms = 1000;
    SERVER(f->cfg)->request_timeout_ms = 60000;
    gw_api_set_config(f->api, f->cfg);
    assert_true(metric_value(f, "apnsd_api_idle_closed_total ") == 0);
    fresh = raw_connect(f);
    kept = raw_connect(f);
    raw_send(f, kept, get, sizeof get - 1);
    raw_read(f, kept, &a, 1, 5, 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.status[0], 200);
    assert_false(a.eof); /* kept alive */
    busy = raw_connect(f);
    raw_send(f, busy, get, 20); /* half a head */

    raw_read(f, fresh, &a, 0, 1000000, 0);
    assert_true(a.eof);
    assert_int_equal(a.n, 0); /* closed quietly */
    raw_read(f, kept, &a, 0, 1000000, 0);
    assert_true(a.eof);
    assert_int_equal(a.n, 0);

    raw_send(f, busy, get + 20, sizeof get - 1 - 20);
    raw_read(f, busy, &a, 1, 5, 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.status[0], 200);
    close(fresh);
    close(kept);
    close(busy);
    {
        double v = metric_value(f, "apnsd_api_idle_closed_total ");
        if (v != 2)
            fail_msg("apnsd_api_idle_closed_total %.0f, want 2", v);
    }
}

/* At max_connections a new connection closes the longest-idle one; when
 * every connection is in the middle of a request the newcomer gets 503 busy
 * at once. */
static void connection_limit(void **state)
{
    fx *f = *state;
    enum { MAX = 6 };
    int fd[MAX], extra;
    answers a;
    resp r;

    SERVER(f->cfg)->max_connections = MAX;
    gw_api_set_config(f->api, f->cfg);
    for (int i = 0; i < MAX; i++)
        fd[i] = raw_connect(f);
    for (int k = 0; k < 10; k++)
        pump(f, 1);
    /* A 7th: /healthz answered, the oldest idle connection closed. */
    h(f, "GET", "/healthz", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    resp_free(&r);
    raw_read(f, fd[0], &a, 0, 5, 0);
    assert_true(a.eof);
    close(fd[0]);
    /* Every connection busy (half a head sent): the newcomer is refused. */
    fd[0] = raw_connect(f);
    for (int i = 0; i < MAX; i++)
        raw_send(f, fd[i], "GET /healthz HTTP/1.1\r\n", 23);
    for (int k = 0; k < 10; k++)
        pump(f, 1);
    extra = raw_connect(f);
    raw_read(f, extra, &a, 1, 1000000, 0);
    close(extra);
    assert_int_equal(a.status[0], 503);
    assert_string_equal(a.code[0], "busy");
    for (int i = 0; i < MAX; i++)
        close(fd[i]);
    for (int k = 0; k < 20; k++)
        pump(f, 1);
    assert_true(metric_value(f, "apnsd_api_connection_limit_total{event=\"closed_idle\"} ") >= 1);
    assert_true(metric_value(f, "apnsd_api_connection_limit_total{event=\"refused\"} ") >= 1);
}

/* One SHA-256 per authenticated request, with 3 keys or 2000. */
static void key_lookup_hashes_once(void **state)
{
    fx *f = *state;
    char body[256], *text;
    uint64_t before;
    gw_config *big;
    gw_config_errors e;
    resp r;
    size_t o = 0, cap = 200000;

    snprintf(body, sizeof body, "{\"app\":\"shop\",\"token\":\"%s\",\"alert\":\"x\"}", T1);
    before = gw_api_key_hashes();
    push(f, SHOP_KEY, body, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
    assert_int_equal(gw_api_key_hashes() - before, 1);

    text = malloc(cap);
    o += (size_t)snprintf(text + o, cap - o,
                          "[server]\nlisten = 127.0.0.1:1\n[queue]\npath = %s/queue.db\n"
                          "[app shop]\ntopic = com.example.shop\nenvironment = sandbox\n"
                          "key_file = %s/AuthKey.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                          "api_keys = " SHOP_KEY "\n",
                          f->dir, f->dir);
    for (int i = 0; i < 2000; i++) /* a repeated key adds to the list */
        o += (size_t)snprintf(text + o, cap - o, "api_keys = bulk-key-%08d-abcdef\n", i);
    if (gw_config_load_string(&gw_apnsd_schema, text, "big.ini", &big, &e) != 0) {
        gw_config_errors_print(&e, stderr);
        fail_msg("config does not load");
    }
    free(text);
    gw_api_set_config(f->api, big);
    before = gw_api_key_hashes();
    push(f, "bulk-key-00001999-abcdef", body, &r);
    expect(&r, 202, NULL, NULL);
    resp_free(&r);
    h(f, "GET", "/v1/apps/shop/dead-tokens", "nope-not-a-key-0000000", NULL, &r);
    expect(&r, 401, "unauthorized", "Authorization");
    resp_free(&r);
    assert_int_equal(gw_api_key_hashes() - before, 2);
    gw_api_set_config(f->api, f->cfg);
    gw_config_free(big);
}

/* docs/api.md documents every error code of the table. */
static void docs_name_every_error_code(void **state)
{
    char *text = source_file("docs/api.md");

    (void)state;
    for (int c = 0; c < GW_API_E_COUNT; c++) {
        char want[64];
        snprintf(want, sizeof want, "`%s`", gw_api_errcode_name((gw_api_errcode)c));
        if (strstr(text, want) == NULL)
            fail_msg("docs/api.md does not document %s", want);
    }
    free(text);
}

/* GET /v1/openapi.json: no key needed, and the bytes are docs/openapi.json's
 * (built in at build time: an installed apnsd serves the tree's contract). */
static void openapi_served(void **state)
{
    fx *f = *state;
    char *text = source_file("docs/openapi.json");
    resp r;

    h(f, "GET", "/v1/openapi.json", NULL, NULL, &r);
    expect(&r, 200, NULL, NULL);
    assert_int_equal(r.body_len, strlen(text));
    assert_memory_equal(r.body, text, r.body_len);
    assert_string_equal(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    resp_free(&r);
    h(f, "POST", "/v1/openapi.json", NULL, "{}", &r);
    expect(&r, 405, "method_not_allowed", NULL);
    resp_free(&r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(health_and_request_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_401_touches_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(forbidden_for_another_app, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_tokens_and_body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(accepted_once_durable_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_gets_one_job_each, setup, teardown),
        cmocka_unit_test_setup_teardown(over_depth_429, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_depth_429_lists_what_is_stored, setup_depth50,
                                        teardown),
        cmocka_unit_test_setup_teardown(idempotency_table, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_503_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_full_503_then_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_tokens_paging_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_token_delete_fcm, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_answers_with_results, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_times_out_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_client_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(drain, setup, teardown),
        cmocka_unit_test_setup_teardown(free_with_requests_open, setup, teardown),
        cmocka_unit_test_setup_teardown(broadcast_through_http, setup, teardown),
        cmocka_unit_test_setup_teardown(framing_golden_table, setup, teardown),
        cmocka_unit_test_setup_teardown(head_has_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_before_body, setup, teardown),
        cmocka_unit_test_setup_teardown(slowloris_cut_at_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_timeout_closes_idle_only, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(key_lookup_hashes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(openapi_served, setup, teardown),
        cmocka_unit_test(docs_name_every_error_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

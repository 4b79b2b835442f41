/*
 * api_keys.c - the configuration of the HTTP API: the [server] keys it
 * serves with, and the bearer keys of each [app NAME] (api_keys, and
 * api_keys_file read at load and on every reload) with their request rate
 * limit (api_rate_limit, api_rate_burst: a token bucket per key, api.c).
 * Rules: the listen addresses parse and are distinct; an app has at least
 * one key, none twice; a burst needs a rate.
 */
#include "api_keys.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "apns/error.h"

#define S(f) offsetof(gw_api_server_config, f)
#define A(f) offsetof(gw_api_app_config, f)

#define KEYS_FILE_MAX (1024 * 1024)

/* Listen addresses may use port 0: the kernel picks a free port and apnsd
 * prints the real one ("apnsd listening on HOST:PORT"), for tests and demos. */
static int check_listen(const char *v, char *why, size_t len)
{
    char host[256];
    uint16_t port;
    return gw_config_why(gw_config_split_hostport(v, host, sizeof host, &port) == 0, why, len,
                         "must be host:port or [v6]:port with a port in 0..65535 (0 = any free "
                         "port)");
}

static int check_api_key(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n >= 16 && n <= 256;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f && v[i] != ',';
    return gw_config_why(ok, why, len,
                         "every key must be 16..256 printable characters without spaces or commas "
                         "(this one has %zu)",
                         n);
}

#define RATE_MAX 1000000 /* requests per unit, at most */

int gw_api_rate_parse(const char *v, double *per_s, char *why, size_t why_len)
{
    static const struct {
        const char *unit;
        double secs;
    } units[] = {{"s", 1},       {"sec", 1},  {"second", 1}, {"min", 60},
                 {"minute", 60}, {"h", 3600}, {"hour", 3600}};
    const char *p = v, *slash;
    unsigned long n = 0;
    size_t digits = 0;

    *per_s = 0;
    for (; *p >= '0' && *p <= '9' && digits < 8; p++, digits++)
        n = n * 10 + (unsigned long)(*p - '0');
    slash = p;
    if (digits == 0 || digits >= 8 || (*slash != '/' && *slash != '\0') || n > RATE_MAX)
        return gw_config_why(0, why, why_len,
                             "must be REQUESTS/s, REQUESTS/min or REQUESTS/h with REQUESTS in "
                             "0..%d, like 100/s (0 = no limit)",
                             RATE_MAX);
    if (*slash == '\0') {
        *per_s = (double)n;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(slash + 1, units[i].unit) == 0) {
            *per_s = (double)n / units[i].secs;
            return 0;
        }
    return gw_config_why(0, why, why_len,
                         "the unit after '/' must be s, min or h (per second, minute or hour), "
                         "like 100/s");
}

static int check_rate(const char *v, char *why, size_t len)
{
    double r;
    return gw_api_rate_parse(v, &r, why, len);
}

static const gw_config_key server_keys[] = {
    {.name = "listen",
     .type = GW_CONFIG_T_LIST,
     .def = "127.0.0.1:8080",
     .off = S(listen),
     .check = check_listen,
     .aka = "bind address listen_address addr",
     .doc = "Addresses the HTTP API listens on: `host:port` or `[v6]:port`, comma-separated. "
            "Use `0.0.0.0:8080` or `[::]:8080` for every interface; port 0 picks a free port "
            "(printed as `apnsd listening on HOST:PORT`)."},
    {.name = "max_body",
     .type = GW_CONFIG_T_SIZE,
     .def = "128MiB",
     .off = S(max_body),
     .min = 1 * GW_CONFIG_KIB,
     .max = 1 * GW_CONFIG_GIB,
     .aka = "max_body_size body_limit max_request_size",
     .doc = "Largest request body; larger requests are answered 413. A broadcast to 1,000,000 "
            "64-hex tokens is about 70 MB."},
    {.name = "max_tokens",
     .type = GW_CONFIG_T_COUNT,
     .def = "1000000",
     .off = S(max_tokens),
     .min = 1,
     .max = 10000000,
     .aka = "max_tokens_per_request",
     .doc = "Device tokens one request may name (all notifications together); more is 400."},
    {.name = "request_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "60s",
     .off = S(request_timeout_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_HOUR,
     .doc = "Time a client has to send a whole request, from its first byte to the last byte "
            "of its body. A client that trickles bytes cannot extend it; it is answered 408 "
            "and the connection closed. The wait before the first byte is `idle_timeout`."},
    {.name = "idle_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "60s",
     .off = S(idle_timeout_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_HOUR,
     .aka = "keepalive_timeout keep_alive_timeout",
     .doc = "A connection with no request in progress (just accepted, or kept alive after an "
            "answer) is closed quietly after this time without a byte of a new request "
            "(counted in `apnsd_api_idle_closed_total`). Clients that keep connections in a "
            "pool should drop them sooner."},
    {.name = "max_connections",
     .type = GW_CONFIG_T_COUNT,
     .def = "0",
     .off = S(max_connections),
     .min = 0,
     .max = 1000000,
     .aka = "connections_max max_clients",
     .doc = "Open API connections at most; `0` derives it from the open-file limit "
            "(`RLIMIT_NOFILE` less a reserve of 64 + 2 per APNs connection of every app, "
            "for APNs, the store, webhooks and logs). At the limit the longest-idle "
            "connection is closed for a new one; when none is idle the new one is answered "
            "503 `busy` and closed."},
    {.name = "max_body_in_flight",
     .type = GW_CONFIG_T_SIZE,
     .def = "256MiB",
     .off = S(max_body_in_flight),
     .min = 1 * GW_CONFIG_KIB,
     .max = 64 * GW_CONFIG_GIB,
     .aka = "body_budget max_bodies",
     .doc = "Request-body bytes all clients together may have in flight (declared by "
            "`Content-Length`, or received so far when chunked); a request past it is "
            "answered 503 `busy` with `Retry-After` before its body is read. At least "
            "`max_body`."},
    {.name = "max_wait",
     .type = GW_CONFIG_T_DURATION,
     .def = "30s",
     .off = S(max_wait_ms),
     .min = 0,
     .max = 10 * GW_CONFIG_MIN,
     .doc = "Cap on `POST /v1/push?wait=SECONDS` (a longer wait is shortened to this); `0` "
            "turns `?wait` off."},
    {.name = "idempotency_ttl",
     .type = GW_CONFIG_T_DURATION,
     .def = "24h",
     .off = S(idempotency_ttl_ms),
     .min = 1 * GW_CONFIG_MIN,
     .max = 30 * 24 * GW_CONFIG_HOUR,
     .aka = "idempotency_key_ttl",
     .doc = "How long the answer to a `POST /v1/push` with an `Idempotency-Key` header (or a "
            "client-supplied `apns_id`) is kept: a repeat within it gets the first answer "
            "back and stores nothing; after it the key is new again. With `backend = "
            "jetstream` it may not exceed `[queue] retention` (the answer is kept with the "
            "jobs)."},
    {.name = "idempotency_max",
     .type = GW_CONFIG_T_COUNT,
     .def = "100000",
     .off = S(idempotency_max),
     .min = 1,
     .max = 100000000,
     .aka = "idempotency_keys_max",
     .doc = "Idempotency records kept per API key (with `backend = jetstream`: for the whole "
            "fleet, one bucket shared by every key, docs/scaling.md); past it the oldest are "
            "removed (a repeat of a removed key is stored again)."},
    {.name = "metrics",
     .type = GW_CONFIG_T_BOOL,
     .def = "yes",
     .off = S(metrics),
     .aka = "prometheus enable_metrics",
     .doc = "Serve Prometheus metrics at `GET /metrics`."},
};

static const gw_config_key app_keys[] = {
    {.name = "api_keys",
     .def_doc = "this or `api_keys_file` required",
     .type = GW_CONFIG_T_LIST,
     .off = A(api_keys),
     .check = check_api_key,
     .flags = GW_CONFIG_K_SECRET | GW_CONFIG_K_LIVE,
     .aka = "api_key keys bearer tokens",
     .doc = "Bearer keys clients send as `Authorization: Bearer KEY` (16..256 printable "
            "characters), comma-separated; repeat the key to add more. At least one key in "
            "`api_keys` or `api_keys_file`."},
    {.name = "api_keys_file",
     .type = GW_CONFIG_T_PATH,
     .off = A(api_keys_file),
     .flags = GW_CONFIG_K_FILE | GW_CONFIG_K_PRIVATE | GW_CONFIG_K_LIVE,
     .aka = "keys_file api_key_file",
     .doc = "File with one bearer key per line (`#` comments), added to `api_keys`; re-read "
            "on SIGHUP."},
    {.name = "api_rate_limit",
     .type = GW_CONFIG_T_STR,
     .def = "0",
     .off = A(api_rate_limit),
     .check = check_rate,
     .flags = GW_CONFIG_K_LIVE,
     .aka = "rate_limit_api request_rate api_rate requests_per_second",
     .doc = "Requests each API key of this app may make: `REQUESTS/s`, `/min` or `/h` (like "
            "`100/s`), counted per key with a token bucket of `api_rate_burst`; a request "
            "over it is answered 429 `rate_limited` with `Retry-After` (counted in "
            "`apnsd_api_rate_limited_total`). A key listed by several apps gets the lowest "
            "of their limits. `0` = no limit."},
    {.name = "api_rate_burst",
     .def_doc = "one second of `api_rate_limit`, at least 1",
     .type = GW_CONFIG_T_COUNT,
     .off = A(api_rate_burst),
     .min = 1,
     .max = 1000000,
     .flags = GW_CONFIG_K_LIVE,
     .aka = "api_burst rate_burst burst",
     .doc = "Requests a key may make at once after an idle time (the bucket's size); needs "
            "`api_rate_limit`."},
};

static void server_rules(gw_config_rules *r, void *part)
{
    gw_api_server_config *s = part;
    if (s->max_body_in_flight < s->max_body)
        gw_config_fail(r, "max_body_in_flight",
                       "is %llu bytes, below max_body (%llu): a largest body could never be "
                       "admitted",
                       (unsigned long long)s->max_body_in_flight, (unsigned long long)s->max_body);
    if (s->listen.n == 0) /* only when refused: it has a default */
        return;
    s->listen_addrs = calloc(s->listen.n + 1, sizeof *s->listen_addrs);
    if (s->listen_addrs == NULL) {
        gw_config_oom(r);
        return;
    }
    for (size_t i = 0; i < s->listen.n; i++) {
        char host[256], q[96];
        /* Every element passed check_listen. */
        gw_config_split_hostport(s->listen.v[i], host, sizeof host, &s->listen_addrs[i].port);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->listen.v[i], s->listen.v[j]) == 0) {
                gw_config_fail(r, "listen", "%s is listed twice",
                               gw_config_quote(s->listen.v[i], q, sizeof q));
                break;
            }
        if ((s->listen_addrs[i].host = strdup(host)) == NULL) {
            gw_config_oom(r);
            return;
        }
    }
}

static void server_cleanup(void *part)
{
    gw_api_server_config *s = part;
    for (size_t i = 0; s->listen_addrs && s->listen_addrs[i].host; i++)
        free(s->listen_addrs[i].host);
    free(s->listen_addrs);
}

/* The keys of api_keys_file: one per line, '#' comments, blank lines.
 * Returns non-zero when the file could not be read (reported). */
static int read_keys_file(gw_config_rules *r, gw_api_app_config *a)
{
    char why[256], *buf;
    size_t len;
    int line = 0, rc;

    rc = gw_config_read_file(r, "api_keys_file", a->api_keys_file, KEYS_FILE_MAX, &buf, &len);
    if (rc != 0)
        return rc;
    for (char *rest = buf, *p; (p = strsep(&rest, "\n")) != NULL;) {
        line++;
        p += strspn(p, " \t\r\f\v");
        size_t n = strlen(p);
        while (n > 0 && strchr(" \t\r\f\v", p[n - 1]))
            p[--n] = '\0';
        if (n == 0 || *p == '#')
            continue;
        if (check_api_key(p, why, sizeof why) != 0)
            gw_config_fail(r, "api_keys_file", "line %d: %s", line, why);
        else if (gw_config_strv_push(&a->all_api_keys, p, n) != 0)
            gw_config_oom(r);
    }
    free(buf);
    return 0;
}

/* ---- key digests ------------------------------------------------------ */

void gw_api_key_sha256(const char *key, size_t len, uint8_t out[GW_API_KEY_DIGEST])
{
    unsigned int n = GW_API_KEY_DIGEST;
    if (EVP_Digest(key, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, GW_API_KEY_DIGEST);
}

static size_t home(const uint8_t *d, size_t mask)
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return (size_t)h & mask;
}

int gw_api_keyset_build(gw_api_keyset *s, const uint8_t (*d)[GW_API_KEY_DIGEST], size_t n,
                        size_t dup[2])
{
    size_t cap = 8;

    memset(s, 0, sizeof(*s));
    while (cap < 2 * n)
        cap *= 2;
    s->d = malloc((n ? n : 1) * GW_API_KEY_DIGEST);
    s->slot = calloc(cap, sizeof(*s->slot));
    if (s->d == NULL || s->slot == NULL || n >= UINT32_MAX) {
        gw_api_keyset_clear(s);
        return APNS_ENOMEM;
    }
    s->mask = cap - 1;
    if (dup != NULL)
        dup[0] = dup[1] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = home(d[i], s->mask);
        memcpy(s->d[i], d[i], GW_API_KEY_DIGEST);
        for (; s->slot[k] != 0; k = (k + 1) & s->mask)
            if (dup != NULL && dup[1] == 0 &&
                memcmp(s->d[s->slot[k] - 1], d[i], GW_API_KEY_DIGEST) == 0) {
                dup[0] = s->slot[k]; /* 1-based: the earlier one */
                dup[1] = i + 1;
            }
        s->slot[k] = (uint32_t)(i + 1);
    }
    s->n = n;
    return 0;
}

long gw_api_keyset_find(const gw_api_keyset *s, const uint8_t digest[GW_API_KEY_DIGEST])
{
    if (s == NULL || s->slot == NULL)
        return -1;
    for (size_t k = home(digest, s->mask); s->slot[k] != 0; k = (k + 1) & s->mask)
        if (CRYPTO_memcmp(s->d[s->slot[k] - 1], digest, GW_API_KEY_DIGEST) == 0)
            return (long)s->slot[k] - 1;
    return -1;
}

int gw_api_keyset_has(const gw_api_keyset *s, const uint8_t digest[GW_API_KEY_DIGEST])
{
    return gw_api_keyset_find(s, digest) >= 0;
}

void gw_api_keyset_clear(gw_api_keyset *s)
{
    free(s->d);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

/* The app's digest set; a key listed twice is refused (found by the table,
 * so a reload with many keys stays linear). */
static void build_keyset(gw_config_rules *r, gw_api_app_config *a)
{
    size_t n = a->all_api_keys.n, dup[2];
    uint8_t(*d)[GW_API_KEY_DIGEST] = malloc((n ? n : 1) * GW_API_KEY_DIGEST);

    if (d == NULL) {
        gw_config_oom(r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        gw_api_key_sha256(a->all_api_keys.v[i], strlen(a->all_api_keys.v[i]), d[i]);
    if (gw_api_keyset_build(&a->keyset, (const uint8_t(*)[GW_API_KEY_DIGEST])d, n, dup) != 0)
        gw_config_oom(r);
    else if (dup[1] != 0)
        gw_config_fail(r, gw_config_has(r, "api_keys") ? "api_keys" : "api_keys_file",
                       "the same key is listed twice (keys %zu and %zu)", dup[0], dup[1]);
    OPENSSL_cleanse(d, (n ? n : 1) * GW_API_KEY_DIGEST);
    free(d);
}

/* The rate in requests per second and the bucket's size. */
static void rate_resolve(gw_config_rules *r, gw_api_app_config *a)
{
    char why[160];

    a->api_rate = 0;
    if (a->api_rate_limit != NULL && gw_config_has(r, "api_rate_limit") >= 0 &&
        gw_api_rate_parse(a->api_rate_limit, &a->api_rate, why, sizeof why) != 0)
        a->api_rate = 0; /* reported by its check */
    if (a->api_rate == 0) {
        if (gw_config_has(r, "api_rate_burst") > 0 && gw_config_has(r, "api_rate_limit") >= 0)
            gw_config_fail(r, "api_rate_burst",
                           "needs api_rate_limit (a burst of requests at no rate limit means "
                           "nothing)");
        a->api_rate_burst = 0;
        return;
    }
    if (gw_config_has(r, "api_rate_burst") <= 0)
        a->api_rate_burst = a->api_rate >= 1 ? (uint32_t)a->api_rate : 1;
}

static void app_resolve(gw_config_rules *r, void *part)
{
    gw_api_app_config *a = part;

    for (size_t i = 0; i < a->api_keys.n; i++)
        if (gw_config_strv_push(&a->all_api_keys, a->api_keys.v[i], strlen(a->api_keys.v[i])) != 0)
            gw_config_oom(r);
    if (a->api_keys_file && gw_config_has(r, "api_keys_file") >= 0 && read_keys_file(r, a) != 0)
        return;
    if (a->all_api_keys.n == 0 && gw_config_has(r, "api_keys") >= 0 &&
        !gw_config_has(r, "api_keys_file"))
        gw_config_each(r, GW_CONFIG_MISSING, "api_keys",
                       "required: set api_keys or api_keys_file (clients send Authorization: "
                       "Bearer KEY)");
    else if (a->all_api_keys.n == 0 && gw_config_has(r, "api_keys_file") > 0)
        gw_config_fail(r, "api_keys_file", "holds no key");
    build_keyset(r, a);
    rate_resolve(r, a);
}

/* The contents of api_keys_file may change under the same name: live. */
static const char *app_differs(const void *pa, const void *pb, int live)
{
    const gw_api_app_config *a = pa, *b = pb;
    return live && !gw_config_strv_equal(&a->all_api_keys, &b->all_api_keys) ? "api_keys_file"
                                                                             : NULL;
}

static void app_notes(FILE *f, const void *part, const void *all)
{
    (void)all;
    fprintf(f, "; api keys in use: %zu\n", ((const gw_api_app_config *)part)->all_api_keys.n);
}

static void app_cleanup(void *part)
{
    gw_config_strv_clear(&((gw_api_app_config *)part)->all_api_keys);
    gw_api_keyset_clear(&((gw_api_app_config *)part)->keyset);
}

const gw_config_section gw_api_server_section = {
    "server", GW_CONFIG_S_RESTART, "The HTTP API and process-wide limits. Changes need a restart."};

const gw_config_part gw_api_server_part = {
    .section = &gw_api_server_section,
    .keys = server_keys,
    .n_keys = sizeof(server_keys) / sizeof(server_keys[0]),
    .size = sizeof(gw_api_server_config),
    .rules = server_rules,
    .cleanup = server_cleanup,
};

const gw_config_part gw_api_app_part = {
    .section = &gw_config_app_section,
    .keys = app_keys,
    .n_keys = sizeof(app_keys) / sizeof(app_keys[0]),
    .size = sizeof(gw_api_app_config),
    .resolve = app_resolve,
    .differs = app_differs,
    .notes = app_notes,
    .cleanup = app_cleanup,
};

const gw_api_server_config *gw_api_server_config_of(const gw_config *c)
{
    return gw_config_part_of(c, &gw_api_server_part);
}

const gw_api_app_config *gw_api_app_config_of(const gw_config_app *app)
{
    return gw_config_app_part(app, &gw_api_app_part);
}

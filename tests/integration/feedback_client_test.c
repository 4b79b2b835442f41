/*
 * feedback_client_test.c - apns_feedback against a small TLS feedback
 * service in this process (binary_test_server.c) that writes its tuples in
 * odd-sized pieces (each its own TLS record, a short pause between them,
 * so tuples arrive cut across reads), then closes.
 *
 *   feedback_client_test all     every scenario below, in turn
 *   feedback_client_test NAME    one of them:
 *     ok          1000 tuples (32-, 100- and 1-byte tokens), close_notify:
 *                 all arrive, in order, with their tokens and times; err 0
 *     bare_close  200 tuples, then the socket is closed without
 *                 close_notify: still a normal end
 *     empty       no tuples: count 0, err 0
 *     truncated   10 tuples and 20 bytes of an 11th: the 10, then
 *                 APNS_EFORMAT
 *     cut_header  10 tuples and 3 bytes: APNS_EFORMAT
 *     bad_length  5 tuples, then a token length of 0: the 5, then
 *                 APNS_EFORMAT
 *     stall       3 tuples, then silence: APNS_ETIMEOUT (idle timeout)
 *     verify      the client trusts another CA: APNS_EVERIFY, no tuples
 *
 * Exit status 0 when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "apns/feedback.h"
#include "binary_test_server.h"
#include "harness.h"

typedef struct scenario {
    const char *name;
    uint32_t tuples;
    const uint8_t *tail; /* bytes after the whole tuples */
    size_t tail_len;
    int close_notify;
    int stall_ms;
    int other_ca;
    int want_err;
} scenario;

static size_t token_size(uint32_t i)
{
    return i % 50 == 7 ? 100 : i % 97 == 3 ? 1 : 32;
}

static void token_bytes(uint32_t i, uint8_t *out)
{
    size_t n = token_size(i);
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(i * 31 + k * 7);
    if (n >= 4) {
        out[0] = (uint8_t)(i >> 24);
        out[1] = (uint8_t)(i >> 16);
        out[2] = (uint8_t)(i >> 8);
        out[3] = (uint8_t)i;
    }
}

static uint32_t stamp(uint32_t i)
{
    return 1600000000u + i * 17u;
}

/* ---- the service ----------------------------------------------------------- */

static void fb_handler(SSL *ssl, int fd, int conn, void *ud)
{
    const scenario *s = ud;
    size_t cap = (size_t)s->tuples * (6 + APNS_BINARY_TOKEN_MAX) + s->tail_len + 1;
    uint8_t *all = malloc(cap), tok[APNS_BINARY_TOKEN_MAX];
    size_t len = 0;
    for (uint32_t i = 0; i < s->tuples; i++) {
        token_bytes(i, tok);
        int n = apns_feedback_encode(stamp(i), tok, token_size(i), all + len, cap - len);
        TH_CHECK(n > 0, "encode %u", i);
        len += (size_t)n;
    }
    if (s->tail_len) {
        memcpy(all + len, s->tail, s->tail_len);
        len += s->tail_len;
    }
    static const size_t sizes[] = {1, 5, 37, 38, 39, 100, 3, 77, 250, 6, 2, 1000};
    size_t off = 0, k = 0;
    while (off < len) {
        size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];
        if (n > len - off)
            n = len - off;
        if (bts_write_all(ssl, all + off, n) != 0)
            break;
        off += n;
        if (k % 4 == 0)
            usleep(200); /* let the client read some pieces on their own */
    }
    free(all);
    if (s->stall_ms)
        usleep((useconds_t)s->stall_ms * 1000);
    if (s->close_notify)
        SSL_shutdown(ssl);
}

/* ---- the client ------------------------------------------------------------ */

typedef struct result {
    struct event_base *base;
    const scenario *s;
    uint32_t items;
    int done, err;
    size_t count;
    char detail[512];
} result;

static void on_item(apns_feedback *f, const apns_feedback_item *it, void *ud)
{
    result *r = ud;
    uint32_t i = r->items++;
    uint8_t tok[APNS_BINARY_TOKEN_MAX];
    char hex[2 * APNS_BINARY_TOKEN_MAX + 1];
    TH_CHECK(i < r->s->tuples, "%s: tuple %u of %u", r->s->name, i, r->s->tuples);
    token_bytes(i, tok);
    apns_token_bin_to_hex(tok, token_size(i), hex, sizeof hex);
    TH_CHECK(strcmp(it->token, hex) == 0, "%s: tuple %u token %s, expected %s", r->s->name, i,
             it->token, hex);
    TH_CHECK(it->token_len == token_size(i), "%s: tuple %u token_len %zu", r->s->name, i,
             it->token_len);
    TH_CHECK(it->timestamp == stamp(i) && it->timestamp_ms == (int64_t)stamp(i) * 1000,
             "%s: tuple %u time %u", r->s->name, i, it->timestamp);
}

static void on_done(apns_feedback *f, size_t count, int err, const char *detail, void *ud)
{
    result *r = ud;
    TH_CHECK(!r->done, "on_done twice");
    r->done = 1;
    r->err = err;
    r->count = count;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    apns_feedback_free(f); /* allowed from on_done */
    event_base_loopexit(r->base, NULL);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    if (getenv("VERBOSE"))
        fprintf(stderr, "apns: %s\n", msg);
}

static void run_one(const scenario *s)
{
    bts_server *srv = bts_start(fb_handler, (void *)s);
    char cert[1024], key[1024], ca[1024], detail[256];
    snprintf(cert, sizeof cert, "%s/client.pem", th_certs());
    snprintf(key, sizeof key, "%s/client.key", th_certs());
    snprintf(ca, sizeof ca, "%s/%s", th_certs(), s->other_ca ? "other-ca.pem" : "ca.pem");
    result r = {.s = s};
    r.base = event_base_new();
    apns_feedback_opts o;
    apns_feedback_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = bts_port(srv);
    o.cert_file = cert;
    o.key_file = key;
    o.ca_file = ca;
    o.idle_timeout_ms = s->stall_ms ? 300 : 0;
    o.on_item = on_item;
    o.on_done = on_done;
    o.on_log = on_log;
    o.ud = &r;
    apns_feedback *f = NULL;
    int rc = apns_feedback_new(&f, r.base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "%s: apns_feedback_new: %s (%s)", s->name, apns_err_name(rc), detail);
    int64_t t0 = th_now_ms();
    event_base_dispatch(r.base);
    int64_t ms = th_now_ms() - t0;
    event_base_free(r.base);
    bts_stop(srv);
    fprintf(stderr, "%s: %zu tuple(s), %s in %lld ms: %s\n", s->name, r.count, apns_err_name(r.err),
            (long long)ms, r.detail);
    TH_CHECK(r.done, "%s: no on_done", s->name);
    TH_CHECK(r.err == s->want_err, "%s: err %s, expected %s", s->name, apns_err_name(r.err),
             apns_err_name(s->want_err));
    uint32_t want = s->other_ca ? 0 : s->tuples;
    TH_CHECK(r.count == want && r.items == want, "%s: %zu tuples (%u items), expected %u", s->name,
             r.count, r.items, want);
}

static void check_new_refusals(void)
{
    struct event_base *base = event_base_new();
    apns_feedback_opts o;
    apns_feedback *f = NULL;
    char detail[256], cert[1024];
    apns_feedback_opts_init(&o);
    o.on_item = on_item;
    o.on_done = on_done;
    int rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL && strstr(detail, "certificate"), "no cert: %s (%s)",
             apns_err_name(rc), detail);
    snprintf(cert, sizeof cert, "%s/client.pem", th_certs());
    o.cert_file = cert;
    o.key_file = "/nonexistent/client.key";
    rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_ECERT, "bad key: %s (%s)", apns_err_name(rc), detail);
    o.key_file = NULL;
    o.env = APNS_ENV_CUSTOM;
    rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL && strstr(detail, "host"), "custom without host: %s (%s)",
             apns_err_name(rc), detail);
    o.on_done = NULL;
    rc = apns_feedback_new(&f, base, &o, detail, sizeof detail);
    TH_CHECK(rc == APNS_EINVAL, "no on_done: %s", apns_err_name(rc));
    event_base_free(base);
    fprintf(stderr, "refusals: ok\n");
}

int main(int argc, char **argv)
{
    static const uint8_t cut20[20] = {0x5f, 0x5e, 0x10, 0x00, 0x00, 0x20, 1,  2,  3,  4,
                                      5,    6,    7,    8,    9,    10,   11, 12, 13, 14};
    static const uint8_t cut3[3] = {0x5f, 0x5e, 0x10};
    static const uint8_t len0[6] = {0x5f, 0x5e, 0x10, 0x00, 0x00, 0x00};
    const scenario all[] = {
        {"ok", 1000, NULL, 0, 1, 0, 0, 0},
        {"bare_close", 200, NULL, 0, 0, 0, 0, 0},
        {"empty", 0, NULL, 0, 1, 0, 0, 0},
        {"truncated", 10, cut20, sizeof cut20, 1, 0, 0, APNS_EFORMAT},
        {"cut_header", 10, cut3, sizeof cut3, 1, 0, 0, APNS_EFORMAT},
        {"bad_length", 5, len0, sizeof len0, 1, 0, 0, APNS_EFORMAT},
        {"stall", 3, NULL, 0, 1, 1500, 0, APNS_ETIMEOUT},
        {"verify", 3, NULL, 0, 1, 0, 1, APNS_EVERIFY},
    };
    const char *want = argc > 1 ? argv[1] : "all";
    int ran = 0;
    if (strcmp(want, "all") == 0 || strcmp(want, "refusals") == 0) {
        check_new_refusals();
        ran++;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(want, "all") != 0 && strcmp(want, all[i].name) != 0)
            continue;
        run_one(&all[i]);
        ran++;
    }
    TH_CHECK(ran > 0, "unknown scenario %s", want);
    fprintf(stderr, "feedback: ok\n");
    return 0;
}

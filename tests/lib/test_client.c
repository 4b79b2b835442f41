/*
 * test_client.c - apns_client_submit() without a server: validation, the
 * copy into a slot, credit, and the validated-payload shortcut (a payload is
 * JSON-checked once, then recognised by its bytes); which transports the
 * build offers; and, against a scripted h2c server in this file, who
 * retries what (include/apns/client.h): answers that blame the connection
 * are resent without consuming retry.max_attempts, up to the loop guard.
 *
 * The fixture client points at 127.0.0.1:1 and the loop never runs, so
 * nothing is ever sent: those tests see only what submit itself decides.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "apns/client.h"
#include "apns/jwt.h"

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

typedef struct fixture {
    struct event_base *base;
    apns_signing_key *key;
    apns_token_cache *tokens;
    apns_client *c;
} fixture;

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c, (void)n, (void)r, (void)ud;
    fail_msg("no result can arrive: the loop never runs");
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *certs = getenv("APNS_TEST_CERTS");
    char path[1024], detail[256];
    assert_non_null(certs);
    snprintf(path, sizeof path, "%s/AuthKey_ABC123DEFG.p8", certs);
    assert_int_equal(apns_signing_key_load_file(&f->key, path, "ABC123DEFG", "DEF123GHIJ", detail,
                                                sizeof detail),
                     0);
    assert_int_equal(apns_token_cache_new(&f->tokens, f->key, 0), 0);
    f->base = event_base_new();
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = 1;
    o.h2c = 1;
    o.tokens = f->tokens;
    o.max_pending = 4;
    o.on_result = on_result;
    assert_int_equal(apns_client_new(&f->c, f->base, &o, detail, sizeof detail), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    apns_client_free(f->c);
    event_base_free(f->base);
    apns_token_cache_free(f->tokens);
    apns_signing_key_free(f->key);
    free(f);
    return 0;
}

static apns_notification note(const char *payload)
{
    apns_notification n;
    apns_notification_init(&n);
    n.token = TOKEN;
    n.topic = "com.example.app";
    n.payload = payload;
    n.payload_len = strlen(payload);
    return n;
}

/* The shortcut must never let through bytes it has not checked: the same
 * length, different bytes, right after a valid payload. */
static void same_length_bad_payload_is_refused(void **state)
{
    fixture *f = *state;
    const char *good = "{\"aps\":{\"alert\":\"hello\"}}";
    const char *bad = "{\"aps\":{\"alert\":\"hello\"}]";
    assert_int_equal(strlen(good), strlen(bad));
    apns_notification n = note(good);
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    assert_int_equal(apns_client_submit(f->c, &n), 0); /* same bytes: shortcut */
    n = note(bad);
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ENOTOBJECT);
    /* A bad payload is not remembered as good: it fails again. */
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ENOTOBJECT);
    assert_int_equal(apns_client_pending(f->c), 2);
}

/* The size limit still applies per push type when the bytes were checked
 * before under a larger limit. */
static void size_limit_applies_after_shortcut(void **state)
{
    fixture *f = *state;
    size_t len = APNS_PAYLOAD_MAX + 100; /* fits voip, not alert */
    char *p = malloc(len + 1);
    memset(p, ' ', len);
    memcpy(p, "{\"a\":1}", 7);
    p[len] = '\0';
    apns_notification n = note(p);
    n.push_type = APNS_PUSH_VOIP;
    n.topic = "com.example.app.voip";
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    n.push_type = APNS_PUSH_ALERT;
    n.topic = "com.example.app";
    assert_int_equal(apns_client_submit(f->c, &n), APNS_ETOOBIG);
    free(p);
}

/* Submit copies: the caller's buffers may change at once. */
static void submit_copies_the_notification(void **state)
{
    fixture *f = *state;
    char payload[64], token[65];
    strcpy(payload, "{\"aps\":{\"badge\":1}}");
    strcpy(token, TOKEN);
    apns_notification n = note(payload);
    n.token = token;
    assert_int_equal(apns_client_submit(f->c, &n), 0);
    memset(payload, 'x', sizeof payload - 1);
    memset(token, 'z', sizeof token - 1);
    assert_int_equal(apns_client_pending(f->c), 1);
}

static void credit_runs_out_then_eagain(void **state)
{
    fixture *f = *state;
    apns_notification n = note("{\"aps\":{}}");
    assert_int_equal(apns_client_credit(f->c), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(apns_client_submit(f->c, &n), 0);
    assert_int_equal(apns_client_credit(f->c), 0);
    assert_int_equal(apns_client_submit(f->c, &n), APNS_EAGAIN);
    /* Validation comes first: a bad notification is refused as bad, not
     * as "no credit". */
    n.token = "zz";
    assert_int_equal(apns_client_submit(f->c, &n), APNS_EBADTOKEN);
}

/* The legacy binary transport exists only in a build with it. */
static void binary_transport_follows_the_build(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char p12[1024], detail[256];
    const char *certs = getenv("APNS_TEST_CERTS");
    assert_non_null(certs);
    snprintf(p12, sizeof p12, "%s/client.p12", certs);
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = 1;
    o.p12_file = p12;
    o.p12_password = "secret";
    o.transport = APNS_TRANSPORT_BINARY;
    o.on_result = on_result;
    apns_client *c = NULL;
    int rc = apns_client_new(&c, base, &o, detail, sizeof detail);
#if APNS_HAVE_LEGACY
    assert_int_equal(rc, 0);
    apns_client_free(c);
#else
    assert_int_equal(rc, APNS_EINVAL);
    assert_null(c);
    assert_non_null(strstr(detail, "built without the legacy interface"));
#endif
    o.transport = (apns_transport)7;
    assert_int_equal(apns_client_new(&c, base, &o, detail, sizeof detail), APNS_EINVAL);
    assert_non_null(strstr(detail, "unknown transport 7"));
    event_base_free(base);
}

/* --- a scripted h2c server ------------------------------------------------ */

/* Answers every request with the next status and reason of its script (the
 * last one once the script is used up), on as many connections as the
 * client opens. */
typedef struct sconn sconn;

typedef struct server {
    struct event_base *base;
    evutil_socket_t lfd;
    struct event *ev_accept;
    uint16_t port;
    const int *status;
    const char *const *reason;
    size_t nscript, requests;
    sconn *conns;
} server;

struct sconn {
    server *s;
    sconn *next;
    evutil_socket_t fd;
    struct event *ev;
    nghttp2_session *ng;
    char body[64];
};

static ssize_t srv_send(nghttp2_session *ng, const uint8_t *d, size_t len, int flags, void *ud)
{
    (void)ng, (void)flags;
    sconn *k = ud;
    ssize_t n = send(k->fd, d, len, MSG_NOSIGNAL);
    return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static ssize_t srv_body(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    (void)ng, (void)sid, (void)ud;
    const char *b = src->ptr;
    size_t n = strlen(b);
    assert_true(n <= len);
    memcpy(buf, b, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int srv_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    sconn *k = ud;
    server *s = k->s;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    size_t i = s->requests < s->nscript ? s->requests : s->nscript - 1;
    s->requests++;
    char st[4];
    snprintf(st, sizeof st, "%d", s->status[i]);
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE};
    if (!s->reason[i])
        return nghttp2_submit_response(ng, f->hd.stream_id, &nv, 1, NULL);
    snprintf(k->body, sizeof k->body, "{\"reason\":\"%s\"}", s->reason[i]);
    nghttp2_data_provider dp = {.source.ptr = k->body, .read_callback = srv_body};
    return nghttp2_submit_response(ng, f->hd.stream_id, &nv, 1, &dp);
}

static void sconn_free(sconn *k)
{
    sconn **p = &k->s->conns;
    while (*p != k)
        p = &(*p)->next;
    *p = k->next;
    event_free(k->ev);
    nghttp2_session_del(k->ng);
    close(k->fd);
    free(k);
}

static void srv_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    sconn *k = arg;
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0 || nghttp2_session_mem_recv(k->ng, buf, (size_t)n) < 0 ||
        nghttp2_session_send(k->ng) != 0)
        sconn_free(k);
}

static void srv_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    server *s = arg;
    sconn *k = calloc(1, sizeof *k);
    assert_non_null(k);
    k->s = s;
    k->fd = accept(lfd, NULL, NULL);
    assert_true(k->fd >= 0);
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_send_callback(cbs, srv_send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_frame);
    assert_int_equal(nghttp2_session_server_new(&k->ng, cbs, k), 0);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(k->ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    assert_int_equal(nghttp2_session_send(k->ng), 0);
    k->ev = event_new(s->base, k->fd, EV_READ | EV_PERSIST, srv_read, k);
    event_add(k->ev, NULL);
    k->next = s->conns;
    s->conns = k;
}

static void server_start(server *s, struct event_base *base)
{
    s->base = base;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    s->ev_accept = event_new(base, s->lfd, EV_READ | EV_PERSIST, srv_accept, s);
    event_add(s->ev_accept, NULL);
}

static void server_stop(server *s)
{
    while (s->conns)
        sconn_free(s->conns);
    event_free(s->ev_accept);
    close(s->lfd);
}

typedef struct outcome {
    int done;
    apns_result r;
    char reason[64];
} outcome;

static void on_outcome(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c, (void)n;
    outcome *o = ud;
    o->done = 1;
    o->r = *r;
    snprintf(o->reason, sizeof o->reason, "%s", r->reason_str);
    o->r.reason_str = o->reason;
}

/* One notification through a client with max_attempts against a server
 * that answers with the script (status[i], reason[i]; the last one again
 * once used up); runs the loop until its one result. Returns the requests
 * the server saw. */
static size_t push_one(fixture *f, const int *status, const char *const *reason, size_t n,
                       int max_attempts, outcome *out, apns_client_stats *st)
{
    server s = {.status = status, .reason = reason, .nscript = n};
    server_start(&s, f->base);
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = s.port;
    o.h2c = 1;
    o.tokens = f->tokens;
    o.retry.max_attempts = max_attempts;
    o.retry.base_ms = 1;
    o.retry.max_ms = 1;
    o.on_result = on_outcome;
    o.ud = out;
    apns_client *c;
    char detail[256];
    assert_int_equal(apns_client_new(&c, f->base, &o, detail, sizeof detail), 0);
    apns_notification note1 = note("{\"aps\":{}}");
    assert_int_equal(apns_client_submit(c, &note1), 0);
    while (!out->done)
        event_base_loop(f->base, EVLOOP_ONCE);
    apns_client_stats_get(c, st);
    apns_client_free(c);
    server_stop(&s);
    return s.requests;
}

/* RECONNECT answers (400 IdleTimeout) are the client's to resend and never
 * consume retry.max_attempts: with max_attempts = 1 (a caller with durable
 * retries of its own) the notification still goes out again, on a new
 * connection each time, and is accepted. A 429 after them is final at once:
 * only answers that ask to wait count. */
static void reconnect_answers_do_not_consume_max_attempts(void **state)
{
    fixture *f = *state;
    static const int status[] = {400, 400, 200};
    static const char *const reason[] = {"IdleTimeout", "IdleTimeout", NULL};
    outcome out = {0};
    apns_client_stats st;
    assert_int_equal(push_one(f, status, reason, 3, 1, &out, &st), 3);
    assert_int_equal(out.r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(out.r.attempts, 3);
    assert_int_equal(st.retried, 2);

    static const int status2[] = {400, 429};
    static const char *const reason2[] = {"IdleTimeout", "TooManyRequests"};
    outcome out2 = {0};
    assert_int_equal(push_one(f, status2, reason2, 2, 1, &out2, &st), 2);
    assert_int_equal(out2.r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(out2.r.status, 429);
    assert_int_equal(out2.r.action, APNS_ACTION_RETRY);
    assert_int_equal(out2.r.attempts, 2);
}

/* The loop guard: a notification answered RECONNECT on every connection is
 * resent 10 times, then that answer is final (not APNS_ERETRIES: the caller
 * sees what APNs said). */
static void reconnect_loop_guard(void **state)
{
    fixture *f = *state;
    static const int status[] = {400};
    static const char *const reason[] = {"IdleTimeout"};
    outcome out = {0};
    apns_client_stats st;
    assert_int_equal(push_one(f, status, reason, 1, 5, &out, &st), 11);
    assert_int_equal(out.r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(out.r.reason, APNS_REASON_IDLE_TIMEOUT);
    assert_int_equal(out.r.action, APNS_ACTION_RECONNECT);
    assert_int_equal(out.r.attempts, 11);
    assert_int_equal(st.retried, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_length_bad_payload_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(size_limit_applies_after_shortcut, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_copies_the_notification, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_runs_out_then_eagain, setup, teardown),
        cmocka_unit_test(binary_transport_follows_the_build),
        cmocka_unit_test_setup_teardown(reconnect_answers_do_not_consume_max_attempts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reconnect_loop_guard, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

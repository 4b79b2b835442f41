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

#include "apns/channel.h"
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
 * client opens. Optional per step: a raw body instead of {"reason":...},
 * and an apns-channel-id header; the request's apns-request-id is echoed.
 * With goaway_at = k, the k-th request (1-based) is not answered: its
 * connection sends GOAWAY naming the stream before it and answers nothing
 * more. Every request is logged (method, path, headers, body). */
typedef struct sconn sconn;

#define SRV_LOG 64

typedef struct srv_req {
    int32_t sid;
    unsigned conn; /* the connection's number: a freed sconn's address is reused */
    char method[8], path[160], channel[80], request_id[40], topic[80], push_type[20];
    char expiration[24], priority[4], body[256];
    size_t body_len;
} srv_req;

typedef struct server {
    struct event_base *base;
    evutil_socket_t lfd;
    struct event *ev_accept;
    uint16_t port;
    const int *status;
    const char *const *reason;
    const char *const *body;    /* NULL, or per step: the raw body (NULL: none) */
    const char *const *channel; /* NULL, or per step: apns-channel-id to answer */
    size_t nscript, requests;
    size_t goaway_at;
    sconn *conns;
    unsigned nconns; /* connections accepted so far */
    srv_req log[SRV_LOG];
    size_t nlog;
} server;

struct sconn {
    server *s;
    sconn *next;
    evutil_socket_t fd;
    struct event *ev;
    nghttp2_session *ng;
    int goaway;
    unsigned no; /* 1, 2, ... in accept order */
    char body[64];
};

static srv_req *srv_log_of(server *s, sconn *k, int32_t sid)
{
    for (size_t i = 0; i < s->nlog; i++)
        if (s->log[i].sid == sid && s->log[i].conn == k->no)
            return &s->log[i];
    return NULL;
}

static int srv_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                      void *ud)
{
    (void)ng, (void)flags;
    sconn *k = ud;
    server *s = k->s;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    srv_req *q = srv_log_of(s, k, f->hd.stream_id);
    if (!q) {
        assert_true(s->nlog < SRV_LOG);
        q = &s->log[s->nlog++];
        memset(q, 0, sizeof *q);
        q->sid = f->hd.stream_id;
        q->conn = k->no;
    }
    static const struct {
        const char *name;
        size_t off, size;
    } keep[] = {
        {":method", offsetof(srv_req, method), sizeof q->method},
        {":path", offsetof(srv_req, path), sizeof q->path},
        {"apns-channel-id", offsetof(srv_req, channel), sizeof q->channel},
        {"apns-request-id", offsetof(srv_req, request_id), sizeof q->request_id},
        {"apns-topic", offsetof(srv_req, topic), sizeof q->topic},
        {"apns-push-type", offsetof(srv_req, push_type), sizeof q->push_type},
        {"apns-expiration", offsetof(srv_req, expiration), sizeof q->expiration},
        {"apns-priority", offsetof(srv_req, priority), sizeof q->priority},
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strlen(keep[i].name) == namelen && memcmp(keep[i].name, name, namelen) == 0) {
            assert_true(valuelen < keep[i].size);
            memcpy((char *)q + keep[i].off, value, valuelen);
        }
    return 0;
}

static int srv_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data,
                    size_t len, void *ud)
{
    (void)ng, (void)flags;
    sconn *k = ud;
    srv_req *q = srv_log_of(k->s, k, sid);
    assert_non_null(q);
    assert_true(q->body_len + len < sizeof q->body);
    memcpy(q->body + q->body_len, data, len);
    q->body_len += len;
    return 0;
}

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
    if (k->goaway)
        return 0;
    if (s->goaway_at == s->requests) {
        k->goaway = 1;
        return nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id - 2, NGHTTP2_NO_ERROR,
                                     NULL, 0);
    }
    char st[4];
    snprintf(st, sizeof st, "%d", s->status[i]);
    nghttp2_nv nv[3] = {{(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE}};
    size_t nnv = 1;
    const srv_req *q = srv_log_of(s, k, f->hd.stream_id);
    if (q && q->request_id[0])
        nv[nnv++] = (nghttp2_nv){(uint8_t *)"apns-request-id", (uint8_t *)q->request_id, 15,
                                 strlen(q->request_id), NGHTTP2_NV_FLAG_NONE};
    if (s->channel && s->channel[i])
        nv[nnv++] = (nghttp2_nv){(uint8_t *)"apns-channel-id", (uint8_t *)s->channel[i], 15,
                                 strlen(s->channel[i]), NGHTTP2_NV_FLAG_NONE};
    const char *body = s->body ? s->body[i] : NULL;
    if (!body && s->reason[i]) {
        snprintf(k->body, sizeof k->body, "{\"reason\":\"%s\"}", s->reason[i]);
        body = k->body;
    }
    if (!body)
        return nghttp2_submit_response(ng, f->hd.stream_id, nv, nnv, NULL);
    nghttp2_data_provider dp = {.source.ptr = (void *)body, .read_callback = srv_body};
    return nghttp2_submit_response(ng, f->hd.stream_id, nv, nnv, &dp);
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
    k->no = ++s->nconns;
    k->fd = accept(lfd, NULL, NULL);
    assert_true(k->fd >= 0);
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_send_callback(cbs, srv_send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_frame);
    nghttp2_session_callbacks_set_on_header_callback(cbs, srv_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_data);
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

/* Client options for the fixture's tokens against the scripted server s,
 * h2c on loopback. */
static void opts_for(apns_client_opts *o, const fixture *f, const server *s, apns_result_cb cb,
                     void *ud)
{
    apns_client_opts_init(o);
    o->env = APNS_ENV_CUSTOM;
    o->host = "127.0.0.1";
    o->port = s->port;
    o->h2c = 1;
    o->tokens = f->tokens;
    o->on_result = cb;
    o->ud = ud;
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
    opts_for(&o, f, &s, on_outcome, out);
    o.retry.max_attempts = max_attempts;
    o.retry.base_ms = 1;
    o.retry.max_ms = 1;
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

/* --- broadcast publish and channel management ----------------------------- */

#define BUNDLE "com.example.app"
#define CHAN1  "Y2hhbm5lbC0x"
#define CHAN2  "Y2hhbm5lbC0y"
#define BC_BODY                                                                                    \
    "{\"aps\":{\"timestamp\":1700000000,\"event\":\"update\",\"content-state\":{\"s\":1}}}"

typedef struct outcomes {
    int done;
    outcome o[8];
} outcomes;

static void on_outcome_n(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c;
    outcomes *all = ud;
    outcome *o = &all->o[(intptr_t)n->user_data];
    assert_int_equal(o->done, 0); /* exactly one result per notification */
    on_outcome(c, n, r, o);
    all->done++;
}

/* Broadcasts ride the same in-flight book: the ones above a GOAWAY's
 * last-stream-id are handed back and sent again on a new connection, with
 * the same apns-request-id; each gets exactly one result. */
static void broadcast_handed_back_on_goaway(void **state)
{
    fixture *f = *state;
    static const int status[] = {200};
    static const char *const reason[] = {NULL};
    server s = {.status = status, .reason = reason, .nscript = 1, .goaway_at = 2};
    server_start(&s, f->base);
    outcomes all = {0};
    apns_client_opts o;
    opts_for(&o, f, &s, on_outcome_n, &all);
    apns_client *c;
    char detail[256];
    assert_int_equal(apns_client_new(&c, f->base, &o, detail, sizeof detail), 0);
    for (intptr_t i = 0; i < 3; i++) {
        apns_notification n;
        apns_notification_init(&n);
        n.channel_id = CHAN1;
        n.topic = BUNDLE;
        n.push_type = APNS_PUSH_LIVEACTIVITY;
        n.priority = 10;
        n.expiration = 0;
        n.payload = BC_BODY;
        n.payload_len = strlen(BC_BODY);
        n.user_data = (void *)i;
        assert_int_equal(apns_client_submit(c, &n), 0);
    }
    while (all.done < 3)
        event_base_loop(f->base, EVLOOP_ONCE);
    apns_client_stats st;
    apns_client_stats_get(c, &st);
    apns_client_free(c);
    server_stop(&s);

    assert_int_equal(st.goaways, 1);
    assert_int_equal(st.resent, 2);
    assert_int_equal(st.accepted, 3);
    assert_int_equal(s.nlog, 5); /* 3, then the 2 handed back */
    for (size_t i = 0; i < s.nlog; i++) {
        assert_string_equal(s.log[i].method, "POST");
        assert_string_equal(s.log[i].path, "/4/broadcasts/apps/" BUNDLE);
        assert_string_equal(s.log[i].channel, CHAN1);
        assert_string_equal(s.log[i].push_type, "liveactivity");
        assert_string_equal(s.log[i].expiration, "0");
        assert_string_equal(s.log[i].priority, "10");
        assert_string_equal(s.log[i].topic, "");
        assert_int_equal(s.log[i].body_len, strlen(BC_BODY));
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(all.o[i].r.outcome, APNS_OUTCOME_ACCEPTED);
        /* the answer echoes the request id, which is the one the client chose */
        int seen = 0;
        for (size_t k = 0; k < s.nlog; k++)
            seen += strcmp(s.log[k].request_id, all.o[i].r.apns_id) == 0;
        assert_int_equal(seen, i == 0 ? 1 : 2); /* resent with the same id */
    }
}

typedef struct chan_out {
    int done;
    apns_channel_result r;
    char reason[64], channel_id[80], request_id[40];
    char channels[4][80];
} chan_out;

static void on_channel(apns_channel_client *cc, const apns_channel_result *r, void *ud)
{
    (void)cc;
    chan_out *o = ud;
    assert_int_equal(o->done, 0);
    o->done = 1;
    o->r = *r;
    snprintf(o->reason, sizeof o->reason, "%s", r->reason_str);
    snprintf(o->channel_id, sizeof o->channel_id, "%s", r->channel_id ? r->channel_id : "");
    snprintf(o->request_id, sizeof o->request_id, "%s", r->request_id);
    assert_string_equal(r->bundle_id, BUNDLE);
    for (size_t i = 0; i < r->nchannels && i < 4; i++)
        snprintf(o->channels[i], sizeof o->channels[i], "%s", r->channels[i]);
    o->r.reason_str = o->reason;
    o->r.channel_id = NULL;
    o->r.channels = NULL;
    o->r.bundle_id = NULL;
}

static void on_channel_drained(apns_channel_client *cc, void *ud)
{
    (void)cc;
    ++*(int *)ud;
}

static apns_channel_client *channel_client(fixture *f, const server *s)
{
    apns_channel_opts o;
    apns_channel_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = "127.0.0.1";
    o.port = s->port;
    o.h2c = 1;
    o.tokens = f->tokens;
    o.retry.max_attempts = 1;
    apns_channel_client *cc;
    char detail[256];
    assert_int_equal(apns_channel_client_new(&cc, f->base, &o, detail, sizeof detail), 0);
    return cc;
}

static void wait_for(fixture *f, const chan_out *o)
{
    while (!o->done)
        event_base_loop(f->base, EVLOOP_ONCE);
}

/* create -> read -> list -> delete against the scripted server: the exact
 * request lines, headers and bodies of §4.2, and every answer read back. */
static void channel_operations(void **state)
{
    fixture *f = *state;
    static const int status[] = {201, 200, 200, 204};
    static const char *const reason[] = {NULL, NULL, NULL, NULL};
    static const char *const body[] = {
        NULL, "{\"message-storage-policy\":1,\"push-type\":\"LiveActivity\"}",
        "{\"channels\":[\"" CHAN1 "\",\"" CHAN2 "\"]}", NULL};
    static const char *const channel[] = {CHAN1, NULL, NULL, NULL};
    server s = {.status = status, .reason = reason, .body = body, .channel = channel, .nscript = 4};
    server_start(&s, f->base);
    apns_channel_client *cc = channel_client(f, &s);
    const char *rid = "7b0ad7b4-8f4e-4b4e-9bdf-2c8b2b7e1a10";

    chan_out c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0};
    assert_int_equal(
        apns_channel_create(cc, BUNDLE, APNS_STORAGE_MOST_RECENT, rid, on_channel, &c1), 0);
    assert_int_equal(c1.done, 0); /* never from inside the call */
    wait_for(f, &c1);
    assert_int_equal(c1.r.op, APNS_CHANNEL_CREATE);
    assert_int_equal(c1.r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(c1.r.status, 201);
    assert_string_equal(c1.channel_id, CHAN1);
    assert_string_equal(c1.request_id, rid);

    assert_int_equal(apns_channel_read(cc, BUNDLE, CHAN1, NULL, on_channel, &c2), 0);
    wait_for(f, &c2);
    assert_int_equal(c2.r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(c2.r.storage_policy, 1);
    assert_string_equal(c2.channel_id, CHAN1);

    assert_int_equal(apns_channel_list(cc, BUNDLE, NULL, on_channel, &c3), 0);
    wait_for(f, &c3);
    assert_int_equal(c3.r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(c3.r.nchannels, 2);
    assert_string_equal(c3.channels[0], CHAN1);
    assert_string_equal(c3.channels[1], CHAN2);

    assert_int_equal(apns_channel_delete(cc, BUNDLE, CHAN1, NULL, on_channel, &c4), 0);
    wait_for(f, &c4);
    assert_int_equal(c4.r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(c4.r.status, 204);
    int drained = 0;
    apns_channel_client_drain(cc, on_channel_drained, &drained);
    assert_int_equal(apns_channel_list(cc, BUNDLE, NULL, on_channel, &c4), APNS_ESHUTDOWN);
    while (!drained)
        event_base_loop(f->base, EVLOOP_ONCE);
    apns_channel_client_free(cc);
    server_stop(&s);

    assert_int_equal(s.nlog, 4);
    const struct {
        const char *method, *path, *channel, *body;
    } want[] = {
        {"POST", "/1/apps/" BUNDLE "/channels", "",
         "{\"message-storage-policy\":1,\"push-type\":\"LiveActivity\"}"},
        {"GET", "/1/apps/" BUNDLE "/channels", CHAN1, ""},
        {"GET", "/1/apps/" BUNDLE "/all-channels", "", ""},
        {"DELETE", "/1/apps/" BUNDLE "/channels", CHAN1, ""},
    };
    for (int i = 0; i < 4; i++) {
        assert_string_equal(s.log[i].method, want[i].method);
        assert_string_equal(s.log[i].path, want[i].path);
        assert_string_equal(s.log[i].channel, want[i].channel);
        assert_string_equal(s.log[i].body, want[i].body);
        assert_string_equal(s.log[i].topic, ""); /* no apns-topic on /1/apps */
        assert_true(apns_uuid_is_valid(s.log[i].request_id));
    }
    assert_string_equal(s.log[0].request_id, rid);
    assert_string_equal(s.log[1].request_id, c2.request_id);
}

/* Every reason of the broadcast / management table (tests/golden/
 * broadcast-reasons.tsv, written from §4.4) comes back as the apns_reason
 * of the one table with its status; an answer without what a 2xx must
 * carry is FAILED with APNS_EFORMAT. Retries off (max_attempts 1), so 429
 * and 5xx come back at once; the connection- and token-level answers
 * (Shutdown, ExpiredProviderToken) are the client's own resends, tested
 * above. */
static void channel_errors_mapped(void **state)
{
    fixture *f = *state;
    static const int status[] = {400, 400, 400, 400, 400, 400, 400, 400, 400, 400,
                                 400, 400, 400, 400, 403, 403, 403, 403, 403, 404,
                                 405, 413, 429, 429, 500, 503, 201, 200, 200};
    static const char *const reason[] = {"FeatureNotEnabled",
                                         "MissingChannelId",
                                         "BadChannelId",
                                         "ChannelNotRegistered",
                                         "BadRequestParams",
                                         "BadRequestPayload",
                                         "PayloadEmpty",
                                         "BadMessageId",
                                         "MissingPushType",
                                         "InvalidPushType",
                                         "CannotCreateChannelConfig",
                                         "BadExpirationDate",
                                         "TopicDisallowed",
                                         "BadPriority",
                                         "BadCertificate",
                                         "BadCertificateEnvironment",
                                         "TopicMismatch",
                                         "MissingProviderToken",
                                         "InvalidProviderToken",
                                         "BadPath",
                                         "MethodNotAllowed",
                                         "PayloadTooLarge",
                                         "TooManyRequests",
                                         "TooManyProviderTokenUpdates",
                                         "InternalServerError",
                                         "Service Unavailable",
                                         NULL,
                                         NULL,
                                         NULL};
    static const char *const body[29] = {
        [27] = "{\"message-storage-policy\":7}", [28] = "{\"channels\":[\"not base64!\"]}"};
    const size_t n = sizeof status / sizeof status[0];
    server s = {.status = status, .reason = reason, .body = body, .nscript = n};
    server_start(&s, f->base);
    apns_channel_client *cc = channel_client(f, &s);
    for (size_t i = 0; i < n - 3; i++) {
        chan_out o = {0};
        assert_int_equal(apns_channel_create(cc, BUNDLE, APNS_STORAGE_NONE, NULL, on_channel, &o),
                         0);
        wait_for(f, &o);
        assert_int_equal(o.r.outcome, APNS_OUTCOME_REJECTED);
        assert_int_equal(o.r.status, status[i]);
        assert_string_equal(o.reason, reason[i]);
        if (o.r.reason == APNS_REASON_UNKNOWN || o.r.reason == APNS_REASON_NONE)
            fail_msg("%s is not a reason of the table", reason[i]);
        assert_int_equal(apns_reason_status(o.r.reason), status[i]);
        assert_int_equal(o.r.action, apns_action_for(status[i], o.r.reason));
        assert_int_equal(o.channel_id[0], '\0');
    }
    chan_out bad1 = {0}, bad2 = {0}, bad3 = {0};
    assert_int_equal(apns_channel_create(cc, BUNDLE, APNS_STORAGE_NONE, NULL, on_channel, &bad1),
                     0);
    wait_for(f, &bad1); /* 201 without apns-channel-id */
    assert_int_equal(bad1.r.outcome, APNS_OUTCOME_FAILED);
    assert_int_equal(bad1.r.error, APNS_EFORMAT);
    assert_int_equal(bad1.r.status, 201);
    assert_int_equal(apns_channel_read(cc, BUNDLE, CHAN1, NULL, on_channel, &bad2), 0);
    wait_for(f, &bad2);
    assert_int_equal(bad2.r.outcome, APNS_OUTCOME_FAILED);
    assert_int_equal(bad2.r.error, APNS_EFORMAT);
    assert_int_equal(bad2.r.storage_policy, -1);
    assert_int_equal(apns_channel_list(cc, BUNDLE, NULL, on_channel, &bad3), 0);
    wait_for(f, &bad3);
    assert_int_equal(bad3.r.outcome, APNS_OUTCOME_FAILED);
    assert_int_equal(bad3.r.error, APNS_EFORMAT);
    assert_int_equal(bad3.r.nchannels, 0);
    assert_int_equal(s.requests, n);

    /* refused before anything is sent: no callback */
    chan_out none = {0};
    assert_int_equal(apns_channel_create(cc, "", APNS_STORAGE_NONE, NULL, on_channel, &none),
                     APNS_ENOTOPIC);
    assert_int_equal(apns_channel_create(cc, BUNDLE ".push-type.liveactivity", APNS_STORAGE_NONE,
                                         NULL, on_channel, &none),
                     APNS_ETOPIC);
    assert_int_equal(
        apns_channel_create(cc, BUNDLE, (apns_storage_policy)2, NULL, on_channel, &none),
        APNS_EINVAL);
    assert_int_equal(apns_channel_read(cc, BUNDLE, NULL, NULL, on_channel, &none), APNS_ECHANNELID);
    assert_int_equal(apns_channel_delete(cc, BUNDLE, "a b", NULL, on_channel, &none),
                     APNS_ECHANNELID);
    assert_int_equal(apns_channel_list(cc, BUNDLE, "nope", on_channel, &none), APNS_EAPNSID);
    assert_int_equal(apns_channel_list(cc, BUNDLE, NULL, NULL, NULL), APNS_EINVAL);
    /* a pending request at free gets no callback (and leaks nothing) */
    assert_int_equal(apns_channel_list(cc, BUNDLE, NULL, on_channel, &none), 0);
    apns_channel_client_free(cc);
    assert_int_equal(none.done, 0);
    server_stop(&s);
}

typedef struct logged {
    char line[8][256];
    int n;
} logged;

static void on_log_line(apns_log_level level, const char *msg, void *ud)
{
    (void)level;
    logged *l = ud;
    if (l->n < 8)
        snprintf(l->line[l->n++], sizeof l->line[0], "%s", msg);
}

/* Where the clients connect: the management hosts and ports of §4.2 and
 * the two candidate publish hosts of §4.3 (the client's first log line names
 * it). Through a proxy on 127.0.0.1, so not even a DNS query leaves the
 * machine (and the loop never runs). */
static void hosts_and_ports(void **state)
{
    fixture *f = *state;
    char detail[256];
    static const struct {
        apns_environment env;
        const char *want;
    } mg[] = {
        {APNS_ENV_PRODUCTION, "client for api-manage-broadcast.push.apple.com:2196"},
        {APNS_ENV_SANDBOX, "client for api-manage-broadcast.sandbox.push.apple.com:2195"},
    };
    for (int i = 0; i < 2; i++) {
        logged l = {0};
        apns_channel_opts o;
        apns_channel_opts_init(&o);
        o.env = mg[i].env;
        o.proxy = "127.0.0.1:1";
        o.tokens = f->tokens;
        o.on_log = on_log_line;
        o.log_ud = &l;
        apns_channel_client *cc;
        assert_int_equal(apns_channel_client_new(&cc, f->base, &o, detail, sizeof detail), 0);
        assert_true(l.n >= 1);
        assert_non_null(strstr(l.line[l.n - 1], mg[i].want));
        apns_channel_client_free(cc);
    }
    static const struct {
        apns_environment env;
        apns_publish_host host;
        const char *want;
    } pub[] = {
        {APNS_ENV_PRODUCTION, APNS_PUBLISH_HOST_PUSH, "client for api.push.apple.com:443"},
        {APNS_ENV_SANDBOX, APNS_PUBLISH_HOST_PUSH, "client for api.sandbox.push.apple.com:443"},
        {APNS_ENV_PRODUCTION, APNS_PUBLISH_HOST_BROADCAST,
         "client for api-broadcast.push.apple.com:443"},
        {APNS_ENV_SANDBOX, APNS_PUBLISH_HOST_BROADCAST,
         "client for api-broadcast.sandbox.push.apple.com:443"},
    };
    for (int i = 0; i < 4; i++) {
        logged l = {0};
        apns_client_opts o;
        apns_client_opts_init(&o);
        o.env = pub[i].env;
        o.publish_host = pub[i].host;
        o.proxy = "127.0.0.1:1";
        o.tokens = f->tokens;
        o.on_result = on_outcome;
        o.on_log = on_log_line;
        o.ud = &l;
        apns_client *c;
        assert_int_equal(apns_client_new(&c, f->base, &o, detail, sizeof detail), 0);
        assert_true(l.n >= 1);
        assert_non_null(strstr(l.line[l.n - 1], pub[i].want));
        apns_client_free(c);
    }
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.tokens = f->tokens;
    o.on_result = on_outcome;
    o.publish_host = (apns_publish_host)9;
    apns_client *c;
    assert_int_equal(apns_client_new(&c, f->base, &o, detail, sizeof detail), APNS_EINVAL);
    assert_non_null(strstr(detail, "publish_host 9"));
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
        cmocka_unit_test_setup_teardown(broadcast_handed_back_on_goaway, setup, teardown),
        cmocka_unit_test_setup_teardown(channel_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(channel_errors_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(hosts_and_ports, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

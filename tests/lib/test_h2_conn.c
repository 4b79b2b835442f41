/*
 * test_h2_conn.c - the HTTP/2 core against a real HTTP/2 server: an nghttp2
 * server session inside the test, bytes piped both ways in memory, so every
 * frame the core sees and sends is real.
 *
 * The last test also captures the fuzz corpus: it drives the fuzz target's
 * own driver (fuzz_h2_conn.c is included below) against the same server and
 * records the server's bytes as fuzz scripts. Every script is replayed
 * through LLVMFuzzerTestOneInput here; with APNS_H2_WRITE_CORPUS=dir the
 * scripts are also written to dir (tests/fuzz/corpus/h2_conn).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "apns/reason.h"
#include "buf.h"
#include "fcm_int.h"
#include "h2_conn.h"
#include "job.h"

/* The fuzz driver, reused to capture the corpus. */
#include "../fuzz/fuzz_h2_conn.c"

/* ------------------------------------------------------------------ */
/* the server peer                                                     */

#define SRV_MAX_STREAMS 64
#define SRV_MAX_HDRS    16

typedef struct srv_hdr {
    char name[32];
    char value[600];
    uint8_t flags;
} srv_hdr;

typedef struct srv_stream {
    int32_t id;
    srv_hdr hdrs[SRV_MAX_HDRS];
    int nhdrs;
    uint8_t body[8192];
    size_t body_len;
    int end_stream; /* request complete */
    int rst;        /* RST_STREAM from the client */
    uint32_t rst_code;
    int closed;
    int answered;
    const char *resp;
    size_t resp_len, resp_off;
} srv_stream;

typedef struct peer {
    nghttp2_session *s;
    srv_stream st[SRV_MAX_STREAMS];
    int nst;
    int pings, goaways, settings_acks, settings;
    int priority; /* PRIORITY frames, or HEADERS with the PRIORITY flag */
} peer;

static srv_stream *srv_find(peer *p, int32_t id)
{
    for (int i = 0; i < p->nst; i++)
        if (p->st[i].id == id)
            return &p->st[i];
    return NULL;
}

static const char *srv_hdr_get(const srv_stream *st, const char *name)
{
    for (int i = 0; i < st->nhdrs; i++)
        if (strcmp(st->hdrs[i].name, name) == 0)
            return st->hdrs[i].value;
    return NULL;
}

static int srv_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    peer *p = ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        assert_true(p->nst < SRV_MAX_STREAMS);
        srv_stream *st = &p->st[p->nst++];
        memset(st, 0, sizeof *st);
        st->id = f->hd.stream_id;
    }
    return 0;
}

static int srv_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud)
{
    (void)s;
    srv_stream *st = srv_find(ud, f->hd.stream_id);
    assert_non_null(st);
    assert_true(st->nhdrs < SRV_MAX_HDRS);
    assert_true(namelen < sizeof st->hdrs[0].name && valuelen < sizeof st->hdrs[0].value);
    srv_hdr *h = &st->hdrs[st->nhdrs++];
    memcpy(h->name, name, namelen);
    h->name[namelen] = '\0';
    memcpy(h->value, value, valuelen);
    h->value[valuelen] = '\0';
    h->flags = flags;
    return 0;
}

static int srv_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                       size_t len, void *ud)
{
    (void)s;
    (void)flags;
    srv_stream *st = srv_find(ud, sid);
    assert_non_null(st);
    assert_true(st->body_len + len <= sizeof st->body);
    memcpy(st->body + st->body_len, data, len);
    st->body_len += len;
    return 0;
}

static int srv_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    peer *p = ud;
    srv_stream *st = f->hd.stream_id ? srv_find(p, f->hd.stream_id) : NULL;
    switch (f->hd.type) {
    case NGHTTP2_PRIORITY:
        p->priority++;
        break;
    case NGHTTP2_HEADERS:
        if (f->hd.flags & NGHTTP2_FLAG_PRIORITY)
            p->priority++;
        /* fall through */
    case NGHTTP2_DATA:
        if (st && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            st->end_stream = 1;
        break;
    case NGHTTP2_RST_STREAM:
        if (st) {
            st->rst = 1;
            st->rst_code = f->rst_stream.error_code;
        }
        break;
    case NGHTTP2_PING:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            p->pings++;
        break;
    case NGHTTP2_GOAWAY:
        p->goaways++;
        break;
    case NGHTTP2_SETTINGS:
        if (f->hd.flags & NGHTTP2_FLAG_ACK)
            p->settings_acks++;
        else
            p->settings++;
        break;
    default:
        break;
    }
    return 0;
}

static int srv_on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    (void)s;
    (void)code;
    srv_stream *st = srv_find(ud, sid);
    if (st)
        st->closed = 1;
    return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)sid;
    (void)ud;
    srv_stream *st = src->ptr;
    size_t n = st->resp_len - st->resp_off;
    if (n > len)
        n = len;
    memcpy(buf, st->resp + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void peer_init(peer *p, const nghttp2_settings_entry *iv, size_t niv, int no_ping_ack)
{
    memset(p, 0, sizeof *p);
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    assert_int_equal(nghttp2_option_new(&opt), 0);
    if (no_ping_ack)
        nghttp2_option_set_no_auto_ping_ack(opt, 1);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, srv_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, srv_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, srv_on_stream_close);
    assert_int_equal(nghttp2_session_server_new2(&p->s, cbs, p, opt), 0);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    assert_int_equal(nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, iv, niv), 0);
}

static void peer_settings_max(peer *p, uint32_t max)
{
    nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max};
    assert_int_equal(nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, &iv, 1), 0);
}

/* Answers stream sid with :status, the extra header pairs hdrs[0..nh) and an
 * optional body (any length up to the server's buffer). */
static void peer_respond_h(peer *p, int32_t sid, int status, const char *const (*hdrs)[2], int nh,
                           const char *body)
{
    srv_stream *st = srv_find(p, sid);
    assert_non_null(st);
    char sbuf[8];
    snprintf(sbuf, sizeof sbuf, "%d", status);
    nghttp2_nv nv[8];
    size_t n = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)sbuf, 7, strlen(sbuf), 0};
    for (int i = 0; i < nh && n < 8; i++)
        nv[n++] = (nghttp2_nv){(uint8_t *)hdrs[i][0], (uint8_t *)hdrs[i][1], strlen(hdrs[i][0]),
                               strlen(hdrs[i][1]), 0};
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = srv_read};
    st->resp = body;
    st->resp_len = body ? strlen(body) : 0;
    st->resp_off = 0;
    st->answered = 1;
    assert_int_equal(nghttp2_submit_response(p->s, sid, nv, n, body ? &prd : NULL), 0);
}

/* Answers stream sid: :status, apns-id echoed from the request, optional
 * apns-unique-id and JSON body. */
static void peer_respond(peer *p, int32_t sid, int status, const char *body, const char *uid)
{
    srv_stream *st = srv_find(p, sid);
    assert_non_null(st);
    const char *h[3][2];
    int n = 0;
    const char *id = srv_hdr_get(st, "apns-id");
    if (id) {
        h[n][0] = "apns-id";
        h[n++][1] = id;
    }
    if (uid) {
        h[n][0] = "apns-unique-id";
        h[n++][1] = uid;
    }
    if (body) {
        h[n][0] = "content-type";
        h[n++][1] = "application/json";
    }
    peer_respond_h(p, sid, status, (const char *const(*)[2])h, n, body);
}

/* ------------------------------------------------------------------ */
/* the client under test                                               */

#define NJOBS 16

typedef struct ev {
    int results, handbacks;
    apns__handback why;
    apns_result r;
    char reason[128];
    char channel_id[APNS_CHANNEL_ID_MAX + 1]; /* r.channel_id, copied ("" when NULL) */
    char body[65536];                         /* r.body, copied */
    size_t body_len;
} ev;

typedef struct T {
    peer p;
    apns__h2_conn *c;
    int64_t now;
    apns__job jobs[NJOBS];
    ev ev[NJOBS];
    int goaways;
    uint32_t ga_code, ga_last;
    char ga_reason[128];
    int deliver;     /* server bytes go to the client (else into held) */
    int close_in_cb; /* close() from inside on_result */
    int last_rc;
    apns__buf out;
    apns_token tok;
    uint8_t held[65536];
    size_t held_len;
} T;

static int jidx(T *t, apns__job *job)
{
    long i = job - t->jobs;
    assert_true(i >= 0 && i < NJOBS);
    return (int)i;
}

static void t_on_result(void *ud, apns__job *job, const apns_result *r)
{
    T *t = ud;
    ev *e = &t->ev[jidx(t, job)];
    assert_null(job->conn);
    e->results++;
    e->r = *r;
    snprintf(e->reason, sizeof e->reason, "%s", r->reason_str);
    e->r.reason_str = e->reason;
    snprintf(e->channel_id, sizeof e->channel_id, "%s", r->channel_id ? r->channel_id : "");
    assert_true(r->body_len <= sizeof e->body);
    assert_true(r->body_len == 0 || r->body != NULL);
    if (r->body_len)
        memcpy(e->body, r->body, r->body_len);
    e->body_len = r->body_len;
    e->r.channel_id = NULL;
    e->r.body = NULL;
    if (t->close_in_cb)
        apns__h2_conn_close(t->c);
}

static void t_on_handback(void *ud, apns__job *job, apns__handback why)
{
    T *t = ud;
    ev *e = &t->ev[jidx(t, job)];
    assert_null(job->conn);
    e->handbacks++;
    e->why = why;
}

static void t_on_goaway(void *ud, const apns__peer_end *e)
{
    T *t = ud;
    assert_int_equal(e->kind, APNS__END_GOAWAY);
    assert_true(e->finishing);
    t->goaways++;
    t->ga_code = e->code;
    t->ga_last = e->last_id;
    snprintf(t->ga_reason, sizeof t->ga_reason, "%s", e->reason);
}

static const char PAYLOAD[] = "{\"aps\":{\"alert\":\"hello\"}}";

static void job_init(apns__job *j, int i)
{
    memset(j, 0, sizeof *j);
    snprintf(j->token, sizeof j->token,
             "%02xfc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0", i);
    strcpy(j->topic, "com.example.App");
    j->n.token = j->token;
    j->n.topic = j->topic;
    j->n.push_type = APNS_PUSH_ALERT;
    j->n.priority = 0;
    j->n.expiration = APNS_EXPIRATION_NONE;
    j->n.payload = PAYLOAD;
    j->n.payload_len = sizeof PAYLOAD - 1;
}

static T *t_new(const apns__h2_conn_opts *o, const nghttp2_settings_entry *iv, size_t niv,
                int no_ping_ack)
{
    T *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->deliver = 1;
    peer_init(&t->p, iv, niv, no_ping_ack);
    apns__core_callbacks cb = {
        .on_result = t_on_result, .on_handback = t_on_handback, .on_peer_end = t_on_goaway};
    apns__h2_conn_opts def = {.authority = "api.push.apple.com"};
    assert_int_equal(apns__h2_conn_new(&t->c, o ? o : &def, &cb, t, t->now), 0);
    for (int i = 0; i < NJOBS; i++)
        job_init(&t->jobs[i], i);
    strcpy(t->tok.jwt, "eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ."
                       "eyJpc3MiOiJERUYxMjNHSElKIiwiaWF0IjoxNzAwMDAwMDAwfQ.sig1");
    t->tok.generation = 1;
    return t;
}

static void t_free(T *t)
{
    apns__h2_conn_close(t->c);
    apns__h2_conn_free(t->c);
    nghttp2_session_del(t->p.s);
    apns__buf_free(&t->out);
    free(t);
}

/* Server bytes to the client only (the client's output stays queued). All
 * frames the server has ready arrive in one recv, as from one socket read. */
static int server_to_client(T *t)
{
    static uint8_t buf[1 << 18];
    size_t len = 0;
    for (;;) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(t->p.s, &d);
        assert_true(n >= 0);
        if (n == 0)
            break;
        assert_true(len + (size_t)n <= sizeof buf);
        memcpy(buf + len, d, (size_t)n);
        len += (size_t)n;
    }
    if (len == 0)
        return 0;
    if (t->deliver) {
        int rc = apns__h2_conn_recv(t->c, buf, len, t->now);
        if (rc)
            t->last_rc = rc;
    } else {
        assert_true(t->held_len + len <= sizeof t->held);
        memcpy(t->held + t->held_len, buf, len);
        t->held_len += len;
    }
    return 1;
}

/* Pipes bytes both ways until both sides are quiet. */
static void pump(T *t)
{
    for (int iter = 0; iter < 100000; iter++) {
        int moved = 0;
        apns__h2_conn_flush(t->c, &t->out);
        if (t->out.len) {
            ssize_t n = nghttp2_session_mem_recv(t->p.s, apns__buf_head(&t->out), t->out.len);
            assert_int_equal(n, (ssize_t)t->out.len);
            apns__buf_consume(&t->out, t->out.len);
            moved = 1;
        }
        moved |= server_to_client(t);
        if (!moved)
            return;
    }
    fail_msg("pump did not settle");
}

static int submit(T *t, int i, int with_token)
{
    return apns__h2_conn_submit(t->c, &t->jobs[i], with_token ? &t->tok : NULL, t->now);
}

static int callbacks(const T *t, int i)
{
    return t->ev[i].results + t->ev[i].handbacks;
}

static const nghttp2_settings_entry SRV_100[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};

static T *t_ready(void)
{
    T *t = t_new(NULL, SRV_100, 1, 0);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 100);
    return t;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

static void test_settings_capacity(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "api.push.apple.com", .max_streams = 5};
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1}};
    T *t = t_new(&o, iv, 1, 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_false(apns__h2_conn_is_open(t->c));
    assert_int_equal(submit(t, 0, 1), APNS_EAGAIN);
    pump(t);
    assert_int_equal(t->p.settings, 1); /* ours arrived */
    assert_int_equal(nghttp2_session_get_remote_settings(t->p.s, NGHTTP2_SETTINGS_ENABLE_PUSH), 0);
    assert_int_equal(
        nghttp2_session_get_remote_settings(t->p.s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 1 << 20);
    assert_int_equal(nghttp2_session_get_remote_window_size(t->p.s), 16 << 20);
    assert_true(apns__h2_conn_is_open(t->c));
    assert_int_equal(apns__h2_conn_capacity(t->c), 1);
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_int_equal(submit(t, 1, 1), APNS_EAGAIN);
    pump(t);
    /* the server raises the limit: capped by opts (5), minus one in flight */
    peer_settings_max(&t->p, 100);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 4);
    peer_respond(&t->p, 1, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    assert_int_equal(apns__h2_conn_capacity(t->c), 5);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    assert_int_equal(t->p.priority, 0);
    t_free(t);
}

static void test_request_headers(void **state)
{
    (void)state;
    T *t = t_ready();
    apns__job *j = &t->jobs[0];
    j->n.expiration = 1700000000;
    j->n.priority = 10;
    strcpy(j->collapse_id, "group-1");
    j->n.collapse_id = j->collapse_id;
    assert_int_equal(j->n.apns_id[0], '\0');
    assert_int_equal(submit(t, 0, 1), 0);
    /* apns-id generated at submit, before anything is sent */
    assert_true(apns_uuid_is_valid(j->n.apns_id));
    assert_int_equal(j->stream_id, 1);
    assert_ptr_equal(j->conn, t->c);
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->token_generation, 1);
    assert_int_equal(j->deadline_ms, 30000);

    /* second request: caller-set apns-id, nothing optional, cert auth */
    apns__job *k = &t->jobs[1];
    strcpy(k->n.apns_id, "123e4567-e89b-12d3-a456-4266554400a0");
    k->n.push_type = APNS_PUSH_BACKGROUND;
    k->n.priority = 5;
    assert_int_equal(submit(t, 1, 0), 0);
    pump(t);
    assert_int_equal(t->p.nst, 2);

    const srv_stream *st = &t->p.st[0];
    char path[256], bearer[600];
    snprintf(path, sizeof path, "/3/device/%s", j->token);
    snprintf(bearer, sizeof bearer, "bearer %s", t->tok.jwt);
    const char *want[][2] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":authority", "api.push.apple.com"},
        {":path", path},
        {"authorization", bearer},
        {"apns-push-type", "alert"},
        {"apns-topic", "com.example.App"},
        {"apns-id", j->n.apns_id},
        {"apns-expiration", "1700000000"},
        {"apns-priority", "10"},
        {"apns-collapse-id", "group-1"},
    };
    assert_int_equal(st->nhdrs, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < st->nhdrs; i++) {
        assert_string_equal(st->hdrs[i].name, want[i][0]);
        assert_string_equal(st->hdrs[i].value, want[i][1]);
        /* HPACK: never indexed as protocol doc 1.6 says; nghttp2 itself
         * never indexes authorization, whatever we ask */
        int never = (st->hdrs[i].flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0;
        int want_never = !strcmp(want[i][0], ":path") || !strcmp(want[i][0], "apns-id") ||
                         !strcmp(want[i][0], "apns-expiration") ||
                         !strcmp(want[i][0], "apns-collapse-id");
        if (strcmp(want[i][0], "authorization") != 0)
            assert_int_equal(never, want_never);
    }
    assert_int_equal(st->body_len, sizeof PAYLOAD - 1);
    assert_memory_equal(st->body, PAYLOAD, sizeof PAYLOAD - 1);
    assert_true(st->end_stream);

    st = &t->p.st[1];
    snprintf(path, sizeof path, "/3/device/%s", k->token);
    const char *want2[][2] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":authority", "api.push.apple.com"},
        {":path", path},
        {"apns-push-type", "background"},
        {"apns-topic", "com.example.App"},
        {"apns-id", "123e4567-e89b-12d3-a456-4266554400a0"},
        {"apns-priority", "5"},
    };
    assert_int_equal(st->nhdrs, (int)(sizeof want2 / sizeof want2[0]));
    for (int i = 0; i < st->nhdrs; i++) {
        assert_string_equal(st->hdrs[i].name, want2[i][0]);
        assert_string_equal(st->hdrs[i].value, want2[i][1]);
    }
    assert_null(srv_hdr_get(st, "authorization"));
    assert_int_equal(k->token_generation, 0);
    t_free(t);
}

static void test_token_changes(void **state)
{
    (void)state;
    T *t = t_ready();
    /* upper-case token is sent lower-case */
    strcpy(t->jobs[0].token, "ABCDEF0123456789ABCDEF0123456789");
    assert_int_equal(submit(t, 0, 1), 0);
    pump(t);
    strcpy(t->tok.jwt, "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjJ9.second");
    t->tok.generation = 2;
    assert_int_equal(submit(t, 1, 1), 0);
    assert_int_equal(submit(t, 2, 0), 0);
    assert_int_equal(submit(t, 3, 1), 0);
    pump(t);
    assert_int_equal(t->p.nst, 4);
    assert_string_equal(srv_hdr_get(&t->p.st[0], ":path"),
                        "/3/device/abcdef0123456789abcdef0123456789");
    assert_string_equal(srv_hdr_get(&t->p.st[1], "authorization"),
                        "bearer eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjJ9.second");
    assert_null(srv_hdr_get(&t->p.st[2], "authorization"));
    assert_string_equal(srv_hdr_get(&t->p.st[3], "authorization"),
                        "bearer eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjJ9.second");
    assert_int_equal(t->jobs[1].token_generation, 2);
    t_free(t);
}

static void test_accepted(void **state)
{
    (void)state;
    T *t = t_ready();
    assert_int_equal(submit(t, 0, 1), 0);
    pump(t);
    peer_respond(&t->p, 1, 200, NULL, "a6e0a5a0-9d1f-4b5e-8f3a-0c2d5e7b9f11");
    pump(t);
    ev *e = &t->ev[0];
    assert_int_equal(e->results, 1);
    assert_int_equal(e->handbacks, 0);
    assert_int_equal(e->r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(e->r.status, 200);
    assert_int_equal(e->r.reason, APNS_REASON_NONE);
    assert_string_equal(e->reason, "");
    assert_int_equal(e->r.action, APNS_ACTION_NONE);
    assert_int_equal(e->r.attempts, 1);
    assert_int_equal(e->r.timestamp_ms, 0);
    assert_string_equal(e->r.apns_id, t->jobs[0].n.apns_id);
    assert_string_equal(e->r.apns_unique_id, "a6e0a5a0-9d1f-4b5e-8f3a-0c2d5e7b9f11");
    assert_int_equal(t->jobs[0].stream_id, 0);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    t_free(t);
}

static void test_unregistered_410(void **state)
{
    (void)state;
    T *t = t_ready();
    assert_int_equal(submit(t, 0, 1), 0);
    pump(t);
    peer_respond(&t->p, 1, 410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000123}", NULL);
    pump(t);
    ev *e = &t->ev[0];
    assert_int_equal(e->results, 1);
    assert_int_equal(e->r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(e->r.status, 410);
    assert_int_equal(e->r.reason, APNS_REASON_UNREGISTERED);
    assert_string_equal(e->reason, "Unregistered");
    assert_true(e->r.timestamp_ms == 1700000000123LL);
    assert_int_equal(e->r.action, APNS_ACTION_DEAD_TOKEN);
    assert_string_equal(e->r.apns_id, t->jobs[0].n.apns_id);
    assert_string_equal(e->r.apns_unique_id, "");
    t_free(t);
}

static void test_bad_device_token_400(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    peer_respond(&t->p, 1, 400, "{\"reason\":\"BadDeviceToken\"}", NULL);
    /* escapes, nesting, a float timestamp the 400 must ignore */
    peer_respond(&t->p, 3, 400,
                 " { \"x\" : [1, {\"y\": null}, true, -2.5e3], \"timestamp\": 1.7e12,"
                 " \"reason\" : \"Bad\\u0044evice\\/Token\" } ",
                 NULL);
    peer_respond(&t->p, 5, 429, "{\"reason\":\"SomethingNew\"}", NULL);
    peer_respond(&t->p, 7, 503, "not json", NULL);
    pump(t);
    ev *e = &t->ev[0];
    assert_int_equal(e->results, 1);
    assert_int_equal(e->r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(e->r.status, 400);
    assert_int_equal(e->r.reason, APNS_REASON_BAD_DEVICE_TOKEN);
    assert_string_equal(e->reason, "BadDeviceToken");
    assert_int_equal(e->r.action, apns_action_for(400, APNS_REASON_BAD_DEVICE_TOKEN));
    assert_int_equal(e->r.timestamp_ms, 0);

    e = &t->ev[1];
    assert_string_equal(e->reason, "BadDevice/Token");
    assert_int_equal(e->r.reason, APNS_REASON_UNKNOWN);
    assert_int_equal(e->r.timestamp_ms, 0);

    e = &t->ev[2];
    assert_int_equal(e->r.reason, APNS_REASON_UNKNOWN);
    assert_string_equal(e->reason, "SomethingNew");
    assert_int_equal(e->r.action, APNS_ACTION_RETRY);

    e = &t->ev[3];
    assert_int_equal(e->r.status, 503);
    assert_string_equal(e->reason, "");
    assert_int_equal(e->r.outcome, APNS_OUTCOME_REJECTED);
    t_free(t);
}

static void test_goaway_middle(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 10; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    assert_int_equal(t->p.nst, 10); /* streams 1..19 */
    const char dbg[] = "{\"reason\":\"Shutdown\"}";
    assert_int_equal(nghttp2_submit_goaway(t->p.s, NGHTTP2_FLAG_NONE, 9, NGHTTP2_NO_ERROR,
                                           (const uint8_t *)dbg, sizeof dbg - 1),
                     0);
    pump(t);
    assert_int_equal(t->goaways, 1);
    assert_int_equal(t->ga_last, 9);
    assert_int_equal(t->ga_code, NGHTTP2_NO_ERROR);
    assert_string_equal(t->ga_reason, "Shutdown");
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_false(apns__h2_conn_is_open(t->c));
    assert_int_equal(apns__h2_conn_in_flight(t->c), 5);
    assert_false(apns__h2_conn_is_finished(t->c));
    assert_int_equal(submit(t, 10, 1), APNS_EAGAIN);
    for (int i = 5; i < 10; i++) {
        assert_int_equal(t->ev[i].handbacks, 1);
        assert_int_equal(t->ev[i].why, APNS__HB_GOAWAY);
        assert_int_equal(t->ev[i].results, 0);
    }
    for (int i = 0; i < 5; i++)
        assert_int_equal(callbacks(t, i), 0);
    for (int32_t sid = 1; sid <= 9; sid += 2)
        peer_respond(&t->p, sid, 200, NULL, NULL);
    pump(t);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t->ev[i].results, 1);
        assert_int_equal(t->ev[i].r.outcome, APNS_OUTCOME_ACCEPTED);
    }
    for (int i = 0; i < 10; i++)
        assert_int_equal(callbacks(t, i), 1);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_true(apns__h2_conn_is_finished(t->c));
    apns__h2_conn_close(t->c);
    for (int i = 0; i < 10; i++)
        assert_int_equal(callbacks(t, i), 1);
    t_free(t);
}

/* GOAWAY arrives while requests are still queued in the core, unsent. */
static void test_goaway_before_send(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(t, i, 1), 0);
    assert_int_equal(
        nghttp2_submit_goaway(t->p.s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_ENHANCE_YOUR_CALM, NULL, 0), 0);
    server_to_client(t);
    assert_int_equal(t->goaways, 1);
    assert_string_equal(t->ga_reason, "");
    assert_int_equal(t->ga_code, NGHTTP2_ENHANCE_YOUR_CALM);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t->ev[i].handbacks, 1);
        assert_int_equal(t->ev[i].why, APNS__HB_GOAWAY);
    }
    assert_true(apns__h2_conn_is_finished(t->c));
    pump(t); /* nghttp2 drops the queued requests now: no second callback */
    assert_int_equal(t->p.nst, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(callbacks(t, i), 1);
    t_free(t);
}

static void test_refused_and_reset(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    assert_int_equal(
        nghttp2_submit_rst_stream(t->p.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_REFUSED_STREAM), 0);
    assert_int_equal(
        nghttp2_submit_rst_stream(t->p.s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_INTERNAL_ERROR), 0);
    peer_respond(&t->p, 5, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[0].handbacks, 1);
    assert_int_equal(t->ev[0].why, APNS__HB_REFUSED);
    assert_int_equal(t->ev[1].handbacks, 1);
    assert_int_equal(t->ev[1].why, APNS__HB_RESET);
    assert_int_equal(t->ev[2].results, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(callbacks(t, i), 1);
    assert_int_equal(apns__h2_conn_capacity(t->c), 100);
    /* a handed-back job can be sent again: attempts counts it */
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(t->jobs[0].attempts, 2);
    pump(t);
    peer_respond(&t->p, 7, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    assert_int_equal(t->ev[0].r.attempts, 2);
    t_free(t);
}

static void test_shrink_max_streams(void **state)
{
    (void)state;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 10}};
    T *t = t_new(NULL, iv, 1, 0);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(submit(t, i, 1), 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    pump(t);
    /* after a rejection APNs drops the limit and refuses what is over it */
    peer_settings_max(&t->p, 2);
    peer_respond(&t->p, 1, 400, "{\"reason\":\"BadDeviceToken\"}", NULL);
    for (int32_t sid = 13; sid <= 19; sid += 2)
        nghttp2_submit_rst_stream(t->p.s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_REFUSED_STREAM);
    pump(t);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 5); /* streams 3..11 */
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    for (int i = 6; i < 10; i++)
        assert_int_equal(t->ev[i].why, APNS__HB_REFUSED);
    peer_respond(&t->p, 3, 200, NULL, NULL);
    peer_respond(&t->p, 5, 200, NULL, NULL);
    peer_respond(&t->p, 7, 200, NULL, NULL);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0); /* 2 in flight, limit 2 */
    peer_respond(&t->p, 9, 200, NULL, NULL);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 1);
    peer_settings_max(&t->p, 1000);
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 999);
    for (int i = 0; i < 10; i++)
        assert_int_equal(callbacks(t, i), i == 5 ? 0 : 1);
    t_free(t);
}

static void test_deadline(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "a.example", .stream_timeout_ms = 1000};
    T *t = t_new(&o, SRV_100, 1, 0);
    pump(t);
    assert_int_equal(submit(t, 0, 1), 0);
    t->now = 500;
    assert_int_equal(submit(t, 1, 1), 0);
    pump(t);
    assert_int_equal(apns__h2_conn_next_deadline(t->c), 1000);
    assert_int_equal(apns__h2_conn_tick(t->c, 999), 0);
    assert_int_equal(callbacks(t, 0), 0);
    t->now = 1000;
    assert_int_equal(apns__h2_conn_tick(t->c, 1000), 0);
    assert_int_equal(t->ev[0].handbacks, 1);
    assert_int_equal(t->ev[0].why, APNS__HB_TIMEOUT);
    assert_int_equal(callbacks(t, 1), 0);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 1);
    assert_int_equal(apns__h2_conn_next_deadline(t->c), 1500);
    pump(t);
    assert_true(t->p.st[0].rst);
    assert_int_equal(t->p.st[0].rst_code, NGHTTP2_CANCEL);
    assert_int_equal(apns__h2_conn_capacity(t->c), 99);

    /* the answer races the timeout: it arrives after the handback */
    peer_respond(&t->p, 3, 200, NULL, NULL);
    t->deliver = 0;
    server_to_client(t);
    t->now = 1500;
    assert_int_equal(apns__h2_conn_tick(t->c, 1500), 0);
    assert_int_equal(t->ev[1].handbacks, 1);
    assert_int_equal(t->ev[1].why, APNS__HB_TIMEOUT);
    assert_int_equal(apns__h2_conn_recv(t->c, t->held, t->held_len, t->now), 0);
    t->deliver = 1;
    pump(t);
    assert_int_equal(callbacks(t, 0), 1);
    assert_int_equal(callbacks(t, 1), 1);
    assert_int_equal(apns__h2_conn_capacity(t->c), 100);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    t_free(t);
}

/* The deadline passes before the request even left the core. */
static void test_deadline_before_send(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "a.example", .stream_timeout_ms = 1000};
    T *t = t_new(&o, SRV_100, 1, 0);
    pump(t);
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(submit(t, 1, 1), 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 98);
    t->now = 2000;
    assert_int_equal(apns__h2_conn_tick(t->c, t->now), 0);
    assert_int_equal(t->ev[0].why, APNS__HB_TIMEOUT);
    assert_int_equal(t->ev[1].why, APNS__HB_TIMEOUT);
    /* nghttp2 cannot drop a queued request without breaking HPACK: it
     * leaves and is reset at once, before its body */
    pump(t);
    assert_int_equal(t->p.nst, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(t->p.st[i].rst);
        assert_int_equal(t->p.st[i].rst_code, NGHTTP2_CANCEL);
        assert_int_equal(t->p.st[i].body_len, 0);
    }
    assert_int_equal(apns__h2_conn_capacity(t->c), 100);
    assert_int_equal(submit(t, 2, 1), 0);
    pump(t);
    assert_int_equal(t->p.nst, 3);
    assert_int_equal(t->p.goaways, 0);
    peer_respond(&t->p, t->p.st[2].id, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[2].results, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(callbacks(t, i), 1);
    t_free(t);
}

static void test_ping(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {
        .authority = "a.example", .ping_idle_ms = 5000, .ping_timeout_ms = 1000};
    T *t = t_new(&o, SRV_100, 1, 0);
    pump(t);
    assert_int_equal(apns__h2_conn_next_deadline(t->c), 5000);
    assert_int_equal(apns__h2_conn_tick(t->c, 4999), 0);
    pump(t);
    assert_int_equal(t->p.pings, 0);
    t->now = 5000;
    assert_int_equal(apns__h2_conn_tick(t->c, t->now), 0);
    assert_int_equal(apns__h2_conn_next_deadline(t->c), 6000);
    pump(t); /* PING out, ACK back */
    assert_int_equal(t->p.pings, 1);
    assert_int_equal(apns__h2_conn_next_deadline(t->c), 10000);
    t->now = 6500;
    assert_int_equal(apns__h2_conn_tick(t->c, t->now), 0);

    /* now the ACK gets lost */
    t->deliver = 0;
    t->now = 10000;
    assert_int_equal(apns__h2_conn_tick(t->c, t->now), 0);
    pump(t);
    assert_int_equal(t->p.pings, 2);
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(apns__h2_conn_tick(t->c, 10999), 0);
    assert_int_equal(apns__h2_conn_tick(t->c, 11000), APNS_ETIMEOUT);
    assert_int_equal(apns__h2_conn_tick(t->c, 11001), APNS_ETIMEOUT);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_true(apns__h2_conn_is_finished(t->c));
    assert_int_equal(apns__h2_conn_next_deadline(t->c), INT64_MAX);
    assert_int_equal(callbacks(t, 0), 0);
    apns__h2_conn_close(t->c);
    assert_int_equal(t->ev[0].why, APNS__HB_CLOSED);
    assert_int_equal(callbacks(t, 0), 1);
    t_free(t);
}

static void test_close(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    assert_int_equal(submit(t, 3, 1), 0); /* one not even sent */
    apns__h2_conn_close(t->c);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->ev[i].handbacks, 1);
        assert_int_equal(t->ev[i].why, APNS__HB_CLOSED);
    }
    apns__h2_conn_close(t->c);
    for (int i = 0; i < 4; i++)
        assert_int_equal(callbacks(t, i), 1);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_true(apns__h2_conn_is_finished(t->c));
    assert_int_equal(apns__h2_conn_recv(t->c, (const uint8_t *)"x", 1, 0), APNS_ECLOSED);
    assert_int_equal(submit(t, 4, 1), APNS_ECLOSED);
    assert_int_equal(apns__h2_conn_flush(t->c, &t->out), 0);
    assert_int_equal(t->out.len, 0);
    t_free(t);
}

/* close() from inside on_result while more answers sit in the same input. */
static void test_close_inside_callback(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    for (int32_t sid = 1; sid <= 5; sid += 2)
        peer_respond(&t->p, sid, 200, NULL, NULL);
    t->close_in_cb = 1;
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(t->ev[i].handbacks, 1);
        assert_int_equal(t->ev[i].why, APNS__HB_CLOSED);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(callbacks(t, i), 1);
    assert_int_equal(t->last_rc, APNS_ECLOSED);
    t_free(t);
}

static void test_flow_control(void **state)
{
    (void)state;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 100}};
    T *t = t_new(NULL, iv, 2, 0);
    pump(t);
    static char big[5000];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"aps\":{\"alert\":\"", 17);
    memcpy(big + sizeof big - 3, "\"}}", 3);
    t->jobs[0].n.payload = big;
    t->jobs[0].n.payload_len = sizeof big;
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(submit(t, 1, 1), 0);
    pump(t);
    assert_int_equal(t->p.st[0].body_len, sizeof big);
    assert_memory_equal(t->p.st[0].body, big, sizeof big);
    assert_true(t->p.st[0].end_stream);
    assert_int_equal(t->p.st[1].body_len, sizeof PAYLOAD - 1);
    peer_respond(&t->p, 1, 200, NULL, NULL);
    peer_respond(&t->p, 3, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    assert_int_equal(t->ev[1].results, 1);
    t_free(t);
}

static void test_garbage(void **state)
{
    (void)state;
    static const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    /* after the handshake */
    T *t = t_ready();
    for (int i = 0; i < 2; i++)
        assert_int_equal(submit(t, i, 1), 0);
    pump(t);
    assert_int_equal(apns__h2_conn_recv(t->c, (const uint8_t *)junk, sizeof junk - 1, 0),
                     APNS_EPROTO);
    assert_int_equal(apns__h2_conn_recv(t->c, (const uint8_t *)junk, 1, 0), APNS_EPROTO);
    assert_int_equal(apns__h2_conn_tick(t->c, 0), APNS_EPROTO);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_true(apns__h2_conn_is_finished(t->c));
    assert_int_equal(callbacks(t, 0) + callbacks(t, 1), 0);
    apns__h2_conn_close(t->c);
    assert_int_equal(t->ev[0].why, APNS__HB_CLOSED);
    assert_int_equal(t->ev[1].why, APNS__HB_CLOSED);
    assert_int_equal(callbacks(t, 0) + callbacks(t, 1), 2);
    t_free(t);

    /* instead of the server's SETTINGS */
    t = t_new(NULL, SRV_100, 1, 0);
    apns__h2_conn_flush(t->c, &t->out);
    assert_int_equal(apns__h2_conn_recv(t->c, (const uint8_t *)junk, sizeof junk - 1, 0),
                     APNS_EPROTO);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    t_free(t);

    /* a well-formed frame that is not SETTINGS first: PING */
    static const uint8_t ping[] = {0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    t = t_new(NULL, SRV_100, 1, 0);
    assert_int_equal(apns__h2_conn_recv(t->c, ping, sizeof ping, 0), APNS_EPROTO);
    t_free(t);
}

static void test_shutdown(void **state)
{
    (void)state;
    T *t = t_ready();
    assert_int_equal(submit(t, 0, 1), 0);
    pump(t);
    apns__h2_conn_shutdown(t->c);
    assert_int_equal(apns__h2_conn_capacity(t->c), 0);
    assert_false(apns__h2_conn_is_open(t->c));
    assert_false(apns__h2_conn_is_finished(t->c));
    pump(t);
    assert_int_equal(t->p.goaways, 1);
    peer_respond(&t->p, 1, 200, NULL, NULL);
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    assert_true(apns__h2_conn_is_finished(t->c));
    t_free(t);
}

/* Many streams: the in-flight book keeps deadline order across reuse. */
static void test_many_streams(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "a.example", .stream_timeout_ms = 100};
    T *t = t_new(&o, SRV_100, 1, 0);
    pump(t);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < NJOBS; i++)
            assert_int_equal(submit(t, i, 1), 0);
        pump(t);
        int base = t->p.nst - NJOBS;
        for (int i = 0; i < NJOBS; i += 2)
            peer_respond(&t->p, t->p.st[base + i].id, 200, NULL, NULL);
        pump(t);
        t->now += 100;
        assert_int_equal(apns__h2_conn_tick(t->c, t->now), 0);
        pump(t);
        for (int i = 0; i < NJOBS; i++) {
            assert_int_equal(callbacks(t, i), round + 1);
            assert_int_equal(i % 2 ? t->ev[i].handbacks : t->ev[i].results, round + 1);
        }
        assert_int_equal(apns__h2_conn_capacity(t->c), 100);
        if (t->p.nst > SRV_MAX_STREAMS - NJOBS)
            t->p.nst = 0; /* forget old streams on the server side */
    }
    t_free(t);
}

/* ------------------------------------------------------------------ */
/* corpus capture: the fuzz driver against the server peer             */

typedef struct gen {
    fz f;
    peer p;
    uint8_t script[1 << 17];
    size_t len;
} gen;

static void gen_apply(gen *g, const uint8_t *op, size_t n)
{
    assert_true(g->len + n <= sizeof g->script);
    memcpy(g->script + g->len, op, n);
    g->len += n;
    if (!g->f.stopped)
        fz_op(&g->f, op, n);
}

static void gen_begin(gen *g, const nghttp2_settings_entry *iv, size_t niv)
{
    assert_int_equal(fz_init(&g->f), 0);
    peer_init(&g->p, iv, niv, 0);
    g->len = 0;
}

/* One driver step per operation, exactly as LLVMFuzzerTestOneInput does. */
static void gen_exchange(gen *g)
{
    for (int iter = 0; iter < 1000 && !g->f.stopped; iter++) {
        fz_client_step(&g->f);
        int client = g->f.out.len > 0;
        if (client) {
            ssize_t n = nghttp2_session_mem_recv(g->p.s, apns__buf_head(&g->f.out), g->f.out.len);
            assert_int_equal(n, (ssize_t)g->f.out.len);
            apns__buf_consume(&g->f.out, g->f.out.len);
        }
        uint8_t rec[2 + 0x7fff];
        size_t len = 0;
        for (;;) {
            const uint8_t *d;
            ssize_t n = nghttp2_session_mem_send(g->p.s, &d);
            assert_true(n >= 0);
            if (n == 0)
                break;
            assert_true(len + (size_t)n <= 0x7fff);
            memcpy(rec + 2 + len, d, (size_t)n);
            len += (size_t)n;
        }
        if (len) {
            rec[0] = (uint8_t)(len >> 8);
            rec[1] = (uint8_t)len;
            gen_apply(g, rec, 2 + len);
        } else if (client) {
            uint8_t nop = 0x85; /* keeps one driver step per operation */
            gen_apply(g, &nop, 1);
        } else {
            return;
        }
    }
}

static void gen_answer_all(gen *g, int status, const char *body)
{
    for (int i = 0; i < g->p.nst; i++) {
        srv_stream *st = &g->p.st[i];
        if (st->end_stream && !st->answered && !st->rst && !st->closed)
            peer_respond(&g->p, st->id, status, body,
                         status == 200 ? "0f4b5d2a-1c3e-4a5b-8c7d-9e0f1a2b3c4d" : NULL);
    }
}

static void gen_op(gen *g, uint8_t op)
{
    gen_apply(g, &op, 1);
}

static int corpus_files;

static void gen_write(const uint8_t *d, size_t n, const char *name)
{
    const char *dir = getenv("APNS_H2_WRITE_CORPUS");
    /* every script must pass the fuzz invariants */
    LLVMFuzzerTestOneInput(d, n);
    corpus_files++;
    if (!dir || !*dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(d, 1, n, fp), n);
    fclose(fp);
}

static void gen_end(gen *g, const char *name, int min_streams)
{
    assert_true(g->p.nst >= min_streams);
    fz_finish(&g->f);
    nghttp2_session_del(g->p.s);
    gen_write(g->script, g->len, name);
}

/* Mutations: the same script with every recv split into 5-byte records,
 * and cut in half. */
static void gen_variants(gen *g, const char *name)
{
    static uint8_t out[1 << 18];
    size_t o = 0, i = 0;
    while (i < g->len) {
        uint8_t b = g->script[i];
        if (b >= 0x80) {
            out[o++] = b;
            i++;
            continue;
        }
        size_t len = ((size_t)b << 8) | g->script[i + 1];
        const uint8_t *d = g->script + i + 2;
        for (size_t k = 0; k < len; k += 5) {
            size_t m = len - k < 5 ? len - k : 5;
            assert_true(o + 2 + m <= sizeof out);
            out[o++] = 0;
            out[o++] = (uint8_t)m;
            memcpy(out + o, d + k, m);
            o += m;
        }
        i += 2 + len;
    }
    char nm[256];
    snprintf(nm, sizeof nm, "%s-split5", name);
    gen_write(out, o, nm);
    snprintf(nm, sizeof nm, "%s-half", name);
    gen_write(g->script, g->len / 2, nm);
}

/* ---- broadcast publish and channel management (§4.2-4.4) ---------------- */

static const char BC_PAYLOAD[] = "{\"aps\":{\"timestamp\":1685952000,\"event\":\"update\","
                                 "\"content-state\":{\"score\":\"1-0\"}}}";
static const char CHANNEL[] = "dHdmLWJyb2FkY2FzdC1jaGFubmVs";

static void bc_job(apns__job *j, int64_t expiration, int priority)
{
    j->n.token = NULL;
    strcpy(j->topic, "com.example.App");
    strcpy(j->channel_id, CHANNEL);
    j->n.channel_id = j->channel_id;
    j->n.push_type = APNS_PUSH_LIVEACTIVITY;
    j->n.expiration = expiration;
    j->n.priority = priority;
    j->n.payload = BC_PAYLOAD;
    j->n.payload_len = sizeof BC_PAYLOAD - 1;
}

static void expect_headers(const srv_stream *st, const char *const (*want)[2], int n)
{
    for (int i = 0; i < st->nhdrs && i < n; i++) {
        assert_string_equal(st->hdrs[i].name, want[i][0]);
        assert_string_equal(st->hdrs[i].value, want[i][1]);
    }
    assert_int_equal(st->nhdrs, n);
}

/* A broadcast: the path carries the bundle id, apns-channel-id and
 * apns-request-id replace apns-topic and apns-id; the answer's
 * apns-request-id and apns-unique-id come back in the result. */
static void test_broadcast_request(void **state)
{
    (void)state;
    T *t = t_ready();
    apns__job *j = &t->jobs[0];
    bc_job(j, 0, 10);
    strcpy(j->n.apns_id, "0c4d5bde-5f5a-4d8b-9d49-0d0a4c4ab2a1");
    assert_int_equal(submit(t, 0, 1), 0);
    apns__job *k = &t->jobs[1]; /* generated request id, priority 5, storage until a time */
    bc_job(k, 1700003600, 5);
    assert_int_equal(submit(t, 1, 0), 0);
    assert_true(apns_uuid_is_valid(k->n.apns_id));
    pump(t);
    assert_int_equal(t->p.nst, 2);
    char bearer[600];
    snprintf(bearer, sizeof bearer, "bearer %s", t->tok.jwt);
    const char *const want[][2] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":authority", "api.push.apple.com"},
        {":path", "/4/broadcasts/apps/com.example.App"},
        {"authorization", bearer},
        {"apns-push-type", "liveactivity"},
        {"apns-channel-id", CHANNEL},
        {"apns-request-id", "0c4d5bde-5f5a-4d8b-9d49-0d0a4c4ab2a1"},
        {"apns-expiration", "0"},
        {"apns-priority", "10"},
    };
    expect_headers(&t->p.st[0], want, 10);
    assert_null(srv_hdr_get(&t->p.st[0], "apns-topic"));
    assert_null(srv_hdr_get(&t->p.st[0], "apns-id"));
    assert_int_equal(t->p.st[0].body_len, sizeof BC_PAYLOAD - 1);
    assert_memory_equal(t->p.st[0].body, BC_PAYLOAD, sizeof BC_PAYLOAD - 1);
    const char *const want2[][2] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":authority", "api.push.apple.com"},
        {":path", "/4/broadcasts/apps/com.example.App"},
        {"apns-push-type", "liveactivity"},
        {"apns-channel-id", CHANNEL},
        {"apns-request-id", k->n.apns_id},
        {"apns-expiration", "1700003600"},
        {"apns-priority", "5"},
    };
    expect_headers(&t->p.st[1], want2, 9);

    const char *const ok[][2] = {{"apns-request-id", "0c4d5bde-5f5a-4d8b-9d49-0d0a4c4ab2a1"},
                                 {"apns-unique-id", "5f6c8f2e-4a53-4c4d-8a1c-6a2fb7a0b7c1"}};
    peer_respond_h(&t->p, 1, 200, ok, 2, NULL);
    const char *const bad[][2] = {{"apns-request-id", k->n.apns_id},
                                  {"content-type", "application/json"}};
    peer_respond_h(&t->p, 3, 400, bad, 2, "{\"reason\":\"ChannelNotRegistered\"}");
    pump(t);
    assert_int_equal(t->ev[0].r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_string_equal(t->ev[0].r.apns_id, "0c4d5bde-5f5a-4d8b-9d49-0d0a4c4ab2a1");
    assert_string_equal(t->ev[0].r.apns_unique_id, "5f6c8f2e-4a53-4c4d-8a1c-6a2fb7a0b7c1");
    assert_int_equal(t->ev[0].body_len, 0);
    assert_int_equal(t->ev[1].r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(t->ev[1].r.status, 400);
    assert_int_equal(t->ev[1].r.reason, APNS_REASON_CHANNEL_NOT_REGISTERED);
    assert_int_equal(t->ev[1].r.action, APNS_ACTION_DEAD_TOKEN);
    assert_string_equal(t->ev[1].reason, "ChannelNotRegistered");

    /* a broadcast without a bundle id or channel id is refused before sending */
    apns__job *m = &t->jobs[2];
    bc_job(m, 0, 10);
    m->topic[0] = '\0';
    assert_int_equal(submit(t, 2, 1), APNS_EINVAL);
    bc_job(m, 0, 10);
    m->channel_id[0] = '\0';
    assert_int_equal(submit(t, 2, 1), APNS_EINVAL);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    t_free(t);
}

/* Broadcasts above a GOAWAY's last-stream-id are handed back (never
 * processed), like device pushes; the one below it still gets its answer. */
static void test_broadcast_goaway(void **state)
{
    (void)state;
    T *t = t_ready();
    for (int i = 0; i < 3; i++) {
        bc_job(&t->jobs[i], 0, 10);
        assert_int_equal(submit(t, i, 1), 0);
    }
    pump(t);
    assert_int_equal(nghttp2_submit_goaway(t->p.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, NULL, 0),
                     0);
    pump(t);
    assert_int_equal(t->goaways, 1);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(t->ev[i].handbacks, 1);
        assert_int_equal(t->ev[i].why, APNS__HB_GOAWAY);
        assert_int_equal(t->ev[i].results, 0);
        assert_null(t->jobs[i].conn);
    }
    assert_int_equal(callbacks(t, 0), 0);
    peer_respond_h(&t->p, 1, 200, NULL, 0, NULL);
    pump(t);
    assert_int_equal(t->ev[0].results, 1);
    assert_int_equal(t->ev[0].r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_true(apns__h2_conn_is_finished(t->c));
    t_free(t);
}

/* The four management requests of §4.2, their exact request lines and
 * headers, and the answers handed out (apns-channel-id, body). */
static void test_channel_management_requests(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "api-manage-broadcast.sandbox.push.apple.com:2195"};
    T *t = t_new(&o, SRV_100, 1, 0);
    pump(t);
    static const char create_body[] =
        "{\"message-storage-policy\":1,\"push-type\":\"LiveActivity\"}";
    const apns__op ops[] = {APNS__OP_CH_CREATE, APNS__OP_CH_READ, APNS__OP_CH_LIST,
                            APNS__OP_CH_DELETE};
    for (int i = 0; i < 4; i++) {
        apns__job *j = &t->jobs[i];
        j->op = ops[i];
        j->n.token = NULL;
        j->n.push_type = APNS_PUSH_LIVEACTIVITY;
        j->n.payload = i == 0 ? create_body : NULL;
        j->n.payload_len = i == 0 ? sizeof create_body - 1 : 0;
        if (ops[i] == APNS__OP_CH_READ || ops[i] == APNS__OP_CH_DELETE) {
            strcpy(j->channel_id, CHANNEL);
            j->n.channel_id = j->channel_id;
        }
        snprintf(j->n.apns_id, sizeof j->n.apns_id, "00000000-0000-4000-8000-00000000000%d", i);
        assert_int_equal(submit(t, i, 1), 0);
    }
    pump(t);
    assert_int_equal(t->p.nst, 4);
    char bearer[600];
    snprintf(bearer, sizeof bearer, "bearer %s", t->tok.jwt);
    const char *auth = "api-manage-broadcast.sandbox.push.apple.com:2195";
    const char *const w0[][2] = {{":method", "POST"},
                                 {":scheme", "https"},
                                 {":authority", auth},
                                 {":path", "/1/apps/com.example.App/channels"},
                                 {"authorization", bearer},
                                 {"apns-request-id", "00000000-0000-4000-8000-000000000000"},
                                 {"content-type", "application/json"}};
    expect_headers(&t->p.st[0], w0, 7);
    assert_int_equal(t->p.st[0].body_len, sizeof create_body - 1);
    assert_memory_equal(t->p.st[0].body, create_body, sizeof create_body - 1);
    const char *const w1[][2] = {
        {":method", "GET"},          {":scheme", "https"},
        {":authority", auth},        {":path", "/1/apps/com.example.App/channels"},
        {"authorization", bearer},   {"apns-request-id", "00000000-0000-4000-8000-000000000001"},
        {"apns-channel-id", CHANNEL}};
    expect_headers(&t->p.st[1], w1, 7);
    const char *const w2[][2] = {
        {":method", "GET"},        {":scheme", "https"},
        {":authority", auth},      {":path", "/1/apps/com.example.App/all-channels"},
        {"authorization", bearer}, {"apns-request-id", "00000000-0000-4000-8000-000000000002"}};
    expect_headers(&t->p.st[2], w2, 6);
    const char *const w3[][2] = {
        {":method", "DELETE"},       {":scheme", "https"},
        {":authority", auth},        {":path", "/1/apps/com.example.App/channels"},
        {"authorization", bearer},   {"apns-request-id", "00000000-0000-4000-8000-000000000003"},
        {"apns-channel-id", CHANNEL}};
    expect_headers(&t->p.st[3], w3, 7);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(t->p.st[i].body_len, 0);
        assert_true(t->p.st[i].end_stream);
    }

    const char *const created[][2] = {{"apns-request-id", "00000000-0000-4000-8000-000000000000"},
                                      {"apns-channel-id", CHANNEL}};
    peer_respond_h(&t->p, 1, 201, created, 2, NULL);
    static const char read_body[] = "{\"message-storage-policy\":1,\"push-type\":\"LiveActivity\"}";
    peer_respond_h(&t->p, 3, 200, NULL, 0, read_body);
    /* a list larger than the 2 KB block a device push's answer gets */
    static char list_body[64 * 1024];
    size_t o2 = (size_t)snprintf(list_body, sizeof list_body, "{\"channels\":[");
    for (int i = 0; i < 1500; i++)
        o2 += (size_t)snprintf(list_body + o2, sizeof list_body - o2, "%s\"Y2hhbm5lbC0%04d\"",
                               i ? "," : "", i);
    snprintf(list_body + o2, sizeof list_body - o2, "]}");
    peer_respond_h(&t->p, 5, 200, NULL, 0, list_body);
    peer_respond_h(&t->p, 7, 204, NULL, 0, NULL);
    pump(t);
    assert_int_equal(t->ev[0].r.status, 201);
    assert_int_equal(t->ev[0].r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_string_equal(t->ev[0].r.apns_id, "00000000-0000-4000-8000-000000000000");
    assert_string_equal(t->ev[0].channel_id, CHANNEL);
    assert_int_equal(t->ev[0].body_len, 0);
    assert_int_equal(t->ev[1].r.status, 200);
    assert_int_equal(t->ev[1].body_len, sizeof read_body - 1);
    assert_memory_equal(t->ev[1].body, read_body, sizeof read_body - 1);
    assert_int_equal(t->ev[2].r.status, 200);
    assert_int_equal(t->ev[2].body_len, strlen(list_body));
    assert_memory_equal(t->ev[2].body, list_body, strlen(list_body));
    assert_int_equal(t->ev[3].r.status, 204);
    assert_int_equal(t->ev[3].body_len, 0);
    assert_int_equal(t->ev[3].r.outcome, APNS_OUTCOME_ACCEPTED);
    t_free(t);
}

static void test_corpus(void **state)
{
    (void)state;
    gen *g = calloc(1, sizeof *g);
    assert_non_null(g);
    const nghttp2_settings_entry s100[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                           {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
                                           {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 8000}};
    const nghttp2_settings_entry s1[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1}};

    /* the handshake only; everything in flight is closed */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    gen_end(g, "handshake", 4);

    /* all accepted; handed-back jobs go again */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    for (int r = 0; r < 3; r++) {
        gen_answer_all(g, 200, NULL);
        gen_exchange(g);
    }
    gen_end(g, "accept-all", 6);
    gen_variants(g, "accept-all");

    /* token bootstrap: one stream, then the server raises the limit */
    gen_begin(g, s1, 1);
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    peer_settings_max(&g->p, 1000);
    gen_exchange(g);
    for (int r = 0; r < 2; r++) {
        gen_answer_all(g, 200, NULL);
        gen_exchange(g);
    }
    gen_end(g, "token-bootstrap", 6);
    gen_variants(g, "token-bootstrap");

    /* 410 Unregistered, then 400s */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    gen_answer_all(g, 410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000123}");
    gen_exchange(g);
    gen_answer_all(g, 400, "{\"reason\":\"BadDeviceToken\"}");
    gen_exchange(g);
    gen_end(g, "rejected", 6);
    gen_variants(g, "rejected");

    /* odd JSON bodies */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    gen_answer_all(g, 400,
                   " { \"x\" : [1, {\"y\": null}, true, -2.5e3], \"timestamp\": 1.7e12,"
                   " \"reason\" : \"Bad\\u0044evice\\ud83d\\ude00\\/Token\" } ");
    gen_exchange(g);
    gen_answer_all(g, 503, "{\"reason\":\"Shutdown\"");
    gen_exchange(g);
    gen_end(g, "json-bodies", 6);

    /* GOAWAY in the middle of the streams */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    {
        const char dbg[] = "{\"reason\":\"Shutdown\"}";
        nghttp2_submit_goaway(g->p.s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_NO_ERROR, (const uint8_t *)dbg,
                              sizeof dbg - 1);
    }
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    gen_exchange(g);
    gen_end(g, "goaway-middle", 4);
    gen_variants(g, "goaway-middle");

    /* GOAWAY with an error and plain-text debug data */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    {
        const char dbg[] = "Maximum active streams violated for this endpoint.";
        nghttp2_submit_goaway(g->p.s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_ENHANCE_YOUR_CALM,
                              (const uint8_t *)dbg, sizeof dbg - 1);
    }
    gen_exchange(g);
    gen_end(g, "goaway-error", 4);

    /* REFUSED_STREAM and other resets, then answers */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    nghttp2_submit_rst_stream(g->p.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_REFUSED_STREAM);
    nghttp2_submit_rst_stream(g->p.s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_INTERNAL_ERROR);
    gen_exchange(g);
    for (int r = 0; r < 2; r++) {
        gen_answer_all(g, 200, NULL);
        gen_exchange(g);
    }
    gen_end(g, "refused", 6);
    gen_variants(g, "refused");

    /* the limit shrinks under streams in flight */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    peer_settings_max(&g->p, 1);
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    gen_exchange(g);
    gen_end(g, "shrink", 4);

    /* deadlines pass; PING after idle, answered */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    gen_op(g, 0x81);
    gen_exchange(g);
    gen_op(g, 0x82);
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    gen_exchange(g);
    {
        const uint8_t opaque[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        nghttp2_submit_ping(g->p.s, NGHTTP2_FLAG_NONE, opaque);
    }
    gen_exchange(g);
    gen_op(g, 0x80);
    gen_end(g, "timeout-ping", 6);

    /* small stream window: the big payload waits for WINDOW_UPDATEs */
    {
        const nghttp2_settings_entry sw[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                             {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 512}};
        gen_begin(g, sw, 2);
        gen_exchange(g);
        gen_answer_all(g, 200, NULL);
        gen_exchange(g);
        gen_answer_all(g, 200, NULL);
        gen_exchange(g);
        gen_end(g, "flow-control", 6);
    }

    /* our GOAWAY (shutdown), then the answers */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    gen_op(g, 0x83);
    gen_exchange(g);
    gen_answer_all(g, 200, NULL);
    gen_exchange(g);
    gen_end(g, "shutdown", 4);

    /* garbage after a good start */
    gen_begin(g, s100, 3);
    gen_exchange(g);
    {
        static const char junk[] = "\x00\x01HTTP/1.1 400 Bad Request\r\n\r\n";
        gen_apply(g, (const uint8_t *)junk, sizeof junk - 1);
    }
    gen_end(g, "garbage", 4);

    free(g);
    assert_true(corpus_files >= 20);
}

/* ------------------------------------------------------------------ */
/* FCM HTTP v1 on the same core (apns/fcm.h)                           */

/* An FCM job: the body as the client writes it (fcm_int.h) into buf,
 * token after it. */
static void fcm_job(apns__job *j, char *buf, size_t cap, const char *token, const char *fields)
{
    size_t tl = strlen(token), fl = strlen(fields);
    assert_true(apns__fcm_body_size(token, tl, fl, 0) + tl + 2 <= cap);
    size_t bl = apns__fcm_body_write(buf, token, tl, fields, fl, 0);
    buf[bl] = '\0';
    memset(&j->n, 0, sizeof j->n);
    j->op = APNS__OP_FCM_SEND;
    j->n.payload = buf;
    j->n.payload_len = bl;
    j->n.token = token;
    j->n.expiration = APNS_EXPIRATION_NONE;
}

static T *t_fcm(void)
{
    apns__h2_conn_opts o = {.authority = "fcm.googleapis.com", .fcm_project = "demo-project"};
    T *t = t_new(&o, SRV_100, 1, 0);
    strcpy(t->tok.jwt, "ya29.c.b0Aaekm1K-access-token");
    pump(t);
    assert_int_equal(apns__h2_conn_capacity(t->c), 100);
    return t;
}

/* The request FCM HTTP v1 documents (fcm-protocol.md §1.1-1.2, §3.1): the
 * exact header set and body bytes, decoded by an nghttp2 server. No apns-*
 * header; the token is JSON-escaped inside the body, the fields' members
 * follow it as they were given. */
static void test_fcm_request(void **state)
{
    (void)state;
    T *t = t_fcm();
    static char b0[512], b1[512];
    fcm_job(&t->jobs[0], b0, sizeof b0, "fTok:APA91b\"q\\z",
            "{\"notification\":{\"title\":\"Hi\"},\"data\":{\"k\":\"v\"}}");
    fcm_job(&t->jobs[1], b1, sizeof b1, "abc", " { } ");
    assert_int_equal(submit(t, 0, 1), 0);
    assert_int_equal(submit(t, 1, 1), 0);
    pump(t);
    assert_int_equal(t->p.nst, 2);
    const char *const want[][2] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":authority", "fcm.googleapis.com"},
        {":path", "/v1/projects/demo-project/messages:send"},
        {"authorization", "Bearer ya29.c.b0Aaekm1K-access-token"},
        {"content-type", "application/json"},
    };
    expect_headers(&t->p.st[0], want, 6);
    expect_headers(&t->p.st[1], want, 6);
    static const char body0[] = "{\"message\":{\"token\":\"fTok:APA91b\\\"q\\\\z\","
                                "\"notification\":{\"title\":\"Hi\"},\"data\":{\"k\":\"v\"}}}";
    static const char body1[] = "{\"message\":{\"token\":\"abc\"}}";
    assert_int_equal(t->p.st[0].body_len, sizeof body0 - 1);
    assert_memory_equal(t->p.st[0].body, body0, sizeof body0 - 1);
    assert_int_equal(t->p.st[1].body_len, sizeof body1 - 1);
    assert_memory_equal(t->p.st[1].body, body1, sizeof body1 - 1);
    assert_true(t->p.st[0].end_stream && t->p.st[1].end_stream);

    /* without an access token there is nothing to send */
    static char b2[256];
    fcm_job(&t->jobs[2], b2, sizeof b2, "abc", "{}");
    assert_int_equal(submit(t, 2, 0), APNS_EINVAL);
    t_free(t);
}

/* Answers: 200 hands out the message name; an error answer its reason,
 * action, field and Retry-After; a GOAWAY hands back what is above
 * last-stream-id, as for APNs (same book). */
static void test_fcm_answers(void **state)
{
    (void)state;
    T *t = t_fcm();
    static char b[4][256];
    for (int i = 0; i < 4; i++) {
        fcm_job(&t->jobs[i], b[i], sizeof b[i], "tok", "{}");
        assert_int_equal(submit(t, i, 1), 0);
    }
    pump(t);
    const char *const json[][2] = {{"content-type", "application/json"}};
    peer_respond_h(&t->p, 1, 200, json, 1,
                   "{\"name\":\"projects/demo-project/messages/0:1500415314455276%31bd1c96\"}");
    peer_respond_h(&t->p, 3, 404, json, 1,
                   "{\"error\":{\"code\":404,\"message\":\"Requested entity was not found.\","
                   "\"status\":\"NOT_FOUND\",\"details\":[{\"@type\":\"type.googleapis.com/"
                   "google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNREGISTERED\"}]}}");
    const char *const quota[][2] = {{"content-type", "application/json"}, {"retry-after", "17"}};
    peer_respond_h(&t->p, 5, 429, quota, 2,
                   "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}");
    pump(t);
    assert_int_equal(t->ev[0].r.outcome, APNS_OUTCOME_ACCEPTED);
    assert_int_equal(t->ev[0].r.action, APNS_ACTION_NONE);
    assert_int_equal(t->ev[1].r.outcome, APNS_OUTCOME_REJECTED);
    assert_int_equal(t->ev[1].r.status, 404);
    assert_int_equal(t->ev[1].r.action, APNS_ACTION_DEAD_TOKEN);
    assert_string_equal(t->ev[1].reason, "UNREGISTERED");
    assert_int_equal(t->ev[2].r.action, APNS_ACTION_RETRY);
    assert_int_equal(t->ev[2].r.retry_after_s, 17);
    assert_int_equal(callbacks(t, 3), 0);
    assert_int_equal(nghttp2_submit_goaway(t->p.s, NGHTTP2_FLAG_NONE, 5, NGHTTP2_NO_ERROR, NULL, 0),
                     0);
    pump(t);
    assert_int_equal(t->ev[3].handbacks, 1);
    assert_int_equal(t->ev[3].why, APNS__HB_GOAWAY);
    assert_int_equal(t->ev[3].results, 0);
    t_free(t);
}

/* The message name is borrowed for the callback: checked inside it. */
static char fcm_name_seen[256];
static void fcm_name_cb(void *ud, apns__job *job, const apns_result *r)
{
    snprintf(fcm_name_seen, sizeof fcm_name_seen, "%s", r->fcm_name ? r->fcm_name : "(null)");
    t_on_result(ud, job, r);
}

static void test_fcm_name(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {.authority = "fcm.googleapis.com", .fcm_project = "p"};
    T *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->deliver = 1;
    peer_init(&t->p, SRV_100, 1, 0);
    apns__core_callbacks cb = {.on_result = fcm_name_cb, .on_handback = t_on_handback};
    assert_int_equal(apns__h2_conn_new(&t->c, &o, &cb, t, 0), 0);
    strcpy(t->tok.jwt, "ya29.x");
    t->tok.generation = 1;
    pump(t);
    static char b[256];
    fcm_job(&t->jobs[0], b, sizeof b, "tok", "{}");
    assert_int_equal(submit(t, 0, 1), 0);
    pump(t);
    const char *const json[][2] = {{"content-type", "application/json"}};
    peer_respond_h(&t->p, 1, 200, json, 1, "{\"name\":\"projects/p/messages/0:42%ab\"}");
    pump(t);
    assert_string_equal(fcm_name_seen, "projects/p/messages/0:42%ab");
    /* a project id that cannot be a path segment is refused */
    apns__h2_conn *bad = NULL;
    apns__h2_conn_opts ob = {.authority = "fcm.googleapis.com", .fcm_project = "a/b"};
    assert_int_equal(apns__h2_conn_new(&bad, &ob, &cb, t, 0), APNS_EINVAL);
    t_free(t);
}

/* RST_STREAM (refused, other code) and the stream deadline hand FCM sends
 * back exactly as device pushes: the same book. */
static void test_fcm_handbacks(void **state)
{
    (void)state;
    apns__h2_conn_opts o = {
        .authority = "fcm.googleapis.com", .fcm_project = "p", .stream_timeout_ms = 1000};
    T *t = t_new(&o, SRV_100, 1, 0);
    strcpy(t->tok.jwt, "ya29.x");
    pump(t);
    static char b[4][256];
    for (int i = 0; i < 4; i++) {
        fcm_job(&t->jobs[i], b[i], sizeof b[i], "tok", "{}");
        assert_int_equal(submit(t, i, 1), 0);
    }
    pump(t);
    assert_int_equal(
        nghttp2_submit_rst_stream(t->p.s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_REFUSED_STREAM), 0);
    assert_int_equal(
        nghttp2_submit_rst_stream(t->p.s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_INTERNAL_ERROR), 0);
    const char *const json[][2] = {{"content-type", "application/json"}};
    peer_respond_h(&t->p, 5, 200, json, 1, "{\"name\":\"projects/p/messages/1\"}");
    pump(t);
    assert_int_equal(t->ev[0].why, APNS__HB_REFUSED);
    assert_int_equal(t->ev[1].why, APNS__HB_RESET);
    assert_int_equal(t->ev[2].results, 1);
    assert_int_equal(callbacks(t, 3), 0);
    t->now = 1000;
    assert_int_equal(apns__h2_conn_tick(t->c, 1000), 0);
    assert_int_equal(t->ev[3].handbacks, 1);
    assert_int_equal(t->ev[3].why, APNS__HB_TIMEOUT);
    for (int i = 0; i < 4; i++)
        assert_int_equal(callbacks(t, i), 1);
    assert_int_equal(apns__h2_conn_in_flight(t->c), 0);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_capacity),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_broadcast_request),
        cmocka_unit_test(test_broadcast_goaway),
        cmocka_unit_test(test_channel_management_requests),
        cmocka_unit_test(test_token_changes),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_unregistered_410),
        cmocka_unit_test(test_bad_device_token_400),
        cmocka_unit_test(test_goaway_middle),
        cmocka_unit_test(test_goaway_before_send),
        cmocka_unit_test(test_refused_and_reset),
        cmocka_unit_test(test_shrink_max_streams),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_deadline_before_send),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_close_inside_callback),
        cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_many_streams),
        cmocka_unit_test(test_fcm_request),
        cmocka_unit_test(test_fcm_answers),
        cmocka_unit_test(test_fcm_name),
        cmocka_unit_test(test_fcm_handbacks),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * main.c - fcm-sim: a Firebase Cloud Messaging HTTP v1 stand-in for tests and
 * demos. One TLS listener serves HTTP/2 (ALPN "h2") and HTTP/1.1 (ALPN
 * "http/1.1", or no ALPN and no HTTP/2 preface), as Google's front end does;
 * the answers come from service.c, the fault flags are applied here.
 *
 * Design note. One event loop (the service's state - issued access tokens,
 * quota windows - is mutable and unlocked). Each connection owns a sim_sock
 * (sim/base/) and either an nghttp2 server session or an HTTP/1.1 input
 * buffer parsed by http1.c, one request at a time. A request becomes an
 * fsim_answer; faults may replace it (--fail-rate), drop it (--no-answer-rate),
 * or abort the connection (--reset-rate); --latency-ms delays it on a timer.
 * A stream object is freed only from nghttp2's on_stream_close (HTTP/2) or
 * after its answer is queued (HTTP/1.1); a connection is freed only from the
 * I/O callbacks, never from inside nghttp2.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "apns/version.h"
#include "dlog.h" /* sim/base/ */
#include "errors.h"
#include "http1.h"
#include "rng.h" /* common/ */
#include "service.h"
#include "outbuf.h"    /* sim/base/ */
#include "sock.h"      /* sim/base/ */
#include "tlsserver.h" /* sim/base/ */

#define RBUF      65536
#define OUT_FIRST 16384       /* the output buffer's first allocation */
#define OUT_BATCH (64 * 1024) /* bytes pulled from nghttp2 per write */

typedef struct fsim_opts {
    const char *host;
    int port;
    const char *tls_cert, *tls_key, *delivery_log;
    fsim_config svc;
    uint32_t max_streams, goaway_every, latency_ms, fail_retry_after;
    double fail503, fail500, reset_rate, no_answer_rate, fail_delivered, fe502, fe404;
    uint64_t seed;
    int seeded;
} fsim_opts;

typedef struct fsim_stats {
    uint64_t connections, tls_failures, h1_requests, h2_requests, delivered, dry_runs, rejected,
        injected, no_answer, resets, goaways, bad_http1, ignored;
    uint64_t by_error[FSIM_ERR_COUNT];
} fsim_stats;

typedef struct fconn fconn;

typedef struct fsim_app {
    fsim_opts o;
    struct event_base *base;
    SSL_CTX *ctx;
    fsim_service *svc;
    sim_dlog dlog;
    fsim_stats st;
    fconn *conns;
    uint64_t rng;
    uint8_t rbuf[RBUF];
    char scratch[FSIM_H1_MAX_BODY]; /* chunked bodies, decoded (copied out at once) */
} fsim_app;

typedef struct fstream {
    fconn *c;
    struct fstream *prev, *next; /* HTTP/2: the connection's streams (nghttp2_session_del
                                  * does not call on_stream_close) */
    int32_t id;                  /* HTTP/2 stream id; 0 on HTTP/1.1 */
    char *method, *path, *auth, *ctype;
    char *body;
    size_t blen, bcap;
    int too_big;
    fsim_answer ans;
    size_t resp_off;
    struct event *delay;
    int h1_close; /* HTTP/1.1: close after this answer */
} fstream;

enum { P_UNKNOWN, P_H1, P_H2 };

struct fconn {
    fsim_app *app;
    sim_sock s;
    int handshaking, proto, dead, stalled, closing, lingering;
    nghttp2_session *h2;
    sim_outbuf out; /* sim/base/ */
    char *in;       /* HTTP/1.1 input */
    size_t in_len, in_cap;
    fstream *h1_pending; /* HTTP/1.1: the request being answered (latency) */
    fstream *streams;    /* HTTP/2: every stream object */
    int32_t goaway_last; /* HTTP/2: last-stream-id of our GOAWAY; 0 = none */
    uint32_t nreq;
    fconn *next, *prev;
};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ------------------------------------------------------------ output */

static void conn_free(fconn *c);
static void stream_free(fstream *st);

static ssize_t pull_h2(void *arg, const uint8_t **data)
{
    fconn *c = arg;
    return c->h2 ? nghttp2_session_mem_send(c->h2, data) : 0;
}

/* Writes what is queued (and what nghttp2 has to send). Returns -1 on a dead socket. */
static int conn_flush(fconn *c)
{
    return sim_outbuf_flush(&c->out, &c->s, OUT_BATCH, pull_h2, c);
}

/* ------------------------------------------------------------ answers */

static void log_answer(fsim_app *a, fsim_answer *ans)
{
    if (ans->status == 200) {
        if (ans->delivered) {
            a->st.delivered++;
            sim_dlog_add(&a->dlog, ans->id, ans->target, strlen(ans->target), ans->project,
                         strlen(ans->project), ans->payload_bytes);
        } else if (ans->is_send) {
            a->st.dry_runs++;
        }
    } else {
        a->st.rejected++;
        if (ans->err > FSIM_OK && ans->err < FSIM_ERR_COUNT)
            a->st.by_error[ans->err]++;
    }
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    fstream *st = src->ptr;
    size_t left = st->ans.len - st->resp_off;
    size_t n = left < len ? left : len;
    memcpy(buf, st->ans.body + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->ans.len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void h1_next(fconn *c);
static void conn_io(fconn *c);

/* Puts st's answer on the wire (the answer is decided and logged). */
static void emit(fstream *st)
{
    fconn *c = st->c;
    fsim_answer *ans = &st->ans;
    char ra[16], cl[24], status[8];
    snprintf(ra, sizeof ra, "%d", ans->retry_after);
    snprintf(cl, sizeof cl, "%zu", ans->len);
    snprintf(status, sizeof status, "%d", ans->status);
    if (c->proto == P_H2) {
        nghttp2_nv nva[4];
        size_t n = 0;
#define NV(k, v)                                                                                   \
    nva[n++] = (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), sizeof(k) - 1, strlen(v),              \
                            NGHTTP2_NV_FLAG_NO_COPY_NAME}
        NV(":status", status);
        NV("content-type", ans->content_type ? ans->content_type : "application/json");
        NV("content-length", cl);
        if (ans->retry_after >= 0)
            NV("retry-after", ra);
#undef NV
        nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
        if (nghttp2_submit_response(c->h2, st->id, nva, n, &dp) != 0)
            c->dead = 1;
        return; /* st lives until on_stream_close */
    }
    char head[512];
    int hl =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
                 ans->status, ans->status == 200 ? "OK" : "Error",
                 ans->content_type ? ans->content_type : "application/json", ans->len,
                 ans->retry_after >= 0 ? "Retry-After: " : "", ans->retry_after >= 0 ? ra : "",
                 ans->retry_after >= 0 ? "\r\n" : "", st->h1_close ? "Connection: close\r\n" : "");
    if (sim_outbuf_append(&c->out, head, (size_t)hl) != 0 ||
        sim_outbuf_append(&c->out, ans->body, ans->len) != 0)
        c->dead = 1;
    if (st->h1_close)
        c->closing = 1;
    c->h1_pending = NULL;
    stream_free(st);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    fstream *st = arg;
    fconn *c = st->c;
    emit(st);
    if (c->proto == P_H1 && !c->closing && !c->dead)
        h1_next(c);
    if (conn_flush(c) != 0)
        c->dead = 1;
    if (c->dead)
        conn_free(c);
    else
        conn_io(c); /* may end the connection */
}

static void abort_conn(fconn *c)
{
    struct linger l = {1, 0};
    setsockopt(c->s.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    c->dead = 1;
}

/* A complete request: answer it (or not, as the faults say). */
static void process(fconn *c, fstream *st)
{
    fsim_app *a = c->app;
    fsim_request req = {
        .method = {st->method ? st->method : "", st->method ? strlen(st->method) : 0},
        .path = {st->path ? st->path : "", st->path ? strlen(st->path) : 0},
        .authorization = {st->auth, st->auth ? strlen(st->auth) : 0},
        .content_type = {st->ctype, st->ctype ? strlen(st->ctype) : 0},
        .body = {st->body, st->blen},
    };
    c->nreq++;
    if (fsim_service_handle(a->svc, &req, now_ms(), &st->ans) != 0) {
        c->dead = 1;
        return;
    }
    if (st->ans.is_send && st->ans.status == 200 && st->ans.delivered) {
        double r = common_rng_double(&a->rng);
        if (r < a->o.reset_rate) {
            a->st.resets++;
            abort_conn(c);
            return;
        }
        r -= a->o.reset_rate;
        if (r < a->o.no_answer_rate) {
            a->st.no_answer++;
            if (c->proto == P_H1)
                c->stalled = 1;
            return; /* HTTP/2: the stream stays open; freed with the connection */
        }
        r -= a->o.no_answer_rate;
        if (r < a->o.fail_delivered) {
            /* delivered, yet answered 503 (a retry makes a duplicate) */
            a->st.delivered++;
            a->st.injected++;
            sim_dlog_add(&a->dlog, st->ans.id, st->ans.target, strlen(st->ans.target),
                         st->ans.project, strlen(st->ans.project), st->ans.payload_bytes);
            if (fsim_answer_error(&st->ans, FSIM_E_UNAVAILABLE) != 0) {
                c->dead = 1;
                return;
            }
        } else if ((r -= a->o.fail_delivered) < a->o.fe502 + a->o.fe404) {
            a->st.injected++;
            if (fsim_answer_frontend(&st->ans, r < a->o.fe502 ? 502 : 404) != 0) {
                c->dead = 1;
                return;
            }
        } else if ((r -= a->o.fe502 + a->o.fe404) < a->o.fail503 + a->o.fail500) {
            a->st.injected++;
            if (fsim_answer_error(&st->ans,
                                  r < a->o.fail503 ? FSIM_E_UNAVAILABLE : FSIM_E_INTERNAL) != 0) {
                c->dead = 1;
                return;
            }
            if (a->o.fail_retry_after)
                st->ans.retry_after = (int)a->o.fail_retry_after;
        }
    }
    log_answer(a, &st->ans);
    if (a->o.goaway_every && c->nreq == a->o.goaway_every) {
        a->st.goaways++;
        if (c->proto == P_H2) {
            nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR, NULL, 0);
            c->goaway_last = st->id;
        } else {
            st->h1_close = 1;
        }
        c->closing = 1;
    }
    if (a->o.latency_ms) {
        st->delay = evtimer_new(a->base, on_delay, st);
        struct timeval tv = {a->o.latency_ms / 1000, (a->o.latency_ms % 1000) * 1000};
        if (!st->delay || evtimer_add(st->delay, &tv) != 0)
            c->dead = 1;
        return;
    }
    emit(st);
}

static void stream_free(fstream *st)
{
    if (!st)
        return;
    if (st->id) {
        if (st->prev)
            st->prev->next = st->next;
        else
            st->c->streams = st->next;
        if (st->next)
            st->next->prev = st->prev;
    }
    if (st->delay)
        event_free(st->delay);
    free(st->method);
    free(st->path);
    free(st->auth);
    free(st->ctype);
    free(st->body);
    fsim_answer_clear(&st->ans);
    free(st);
}

/* ------------------------------------------------------------ HTTP/2 */

static int h2_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    fstream *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    fconn *c = ud;
    st->c = c;
    st->id = f->hd.stream_id;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    st->ans.retry_after = -1;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    fstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st)
        return 0;
    char **dst = NULL;
#define IS(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
    if (IS(":method"))
        dst = &st->method;
    else if (IS(":path"))
        dst = &st->path;
    else if (IS("authorization"))
        dst = &st->auth;
    else if (IS("content-type"))
        dst = &st->ctype;
#undef IS
    if (!dst)
        return 0;
    free(*dst);
    *dst = strndup((const char *)value, vl);
    return *dst ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    fstream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->too_big)
        return 0;
    if (st->blen + len > FSIM_H1_MAX_BODY) {
        st->too_big = 1;
        return 0;
    }
    if (st->blen + len > st->bcap) {
        size_t cap = st->bcap ? st->bcap * 2 : 4096;
        while (cap < st->blen + len)
            cap *= 2;
        char *nb = realloc(st->body, cap);
        if (!nb)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->body = nb;
        st->bcap = cap;
    }
    memcpy(st->body + st->blen, data, len);
    st->blen += len;
    return 0;
}

static int h2_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    fstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st)
        return 0;
    fconn *c = ud;
    if (c->goaway_last && st->id > c->goaway_last) {
        c->app->st.ignored++; /* beyond our GOAWAY: never processed, never answered */
        return 0;
    }
    c->app->st.h2_requests++;
    if (!st->method || !st->path || st->path[0] != '/') {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
        return 0;
    }
    if (st->too_big) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    process(c, st);
    return 0;
}

static int h2_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    fstream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        stream_free(st);
    }
    return 0;
}

static int h2_start(fconn *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_stream_close);
    /* nghttp2's HTTP messaging checks are off: firebase-admin-node sends
     * ":scheme: https:" (its URL protocol, colon included; api-request.ts),
     * which Google's front end accepts and nghttp2 would reset. h2_frame_recv
     * checks what fcm-sim needs (:method and :path). */
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return -1;
    }
    nghttp2_option_set_no_http_messaging(opt, 1);
    int rc = nghttp2_session_server_new2(&c->h2, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->app->o.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------ HTTP/1.1 */

static char *dup_str(fsim_str s)
{
    return s.p ? strndup(s.p, s.len) : NULL;
}

/* Parses and answers the next buffered request, if complete and none is pending. */
static void h1_next(fconn *c)
{
    while (!c->h1_pending && !c->closing && !c->dead && !c->stalled && c->in_len > 0) {
        fsim_h1_req r;
        long n = fsim_h1_parse(c->in, c->in_len, &r, c->app->scratch);
        if (n == 0)
            return;
        if (n < 0) {
            char body[300], head[200];
            c->app->st.bad_http1++;
            int bl = snprintf(body, sizeof body, "%s\n", r.why);
            int hl = snprintf(head, sizeof head,
                              "HTTP/1.1 %d Bad Request\r\nContent-Type: text/plain\r\n"
                              "Content-Length: %d\r\nConnection: close\r\n\r\n",
                              r.status, bl);
            if (sim_outbuf_append(&c->out, head, (size_t)hl) != 0 ||
                sim_outbuf_append(&c->out, body, (size_t)bl) != 0)
                c->dead = 1;
            c->closing = 1;
            return;
        }
        fstream *st = calloc(1, sizeof *st);
        if (!st) {
            c->dead = 1;
            return;
        }
        st->c = c;
        st->ans.retry_after = -1;
        st->h1_close = r.close;
        st->method = dup_str(r.method);
        st->path = dup_str(r.target);
        st->auth = dup_str(r.authorization);
        st->ctype = dup_str(r.content_type);
        st->body = r.body.len ? malloc(r.body.len) : NULL;
        if (!st->method || !st->path || (r.body.len && !st->body)) {
            stream_free(st);
            c->dead = 1;
            return;
        }
        memcpy(st->body, r.body.p, r.body.len);
        st->blen = r.body.len;
        memmove(c->in, c->in + n, c->in_len - (size_t)n);
        c->in_len -= (size_t)n;
        c->app->st.h1_requests++;
        /* Owned by the connection until emit() answers it; a request a fault
         * leaves unanswered (--no-answer-rate, --reset-rate) stays here and
         * is freed with the connection. */
        c->h1_pending = st;
        process(c, st);
    }
}

static int h1_input(fconn *c, const uint8_t *p, size_t n)
{
    if (c->stalled)
        return 0;
    if (c->in_len + n > FSIM_H1_MAX_HEAD + FSIM_H1_MAX_BODY + 1) {
        c->closing = 1; /* the parser has already answered 431 or 413 */
        return 0;
    }
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
        while (cap < c->in_len + n)
            cap *= 2;
        char *nb = realloc(c->in, cap);
        if (!nb)
            return -1;
        c->in = nb;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    h1_next(c);
    return 0;
}

/* ------------------------------------------------------------ connection */

static void conn_free(fconn *c)
{
    fsim_app *a = c->app;
    if (c->h2)
        nghttp2_session_del(c->h2); /* on_stream_close is not called: */
    while (c->streams)
        stream_free(c->streams);
    stream_free(c->h1_pending);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sim_sock_cleanup(&c->s);
    sim_outbuf_cleanup(&c->out);
    free(c->in);
    free(c);
}

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static int feed(fconn *c, const uint8_t *p, size_t n)
{
    if (c->proto == P_UNKNOWN) {
        /* No ALPN: HTTP/2 with prior knowledge if the preface starts, else HTTP/1.1. */
        size_t k = n < sizeof PREFACE - 1 ? n : sizeof PREFACE - 1;
        c->proto = memcmp(p, PREFACE, k) == 0 ? P_H2 : P_H1;
        if (c->proto == P_H2 && h2_start(c) != 0)
            return -1;
    }
    if (c->proto == P_H1)
        return h1_input(c, p, n);
    ssize_t r = nghttp2_session_mem_recv(c->h2, p, n);
    return r < 0 ? -1 : 0;
}

/* Everything the socket can do now: handshake, read, write; frees c when done. */
static void conn_io(fconn *c)
{
    fsim_app *a = c->app;
    if (c->lingering) {
        if (sim_sock_drop_input(&c->s, a->rbuf, sizeof a->rbuf, NULL) < 0)
            conn_free(c);
        return;
    }
    if (c->handshaking) {
        int r = sim_sock_handshake(&c->s);
        if (r < 0) {
            a->st.tls_failures++;
            conn_free(c);
            return;
        }
        if (r == 0)
            return;
        c->handshaking = 0;
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c->s.ssl, &alpn, &alen);
        if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
            c->proto = P_H2;
            if (h2_start(c) != 0) {
                conn_free(c);
                return;
            }
        } else if (alen == 8) {
            c->proto = P_H1;
        }
    }
    c->s.read_wants_write = 0; /* this is the read it wanted retried */
    while (!c->dead) {
        ssize_t n = sim_sock_recv(&c->s, a->rbuf, sizeof a->rbuf);
        if (n == 0)
            break;
        if (n < 0 || feed(c, a->rbuf, (size_t)n) != 0) {
            c->dead = 1;
            break;
        }
    }
    if (!c->dead && conn_flush(c) != 0)
        c->dead = 1;
    int done = c->closing && sim_outbuf_empty(&c->out) &&
               (c->proto != P_H2 ? !c->h1_pending
                                 : !nghttp2_session_want_write(c->h2) &&
                                       nghttp2_session_get_next_stream_id(c->h2) &&
                                       !nghttp2_session_want_read(c->h2));
    if (c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
        sim_outbuf_empty(&c->out))
        done = 1;
    if (c->dead) {
        conn_free(c);
    } else if (done) {
        /* Graceful end: close_notify and FIN, then drop what the peer still
         * sends until it closes, so the kernel never answers unread input
         * with a RST that would discard our last answers. */
        c->lingering = 1;
        sim_sock_linger(&c->s);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    conn_io(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    fconn *c = arg;
    if (c->handshaking || c->lingering) {
        if (c->handshaking)
            c->app->st.tls_failures++;
        conn_free(c);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    fsim_app *a = arg;
    fconn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->app = a;
    sim_outbuf_init(&c->out, OUT_FIRST);
    if (sim_sock_init(&c->s, a->base, fd, a->ctx, on_read, on_read, on_timer, c) != 0) {
        sim_sock_cleanup(&c->s);
        free(c);
        return;
    }
    a->st.connections++;
    c->handshaking = 1;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
}

/* ------------------------------------------------------------ set-up */

/* h2 first, then HTTP/1.1; a client offering neither goes on without ALPN
 * (HTTP/1.1 unless the HTTP/2 preface comes), as Google's front end does. */
static const sim_tls_alpn ALPN = {(const unsigned char *)"\x02h2\x08http/1.1", 12, 0};

static SSL_CTX *tls_ctx(const fsim_opts *o)
{
    char err[512];
    SSL_CTX *ctx = sim_tls_server_ctx(o->tls_cert, o->tls_key, "--tls-cert", "--tls-key", err,
                                      sizeof err); /* sim/base/ */
    if (!ctx) {
        fprintf(stderr, "fcm-sim: %s\n", err);
        return NULL;
    }
    sim_tls_server_alpn(ctx, &ALPN); /* sim/base/ */
    return ctx;
}

static void print_stats(fsim_app *a, FILE *f)
{
    char svc[8192];
    fsim_service_print_counters(a->svc, svc, sizeof svc);
    fsim_stats *s = &a->st;
    fprintf(f,
            "{\"connections\":%llu,\"tls_failures\":%llu,\"h1_requests\":%llu,\"h2_requests\":%llu,"
            "\"delivered\":%llu,\"dry_runs\":%llu,\"rejected\":%llu,\"injected\":%llu,"
            "\"no_answer\":%llu,\"resets\":%llu,\"goaways\":%llu,\"ignored\":%llu,\"bad_http1\":%"
            "llu,%s,"
            "\"by_error\":{",
            (unsigned long long)s->connections, (unsigned long long)s->tls_failures,
            (unsigned long long)s->h1_requests, (unsigned long long)s->h2_requests,
            (unsigned long long)s->delivered, (unsigned long long)s->dry_runs,
            (unsigned long long)s->rejected, (unsigned long long)s->injected,
            (unsigned long long)s->no_answer, (unsigned long long)s->resets,
            (unsigned long long)s->goaways, (unsigned long long)s->ignored,
            (unsigned long long)s->bad_http1, svc);
    int first = 1;
    for (int e = 1; e < FSIM_ERR_COUNT; e++)
        if (s->by_error[e]) {
            fprintf(f, "%s\"%s\":%llu", first ? "" : ",", fsim_err_get((fsim_err)e)->name,
                    (unsigned long long)s->by_error[e]);
            first = 0;
        }
    fprintf(f, "}}\n");
    fflush(f);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    fsim_app *a = arg;
    if (sig == SIGUSR1) {
        sim_dlog_flush(&a->dlog);
        print_stats(a, stderr);
        return;
    }
    event_base_loopbreak(a->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sim_dlog_flush(&((fsim_app *)arg)->dlog);
}

static const char USAGE[] =
    "usage: fcm-sim --tls-cert FILE --tls-key FILE --service-accounts DIR [options]\n"
    "A Firebase Cloud Messaging HTTP v1 stand-in for tests: the OAuth token endpoint\n"
    "(POST /token) and POST /v1/projects/{project_id}/messages:send, over HTTP/2 (ALPN h2)\n"
    "and HTTP/1.1 on one TLS listener. Prints \"fcm-sim listening on ADDR:PORT\" on stdout;\n"
    "counters as one JSON line on stderr on SIGUSR1 and at exit (SIGTERM, SIGINT).\n"
    "\n"
    "  --listen HOST:PORT        address to listen on (default 127.0.0.1:8443; port 0 = any)\n"
    "  --tls-cert FILE           server certificate chain (PEM)\n"
    "  --tls-key FILE            its private key (PEM)\n"
    "  --service-accounts DIR    service accounts: Google's JSON key files (*.json), or RSA\n"
    "                            public keys named <client_email>.pem; an account's project\n"
    "                            is its project_id, else the e-mail's <project> in\n"
    "                            name@<project>.iam.gserviceaccount.com\n"
    "  --projects LIST           more known projects: id[=number],... (a project number is\n"
    "                            accepted in the path for its id)\n"
    "  --token-ttl SECS          access tokens' expires_in (default 3600)\n"
    "  --unregistered FILE       tokens answered 404 NOT_FOUND, FcmError UNREGISTERED\n"
    "  --invalid-tokens FILE     tokens answered 400 INVALID_ARGUMENT on message.token\n"
    "  --mismatched-tokens FILE  tokens answered 403 PERMISSION_DENIED, SENDER_ID_MISMATCH\n"
    "  --third-party-tokens FILE tokens answered 401 UNAUTHENTICATED, THIRD_PARTY_AUTH_ERROR\n"
    "                            (Apple tokens of a project without an APNs key)\n"
    "                            (token files: one token a line; blank and # lines skipped)\n"
    "  --package-name NAME       the tokens' app: another android.restricted_package_name is 400\n"
    "  --quota N/SECS            project quota: N messages per sliding SECS window, else 429\n"
    "                            RESOURCE_EXHAUSTED (ErrorInfo RATE_LIMIT_EXCEEDED) with\n"
    "                            Retry-After; 200s and 4xx other than 429 count\n"
    "  --device-rate N/SECS      per-token rate: N messages per SECS window of each token, else\n"
    "                            429 RESOURCE_EXHAUSTED, FcmError QUOTA_EXCEEDED + QuotaFailure,\n"
    "                            Retry-After\n"
    "  --max-streams N           SETTINGS_MAX_CONCURRENT_STREAMS (default 100)\n"
    "  --goaway-every N          after N requests on a connection: HTTP/2 GOAWAY NO_ERROR with\n"
    "                            that request as last-stream-id; HTTP/1.1 Connection: close\n"
    "  --fail-rate STATUS:RATE   answer this fraction of otherwise accepted sends with 503\n"
    "                            UNAVAILABLE or 500 INTERNAL (repeatable, one per status)\n"
    "  --fail-retry-after SECS   a Retry-After header on --fail-rate answers (0 = none, the\n"
    "                            default)\n"
    "  --fail-delivered-rate R   answer this fraction of accepted sends 503 UNAVAILABLE after\n"
    "                            logging the delivery (a retry makes a duplicate)\n"
    "  --frontend-error-rate STATUS:RATE  answer this fraction of accepted sends with a Google\n"
    "                            front end's HTML error page, 502 or 404 (repeatable)\n"
    "  --reset-rate RATE         abort the connection (TCP RST) instead of answering this\n"
    "                            fraction of otherwise accepted sends\n"
    "  --no-answer-rate RATE     never answer this fraction of otherwise accepted sends\n"
    "  --latency-ms N            delay every answer by N ms\n"
    "  --seed N                  seed of the fault injection (default: random)\n"
    "  --delivery-log FILE       append one line per accepted message:\n"
    "                            \"<message-id> <target> <project> <body-bytes>\"\n"
    "  -h, --help                this text\n"
    "  --version                 the version\n";

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(fsim_opts *o, int argc, char **argv)
{
    enum {
        O_LISTEN = 256,
        O_CERT,
        O_KEY,
        O_SA,
        O_PROJ,
        O_TTL,
        O_UNREG,
        O_INV,
        O_MISM,
        O_TPA,
        O_PKG,
        O_DEVRATE,
        O_FAILDEL,
        O_FRONTEND,
        O_FAILRA,
        O_QUOTA,
        O_MAXS,
        O_GOAWAY,
        O_FAIL,
        O_RESET,
        O_NOANS,
        O_LAT,
        O_SEED,
        O_DLOG,
        O_VERSION
    };
    static const struct option lo[] = {{"listen", 1, NULL, O_LISTEN},
                                       {"tls-cert", 1, NULL, O_CERT},
                                       {"tls-key", 1, NULL, O_KEY},
                                       {"service-accounts", 1, NULL, O_SA},
                                       {"projects", 1, NULL, O_PROJ},
                                       {"token-ttl", 1, NULL, O_TTL},
                                       {"unregistered", 1, NULL, O_UNREG},
                                       {"invalid-tokens", 1, NULL, O_INV},
                                       {"mismatched-tokens", 1, NULL, O_MISM},
                                       {"third-party-tokens", 1, NULL, O_TPA},
                                       {"package-name", 1, NULL, O_PKG},
                                       {"quota", 1, NULL, O_QUOTA},
                                       {"device-rate", 1, NULL, O_DEVRATE},
                                       {"fail-delivered-rate", 1, NULL, O_FAILDEL},
                                       {"frontend-error-rate", 1, NULL, O_FRONTEND},
                                       {"fail-retry-after", 1, NULL, O_FAILRA},
                                       {"max-streams", 1, NULL, O_MAXS},
                                       {"goaway-every", 1, NULL, O_GOAWAY},
                                       {"fail-rate", 1, NULL, O_FAIL},
                                       {"reset-rate", 1, NULL, O_RESET},
                                       {"no-answer-rate", 1, NULL, O_NOANS},
                                       {"latency-ms", 1, NULL, O_LAT},
                                       {"seed", 1, NULL, O_SEED},
                                       {"delivery-log", 1, NULL, O_DLOG},
                                       {"help", 0, NULL, 'h'},
                                       {"version", 0, NULL, O_VERSION},
                                       {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8443;
    o->svc.token_ttl = 3600;
    o->max_streams = 100;
    static char host[256];
    int c;
    uint32_t v;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case O_LISTEN: {
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof host ||
                parse_u32(colon + 1, 65535, &v) != 0) {
                bad = "--listen wants HOST:PORT";
                break;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            o->host = host;
            o->port = (int)v;
            break;
        }
        case O_CERT:
            o->tls_cert = optarg;
            break;
        case O_KEY:
            o->tls_key = optarg;
            break;
        case O_SA:
            o->svc.service_accounts = optarg;
            break;
        case O_PROJ:
            o->svc.projects = optarg;
            break;
        case O_TTL:
            if (parse_u32(optarg, 86400, &v) != 0 || v == 0)
                bad = "--token-ttl wants 1..86400 seconds";
            o->svc.token_ttl = (int)v;
            break;
        case O_UNREG:
            o->svc.unregistered = optarg;
            break;
        case O_INV:
            o->svc.invalid_tokens = optarg;
            break;
        case O_MISM:
            o->svc.mismatched_tokens = optarg;
            break;
        case O_TPA:
            o->svc.third_party_tokens = optarg;
            break;
        case O_PKG:
            o->svc.package_name = optarg;
            break;
        case O_QUOTA: {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *slash = strchr(buf, '/');
            if (slash)
                *slash = '\0';
            if (!slash || parse_u32(buf, 100000000, &o->svc.quota_n) != 0 || o->svc.quota_n == 0 ||
                parse_u32(slash + 1, 86400, &o->svc.quota_s) != 0 || o->svc.quota_s == 0)
                bad = "--quota wants N/SECS (N >= 1, 1 <= SECS <= 86400)";
            break;
        }
        case O_DEVRATE: {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *slash = strchr(buf, '/');
            if (slash)
                *slash = '\0';
            if (!slash || parse_u32(buf, 100000000, &o->svc.device_n) != 0 ||
                o->svc.device_n == 0 || parse_u32(slash + 1, 86400, &o->svc.device_s) != 0 ||
                o->svc.device_s == 0)
                bad = "--device-rate wants N/SECS (N >= 1, 1 <= SECS <= 86400)";
            break;
        }
        case O_FAILDEL:
            if (parse_rate(optarg, &o->fail_delivered) != 0)
                bad = "--fail-delivered-rate wants a rate in 0..1";
            break;
        case O_FRONTEND: {
            double r;
            if (strncmp(optarg, "502:", 4) == 0 && parse_rate(optarg + 4, &r) == 0)
                o->fe502 = r;
            else if (strncmp(optarg, "404:", 4) == 0 && parse_rate(optarg + 4, &r) == 0)
                o->fe404 = r;
            else
                bad = "--frontend-error-rate wants 502:RATE or 404:RATE (RATE in 0..1)";
            break;
        }
        case O_MAXS:
            if (parse_u32(optarg, 1u << 30, &o->max_streams) != 0 || o->max_streams == 0)
                bad = "--max-streams wants a positive number";
            break;
        case O_GOAWAY:
            if (parse_u32(optarg, UINT32_MAX, &o->goaway_every) != 0)
                bad = "--goaway-every wants a number";
            break;
        case O_FAIL: {
            double r;
            if (strncmp(optarg, "503:", 4) == 0 && parse_rate(optarg + 4, &r) == 0)
                o->fail503 = r;
            else if (strncmp(optarg, "500:", 4) == 0 && parse_rate(optarg + 4, &r) == 0)
                o->fail500 = r;
            else
                bad = "--fail-rate wants 503:RATE or 500:RATE (RATE in 0..1)";
            break;
        }
        case O_FAILRA:
            if (parse_u32(optarg, 86400, &o->fail_retry_after) != 0)
                bad = "--fail-retry-after wants 0..86400 seconds";
            break;
        case O_RESET:
            if (parse_rate(optarg, &o->reset_rate) != 0)
                bad = "--reset-rate wants a rate in 0..1";
            break;
        case O_NOANS:
            if (parse_rate(optarg, &o->no_answer_rate) != 0)
                bad = "--no-answer-rate wants a rate in 0..1";
            break;
        case O_LAT:
            if (parse_u32(optarg, 600000, &o->latency_ms) != 0)
                bad = "--latency-ms wants 0..600000";
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end)
                bad = "--seed wants a number";
            o->seeded = 1;
            break;
        }
        case O_DLOG:
            o->delivery_log = optarg;
            break;
        case 'h':
            fputs(USAGE, stdout);
            exit(0);
        case O_VERSION:
            printf("fcm-sim %s\n", APNS_VERSION);
            exit(0);
        default:
            fputs(USAGE, stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "fcm-sim: %s (got \"%s\")\n", bad, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fcm-sim: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (!o->tls_cert || !o->tls_key || !o->svc.service_accounts) {
        fprintf(stderr, "fcm-sim: --tls-cert, --tls-key and --service-accounts are required\n");
        return -1;
    }
    if (o->fail503 + o->fail500 + o->reset_rate + o->no_answer_rate + o->fail_delivered + o->fe502 +
            o->fe404 >
        1) {
        fprintf(stderr, "fcm-sim: the fault rates add up to more than 1\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static fsim_app app;
    fsim_app *a = &app;
    if (parse_opts(&a->o, argc, argv) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    a->svc = fsim_service_new(&a->o.svc, err, sizeof err);
    if (!a->svc) {
        fprintf(stderr, "fcm-sim: %s\n", err);
        return 1;
    }
    a->ctx = tls_ctx(&a->o);
    if (!a->ctx)
        return 1;
    int dfd = -1;
    if (a->o.delivery_log && (dfd = sim_dlog_open(a->o.delivery_log)) < 0) {
        fprintf(stderr, "fcm-sim: cannot open --delivery-log %s: %s\n", a->o.delivery_log,
                strerror(errno));
        return 1;
    }
    a->rng = a->o.seeded ? a->o.seed : common_rng_seed();
    a->base = event_base_new();
    if (!a->base || sim_dlog_init(&a->dlog, dfd) != 0) {
        fprintf(stderr, "fcm-sim: out of memory\n");
        return 1;
    }
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", a->o.host, a->o.port);
    if (evutil_parse_sockaddr_port(a->o.host, (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "fcm-sim: --listen %s: not a numeric address\n", addr);
        return 1;
    }
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)a->o.port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)a->o.port);
    struct evconnlistener *l =
        evconnlistener_new_bind(a->base, on_accept, a, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                128, (struct sockaddr *)&ss, sslen);
    if (!l) {
        fprintf(stderr, "fcm-sim: cannot listen on %s: %s\n", addr, strerror(errno));
        return 1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &bl);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (bound.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        printf("fcm-sim listening on [%s]:%d\n", ip, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("fcm-sim listening on %s:%d\n", ip, port);
    }
    fflush(stdout);
    struct event *sigs[3];
    int signos[3] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(a->base, signos[i], on_signal, a);
        evsignal_add(sigs[i], NULL);
    }
    struct event *tick = event_new(a->base, -1, EV_PERSIST, on_tick, a);
    struct timeval tv = {0, 100000};
    event_add(tick, &tv);

    event_base_dispatch(a->base);

    while (a->conns)
        conn_free(a->conns);
    evconnlistener_free(l);
    event_free(tick);
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    sim_dlog_cleanup(&a->dlog);
    if (dfd >= 0)
        close(dfd);
    print_stats(a, stderr);
    fsim_service_free(a->svc);
    SSL_CTX_free(a->ctx);
    event_base_free(a->base);
    return 0;
}

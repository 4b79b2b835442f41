/*
 * api_conn.c - the API's connections: listeners, the connection limit, the
 * whole-request deadline, reading heads and bodies through the strict
 * parser (api_http.c), writing answers in order, closing after a refusal.
 *
 * Design note
 * -----------
 * A connection carries one request at a time through four states:
 *
 *   IDLE -> HEAD -> BODY -> HANDLING -> IDLE (keep-alive) or LINGER (close)
 *
 * IDLE: no byte of the next request yet. HEAD: bytes are scanned for the
 * end of the head; once complete it is parsed and handed to api.c
 * (gw__api_on_head), which routes and authenticates from the head alone and
 * may answer at once (401, 403, 404, 405): the body is then never read. A
 * body over max_body or over the budget of body bytes in flight
 * (max_body_in_flight) is refused from its Content-Length; a chunked body
 * is counted as it arrives. BODY: bytes move into the request's body
 * buffer; "100 Continue" is sent only for a request that is going to be
 * read. HANDLING: reading stops (pipelined bytes wait in the input buffer,
 * bounded by the read watermark) until the answer is written; answers are
 * therefore in request order.
 *
 * One timer per connection. In IDLE it is the idle timeout ([server]
 * idle_timeout): armed when the connection becomes ready for a request
 * (accept, or the previous answer written); at it the connection is closed
 * quietly and counted. The first byte of a request turns it into the
 * request deadline ([server] request_timeout): armed once, never re-armed
 * by arriving bytes, stopped when the body is complete. A trickling client
 * is answered 408 at the deadline. A client can thus hold a connection for
 * at most idle_timeout + request_timeout before its request is complete.
 *
 * Any answer given before the request was read in full (a refusal, a
 * framing error, a deadline) closes the connection: the unread rest can
 * never be taken for a request. Closing is a lingering close: the answer is
 * flushed, the write side shut, and what the client still sends is
 * discarded (never buffered) for up to LINGER_MS / LINGER_BYTES, so a client
 * still uploading reads the answer instead of a reset.
 *
 * The limit: at max_connections a new connection closes the longest-idle
 * one (IDLE, nothing received); when none is idle the newcomer is answered
 * 503 busy and closed at once. accept() failing for lack of descriptors
 * pauses the listeners with a backoff (50 ms doubling to 1 s) instead of
 * spinning. Both are logged at most once per LIMIT_LOG_MS, in our own
 * format, with the count of lines not written (also a counter).
 */
#include "api_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "dispatch_keys.h"
#include "log.h"
#include "timer.h"

#define LINGER_MS          2000
#define LINGER_BYTES       (1024 * 1024)
#define LIMIT_LOG_MS       10000
#define ACCEPT_BACKOFF_MIN 50
#define ACCEPT_BACKOFF_MAX 1000
#define READ_HIGH_WATER    (256 * 1024) /* input bytes buffered before reading pauses */
#define FD_RESERVE_BASE    64           /* descriptors kept for the store, logs, webhooks, ... */
#define CONNS_MIN          16

enum { S_IDLE, S_HEAD, S_BODY, S_HANDLING, S_LINGER };

struct gw__conn {
    gw_api *api;
    struct bufferevent *bev;
    struct event *timer;  /* the request deadline; in LINGER, its end */
    struct event *resume; /* made active to read pipelined bytes after an answer */
    common_list link;     /* gw_api.conns */
    int state;
    int keep_alive; /* the current request allows another after it */
    int http10;     /* the current request is HTTP/1.0 (keep-alive said in the answer) */
    int body_done;  /* the current request was read in full */
    int shut;       /* write side shut (LINGER) */
    int eof;        /* the client shut its side */
    gw_api_http_scanner scan;
    gw_api_http_chunked ch;
    int chunked;
    uint64_t body_left; /* Content-Length bytes still to read */
    uint64_t body_len;  /* body bytes so far */
    char *fill;         /* a big body's block: where the next bytes go (NULL: not one) */
    size_t lingered;
    gw_api_req *req; /* the request being read or handled */
};

static void process(gw__conn *c);

/* ---- the body budget -------------------------------------------------------- */

static void body_gauge(gw_api *a)
{
    gw_metrics_set(a->m, GW_M_API_BODY_BYTES, NULL, NULL, (double)a->body_bytes);
}

static int reserve(gw_api_req *r, uint64_t n)
{
    gw_api *a = r->api;

    if (a->body_bytes + n > a->body_budget)
        return -1;
    a->body_bytes += n;
    r->body_reserved += n;
    body_gauge(a);
    return 0;
}

void gw__api_body_release(gw_api_req *r)
{
    if (r->body_reserved == 0)
        return;
    r->api->body_bytes -= r->body_reserved;
    r->body_reserved = 0;
    body_gauge(r->api);
}

/* ---- limits and their log ---------------------------------------------------- */

size_t gw__api_max_connections(const gw_config *cfg)
{
    const gw_api_server_config *s = gw_api_server_config_of(cfg);
    struct rlimit rl;
    uint64_t reserve_fds = FD_RESERVE_BASE + s->listen.n, lim;

    if (s->max_connections > 0)
        return s->max_connections;
    for (size_t i = 0; i < cfg->n_apps; i++)
        reserve_fds += 2 * (uint64_t)gw_dispatch_app_config_of(&cfg->apps[i])->connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        lim = 65536;
    else
        lim = (uint64_t)rl.rlim_cur;
    return lim > reserve_fds + CONNS_MIN ? (size_t)(lim - reserve_fds) : CONNS_MIN;
}

/* One connection-limit event: counted, and logged at most once per
 * LIMIT_LOG_MS with the number of events not logged since. */
static void limit_note(gw_api *a, const char *event)
{
    int64_t now = common_mono_ns() / 1000000;

    gw_metrics_add(a->m, GW_M_API_CONN_LIMITED, event, NULL, 1);
    if (a->limit_logged_ms != 0 && now - a->limit_logged_ms < LIMIT_LOG_MS) {
        a->limit_unlogged++;
        gw_metrics_add(a->m, GW_M_LOG_SUPPRESSED, "api", NULL, 1);
        return;
    }
    gw_log(GW_LOG_WARN, "api", "connection limit", "event", event, "connections",
           GW_LOG_INT(a->n_conns), "max_connections", GW_LOG_INT(a->max_conns), "suppressed",
           GW_LOG_INT(a->limit_unlogged), NULL);
    a->limit_logged_ms = now;
    a->limit_unlogged = 0;
}

/* ---- connections ------------------------------------------------------------ */

static void conns_gauge(gw_api *a)
{
    gw_metrics_set(a->m, GW_M_API_CONNECTIONS, NULL, NULL, (double)a->n_conns);
}

static void conn_free(gw__conn *c)
{
    gw_api *a = c->api;
    gw_api_req *r = c->req;

    if (r != NULL) {
        c->req = NULL;
        r->conn = NULL;
        gw__api_body_release(r);
        if (c->state != S_HANDLING)
            gw__api_abandon(r); /* read half: no handler runs */
    }
    common_list_remove(&c->link);
    a->n_conns--;
    conns_gauge(a);
    bufferevent_free(c->bev); /* closes the socket */
    gw_events_free(&c->timer, 1);
    gw_events_free(&c->resume, 1);
    free(c);
}

void gw__conn_attach(gw__conn *c, gw_api_req *r)
{
    c->req = r;
    r->conn = c;
}

void gw__conn_forget(gw_api_req *r)
{
    if (r->conn != NULL && r->conn->req == r)
        r->conn->req = NULL;
    r->conn = NULL;
}

/* IDLE: the idle timeout (see the design note). */
static void arm_idle(gw__conn *c)
{
    gw_timer_in(c->timer, gw_api_server_config_of(c->api->cfg)->idle_timeout_ms);
}

/* The first byte of a request: the whole-request deadline. */
static void arm_deadline(gw__conn *c)
{
    gw_timer_in(c->timer, gw_api_server_config_of(c->api->cfg)->request_timeout_ms);
}

static void maybe_shut(gw__conn *c)
{
    if (c->state == S_LINGER && !c->shut &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
        c->shut = 1;
    }
}

/* Answer written (or being written): flush, shut, discard what comes. */
static void linger(gw__conn *c)
{
    c->state = S_LINGER;
    bufferevent_enable(c->bev, EV_READ);
    gw_timer_in(c->timer, LINGER_MS);
    maybe_shut(c);
}

void gw__conn_send(gw__conn *c, gw_api_req *r, int status, const char *phrase,
                   struct evbuffer *body)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t len = body != NULL ? evbuffer_get_length(body) : 0;
    int close_after = !c->keep_alive || !c->body_done;

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, phrase);
    evbuffer_add_buffer(out, r->out_hdrs);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n%s\r\n", len,
                        close_after ? "Connection: close\r\n"
                        : c->http10 ? "Connection: keep-alive\r\n"
                                    : "");
    if (body != NULL && !r->head_only)
        evbuffer_add_buffer(out, body);
    if (c->req == r)
        c->req = NULL;
    r->conn = NULL;
    if (close_after) {
        linger(c);
        return;
    }
    c->state = S_IDLE;
    c->body_done = 0;
    common_list_remove(&c->link);
    common_list_push_back(&c->api->conns, &c->link); /* the most recently idle last */
    arm_idle(c);
    bufferevent_enable(c->bev, EV_READ);
    /* Pipelined bytes may be waiting: read them from the loop, not from
     * inside whoever answered (an event of our own: freed with c, unlike a
     * deferred bufferevent callback, which would keep the bufferevent). */
    event_active(c->resume, 0, 0);
}

/* ---- reading ------------------------------------------------------------ */

static void head_error(gw__conn *c, const gw_api_http_error *he)
{
    gw_api_error e;
    gw_api_errcode code = he->status == 417   ? GW_API_E_EXPECTATION_FAILED
                          : he->status == 431 ? GW_API_E_HEADERS_TOO_LARGE
                          : he->status == 501 ? GW_API_E_NOT_IMPLEMENTED
                          : he->status == 505 ? GW_API_E_HTTP_VERSION
                                              : GW_API_E_BAD_REQUEST;

    gw_api_error_set(&e, code, NULL, "%s", he->why);
    c->body_done = 0; /* closes after the answer */
    if (c->req != NULL)
        gw__api_reply_error(c->req, &e);
    else
        gw__api_conn_error(c->api, c, &e);
    if (c->state != S_LINGER) /* out of memory: no answer was possible */
        linger(c);
}

static void handle(gw__conn *c)
{
    c->body_done = 1;
    c->state = S_HANDLING;
    bufferevent_disable(c->bev, EV_READ);
    event_del(c->timer);
    gw__api_on_body(c->req);
}

/* From this size a body's block is its own mapping, in huge pages where
 * the kernel has them (madvise): a 13 MB broadcast's first touch of each
 * 4 KB page cost ~13 us in a VM, 40 ms in all; 2 MB pages make that a few
 * faults. Smaller bodies take a malloc'd chain. */
#define BIG_BODY (2u << 20)

static void big_unmap(const void *data, size_t len, void *maplen)
{
    (void)len;
    munmap((void *)data, (size_t)(uintptr_t)maplen);
}

/* Room for a body of n bytes in r->body: one chain (written by read_body).
 * 0 or -1 (out of memory). */
static int body_block(gw__conn *c, gw_api_req *r, uint64_t n)
{
    size_t maplen;
    void *blk;

    if (n < BIG_BODY || n > SIZE_MAX - BIG_BODY)
        return evbuffer_expand(r->body, (size_t)n);
    maplen = ((size_t)n + BIG_BODY - 1) / BIG_BODY * BIG_BODY;
    blk = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blk == MAP_FAILED)
        return -1;
#ifdef MADV_HUGEPAGE
    (void)madvise(blk, maplen, MADV_HUGEPAGE); /* a hint: fine without */
#endif
    /* The chain holds the whole length from now on; nothing reads it
     * before read_body has filled it (the handler runs once it is). */
    if (evbuffer_add_reference(r->body, blk, (size_t)n, big_unmap, (void *)(uintptr_t)maplen) !=
        0) {
        munmap(blk, maplen);
        return -1;
    }
    c->fill = blk;
    return 0;
}

static void start_request(gw__conn *c, const gw_api_http_head *h)
{
    const gw_api_server_config *s = gw_api_server_config_of(c->api->cfg);
    int has_body = h->body == GW_API_HTTP_BODY_CHUNKED ||
                   (h->body == GW_API_HTTP_BODY_LENGTH && h->content_length > 0);
    gw_api_req *r;

    c->keep_alive = h->keep_alive;
    c->http10 = h->minor == 0;
    c->body_done = !has_body;
    if (gw__api_on_head(c->api, c, h) != 0) {
        gw_api_http_error he = {500, "out of memory"};
        head_error(c, &he);
        return;
    }
    r = c->req;
    if (r == NULL) /* answered from the head (auth, route): the body is never read */
        return;
    if (!has_body) {
        handle(c);
        return;
    }
    if (h->body == GW_API_HTTP_BODY_LENGTH && h->content_length > s->max_body) {
        gw__api_reply_errorf(r, GW_API_E_BODY_TOO_LARGE, "body",
                             "the body has %llu bytes; [server] max_body is %llu",
                             (unsigned long long)h->content_length,
                             (unsigned long long)s->max_body);
        return;
    }
    if (h->body == GW_API_HTTP_BODY_LENGTH && reserve(r, h->content_length) != 0) {
        gw__api_header(r, "Retry-After", "1");
        gw__api_reply_errorf(r, GW_API_E_BUSY, "body",
                             "request bodies in flight would exceed [server] max_body_in_flight "
                             "(%llu bytes); retry later",
                             (unsigned long long)c->api->body_budget);
        return;
    }
    /* A body of known length goes into one block of its size (reserved
     * above): read_body copies into it, so the input buffer's chains are
     * reused for the next read instead of being handed over (a fresh,
     * page-faulting chain per 4 KB read: a third of a 13 MB broadcast's
     * submit time), and the handler's pullup finds it contiguous. */
    c->fill = NULL;
    r->body = evbuffer_new();
    if (r->body == NULL ||
        (h->body == GW_API_HTTP_BODY_LENGTH && body_block(c, r, h->content_length) != 0)) {
        gw__api_reply_errorf(r, GW_API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    c->chunked = h->body == GW_API_HTTP_BODY_CHUNKED;
    c->body_left = h->content_length;
    c->body_len = 0;
    gw_api_http_chunked_init(&c->ch);
    if (h->expect_continue && h->minor == 1)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->state = S_BODY;
}

/* Chunked data: counted against max_body and the budget, then kept. */
static int chunk_data(gw__conn *c, const char *d, size_t n)
{
    gw_api_req *r = c->req;
    const gw_api_server_config *s = gw_api_server_config_of(c->api->cfg);

    c->body_len += n;
    if (c->body_len > s->max_body) {
        gw__api_reply_errorf(r, GW_API_E_BODY_TOO_LARGE, "body",
                             "the chunked body is over [server] max_body (%llu bytes)",
                             (unsigned long long)s->max_body);
        return -1;
    }
    if (reserve(r, n) != 0) {
        gw__api_header(r, "Retry-After", "1");
        gw__api_reply_errorf(r, GW_API_E_BUSY, "body",
                             "request bodies in flight exceed [server] max_body_in_flight; retry "
                             "later");
        return -1;
    }
    return evbuffer_add(r->body, d, n);
}

/* The most body bytes one read callback takes straight from the socket:
 * a big upload does not hold the loop (the socket stays readable, and the
 * loop is level-triggered, so the rest comes at the next turn). */
#define BODY_READ_MAX (1u << 20)

/* A body of known length: what the input buffer holds, then straight from
 * the socket into the body's block (start_request), never past the body's
 * end, so pipelined bytes stay for the bufferevent. libevent 2.1 reads at
 * most 4 KB per callback (EVBUFFER_MAX_READ): a 35 KB batch took nine
 * loop turns, each maybe behind a flush to APNs. 1 when complete, 0 for
 * more, -1 after answering an error. */
static int read_length_body(gw__conn *c, struct evbuffer *in)
{
    size_t have = evbuffer_get_length(in), budget = BODY_READ_MAX;
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    while (c->body_left > 0 && (have > 0 || budget > 0)) {
        struct evbuffer_iovec v;
        size_t want = c->body_left < budget ? (size_t)c->body_left : budget;
        ssize_t k;
        char *dst;

        if (have > 0)
            want = c->body_left < have ? (size_t)c->body_left : have;
        if (c->fill != NULL) {
            dst = c->fill;
        } else if (evbuffer_reserve_space(c->req->body, (ssize_t)want, &v, 1) == 1) {
            dst = v.iov_base;
        } else {
            gw__api_reply_errorf(c->req, GW_API_E_INTERNAL, NULL, "out of memory");
            return -1;
        }
        if (have > 0) {
            k = (ssize_t)evbuffer_remove(in, dst, want);
            have -= want;
        } else {
            /* EAGAIN, EOF or an error: the bufferevent's next read says. */
            k = recv(fd, dst, want, 0);
            if (k <= 0)
                break;
            budget -= (size_t)k;
        }
        if (c->fill != NULL) {
            c->fill += k;
        } else {
            v.iov_len = (size_t)k;
            evbuffer_commit_space(c->req->body, &v, 1);
        }
        c->body_left -= (uint64_t)k;
    }
    return c->body_left == 0;
}

/* Moves body bytes from in (and the socket): 1 when the body is complete,
 * 0 for more, -1 after answering an error. */
static int read_body(gw__conn *c, struct evbuffer *in)
{
    if (!c->chunked)
        return read_length_body(c, in);
    while (evbuffer_get_length(in) > 0 && !c->ch.done) {
        struct evbuffer_iovec v;
        const char *d;
        size_t dl;
        gw_api_http_error he;
        long used;

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        used = gw_api_http_chunked_feed(&c->ch, v.iov_base, v.iov_len, &d, &dl, &he);
        if (used < 0) {
            head_error(c, &he);
            return -1;
        }
        if (dl > 0 && chunk_data(c, d, dl) != 0)
            return -1;
        evbuffer_drain(in, (size_t)used);
    }
    return c->ch.done;
}

static void process(gw__conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        size_t n = evbuffer_get_length(in);

        switch (c->state) {
        case S_LINGER:
            c->lingered += n;
            evbuffer_drain(in, n);
            if (c->lingered > LINGER_BYTES)
                conn_free(c);
            return;
        case S_HANDLING:
            return;
        case S_IDLE:
            if (n == 0)
                return;
            c->state = S_HEAD;
            arm_deadline(c);
            gw_api_http_scan_init(&c->scan);
            /* fall through */
        case S_HEAD: {
            size_t want = n < GW_API_HTTP_HEAD_MAX + 1 ? n : GW_API_HTTP_HEAD_MAX + 1;
            gw_api_http_error he;
            gw_api_http_head *h;
            char *buf;
            long hl = gw_api_http_scan(&c->scan, (const char *)evbuffer_pullup(in, (ssize_t)want),
                                       want, &he);
            if (hl < 0) {
                head_error(c, &he);
                continue;
            }
            if (hl == 0)
                return;
            buf = malloc((size_t)hl + 1);
            h = malloc(sizeof(*h));
            if (buf == NULL || h == NULL) {
                free(buf);
                free(h);
                he = (gw_api_http_error){500, "out of memory"};
                head_error(c, &he);
                continue;
            }
            evbuffer_remove(in, buf, (size_t)hl);
            buf[hl] = '\0';
            if (gw_api_http_parse_head(buf, (size_t)hl, h, &he) != 0)
                head_error(c, &he);
            else
                start_request(c, h);
            free(h);
            free(buf);
            continue;
        }
        case S_BODY: {
            int rc = read_body(c, in);
            if (rc == 0)
                return;
            if (rc > 0)
                handle(c);
            continue;
        }
        default:
            return;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    process(arg);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    process(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    gw__conn *c = arg;

    maybe_shut(c);
    if (c->eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    gw__conn *c = arg;

    /* The client shut its side with answers still to write: write them. */
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        c->eof = 1;
        return;
    }
    conn_free(c); /* EOF, an error, or a write that timed out */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    gw__conn *c = arg;
    gw_api_error e;

    if (c->state == S_IDLE)
        gw_metrics_add(c->api->m, GW_M_API_IDLE_CLOSED, NULL, NULL, 1);
    if (c->state == S_LINGER || c->state == S_IDLE) {
        conn_free(c);
        return;
    }
    if (c->state != S_HEAD && c->state != S_BODY)
        return;
    gw_api_error_set(&e, GW_API_E_REQUEST_TIMEOUT, NULL,
                     "the request was not complete within [server] request_timeout (%lld ms)",
                     (long long)gw_api_server_config_of(c->api->cfg)->request_timeout_ms);
    c->body_done = 0;
    if (c->req != NULL)
        gw__api_reply_error(c->req, &e);
    else
        gw__api_conn_error(c->api, c, &e);
    if (c->state != S_LINGER)
        linger(c);
}

/* ---- accepting -------------------------------------------------------------- */

static gw__conn *idle_victim(gw_api *a)
{
    COMMON_LIST_FOREACH(it, tmp, &a->conns)
    {
        gw__conn *c = COMMON_CONTAINER_OF(it, gw__conn, link);
        if (c->state == S_IDLE && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
            return c;
    }
    return NULL;
}

static void refuse(evutil_socket_t fd)
{
    static const char body[] =
        "{\"error\":{\"status\":503,\"code\":\"busy\",\"message\":\"every connection is busy "
        "([server] max_connections); retry\"}}\n";
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, body);
    (void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    gw_api *a = arg;
    gw__conn *c;
    struct timeval wt = gw_timer_tv(gw_api_server_config_of(a->cfg)->request_timeout_ms);

    a->accept_backoff_ms = 0;
    if (a->n_conns >= a->max_conns) {
        gw__conn *v = idle_victim(a);
        if (v == NULL) {
            limit_note(a, "refused");
            refuse(fd);
            return;
        }
        limit_note(a, "closed_idle");
        conn_free(v);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->api = a;
    c->bev = bufferevent_socket_new(a->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(a->base, on_timer, c);
    c->resume = event_new(a->base, -1, 0, on_resume, c);
    if (c->bev == NULL || c->timer == NULL || c->resume == NULL) {
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        gw_events_free(&c->timer, 1);
        gw_events_free(&c->resume, 1);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    common_list_push_back(&a->conns, &c->link);
    a->n_conns++;
    conns_gauge(a);
    arm_idle(c);
}

static void listeners_enable(gw_api *a, int on)
{
    for (size_t i = 0; i < a->n_bound; i++)
        if (on)
            evconnlistener_enable(a->listeners[i]);
        else
            evconnlistener_disable(a->listeners[i]);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    listeners_enable(arg, 1);
}

/* accept() failed. Out of descriptors: pause every listener with a backoff
 * (libevent would retry at once, forever); other errors are the client's. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    gw_api *a = arg;
    int e = EVUTIL_SOCKET_ERROR();
    gw__conn *v;

    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
        return;
    listeners_enable(a, 0);
    a->accept_backoff_ms =
        a->accept_backoff_ms == 0 ? ACCEPT_BACKOFF_MIN : a->accept_backoff_ms * 2;
    if (a->accept_backoff_ms > ACCEPT_BACKOFF_MAX)
        a->accept_backoff_ms = ACCEPT_BACKOFF_MAX;
    limit_note(a, e == EMFILE || e == ENFILE ? "out_of_descriptors" : "accept_failed");
    if ((v = idle_victim(a)) != NULL) /* give one descriptor back for the next one */
        conn_free(v);
    gw_timer_in(a->accept_retry, a->accept_backoff_ms);
}

int gw__api_listen(gw_api *a, char *detail, size_t detail_len)
{
    const gw_api_server_config *s = gw_api_server_config_of(a->cfg);

    a->listeners = calloc(s->listen.n ? s->listen.n : 1, sizeof(*a->listeners));
    a->accept_retry = evtimer_new(a->base, on_accept_retry, a);
    if (a->listeners == NULL || a->accept_retry == NULL)
        return APNS_ENOMEM;
    for (size_t i = 0; i < s->listen.n; i++) {
        const gw_api_listen_addr *la = &s->listen_addrs[i];
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                        *ai = NULL;
        char port[8];
        int rc, e = 0;

        snprintf(port, sizeof port, "%u", (unsigned)la->port);
        rc = getaddrinfo(la->host, port, &hints, &ai);
        if (rc == 0) {
            a->listeners[i] = evconnlistener_new_bind(a->base, on_accept, a,
                                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                                          LEV_OPT_CLOSE_ON_EXEC,
                                                      -1, ai->ai_addr, (int)ai->ai_addrlen);
            e = errno;
            freeaddrinfo(ai);
        }
        if (a->listeners[i] == NULL) {
            if (detail != NULL)
                snprintf(detail, detail_len, "[server] listen: cannot listen on %s: %s",
                         s->listen.v[i],
                         rc != 0 ? gai_strerror(rc)
                         : e     ? strerror(e)
                                 : "bind failed");
            return APNS_ECONNECT;
        }
        evconnlistener_set_error_cb(a->listeners[i], on_accept_error);
        a->n_bound++;
    }
    return 0;
}

uint16_t gw_api_port(const gw_api *a, size_t i)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (a == NULL || i >= a->n_bound)
        return 0;
    if (getsockname(evconnlistener_get_fd(a->listeners[i]), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void gw__api_conns_free(gw_api *a)
{
    while (!common_list_empty(&a->conns))
        conn_free(COMMON_CONTAINER_OF(common_list_first(&a->conns), gw__conn, link));
    for (size_t i = 0; i < a->n_bound; i++)
        evconnlistener_free(a->listeners[i]);
    free(a->listeners);
    a->listeners = NULL;
    a->n_bound = 0;
    gw_events_free(&a->accept_retry, 1);
    a->accept_retry = NULL;
}

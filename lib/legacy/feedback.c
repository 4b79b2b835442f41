/*
 * feedback.c - the feedback-service client: a streaming tuple decoder and
 * one fetch over TLS.
 *
 * Design note
 *
 * The decoder. Tuples are (u32 time, u16 token length, token) and TLS hands
 * them over cut anywhere. Whole tuples are decoded in place from each read
 * (no copy); only a tuple cut by the end of a read is copied, into a
 * 106-byte buffer (the longest tuple: 6 + 100), and completed from the next
 * read. A token length of 0 or over 100 is decided from the 6-byte header
 * by apns_feedback_decode() and stops the decoder for good: nothing after a
 * length that lies can be framed. A stream that ends inside a tuple is
 * EFORMAT too, so a truncated feedback list is never mistaken for a whole
 * one (the tuples before the cut were still reported: they are true).
 *
 * The fetch. The connection is an apns__transport (DNS, TCP, the optional
 * HTTP CONNECT proxy, TLS without ALPN, timeouts: the push client's code,
 * proxy included) around a receive-only core: the fetch itself, driven
 * through this file's core class (core.h), whose recv feeds the decoder. It never writes and never
 * finishes by itself; the service closing the connection is the normal end (the transport reports
 * APNS_ECLOSED, which becomes 0 when the decoder ended between tuples). The idle timeout is the
 * core's deadline: last byte received + idle_timeout_ms, so a service that stalls mid-list fails
 * with APNS_ETIMEOUT instead of hanging.
 */
#include "apns/feedback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "detail.h"
#include "endpoint.h"
#include "transport.h"

#define FEEDBACK_PORT           2196
#define DEFAULT_IDLE_TIMEOUT_MS 30000
#define TUPLE_MAX               (6 + APNS_BINARY_TOKEN_MAX)

/* ---- decoder --------------------------------------------------------------- */

void apns_feedback_reader_init(apns_feedback_reader *r)
{
    memset(r, 0, sizeof *r);
}

static void emit(apns_feedback_reader *r, const apns_feedback_tuple *t, apns_feedback_item_cb cb,
                 void *ud)
{
    char hex[2 * APNS_BINARY_TOKEN_MAX + 1];
    apns_feedback_item it;
    (void)apns_token_bin_to_hex(t->token, t->token_len, hex, sizeof hex);
    it.timestamp = t->timestamp;
    it.timestamp_ms = (int64_t)t->timestamp * 1000;
    it.token = hex;
    it.token_len = t->token_len;
    r->count++;
    cb(&it, ud);
}

int apns_feedback_reader_feed(apns_feedback_reader *r, const uint8_t *data, size_t len,
                              apns_feedback_item_cb cb, void *ud)
{
    if (r == NULL || cb == NULL || (data == NULL && len > 0))
        return APNS_EINVAL;
    if (r->err)
        return r->err;
    apns_feedback_tuple t;
    /* First finish a tuple the previous read cut. */
    while (r->part_len > 0 && len > 0) {
        size_t need = r->part_len < 6 ? 6 - r->part_len
                                      : 6 + (((size_t)r->part[4] << 8) | r->part[5]) - r->part_len;
        size_t take = need < len ? need : len;
        memcpy(r->part + r->part_len, data, take);
        r->part_len += take;
        data += take;
        len -= take;
        if (r->part_len < 6)
            break;
        int rc = apns_feedback_decode(r->part, r->part_len, &t);
        if (rc < 0) {
            r->err = APNS_EFORMAT;
            return r->err;
        }
        if (rc > 0) {
            r->part_len = 0;
            emit(r, &t, cb, ud);
        }
    }
    /* Then whole tuples straight from the input. */
    while (len > 0) {
        int rc = apns_feedback_decode(data, len, &t);
        if (rc < 0) {
            r->err = APNS_EFORMAT;
            return r->err;
        }
        if (rc == 0) {
            /* The decoder never waits for more than a whole tuple. */
            if (len > sizeof r->part) {
                r->err = APNS_EFORMAT;
                return r->err;
            }
            memcpy(r->part, data, len);
            r->part_len = len;
            break;
        }
        data += rc;
        len -= (size_t)rc;
        emit(r, &t, cb, ud);
    }
    return 0;
}

int apns_feedback_reader_end(const apns_feedback_reader *r)
{
    if (r == NULL)
        return APNS_EINVAL;
    if (r->err)
        return r->err;
    return r->part_len ? APNS_EFORMAT : 0;
}

size_t apns_feedback_reader_count(const apns_feedback_reader *r)
{
    return r ? r->count : 0;
}

/* ---- one fetch ------------------------------------------------------------- */

struct apns_feedback {
    apns__endpoint ep; /* host, port, TLS context, resolver, connect timeout */
    apns__transport *t;
    char *proxy_host; /* HTTP CONNECT proxy, or NULL */
    uint16_t proxy_port;

    apns_feedback_reader rd;
    int up;
    int64_t idle_ms, last_rx_ms;

    apns_feedback_tuple_cb on_item;
    apns_feedback_done_cb on_done;
    apns_log_cb on_log;
    void *ud;
};

static void item_cb(const apns_feedback_item *it, void *ud)
{
    apns_feedback *f = ud;
    f->on_item(f, it, f->ud);
}

/* The transport's core is f itself: it receives, never writes, takes no
 * jobs, is never open for submits and never finishes by itself (the
 * service closing the connection ends it). */
static int core_recv(void *ud, const uint8_t *d, size_t n, int64_t now)
{
    apns_feedback *f = ud;
    f->last_rx_ms = now;
    return apns_feedback_reader_feed(&f->rd, d, n, item_cb, f);
}
static int64_t core_next_deadline(const void *ud)
{
    const apns_feedback *f = ud;
    return f->up ? f->last_rx_ms + f->idle_ms : INT64_MAX;
}
static int core_tick(void *ud, int64_t now)
{
    apns_feedback *f = ud;
    return f->up && now >= f->last_rx_ms + f->idle_ms ? APNS_ETIMEOUT : 0;
}
static int core_flush(void *ud, apns__buf *out)
{
    return 0;
}
static const apns__core_class feedback_class = {
    .name = "feedback",
    .eof_is_close = 1, /* the service ends by closing, with or without close_notify */
    .finished = "connection finished",
    .recv = core_recv,
    .flush = core_flush,
    .next_deadline = core_next_deadline,
    .tick = core_tick,
    .is_finished = apns__core_never, /* the service closing ends it */
    APNS__CORE_NO_JOBS,
};

static void t_on_log(void *ud, apns_log_level level, const char *msg)
{
    apns_feedback *f = ud;
    if (f->on_log)
        f->on_log(level, msg, f->ud);
}

static void t_on_up(void *ud, apns__transport *t)
{
    apns_feedback *f = ud;
    f->up = 1;
    f->last_rx_ms = apns__transport_now_ms();
}

static void t_on_closed(void *ud, apns__transport *t, int err, const char *detail)
{
    apns_feedback *f = ud;
    char d[512];
    snprintf(d, sizeof d, "%s", detail);
    if (f->up && err == APNS_ECLOSED) {
        /* The service closes when it has sent everything: the normal end,
         * unless a tuple was cut. */
        err = apns_feedback_reader_end(&f->rd);
        if (err)
            snprintf(d, sizeof d,
                     "feedback from %s:%u ended inside a tuple (%zu byte(s) of it) after %zu "
                     "whole tuple(s)",
                     f->ep.host, f->ep.port, f->rd.part_len, f->rd.count);
        else
            snprintf(d, sizeof d, "feedback from %s:%u: %zu tuple(s)", f->ep.host, f->ep.port,
                     f->rd.count);
    } else if (f->up && err == APNS_ETIMEOUT) {
        snprintf(d, sizeof d,
                 "feedback from %s:%u: nothing received for %lld ms after %zu tuple(s)", f->ep.host,
                 f->ep.port, (long long)f->idle_ms, f->rd.count);
    } else if (err == APNS_EFORMAT) {
        snprintf(d, sizeof d,
                 "feedback from %s:%u: malformed tuple (token length 0 or over %d) after %zu "
                 "whole tuple(s)",
                 f->ep.host, f->ep.port, APNS_BINARY_TOKEN_MAX, f->rd.count);
    }
    apns__transport_free(f->t);
    f->t = NULL;
    if (f->on_log)
        t_on_log(f, err ? APNS_LOG_WARN : APNS_LOG_INFO, d);
    f->on_done(f, f->rd.count, err, d, f->ud); /* last: may free f */
}

void apns_feedback_opts_init(apns_feedback_opts *o)
{
    memset(o, 0, sizeof *o);
}

void apns_feedback_free(apns_feedback *f)
{
    if (!f)
        return;
    apns__transport_free(f->t);
    apns__endpoint_cleanup(&f->ep);
    free(f->proxy_host);
    free(f);
}

int apns_feedback_new(apns_feedback **out, struct event_base *base, const apns_feedback_opts *o,
                      char *detail, size_t detail_len)
{
    if (detail && detail_len)
        detail[0] = '\0';
    if (!out || !base || !o || !o->on_item || !o->on_done) {
        apns__set_detail(detail, detail_len, "on_item and on_done are required");
        return APNS_EINVAL;
    }
    *out = NULL;
    if (!o->cert_file && !o->p12_file) {
        apns__set_detail(detail, detail_len,
                         "the feedback service needs the provider certificate: give cert_file or "
                         "p12_file");
        return APNS_EINVAL;
    }
    const char *host = apns__endpoint_host(o->env, o->host, "feedback.push.apple.com",
                                           "feedback.sandbox.push.apple.com", detail, detail_len);
    if (!host)
        return APNS_EINVAL;

    apns_feedback *f = calloc(1, sizeof *f);
    if (!f)
        goto nomem;
    if (apns__endpoint_init(&f->ep, base, host, o->port ? o->port : FEEDBACK_PORT) != 0)
        goto nomem;
    if (o->proxy && *o->proxy) {
        int prc = apns__transport_proxy_parse(o->proxy, &f->proxy_host, &f->proxy_port);
        if (prc == APNS_ENOMEM)
            goto nomem;
        if (prc) {
            apns_feedback_free(f);
            apns__set_detail(detail, detail_len, "proxy \"%s\": expected host:port", o->proxy);
            return prc;
        }
    }
    f->ep.insecure_skip_verify = o->insecure_skip_verify;
    f->ep.connect_timeout_ms = o->connect_timeout_ms;
    f->idle_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
    f->on_item = o->on_item;
    f->on_done = o->on_done;
    f->on_log = o->on_log;
    f->ud = o->ud;
    apns_feedback_reader_init(&f->rd);

    apns__tls_opts tls = APNS__TLS_OPTS_OF(o, 1);
    int rc = apns__endpoint_setup(&f->ep, &tls, detail, detail_len);
    if (rc) {
        apns_feedback_free(f);
        return rc;
    }
    apns__transport_opts topts = {.ep = &f->ep,
                                  .proxy_host = f->proxy_host,
                                  .proxy_port = f->proxy_port,
                                  .cls = &feedback_class,
                                  .core = f};
    apns__transport_callbacks cb = {
        .core = {.on_log = t_on_log},
        .on_up = t_on_up,
        .on_closed = t_on_closed,
    };
    rc = apns__transport_new(&f->t, &topts, &cb, f);
    if (rc) {
        apns_feedback_free(f);
        apns__set_detail(detail, detail_len, "cannot start the connection: %s", apns_strerror(rc));
        return rc;
    }
    *out = f;
    return 0;
nomem:
    if (f)
        apns_feedback_free(f);
    apns__set_detail(detail, detail_len, "out of memory");
    return APNS_ENOMEM;
}

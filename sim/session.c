/*
 * session.c - the HTTP/2 side of a connection: nghttp2 callbacks, streams,
 * verdicts, fault injection and answers.
 *
 * A stream's life: on_begin_headers takes a stream object from the
 * connection's free list (no malloc in steady state) and decides whether it
 * will ever be answered (GOAWAY / reset points); headers and body go into
 * its bounded sim_request; at END_STREAM (or as soon as the body outgrows
 * its push type's limit) finish() draws the --no-answer-rate fault, runs
 * the pure validator, draws --fail-rate, and answers now or queues the
 * answer for --latency-ms. The delivery log line is written when nghttp2
 * serialises the 200 HEADERS frame, never for a stream that is reset,
 * ignored or closed before its answer went out.
 *
 * `pending` counts answers the simulator still owes (streams at or below
 * the GOAWAY's last-stream-id, or before the reset point, that are neither
 * answered-and-closed nor deliberately unanswered). A draining connection
 * closes once it reaches zero and all bytes are written (see conn.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bcast.h"
#include "channels.h"
#include "clock.h" /* common/ */
#include "conn.h"

#define HEADER_LIST_MAX 8000 /* what APNs advertises */
#define CONN_WINDOW     (1 << 20)

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static pthread_once_t callbacks_once = PTHREAD_ONCE_INIT;

#define NV(n, v, flags)                                                                            \
    (nghttp2_nv)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                                  \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE | (flags)                 \
    }

int64_t sim_now_ms(sim_conn *c)
{
    struct timeval tv;
    event_base_gettimeofday_cached(c->w->base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Streams --------------------------------------------------------------- */

static sim_stream *stream_get(sim_conn *c)
{
    common_list *n = common_list_first(&c->free_streams);
    sim_stream *s = n ? COMMON_CONTAINER_OF(n, sim_stream, link) : NULL;
    if (s) {
        common_list_remove(n);
    } else {
        s = malloc(sizeof *s);
        if (!s)
            return NULL;
        s->all_next = c->all_streams;
        c->all_streams = s;
    }
    s->link.prev = s->link.next = NULL;
    s->c = c;
    s->state = SIM_ST_RECV;
    s->owed = s->early = s->injected = s->shutdown = 0;
    s->resp_len = s->resp_off = 0;
    s->big = NULL;
    s->apns_id[0] = '\0';
    sim_request_reset(&s->req);
    return s;
}

static void stream_put(sim_conn *c, sim_stream *s)
{
    free(s->big);
    s->big = NULL;
    common_list_push_front(&c->free_streams, &s->link);
}

static void settle(sim_conn *c, sim_stream *s)
{
    if (s->owed) {
        s->owed = 0;
        c->pending--;
    }
}

static void ignore(sim_conn *c, sim_stream *s)
{
    s->state = SIM_ST_IGNORED;
    SIM_STAT_INC(&c->w->stats, ignored);
}

/* Answers --------------------------------------------------------------- */

static ssize_t body_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    sim_stream *s = src->ptr;
    size_t n = (size_t)(s->resp_len - s->resp_off);
    if (n > len)
        n = len;
    memcpy(buf, (s->big ? s->big : s->resp) + s->resp_off, n);
    s->resp_off = (uint32_t)(s->resp_off + n);
    if (s->resp_off == s->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        /* Answered before the request ended (oversize body): stop it. */
        if (nghttp2_session_get_stream_remote_close(h2, id) == 0)
            nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
    return (ssize_t)n;
}

/* A 2xx of the broadcast APIs (bcast.h): the headers and body of each
 * operation. Returns the number of headers added to nva, or -1 when the
 * body could not be made (out of memory). */
static int bc_success(sim_conn *c, sim_stream *s, nghttp2_nv *nva)
{
    const sim_verdict *v = &s->v;
    int n = 0;
    switch ((sim_bc_op)v->op) {
    case SIM_BC_OP_PUBLISH: /* §4.3: every 200 names the message */
        sim_idgen_next(&c->w->ids, s->unique_id);
        nva[n++] = NV("apns-unique-id", s->unique_id, NGHTTP2_NV_FLAG_NO_INDEX);
        break;
    case SIM_BC_OP_CREATE:
        nva[n++] = NV("apns-channel-id", v->created, NGHTTP2_NV_FLAG_NO_INDEX);
        break;
    case SIM_BC_OP_READ:
        s->resp_len = (uint32_t)snprintf(s->resp, sizeof s->resp,
                                         "{\"message-storage-policy\":%d,\"push-type\":\"%s\"}",
                                         v->policy, SIM_BC_BODY_PUSH_TYPE);
        nva[n++] = NV("content-type", "application/json", 0);
        break;
    case SIM_BC_OP_LIST: {
        size_t len = 0;
        if (!(s->big = sim_channels_list_json(c->w->sh->channels, v->bundle, v->bundle_len, &len)))
            return -1;
        s->resp_len = (uint32_t)len;
        nva[n++] = NV("content-type", "application/json", 0);
        break;
    }
    default: /* DELETE: 204, nothing else */
        break;
    }
    return n;
}

static void answer(sim_conn *c, sim_stream *s)
{
    const sim_options *o = c->opt;
    nghttp2_nv nva[5];
    size_t n = 0;
    int rv, bc = c->manage || s->v.op == SIM_BC_OP_PUBLISH;

    s->state = SIM_ST_ANSWERED;
    if (s->v.reason == SIM_REASON_NONE && bc) {
        int k = bc_success(c, s, nva + 2);
        if (k < 0) {
            s->v.reason = SIM_REASON_INTERNAL_SERVER_ERROR;
            s->v.status = sim_reasons[s->v.reason].status;
        } else {
            n = (size_t)k;
        }
    }
    static const char *const ok_text[] = {"200", "201", "204"};
    const char *status = s->v.reason != SIM_REASON_NONE ? sim_reasons[s->v.reason].status_text
                         : s->v.status == 201           ? ok_text[1]
                         : s->v.status == 204           ? ok_text[2]
                                                        : ok_text[0];
    nva[0] = NV(":status", status, 0);
    /* Both broadcast APIs name the request apns-request-id (§4.2, §4.3). */
    nva[1] = bc ? NV("apns-request-id", s->apns_id, NGHTTP2_NV_FLAG_NO_INDEX)
                : NV("apns-id", s->apns_id, NGHTTP2_NV_FLAG_NO_INDEX);
    if (s->v.reason == SIM_REASON_NONE) {
        n += 2;
        if (!bc && o->sandbox) {
            sim_idgen_next(&c->w->ids, s->unique_id);
            nva[n++] = NV("apns-unique-id", s->unique_id, NGHTTP2_NV_FLAG_NO_INDEX);
        }
        nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read};
        rv = nghttp2_submit_response(c->h2, s->id, nva, n, s->resp_len ? &prd : NULL);
    } else {
        n = 2;
        nva[n++] = NV("content-type", "application/json", 0);
        const char *reason = sim_reasons[s->v.reason].name;
        int len;
        if (s->v.status == 410) /* Unregistered, ExpiredToken (§1.7) */
            len = snprintf(s->resp, sizeof s->resp, "{\"reason\":\"%s\",\"timestamp\":%lld}",
                           reason, (long long)s->v.timestamp_ms);
        else
            len = snprintf(s->resp, sizeof s->resp, "{\"reason\":\"%s\"}", reason);
        s->resp_len = (uint32_t)(len > 0 && (size_t)len < sizeof s->resp ? len : 0);
        nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read};
        rv = nghttp2_submit_response(c->h2, s->id, nva, n, &prd);
    }
    if (nghttp2_is_fatal(rv))
        c->dead = 1;
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    sim_conn *c = arg;
    int64_t now = common_mono_ms();
    common_list *n;
    while ((n = common_list_first(&c->delayed)) != NULL &&
           COMMON_CONTAINER_OF(n, sim_stream, link)->due_ms <= now) {
        common_list_remove(n);
        answer(c, COMMON_CONTAINER_OF(n, sim_stream, link));
    }
    if ((n = common_list_first(&c->delayed)) != NULL) {
        int64_t wait = COMMON_CONTAINER_OF(n, sim_stream, link)->due_ms - now;
        struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
        evtimer_add(c->delay, &tv);
    }
    sim_conn_progress(c);
}

static void delay_push(sim_conn *c, sim_stream *s, int latency_ms)
{
    s->state = SIM_ST_DELAYED;
    s->due_ms = common_mono_ms() + latency_ms;
    common_list_push_back(&c->delayed, &s->link);
    if (common_list_first(&c->delayed) == &s->link) {
        struct timeval tv = {latency_ms / 1000, (latency_ms % 1000) * 1000};
        evtimer_add(c->delay, &tv);
    }
}

static void delay_unlink(sim_conn *c, sim_stream *s)
{
    common_list_remove(&s->link);
    if (common_list_empty(&c->delayed))
        evtimer_del(c->delay);
}

/* Connection-level moves ------------------------------------------------ */

static void submit_max_streams(sim_conn *c, uint32_t n)
{
    nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, n};
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, &iv, 1) == 0)
        c->max_streams_now = n;
}

static void send_goaway(sim_conn *c, int32_t last, sim_reason why)
{
    char debug[64]; /* copied by nghttp2 */
    int len = snprintf(debug, sizeof debug, "{\"reason\":\"%s\"}", sim_reasons[why].name);
    if (nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR,
                              (const uint8_t *)debug, (size_t)len) != 0)
        return;
    c->goaway_last = last;
    c->draining = 1;
    SIM_STAT_INC(&c->w->stats, goaways);
}

static sim_reason auth_hook(void *ctx, const sim_request *r)
{
    sim_conn *c = ctx;
    size_t len = 0;
    const char *v = sim_request_value(r, SIM_HDR_AUTHORIZATION, &len);
    if (v && !sim_request_complete(r, SIM_HDR_AUTHORIZATION))
        return SIM_REASON_INVALID_PROVIDER_TOKEN;
    uint64_t before = c->auth->verifications, refusals = c->auth->team_refusals;
    sim_reason why = sim_auth_check(c->auth, v, len, sim_now_ms(c) / 1000);
    if (c->auth->verifications != before)
        SIM_STAT_INC(&c->w->stats, verifications);
    if (c->auth->team_refusals != refusals)
        SIM_STAT_INC(&c->w->stats, team_refusals);
    if (why == SIM_REASON_NONE && !c->raised) {
        /* APNs: one stream until a request with a valid token came in. */
        const sim_options *o = c->opt;
        c->raised = 1;
        submit_max_streams(c, c->shrunk ? o->shrink_to : o->max_streams);
    }
    return why;
}

static void inject_failure(sim_conn *c, sim_stream *s)
{
    const sim_options *o = c->opt;
    double u = common_rng_double(&c->rng), acc = 0;
    for (int i = 0; i < o->nfail; i++) {
        acc += o->fail[i].rate;
        if (u < acc) {
            s->v.status = o->fail[i].status;
            s->v.reason = o->fail[i].reason;
            s->injected = 1;
            return;
        }
    }
}

/* The request is complete (or its body outgrew the limit): decide. */
static void finish(sim_conn *c, sim_stream *s)
{
    const sim_options *o = c->opt;
    if (s->shutdown && c->goaway_last && s->id > c->goaway_last) {
        ignore(c, s); /* begun after the shutdown's GOAWAY stream: not processed */
        settle(c, s);
        return;
    }
    if (c->manage)
        SIM_STAT_INC(&c->w->stats, manage_requests);
    else
        SIM_STAT_INC(&c->w->stats, requests);
    if (o->no_answer_rate > 0 && common_rng_double(&c->rng) < o->no_answer_rate) {
        s->state = SIM_ST_NOANSWER;
        settle(c, s);
        SIM_STAT_INC(&c->w->stats, no_answer);
        return;
    }
    sim_auth_fn hook = c->auth ? auth_hook : NULL;
    if (c->manage)
        sim_bc_manage(&s->req, &c->policy, hook, c, &s->v);
    else if (sim_bc_is_publish(&s->req))
        sim_bc_publish(&s->req, &c->policy, hook, c, &s->v);
    else
        sim_validate(&s->req, &c->policy, hook, c, &s->v);
    /* A stream answered Shutdown is never also counted as an injected
     * failure: the counters say what the client was answered. */
    if (s->v.status == 200 && o->nfail > 0 && !s->shutdown)
        inject_failure(c, s);
    if (s->shutdown) {
        /* --shutdown-after: the first stream past N to complete is answered
         * 503 Shutdown and the GOAWAY names it; a later stream (a higher id)
         * is never processed nor answered (above), as RFC 9113 6.8 allows
         * (the client resends both kinds). Naming the completed stream, not the
         * last one begun, keeps both kinds in every shutdown whatever the
         * client wrote in one burst; streams past N with a lower id that
         * complete after it are answered 503 Shutdown too. */
        s->v.reason = SIM_REASON_SHUTDOWN;
        s->v.status = sim_reasons[SIM_REASON_SHUTDOWN].status;
        if (!c->goaway_last)
            send_goaway(c, s->id, SIM_REASON_SHUTDOWN);
    }
    if (s->v.apns_id) {
        memcpy(s->apns_id, s->v.apns_id, SIM_UUID_LEN);
        s->apns_id[SIM_UUID_LEN] = '\0';
    } else {
        sim_idgen_next(&c->w->ids, s->apns_id);
    }
    if (o->latency_ms > 0)
        delay_push(c, s, o->latency_ms);
    else
        answer(c, s);
}

/* nghttp2 callbacks ----------------------------------------------------- */

static sim_stream *stream_of(nghttp2_session *h2, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h2, id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    sim_conn *c = ud;
    const sim_options *o = c->opt;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    sim_stream *s = stream_get(c);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    c->open_streams++;
    c->last_stream_ms = sim_now_ms(c);
    s->id = f->hd.stream_id;
    nghttp2_session_set_stream_user_data(h2, s->id, s);

    if (c->resetting || (c->goaway_last && s->id > c->goaway_last)) {
        ignore(c, s);
        return 0;
    }
    c->nstreams++;
    if (o->reset_every && c->nstreams > o->reset_every) {
        c->resetting = 1;
        ignore(c, s);
        return 0;
    }
    s->owed = 1;
    c->pending++;
    s->shutdown = o->shutdown_after && c->nstreams > o->shutdown_after;
    if (o->goaway_every && c->nstreams == o->goaway_every)
        send_goaway(c, s->id, SIM_REASON_SHUTDOWN);
    if (o->shrink_after && c->nstreams == o->shrink_after && !c->shrunk) {
        c->shrunk = 1;
        if (!c->auth || c->raised)
            submit_max_streams(c, o->shrink_to);
    }
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    sim_stream *s = stream_of(h2, f->hd.stream_id);
    if (s && s->state == SIM_ST_RECV)
        sim_request_add_header(&s->req, name, namelen, value, valuelen);
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    sim_stream *s = stream_of(h2, id);
    if (!s || s->state != SIM_ST_RECV)
        return 0;
    sim_request_add_body(&s->req, data, len);
    if (s->req.body_len > SIM_PAYLOAD_LIMIT_MIN &&
        s->req.body_len > (((sim_conn *)ud)->manage || sim_bc_is_publish(&s->req)
                               ? SIM_BC_PAYLOAD_MAX
                               : sim_validate_body_limit(&s->req))) {
        s->early = 1;
        finish(ud, s); /* 413 now; the rest of the body is never kept */
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    sim_stream *s = stream_of(h2, f->hd.stream_id);
    if (s && s->state == SIM_ST_RECV)
        finish(ud, s);
    return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    sim_conn *c = ud;
    sim_stats *st = &c->w->stats;
    if (f->hd.type == NGHTTP2_RST_STREAM) {
        if (f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
            SIM_STAT_INC(st, refused);
        return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    sim_stream *s = stream_of(h2, f->hd.stream_id);
    if (!s || s->state != SIM_ST_ANSWERED)
        return 0;
    if (s->v.reason == SIM_REASON_NONE && c->manage) {
        if (s->v.op == SIM_BC_OP_CREATE)
            SIM_STAT_INC(st, channels_created);
        else if (s->v.op == SIM_BC_OP_DELETE)
            SIM_STAT_INC(st, channels_deleted);
    } else if (s->v.reason == SIM_REASON_NONE && s->v.op == SIM_BC_OP_PUBLISH) {
        /* "broadcast <channel-id> <request-id> <bytes>" */
        SIM_STAT_INC(st, broadcasts);
        sim_dlog_add(&c->w->dlog, "broadcast", s->v.channel, s->v.channel_len, s->apns_id,
                     strlen(s->apns_id), s->req.body_len);
    } else if (s->v.reason == SIM_REASON_NONE) {
        SIM_STAT_INC(st, accepted);
        sim_dlog_add(&c->w->dlog, s->apns_id, s->v.token, s->v.token_len, s->v.topic,
                     s->v.topic_len, s->req.body_len);
    } else {
        if (c->manage)
            SIM_STAT_INC(st, manage_rejected);
        else
            SIM_STAT_INC(st, rejected);
        SIM_STAT_INC(st, by_reason[s->v.reason]);
        if (s->injected)
            SIM_STAT_INC(st, injected);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    sim_conn *c = ud;
    sim_stream *s = stream_of(h2, id);
    if (!s)
        return 0;
    if (s->state == SIM_ST_DELAYED)
        delay_unlink(c, s);
    settle(c, s);
    stream_put(c, s);
    c->open_streams--;
    c->last_stream_ms = sim_now_ms(c);
    return 0;
}

static void make_callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    if (nghttp2_option_new(&options) == 0) {
        /* Closed streams are kept only for the priority tree, which APNs
         * ignores; flood protection and HTTP checks keep their defaults. */
        nghttp2_option_set_no_closed_streams(options, 1);
    }
    callbacks = cb;
}

/* auth.c's view of the process-wide team registry. */
static int fleet_see(void *fleet, const char *team, const char *jwt, size_t len, int64_t now_s,
                     int64_t *retry_s)
{
    return sim_teamtokens_see(fleet, team, jwt, len, now_s, retry_s);
}

int64_t sim_session_idle_check(sim_conn *c)
{
    int64_t idle = c->opt->idle_timeout_ms;
    if (c->goaway_last || !c->h2)
        return 0;
    int64_t left = c->last_stream_ms + idle - sim_now_ms(c);
    if (c->open_streams > 0)
        return idle;
    if (left > 0)
        return left;
    /* Project choice (docs/apns-sim.md): IdleTimeout as GOAWAY debug data,
     * last-stream-id = the last stream begun; a request racing it is above
     * and never answered, so the client resends it. */
    send_goaway(c, nghttp2_session_get_last_proc_stream_id(c->h2), SIM_REASON_IDLE_TIMEOUT);
    SIM_STAT_INC(&c->w->stats, idle_timeouts);
    return 0;
}

int sim_session_start(sim_conn *c)
{
    common_list_init(&c->free_streams);
    common_list_init(&c->delayed);
    const sim_shared *sh = c->w->sh;
    const sim_options *o = c->opt;
    pthread_once(&callbacks_once, make_callbacks);
    if (!callbacks || nghttp2_session_server_new2(&c->h2, callbacks, c, options) != 0)
        return -1;
    if (sh->policy.auth == SIM_AUTH_TOKEN) {
        c->auth = malloc(sizeof *c->auth);
        if (!c->auth)
            return -1;
        sim_auth_init(c->auth, &sh->keys, o->token_max_age_s, o->token_min_interval_s);
        if (sh->teamtokens)
            sim_auth_set_fleet(c->auth, fleet_see, sh->teamtokens);
    }
    if (o->latency_ms > 0 && !(c->delay = evtimer_new(c->w->base, on_delay, c)))
        return -1;
    c->max_streams_now = c->auth ? 1 : o->max_streams;
    c->last_stream_ms = sim_now_ms(c);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->max_streams_now},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HEADER_LIST_MAX},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        return -1;
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    return 0;
}

void sim_session_free(sim_conn *c)
{
    if (c->h2)
        nghttp2_session_del(c->h2); /* calls no stream callbacks */
    c->h2 = NULL;
    if (c->delay)
        event_free(c->delay);
    c->delay = NULL;
    while (c->all_streams) {
        sim_stream *s = c->all_streams;
        c->all_streams = s->all_next;
        free(s->big);
        free(s);
    }
    common_list_init(&c->free_streams);
    common_list_init(&c->delayed);
    free(c->auth);
    c->auth = NULL;
}

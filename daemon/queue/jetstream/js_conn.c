/*
 * js_conn.c - the NATS side of the JetStream backend: connecting, creating
 * or binding the stream, the shared consumer and the KV buckets, mapping
 * NATS failures to queue errors, and publish groups.
 *
 * Publish groups. The worker publishes many messages at once (the chunks of
 * every job in a batch, then their commit records; the outcome records of
 * every chunk a batch touched) with js_PublishMsgAsync, each with its own
 * deadline (MaxWait), and waits for all their acknowledgments together: a
 * batch costs about one round trip to the stream leader per phase however
 * many messages it holds. Each message carries an "Apnsd-Ref: GEN.SLOT"
 * header so the acknowledgment handler (a libnats thread) can file the
 * result; results of an earlier generation (a group that gave up waiting)
 * are ignored.
 *
 * Errors. Every failure becomes a GW_QUEUE_* code with a sentence naming the
 * servers, the NATS status (and the JetStream error when there is one) and
 * what was being done. Lost connections, timeouts, no responders and a
 * cluster without quorum are GW_QUEUE_EIO (503: gw_queue_err_unavailable);
 * JetStream storage limits are GW_QUEUE_EFULL; permission errors are
 * GW_QUEUE_EREADONLY. The client library reconnects by itself, forever;
 * while it is disconnected each request fails at once (gw_js_check_conn)
 * instead of waiting for its timeout: each batch checks before it starts,
 * and each read, compare-and-set and publish of a group here checks again,
 * since libnats keeps what is written while it reconnects and a request
 * then waits its whole timeout: servers lost in the middle of a record
 * batch of many chunks (a cancel-mark read per hand-back, a re-read per
 * conflict) once held a node's queue thread for 42 s.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------- */

typedef struct status_info {
    int code;
    const char *name;
    int err; /* the queue error it means */
} status_info;

/* The name of s and what it means ("NATS_STATUS", GW_QUEUE_ESTORE when
 * unknown). */
static const status_info *status_of(natsStatus s)
{
#define S(x, e) x, #x, e
    static const status_info unknown = {0, "NATS_STATUS", GW_QUEUE_ESTORE};
    static const status_info names[] = {
        /* clang-format off */
        {S(NATS_OK, GW_QUEUE_ESTORE)}, {S(NATS_ERR, GW_QUEUE_ESTORE)},
        {S(NATS_IO_ERROR, GW_QUEUE_EIO)}, {S(NATS_CONNECTION_CLOSED, GW_QUEUE_EIO)},
        {S(NATS_NO_SERVER, GW_QUEUE_EIO)}, {S(NATS_STALE_CONNECTION, GW_QUEUE_EIO)},
        {S(NATS_CONNECTION_DISCONNECTED, GW_QUEUE_EIO)},
        {S(NATS_CONNECTION_AUTH_FAILED, GW_QUEUE_EREADONLY)},
        {S(NATS_NOT_PERMITTED, GW_QUEUE_EREADONLY)}, {S(NATS_NOT_FOUND, GW_QUEUE_ESTORE)},
        {S(NATS_TIMEOUT, GW_QUEUE_EIO)}, {S(NATS_NO_MEMORY, APNS_ENOMEM)},
        {S(NATS_SSL_ERROR, GW_QUEUE_EIO)}, {S(NATS_NOT_YET_CONNECTED, GW_QUEUE_EIO)},
        {S(NATS_NO_RESPONDERS, GW_QUEUE_EIO)}, {S(NATS_MAX_PAYLOAD, GW_QUEUE_ESTORE)},
        {S(NATS_INSUFFICIENT_BUFFER, GW_QUEUE_EIO)},
        {S(NATS_SECURE_CONNECTION_REQUIRED, GW_QUEUE_EIO)},
        {S(NATS_SECURE_CONNECTION_WANTED, GW_QUEUE_EIO)}, {S(NATS_INVALID_ARG, GW_QUEUE_ESTORE)}
        /* clang-format on */
    };
#undef S

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == (int)(s))
            return &names[i];
    return &unknown;
}

static int map_error(natsStatus s, jsErrCode code)
{
    switch ((int)code) {
    case JSAccountResourcesExceededErr:
    case JSInsufficientResourcesErr:
    case JSMemoryResourcesExceededErr:
    case JSStorageResourcesExceededErr:
    case JSStreamLimitsErr:
        return GW_QUEUE_EFULL;
    case JSClusterNoPeersErr:
    case JSClusterNotAvailErr:
    case JSClusterNotLeaderErr:
    case JSStreamOfflineErr:
    case JSConsumerOfflineErr:
    case JSNotEnabledErr:
    case JSNotEnabledForAccountErr:
        return GW_QUEUE_EIO;
    default:
        return status_of(s)->err;
    }
}

int gw_js_error(gw_js *js, natsStatus s, jsErrCode code, const char *text, const char *what,
                char *detail, size_t detail_len)
{
    char jerr[160] = "";

    if (code != 0)
        snprintf(jerr, sizeof(jerr), ", jetstream error %d%s%s", (int)code,
                 text != NULL && text[0] != '\0' ? ": " : "", text != NULL ? text : "");
    snprintf(detail, detail_len, "queue jetstream %s: %s (%s%s) during %s", js->servers_text,
             natsStatus_GetText(s), status_of(s)->name, jerr, what);
    return map_error(s, code);
}

static int conn_up(gw_js *js)
{
    return js->nc != NULL && natsConnection_Status(js->nc) == NATS_CONN_STATUS_CONNECTED;
}

int gw_js_check_conn(gw_js *js, const char *what, char *detail, size_t detail_len)
{
    const char *last = NULL;
    natsStatus s;

    if (conn_up(js))
        return 0;
    s = js->nc != NULL ? natsConnection_GetLastError(js->nc, &last) : NATS_NOT_YET_CONNECTED;
    snprintf(detail, detail_len,
             "queue jetstream %s: not connected to any NATS server (%s%s%s) during %s",
             js->servers_text, status_of(s == NATS_OK ? NATS_CONNECTION_DISCONNECTED : s)->name,
             last != NULL && last[0] != '\0' ? ": " : "", last != NULL ? last : "", what);
    return GW_QUEUE_EIO;
}

/* ---- publish groups ---------------------------------------------------------- */

static void on_puback(jsCtx *jsx, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    gw_js *js = closure;
    const char *ref = NULL;
    unsigned long long gen = 0, slot = 0;

    (void)jsx;
    if (msg != NULL && natsMsgHeader_Get(msg, "Apnsd-Ref", &ref) == NATS_OK && ref != NULL &&
        sscanf(ref, "%llu.%llu", &gen, &slot) == 2) {
        pthread_mutex_lock(&js->pg_mu);
        if (gen == js->pg_gen && slot < js->pg_n && !js->pg[slot].done) {
            gw_js_pub *p = &js->pg[slot];
            if (pa != NULL) {
                p->st = NATS_OK;
                p->seq = pa->Sequence;
            } else {
                p->st = pae != NULL ? pae->Err : NATS_ERR;
                if (p->st == NATS_OK)
                    p->st = NATS_ERR;
                p->code = pae != NULL ? pae->ErrCode : 0;
                snprintf(p->text, sizeof(p->text), "%s",
                         pae != NULL && pae->ErrText != NULL ? pae->ErrText : "");
            }
            p->done = 1;
            js->pg_done++;
            if (js->pg_done == js->pg_n)
                pthread_cond_broadcast(&js->pg_cv);
        }
        pthread_mutex_unlock(&js->pg_mu);
    }
    natsMsg_Destroy(msg);
}

/* A publish's options: its deadline and expect (see gw_js_pg_add), checked
 * against the subject's last sequence or, whole_stream, the stream's. */
static void pub_opts(gw_js *js, jsPubOptions *po, uint64_t expect, int whole_stream)
{
    jsPubOptions_Init(po);
    po->MaxWait = js->jo.op_timeout_ms;
    if (expect == JS_EXPECT_NONE)
        po->ExpectNoMessage = true;
    else if (whole_stream)
        po->ExpectLastSeq = expect;
    else if (expect != 0)
        po->ExpectLastSubjectSeq = expect;
}

void gw_js_pg_begin(gw_js *js)
{
    pthread_mutex_lock(&js->pg_mu);
    js->pg_gen++;
    js->pg_n = 0;
    js->pg_done = 0;
    pthread_mutex_unlock(&js->pg_mu);
}

long gw_js_pg_add(gw_js *js, const char *subj, const void *data, size_t len, const char *msg_id,
                  uint64_t expect)
{
    natsMsg *m = NULL;
    jsPubOptions po;
    char ref[48];
    size_t slot;
    natsStatus s;

    pthread_mutex_lock(&js->pg_mu);
    if (js->pg_n == js->pg_cap) {
        size_t cap = js->pg_cap ? js->pg_cap * 2 : 256;
        gw_js_pub *p = realloc(js->pg, cap * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&js->pg_mu);
            return APNS_ENOMEM;
        }
        js->pg = p;
        js->pg_cap = cap;
    }
    slot = js->pg_n++;
    memset(&js->pg[slot], 0, sizeof(js->pg[slot]));
    snprintf(ref, sizeof(ref), "%llu.%zu", (unsigned long long)js->pg_gen, slot);
    pthread_mutex_unlock(&js->pg_mu);

    /* Not written while disconnected (top of file): failed at once. */
    s = conn_up(js) ? natsMsg_Create(&m, subj, NULL, data, (int)len) : NATS_CONNECTION_DISCONNECTED;
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Apnsd-Ref", ref);
    if (s == NATS_OK) {
        pub_opts(js, &po, expect, 0);
        po.MsgId = msg_id;
        s = js_PublishMsgAsync(js->js, &m, &po);
    }
    natsMsg_Destroy(m); /* no-op when the library took it */
    atomic_fetch_add(&js->op_pub, 1);
    if (s != NATS_OK) {
        pthread_mutex_lock(&js->pg_mu);
        js->pg[slot].st = s;
        js->pg[slot].done = 1;
        js->pg_done++;
        pthread_mutex_unlock(&js->pg_mu);
        return map_error(s, 0);
    }
    return (long)slot;
}

void gw_js_pg_wait(gw_js *js)
{
    /* Each publish has its own MaxWait; allow the library a margin to
     * report the timeouts, then give up on the stragglers. */
    int64_t deadline_ms = common_mono_ms() + js->jo.op_timeout_ms + JS_PG_SLACK_MS;
    struct timespec ts;

    pthread_mutex_lock(&js->pg_mu);
    while (js->pg_done < js->pg_n) {
        int64_t left = deadline_ms - common_mono_ms();
        if (left <= 0)
            break;
        ts = gw_queue__abstime(left);
        pthread_cond_timedwait(&js->pg_cv, &js->pg_mu, &ts);
    }
    for (size_t i = 0; i < js->pg_n; i++)
        if (!js->pg[i].done) {
            js->pg[i].st = NATS_TIMEOUT;
            js->pg[i].done = 1;
        }
    js->pg_done = js->pg_n;
    js->pg_gen++; /* late acknowledgments are ignored */
    pthread_mutex_unlock(&js->pg_mu);
}

const gw_js_pub *gw_js_pg_get(gw_js *js, size_t slot)
{
    /* Only after gw_js_pg_wait: no writer is left for this generation. */
    return &js->pg[slot];
}

/* ---- KV helpers ---------------------------------------------------------------- */

int gw_js_kv_get(gw_js *js, kvStore *kv, const char *key, uint8_t **val, size_t *len, uint64_t *rev,
                 int *found, const char *what, char *detail, size_t dlen)
{
    kvEntry *e = NULL;
    natsStatus s;
    int rc;

    *found = 0;
    if (val != NULL)
        *val = NULL;
    if (len != NULL)
        *len = 0;
    if (rev != NULL)
        *rev = 0;
    rc = gw_js_check_conn(js, what, detail, dlen);
    if (rc != 0)
        return rc;
    atomic_fetch_add(&js->op_read, 1);
    s = kvStore_Get(&e, kv, key);
    if (s == NATS_NOT_FOUND)
        return 0;
    if (s != NATS_OK) {
        const char *txt = nats_GetLastError(NULL);
        return gw_js_error(js, s, 0, txt, what, detail, dlen);
    }
    if (kvEntry_Operation(e) != kvOp_Put) {
        kvEntry_Destroy(e);
        return 0;
    }
    *found = 1;
    if (rev != NULL)
        *rev = kvEntry_Revision(e);
    if (val != NULL) {
        int n = kvEntry_ValueLen(e);
        *val = malloc(n > 0 ? (size_t)n : 1);
        if (*val == NULL) {
            kvEntry_Destroy(e);
            snprintf(detail, dlen, "out of memory during %s", what);
            return APNS_ENOMEM;
        }
        if (n > 0)
            memcpy(*val, kvEntry_Value(e), (size_t)n);
        if (len != NULL)
            *len = (size_t)n;
    }
    kvEntry_Destroy(e);
    return 0;
}

/* The stream leader's answer (the JetStream API's message get), not a
 * direct get: kvStore_Get() uses direct gets when the bucket allows them
 * (libnats 3.4 creates buckets with AllowDirect), and those are answered
 * by any replica, a follower that has not applied the last writes
 * included. A record read that decides whether tokens are still open must
 * see every write acknowledged before it (js_lease.c). */
int gw_js_kv_get_leader(gw_js *js, const char *bucket, const char *key, uint8_t **val, size_t *len,
                        uint64_t *rev, int *found, const char *what, char *detail, size_t dlen)
{
    char stream[96], subj[256];
    const char *op = NULL;
    natsMsg *m = NULL;
    jsErrCode code = 0;
    natsStatus s;
    int n;

    *found = 0;
    *val = NULL;
    *len = 0;
    if (rev != NULL)
        *rev = 0;
    n = gw_js_check_conn(js, what, detail, dlen);
    if (n != 0)
        return n;
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket, key);
    atomic_fetch_add(&js->op_read, 1);
    s = js_GetLastMsg(&m, js->js, stream, subj, NULL, &code);
    if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr)
        return 0;
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), what, detail, dlen);
    if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != NULL) {
        natsMsg_Destroy(m); /* a delete or purge marker */
        return 0;
    }
    n = natsMsg_GetDataLength(m);
    *val = malloc(n > 0 ? (size_t)n : 1);
    if (*val == NULL) {
        natsMsg_Destroy(m);
        snprintf(detail, dlen, "out of memory during %s", what);
        return APNS_ENOMEM;
    }
    if (n > 0)
        memcpy(*val, natsMsg_GetData(m), (size_t)n);
    *len = (size_t)n;
    *found = 1;
    if (rev != NULL)
        *rev = natsMsg_GetSequence(m);
    natsMsg_Destroy(m);
    return 0;
}

int gw_js_kv_cas(gw_js *js, const char *bucket, const char *key, const void *val, size_t len,
                 uint64_t rev, int whole_stream, uint64_t *new_rev, int *conflict, const char *what,
                 char *detail, size_t dlen)
{
    char subj[256];
    jsPubOptions po;
    jsPubAck *pa = NULL;
    jsErrCode code = 0;
    natsStatus s;

    *conflict = 0;
    if (!conn_up(js))
        return gw_js_check_conn(js, what, detail, dlen);
    snprintf(subj, sizeof(subj), "$KV.%s.%s", bucket, key);
    pub_opts(js, &po, rev != 0 ? rev : JS_EXPECT_NONE, whole_stream);
    atomic_fetch_add(&js->op_pub, 1);
    s = js_Publish(&pa, js->js, subj, val, (int)len, &po, &code);
    if (s == NATS_OK) {
        if (new_rev != NULL)
            *new_rev = pa->Sequence;
        jsPubAck_Destroy(pa);
        return 0;
    }
    if (code == JSStreamWrongLastSequenceErr) {
        *conflict = 1;
        return 0;
    }
    return gw_js_error(js, s, code, nats_GetLastError(NULL), what, detail, dlen);
}

/* ---- scans of a bucket's stream ---------------------------------------------------- */

static int scan_visit(const gw_js_scan *sc, natsMsg *m, uint64_t seq)
{
    const char *op = NULL;

    if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != NULL)
        return 0; /* a delete or purge marker */
    return sc->visit(sc->ud, m, seq);
}

/* With direct gets: no consumer, any live replica answers (a follower may
 * lag by the last few writes: the scan then ends early). */
static int scan_direct(gw_js *js, const gw_js_scan *sc, uint64_t after, char *detail, size_t dlen)
{
    uint64_t seq = after + 1;

    for (;;) {
        jsDirectGetMsgOptions o;
        natsMsg *m = NULL;
        const char *sq = NULL;
        uint64_t got;
        natsStatus s;
        int stop;

        if (!conn_up(js))
            return gw_js_check_conn(js, sc->what, detail, dlen);
        jsDirectGetMsgOptions_Init(&o);
        o.Sequence = seq;
        o.NextBySubject = sc->filter;
        atomic_fetch_add(&js->op_read, 1);
        s = js_DirectGetMsg(&m, js->js, sc->stream, NULL, &o);
        if (s == NATS_NOT_FOUND)
            return 0; /* no more */
        if (s != NATS_OK)
            return gw_js_error(js, s, 0, nats_GetLastError(NULL), sc->what, detail, dlen);
        if (natsMsgHeader_Get(m, "Nats-Sequence", &sq) != NATS_OK || sq == NULL ||
            (got = strtoull(sq, NULL, 10)) < seq) {
            natsMsg_Destroy(m);
            snprintf(detail, dlen, "%s: a direct get from %s answered without a usable sequence",
                     sc->what, sc->stream);
            return GW_QUEUE_EIO;
        }
        stop = scan_visit(sc, m, got);
        natsMsg_Destroy(m);
        if (stop)
            return 0;
        seq = got + 1;
    }
}

/* With an ordered consumer, read until it has delivered what the stream
 * held when it was created. *last_seq_out: the stream sequence of the last
 * message read; *stopped: visit asked to stop. */
static int scan_consumer(gw_js *js, const gw_js_scan *sc, uint64_t *last_seq_out, int *stopped,
                         char *detail, size_t dlen)
{
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsConsumerInfo *ci = NULL;
    jsErrCode code = 0;
    uint64_t last_seq = 0, left;
    natsStatus s;
    int rc = 0;

    jsSubOptions_Init(&so);
    so.Stream = sc->stream;
    so.Ordered = true;
    so.Config.FilterSubject = sc->filter;
    if (sc->after > 0) {
        so.Config.DeliverPolicy = js_DeliverByStartSequence;
        so.Config.OptStartSeq = sc->after + 1;
    } else if (sc->start_ms > 0) {
        so.Config.DeliverPolicy = js_DeliverByStartTime;
        so.Config.OptStartTime = sc->start_ms * 1000000LL;
    } else if (sc->last_per_subject) {
        so.Config.DeliverPolicy = js_DeliverLastPerSubject;
    }
    atomic_fetch_add(&js->op_read, 2);
    s = js_SubscribeSync(&sub, js->js, sc->filter, NULL, &so, &code);
    if (s == NATS_OK)
        s = natsSubscription_GetConsumerInfo(&ci, sub, NULL, &code);
    /* Some may already sit in our subscription: delivered + pending. */
    left = s == NATS_OK ? ci->Delivered.Consumer + ci->NumPending : 0;
    while (left > 0) {
        natsMsg *m = NULL;
        jsMsgMetaData *meta = NULL;
        int stop;

        code = 0;
        s = natsSubscription_NextMsg(&m, sub, js->jo.op_timeout_ms);
        if (s != NATS_OK)
            break;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            left = meta->NumPending;
            last_seq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        } else {
            left--;
        }
        stop = scan_visit(sc, m, last_seq);
        natsMsg_Destroy(m);
        if (stop) {
            *stopped = 1;
            break;
        }
    }
    *last_seq_out = last_seq;
    if (s != NATS_OK)
        rc = gw_js_error(js, s, code, nats_GetLastError(NULL), sc->what, detail, dlen);
    jsConsumerInfo_Destroy(ci);
    if (sub != NULL) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    return rc;
}

int gw_js_scan_run(gw_js *js, const gw_js_scan *sc, char *detail, size_t dlen)
{
    uint64_t last_seq = 0;
    int rc, stopped = 0;

    if (sc->direct)
        return scan_direct(js, sc, sc->after, detail, dlen);
    rc = scan_consumer(js, sc, &last_seq, &stopped, detail, dlen);
    if (rc == 0 && !stopped && !sc->last_per_subject)
        /* The consumer's pending count said "the end", and it can say so
         * early (seen with nats-server 2.9 in the paging contract test: a
         * first page of 40 of 214 entries and no cursor). Direct gets from
         * the last message read confirm the end: one get when it is. (Not
         * for a latest-per-key scan: a key written since would count
         * twice.) */
        return scan_direct(js, sc, last_seq > sc->after ? last_seq : sc->after, detail, dlen);
    if (rc != 0 && rc != APNS_ENOMEM && gw_js_check_conn(js, sc->what, NULL, 0) == 0) {
        gw_queue__log(js->q, APNS_LOG_WARN, "%s; reading again with direct gets", detail);
        detail[0] = '\0';
        sc->visit(sc->ud, NULL, 0);
        rc = scan_direct(js, sc, sc->after, detail, dlen);
    }
    return rc;
}

/* ---- connect and set up ---------------------------------------------------------- */

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *ud)
{
    gw_js *js = ud;

    (void)nc;
    (void)sub;
    gw_queue__log(js->q, APNS_LOG_WARN, "queue jetstream %s: asynchronous error: %s (%s)",
                  js->servers_text, natsStatus_GetText(err), status_of(err)->name);
}

static void on_disconnected(natsConnection *nc, void *ud)
{
    gw_js *js = ud;
    const char *last = NULL;

    if (atomic_load(&js->closing))
        return;
    natsConnection_GetLastError(nc, &last);
    gw_queue__log(js->q, APNS_LOG_WARN, "queue jetstream %s: disconnected%s%s; reconnecting",
                  js->servers_text, last != NULL && last[0] ? ": " : "", last != NULL ? last : "");
}

static void on_reconnected(natsConnection *nc, void *ud)
{
    gw_js *js = ud;
    char url[256] = "";

    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    gw_queue__log(js->q, APNS_LOG_INFO, "queue jetstream: reconnected to %s", url);
}

/* The last callback libnats makes for a connection: after it, no
 * disconnected / reconnected / error callback can run, so the backend may
 * be freed. */
static void on_closed(natsConnection *nc, void *ud)
{
    gw_js *js = ud;

    (void)nc;
    pthread_mutex_lock(&js->pg_mu);
    js->nc_closed = 1;
    pthread_cond_broadcast(&js->pg_cv);
    pthread_mutex_unlock(&js->pg_mu);
}

static void on_work_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    gw_js_notice_box *box = closure;
    unsigned long long from = 0;
    const char *d = natsMsg_GetData(msg);
    int n = natsMsg_GetDataLength(msg), work = JS_WORK_ANY;
    char buf[32], *end = NULL;

    (void)nc;
    (void)sub;
    if (n > 0 && n < (int)sizeof(buf)) {
        memcpy(buf, d, (size_t)n);
        buf[n] = '\0';
        from = strtoull(buf, &end, 16);
        int bits = *end == ' ' ? atoi(end + 1) & JS_WORK_ANY : 0;
        if (bits != 0) /* else an earlier release's notice: both */
            work = bits;
    }
    natsMsg_Destroy(msg);
    atomic_fetch_or(box->hint, work); /* js_lease.c asks those consumers */
    pthread_mutex_lock(&box->mu);
    if (box->q != NULL && from != box->node)
        gw_queue__notice(box->q);
    pthread_mutex_unlock(&box->mu);
}

void gw_js_notify_work(void *be, int work)
{
    gw_js *js = be;
    char text[40];

    work &= JS_WORK_ANY;
    snprintf(text, sizeof(text), "%llx %d", (unsigned long long)js->node,
             work != 0 ? work : JS_WORK_ANY);
    atomic_fetch_or(&js->hint, work != 0 ? work : JS_WORK_ANY);
    natsConnection_PublishString(js->nc, js->subj_work, text);
}

static void on_box_done(void *closure)
{
    gw_js_notice_box *box = closure;

    pthread_mutex_destroy(&box->mu);
    free(box);
}

static int set_options(gw_js *js, char *detail, size_t dlen)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    int64_t per = js->jo.connect_timeout_ms < 2000 ? js->jo.connect_timeout_ms : 2000;

    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)js->servers, (int)js->jo.n_servers);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, js->jo.node_name);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, per);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(o, 100, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetFailRequestsOnDisconnect(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_async_error, js);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, js);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, js);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, js);
    if (s == NATS_OK && js->jo.creds_file != NULL)
        s = natsOptions_SetUserCredentialsFromFiles(o, js->jo.creds_file, NULL);
    if (s == NATS_OK && (js->jo.tls_ca_file != NULL || js->jo.tls_cert_file != NULL))
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && js->jo.tls_ca_file != NULL)
        s = natsOptions_LoadCATrustedCertificates(o, js->jo.tls_ca_file);
    if (s == NATS_OK && js->jo.tls_cert_file != NULL)
        s = natsOptions_LoadCertificatesChain(o, js->jo.tls_cert_file, js->jo.tls_key_file);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "client options (credentials, TLS)",
                           detail, dlen);
    }
    js->nopts = o;
    return 0;
}

/* The stream's subjects: later chunks, first chunks (leased first). */
static int stream_subjects(const gw_js *js, char subj[2][80])
{
    snprintf(subj[0], 80, "%s.*", js->subj_chunk);
    snprintf(subj[1], 80, "%s.*", js->subj_first);
    return 2;
}

static int has_subject(const jsStreamConfig *c, const char *subj)
{
    for (int i = 0; i < c->SubjectsLen; i++)
        if (strcmp(c->Subjects[i], subj) == 0)
            return 1;
    return 0;
}

static int add_stream(gw_js *js, char *detail, size_t dlen)
{
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    char subj[2][80];
    const char *subjects[2] = {subj[0], subj[1]};
    natsStatus s;

    jsStreamConfig_Init(&sc);
    sc.Name = js->stream;
    sc.Description = "apnsd work queue: one message per chunk of device tokens";
    sc.Subjects = subjects;
    sc.SubjectsLen = stream_subjects(js, subj);
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Replicas = js->jo.replicas;
    sc.Duplicates = 120LL * 1000000000LL; /* msg-id dedup: idempotent resends */
    atomic_fetch_add(&js->op_read, 1);
    s = js_AddStream(&si, js->js, &sc, NULL, &code);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (code != JSStreamNameExistErr)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "stream setup", detail, dlen);
    /* It exists with another configuration: bind if it is a work queue on
     * our subjects (replicas may differ: an operator's choice). A stream of
     * an earlier version has the later chunks' subject alone: the first
     * chunks' subject is added (an earlier node then refuses the stream:
     * upgrade every node, docs/operations.md). */
    s = js_GetStreamInfo(&si, js->js, js->stream, NULL, &code);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "stream setup", detail, dlen);
    if (si->Config->Retention != js_WorkQueuePolicy || si->Config->SubjectsLen > 2 ||
        !has_subject(si->Config, subj[0]) ||
        (si->Config->SubjectsLen == 2 && !has_subject(si->Config, subj[1]))) {
        snprintf(detail, dlen,
                 "queue jetstream %s: stream %s exists but is not a work queue on %s and %s; "
                 "delete it or choose another prefix",
                 js->servers_text, js->stream, subj[0], subj[1]);
        jsStreamInfo_Destroy(si);
        return GW_QUEUE_ESTORE;
    }
    if (si->Config->Replicas != js->jo.replicas)
        gw_queue__log(js->q, APNS_LOG_WARN,
                      "queue jetstream: stream %s has %lld replicas, not %d (kept)", js->stream,
                      (long long)si->Config->Replicas, js->jo.replicas);
    if (si->Config->SubjectsLen == 1) {
        jsStreamInfo *ui = NULL;
        const char **had = si->Config->Subjects;

        si->Config->Subjects = subjects;
        si->Config->SubjectsLen = 2;
        atomic_fetch_add(&js->op_read, 1);
        s = js_UpdateStream(&ui, js->js, si->Config, NULL, &code);
        si->Config->Subjects = had; /* freed with si */
        si->Config->SubjectsLen = 1;
        jsStreamInfo_Destroy(ui);
        if (s != NATS_OK) {
            jsStreamInfo_Destroy(si);
            return gw_js_error(js, s, code, nats_GetLastError(NULL),
                               "stream setup (adding the first chunks' subject)", detail, dlen);
        }
        gw_queue__log(js->q, APNS_LOG_INFO,
                      "queue jetstream: stream %s now also takes %s (jobs' first chunks, leased "
                      "first); nodes of an earlier version no longer start on it",
                      js->stream, subj[1]);
    }
    jsStreamInfo_Destroy(si);
    return 0;
}

/* One durable pull consumer shared by every node, on one of the stream's
 * subjects, bound to *sub. */
static int add_consumer(gw_js *js, const char *durable, const char *subject,
                        const char *description, natsSubscription **sub, char *detail, size_t dlen)
{
    jsConsumerConfig cc;
    jsConsumerInfo *ci = NULL;
    jsSubOptions so;
    jsErrCode code = 0;
    char filter[80];
    natsStatus s;

    snprintf(filter, sizeof(filter), "%s.*", subject);
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable;
    cc.Description = description;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = js->jo.ack_wait_ms * 1000000LL;
    cc.MaxDeliver = -1;         /* parking is ours (max_deliveries), never the server's */
    cc.MaxAckPending = 1000000; /* delayed chunks (naks with a delay) wait in ack-pending */
    cc.FilterSubject = filter;
    cc.DeliverPolicy = js_DeliverAll;
    cc.MaxWaiting = 4096;
    atomic_fetch_add(&js->op_read, 1);
    s = js_AddConsumer(&ci, js->js, js->stream, &cc, NULL, &code);
    if (s != NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        s = js_UpdateConsumer(&ci, js->js, js->stream, &cc, NULL, &code);
    }
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "consumer setup", detail, dlen);
    jsSubOptions_Init(&so);
    so.Stream = js->stream;
    so.Consumer = durable;
    s = js_PullSubscribe(sub, js->js, filter, durable, NULL, &so, &code);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "consumer bind", detail, dlen);
    return 0;
}

static int add_consumers(gw_js *js, char *detail, size_t dlen)
{
    int rc = add_consumer(js, js->consumer, js->subj_chunk,
                          "apnsd nodes: the shared pull consumer (later chunks)", &js->pull, detail,
                          dlen);
    if (rc == 0)
        rc = add_consumer(js, js->consumer_first, js->subj_first,
                          "apnsd nodes: the shared pull consumer of jobs' first chunks",
                          &js->pull_first, detail, dlen);
    return rc;
}

static void drop_pulls(gw_js *js)
{
    natsSubscription **v[2] = {&js->pull, &js->pull_first};

    for (int i = 0; i < 2; i++)
        if (*v[i] != NULL) {
            natsSubscription_Destroy(*v[i]); /* keeps the durable consumer */
            *v[i] = NULL;
        }
}

static int add_bucket(gw_js *js, kvStore **kv, const char *name, int64_t ttl_ms, char *detail,
                      size_t dlen)
{
    kvConfig c;
    natsStatus s;

    kvConfig_Init(&c);
    c.Bucket = name;
    c.History = 1;
    c.TTL = ttl_ms > 0 ? ttl_ms * 1000000LL : 0; /* nanoseconds (stream max_age) */
    c.Replicas = js->jo.replicas;
    c.StorageType = js_FileStorage;
    atomic_fetch_add(&js->op_read, 1);
    s = js_CreateKeyValue(kv, js->js, &c);
    if (s != NATS_OK) {
        /* Exists with another configuration (another TTL): bind to it. */
        s = js_KeyValue(kv, js->js, name);
        if (s == NATS_OK)
            gw_queue__log(js->q, APNS_LOG_WARN,
                          "queue jetstream: bucket %s exists with another "
                          "configuration; using it as it is",
                          name);
    }
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "bucket setup", detail, dlen);
    return 0;
}

int gw_js_connect(gw_js *js, char *detail, size_t dlen)
{
    int64_t deadline = common_mono_ms() + js->jo.connect_timeout_ms;
    jsOptions jo;
    natsStatus s;
    int rc;

    rc = set_options(js, detail, dlen);
    if (rc != 0)
        return rc;
    for (;;) {
        s = natsConnection_Connect(&js->nc, js->nopts);
        if (s == NATS_OK || common_mono_ms() >= deadline)
            break;
        usleep(200000);
    }
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "connect", detail, dlen);
    jsOptions_Init(&jo);
    jo.Wait = js->jo.op_timeout_ms;
    jo.PublishAsync.AckHandler = on_puback;
    jo.PublishAsync.AckHandlerClosure = js;
    jo.PublishAsync.MaxPending = 1 << 20;
    jo.PublishAsync.StallWait = js->jo.op_timeout_ms;
    s = natsConnection_JetStream(&js->js, js->nc, &jo);
    if (s != NATS_OK)
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "jetstream context", detail, dlen);

    /* A fresh cluster may still be electing its meta leader: retry setup
     * until the deadline. */
    for (;;) {
        int64_t ttl = js->q->o.retention_ms > 0 ? js->q->o.retention_ms : 0;

        rc = add_stream(js, detail, dlen);
        if (rc == 0)
            rc = add_consumers(js, detail, dlen);
        if (rc == 0)
            rc = gw_js_outbox_setup(js, detail, dlen);
        for (int i = 0; rc == 0 && i < JS_BUCKETS; i++)
            if (js->kv[i] == NULL) /* job status and records expire, the rest does not */
                rc = add_bucket(js, &js->kv[i], js->bucket[i],
                                i <= JS_OUT || i == JS_CANCEL ? ttl : 0, detail, dlen);
        if (rc != GW_QUEUE_EIO || common_mono_ms() >= deadline)
            break;
        drop_pulls(js);
        usleep(250000);
    }
    if (rc != 0)
        return rc;

    js->box = calloc(1, sizeof(*js->box));
    if (js->box == NULL)
        return APNS_ENOMEM;
    pthread_mutex_init(&js->box->mu, NULL);
    js->box->node = js->node;
    js->box->hint = &js->hint;
    s = natsConnection_Subscribe(&js->work_sub, js->nc, js->subj_work, on_work_msg, js->box);
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(js->work_sub, on_box_done, js->box);
    if (s != NATS_OK) {
        if (js->work_sub == NULL) {
            pthread_mutex_destroy(&js->box->mu);
            free(js->box);
        }
        js->box = NULL;
        return gw_js_error(js, s, 0, nats_GetLastError(NULL), "work subscription", detail, dlen);
    }
    return 0;
}

void gw_js_disconnect(gw_js *js)
{
    gw_js_outbox_free(js); /* its subscriptions before the connection */
    /* No notices since ops->stop (js_stop). */
    if (js->work_sub != NULL) {
        natsSubscription_Unsubscribe(js->work_sub);
        natsSubscription_Destroy(js->work_sub);
        js->work_sub = NULL;
    }
    drop_pulls(js);
    for (int i = 0; i < JS_BUCKETS; i++) {
        kvStore_Destroy(js->kv[i]);
        js->kv[i] = NULL;
    }
    jsCtx_Destroy(js->js);
    js->js = NULL;
    atomic_store(&js->closing, 1);
    if (js->nc != NULL) {
        int64_t deadline = common_mono_ms() + 5000;

        natsConnection_Close(js->nc);
        /* Wait for the closed callback: the callbacks before it (a
         * disconnected one) have run, none comes after. */
        pthread_mutex_lock(&js->pg_mu);
        while (!js->nc_closed && common_mono_ms() < deadline) {
            struct timespec ts = gw_queue__abstime(50);
            pthread_cond_timedwait(&js->pg_cv, &js->pg_mu, &ts);
        }
        pthread_mutex_unlock(&js->pg_mu);
        natsConnection_Destroy(js->nc);
        js->nc = NULL;
    }
    natsOptions_Destroy(js->nopts);
    js->nopts = NULL;
}

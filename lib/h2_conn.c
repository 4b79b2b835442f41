/*
 * h2_conn.c - one HTTP/2 client connection to APNs on nghttp2, sans I/O.
 *
 * Design note: the in-flight book and the exactly-once guarantee
 * ----------------------------------------------------------------
 * Every submitted job gets a stream record (struct h2s). A record is in
 * exactly one of three lists:
 *
 *   book   the job is in flight: rec->job != NULL. Records are appended at
 *          submit, so the book is in submit order. nghttp2 hands out stream
 *          ids in submit order and every stream gets the same timeout, so the
 *          book is at the same time sorted by stream id and by deadline:
 *            - tick() looks only at the head (O(expired), not O(in flight));
 *            - GOAWAY's "ids above last-stream-id" is a suffix of the book.
 *   limbo  the job already got its one callback, but nghttp2 still knows the
 *          stream: a RST_STREAM not yet written, or a request still queued
 *          inside nghttp2 (it is dropped, or sent and reset at once). The
 *          record stays alive because nghttp2 holds it as stream user data;
 *          it is released when nghttp2 closes the stream (on_stream_close)
 *          or drops the request (on_frame_not_send). Limbo records count
 *          against capacity: nghttp2 still counts their streams.
 *   free   reusable. Records are allocated on demand and kept until free(),
 *          so the steady state allocates nothing here (nghttp2 itself still
 *          allocates per stream).
 *
 * The only way a job leaves the book is detach(), which moves the record to
 * limbo, clears rec->job and returns the job exactly once; every user
 * callback (on_result, on_handback) is called with a job returned by
 * detach(). Any later event on the same stream (nghttp2 closing streams above
 * last-stream-id with REFUSED_STREAM after we already handed them back on
 * GOAWAY, the server's answer racing our RST_STREAM after a timeout, close()
 * after anything) finds rec->job == NULL and calls nothing. Hence: one job,
 * one callback, whatever the order of events.
 *
 * Which event wins:
 *   stream closed with a :status seen       -> on_result
 *   stream closed without one               -> handback REFUSED / RESET
 *                                              (GOAWAY if above last-stream-id)
 *   GOAWAY received                         -> handback GOAWAY (ids above)
 *   deadline passed (tick)                  -> handback TIMEOUT + RST_STREAM
 *   request dropped by nghttp2 before send  -> handback GOAWAY / CLOSED
 *   close()                                 -> handback CLOSED (the rest)
 *
 * Re-entrancy: callbacks run inside recv(), flush(), tick() and close().
 * Inside them the callee may call capacity(), submit(), in_flight(), the
 * state queries and close(); it must not call free(). After a callback every
 * loop here re-reads the lists (or stops when the connection died), so a
 * close() from inside a callback is safe.
 *
 * Response bodies (JSON on error answers only) are collected into 2 KB
 * blocks taken from a per-connection pool, so a 410 answer allocates nothing
 * once the pool is warm, and parsed by a tiny JSON reader that extracts just
 * "reason" and "timestamp".
 *
 * Requests. A job's op (job.h) picks the request line: a device push
 * (POST /3/device/<token>), a broadcast publish (n.channel_id set: POST
 * /4/broadcasts/apps/<topic> with apns-channel-id and apns-request-id, no
 * apns-topic), or a channel-management request (/1/apps/<topic>/...). The
 * management answers carry the bodies the caller parses (a channel's
 * configuration, the list of up to 10,000 channel ids), so for those the
 * whole body (up to MGMT_BODY_CAP) is kept in a buffer of the record, and
 * the answer's apns-channel-id header is kept too; the result hands both
 * out, borrowed.
 *
 * FCM. A job of op APNS__OP_FCM_SEND is an FCM HTTP v1 send on the same
 * book: POST /v1/projects/<project>/messages:send (the path is built once
 * per connection), "authorization: Bearer <access token>", content-type
 * application/json, no apns-* header; its body (n.payload) was written
 * whole at submit (fcm.c). Its answer body (up to FCM_BODY_CAP) and
 * Retry-After header are kept like a management answer's, and the result
 * comes from apns_fcm_answer_parse(): the message name, the field a 400
 * named and Retry-After are handed out in the apns_result, borrowed.
 */
#include "h2_conn.h"
#include "mempool.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/notification.h"
#include "apns/reason.h"
#include "token.h" /* common/ */

#define DEFAULT_MAX_STREAMS    1000u
#define POOL_CACHE_BYTES       (256u * 1024u) /* freed nghttp2 blocks kept per connection */
#define DEFAULT_STREAM_TIMEOUT 30000
#define DEFAULT_PING_IDLE      60000
#define DEFAULT_PING_TIMEOUT   10000
#define LOCAL_STREAM_WINDOW    (1 << 20)  /* SETTINGS_INITIAL_WINDOW_SIZE */
#define LOCAL_CONN_WINDOW      (16 << 20) /* connection WINDOW_UPDATE target */
#define BODY_CAP               2048       /* response body bytes kept */
#define REASON_CAP             128        /* reason string bytes kept */
#define MGMT_BODY_CAP          (4 << 20)  /* management answer bytes kept (10,000 ids ~ 300 KB) */
#define FCM_BODY_CAP           (16 << 10) /* FCM answer bytes kept (a google.rpc.Status) */
#define RETRY_AFTER_CAP        40         /* Retry-After bytes kept */
#define FCM_PATH_FMT           "/v1/projects/%s/messages:send"
#define PATH_PREFIX            "/3/device/"
#define PATH_PREFIX_LEN        (sizeof(PATH_PREFIX) - 1)
#define BEARER_PREFIX          "bearer "
#define BEARER_PREFIX_LEN      (sizeof(BEARER_PREFIX) - 1)

/* ------------------------------------------------------------------ */
/* records and lists                                                   */

typedef struct body_block {
    struct body_block *next; /* free pool */
    size_t len;
    char data[BODY_CAP];
} body_block;

enum { REC_FREE, REC_BOOK, REC_LIMBO };

typedef struct h2s {
    common_list link; /* on one of the connection's record lists */
    apns__job *job;   /* non-NULL exactly while in the book */
    int32_t stream_id;
    int where;  /* REC_* */
    int opened; /* its HEADERS were sent */
    int status; /* final :status, 0 until seen */
    char apns_id[APNS_UUID_LEN + 1];
    char apns_unique_id[APNS_UUID_LEN + 1];
    body_block *body;
    char channel_id[APNS_CHANNEL_ID_MAX + 1]; /* answer's apns-channel-id, "" if none */
    char *mbody; /* management and FCM answers: the whole body (malloc'd, kept with the
                    record) */
    size_t mbody_len, mbody_cap;
    char retry_after[RETRY_AFTER_CAP]; /* the answer's Retry-After, "" if none */
} h2s;

/* The record lists (book, limbo, free) are counted lists (common/list.h). */
typedef common_clist h2s_list;

static h2s *rec_of(common_list *n)
{
    return n ? COMMON_CONTAINER_OF(n, h2s, link) : NULL;
}

static void list_push(h2s_list *l, h2s *r)
{
    common_clist_push_back(l, &r->link);
}

static void list_remove(h2s_list *l, h2s *r)
{
    common_clist_remove(l, &r->link);
}

/* Header slots of the prebuilt name/value array. */
enum {
    NV_METHOD,
    NV_SCHEME,
    NV_AUTHORITY,
    NV_PATH,
    NV_MAX_FIXED /* the rest are appended per request */
};

struct apns__h2_conn {
    nghttp2_session *s;
    apns__mempool pool; /* nghttp2's allocations (mempool.h) */
    nghttp2_mem mem;
    apns__core_callbacks cb;
    void *ud;

    h2s_list book, limbo, free;
    body_block *bodies; /* free pool */

    char *authority;
    uint32_t cap;
    int64_t stream_timeout_ms, ping_idle_ms, ping_timeout_ms;

    int dead;         /* 0, or the APNS_E* that ended the connection */
    int closed;       /* close() ran */
    int fatal;        /* nghttp2 returned a fatal error: don't touch it again */
    int got_settings; /* the server's first SETTINGS arrived */
    int goaway_recv;
    int goaway_sent;
    int ids_exhausted;
    uint32_t goaway_last; /* last-stream-id of the latest GOAWAY received */

    int64_t last_recv_ms; /* last time bytes arrived */
    int64_t ping_sent_ms; /* outstanding PING, or -1 */

    /* prebuilt request headers */
    nghttp2_nv nv[16];
    char path[32 + APNS_TOPIC_MAX + APNS_TOKEN_HEX_MAX + 1];
    char expiration[24];
    char priority[16];
    char auth[BEARER_PREFIX_LEN + APNS_JWT_MAX];
    size_t auth_len;
    uint64_t auth_gen; /* token generation auth[] holds; 0 = none */

    char reason[REASON_CAP]; /* scratch for the result being delivered */
    apns_fcm_answer fcm;     /* scratch for an FCM result */
    char *fcm_path;          /* FCM: /v1/projects/<p>/messages:send, or NULL */
    int64_t unix_offset_ms;
    int32_t hdr_sid; /* on_header's last stream (0: none) and its record */
    h2s *hdr_rec;
};

/* ------------------------------------------------------------------ */
/* logging                                                             */

#define logf_(c, lvl, ...) apns__core_logf(&(c)->cb, (c)->ud, lvl, __VA_ARGS__)

static void set_dead(apns__h2_conn *c, int err)
{
    if (!c->dead)
        c->dead = err;
}

static int map_ng_error(int rv)
{
    return rv == NGHTTP2_ERR_NOMEM ? APNS_ENOMEM : APNS_EPROTO;
}

/* ------------------------------------------------------------------ */
/* the tiny JSON reader: "reason" (string) and "timestamp" (number) of one
 * object; everything else is skipped. Keeps what it read before an error. */

typedef struct jcur {
    const char *p, *end;
} jcur;

static void j_ws(jcur *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int j_hex4(jcur *j, unsigned *out)
{
    if (j->end - j->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = j->p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    j->p += 4;
    *out = v;
    return 0;
}

/* Appends one byte, or marks overflow. */
static void j_put(char *out, size_t cap, size_t *n, int *over, char ch)
{
    if (!out)
        return;
    if (*n + 1 < cap)
        out[(*n)++] = ch;
    else
        *over = 1;
}

static void j_put_utf8(char *out, size_t cap, size_t *n, int *over, unsigned cp)
{
    if (cp < 0x80) {
        j_put(out, cap, n, over, (char)cp);
    } else if (cp < 0x800) {
        j_put(out, cap, n, over, (char)(0xC0 | (cp >> 6)));
        j_put(out, cap, n, over, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        j_put(out, cap, n, over, (char)(0xE0 | (cp >> 12)));
        j_put(out, cap, n, over, (char)(0x80 | ((cp >> 6) & 0x3F)));
        j_put(out, cap, n, over, (char)(0x80 | (cp & 0x3F)));
    } else {
        j_put(out, cap, n, over, (char)(0xF0 | (cp >> 18)));
        j_put(out, cap, n, over, (char)(0x80 | ((cp >> 12) & 0x3F)));
        j_put(out, cap, n, over, (char)(0x80 | ((cp >> 6) & 0x3F)));
        j_put(out, cap, n, over, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Reads a string at j->p (which is '"'), decoding it into out (NUL-
 * terminated, cap bytes; NULL to skip). *over is set when it did not fit. */
static int j_string(jcur *j, char *out, size_t cap, int *over)
{
    size_t n = 0;
    int ovf = 0;
    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    for (;;) {
        if (j->p >= j->end)
            return -1;
        unsigned char ch = (unsigned char)*j->p++;
        if (ch == '"')
            break;
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            j_put(out, cap, &n, &ovf, (char)ch);
            continue;
        }
        if (j->p >= j->end)
            return -1;
        ch = (unsigned char)*j->p++;
        switch (ch) {
        case '"':
        case '\\':
        case '/':
            j_put(out, cap, &n, &ovf, (char)ch);
            break;
        case 'b':
            j_put(out, cap, &n, &ovf, '\b');
            break;
        case 'f':
            j_put(out, cap, &n, &ovf, '\f');
            break;
        case 'n':
            j_put(out, cap, &n, &ovf, '\n');
            break;
        case 'r':
            j_put(out, cap, &n, &ovf, '\r');
            break;
        case 't':
            j_put(out, cap, &n, &ovf, '\t');
            break;
        case 'u': {
            unsigned cp, lo;
            if (j_hex4(j, &cp) != 0)
                return -1;
            if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u') {
                jcur save = *j;
                j->p += 2;
                if (j_hex4(j, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    *j = save;
            }
            if (cp >= 0xD800 && cp < 0xE000)
                cp = 0xFFFD; /* lone surrogate */
            j_put_utf8(out, cap, &n, &ovf, cp);
            break;
        }
        default:
            return -1;
        }
    }
    if (out && cap)
        out[n] = '\0';
    if (over)
        *over = ovf;
    return 0;
}

/* Reads a number; *out gets its value truncated to an integer (saturated). */
static int j_number(jcur *j, int64_t *out)
{
    const char *start = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    const char *digits = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    if (j->p == digits)
        return -1;
    int simple = 1;
    if (j->p < j->end && *j->p == '.') {
        simple = 0;
        j->p++;
        const char *f = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == f)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        simple = 0;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        const char *e = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
        if (j->p == e)
            return -1;
    }
    if (!out)
        return 0;
    if (simple) {
        int neg = *start == '-';
        uint64_t v = 0;
        for (const char *q = digits; q < j->p; q++) {
            if (v > (uint64_t)INT64_MAX / 10) {
                v = (uint64_t)INT64_MAX;
                break;
            }
            v = v * 10 + (uint64_t)(*q - '0');
            if (v > (uint64_t)INT64_MAX)
                v = (uint64_t)INT64_MAX;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
    } else {
        char tmp[64];
        size_t n = (size_t)(j->p - start);
        if (n >= sizeof tmp) {
            *out = 0;
            return 0;
        }
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        double d = strtod(tmp, NULL);
        if (d >= 9.2e18)
            *out = INT64_MAX;
        else if (d <= -9.2e18)
            *out = INT64_MIN;
        else
            *out = (int64_t)d;
    }
    return 0;
}

static int j_literal(jcur *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static int j_skip(jcur *j, int depth)
{
    if (depth > 32)
        return -1;
    j_ws(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '"':
        return j_string(j, NULL, 0, NULL);
    case '{':
    case '[': {
        char close = *j->p == '{' ? '}' : ']';
        int obj = close == '}';
        j->p++;
        j_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (obj) {
                j_ws(j);
                if (j_string(j, NULL, 0, NULL) != 0)
                    return -1;
                j_ws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -1;
                j->p++;
            }
            if (j_skip(j, depth + 1) != 0)
                return -1;
            j_ws(j);
            if (j->p >= j->end)
                return -1;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p == close) {
                j->p++;
                return 0;
            }
            return -1;
        }
    }
    case 't':
        return j_literal(j, "true");
    case 'f':
        return j_literal(j, "false");
    case 'n':
        return j_literal(j, "null");
    default:
        return j_number(j, NULL);
    }
}

/* Extracts "reason" into reason (cap bytes, "" when absent or too long) and
 * "timestamp" into *ts (0 when absent) from a JSON object. Returns 0 when
 * the object parsed completely, -1 otherwise (what was read is kept). */
static int parse_answer(const char *s, size_t len, char *reason, size_t cap, int64_t *ts)
{
    jcur j = {s, s + len};
    reason[0] = '\0';
    if (ts)
        *ts = 0;
    j_ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return -1;
    j.p++;
    j_ws(&j);
    if (j.p < j.end && *j.p == '}')
        return 0;
    for (;;) {
        char key[16];
        int over = 0;
        j_ws(&j);
        if (j_string(&j, key, sizeof key, &over) != 0)
            return -1;
        j_ws(&j);
        if (j.p >= j.end || *j.p != ':')
            return -1;
        j.p++;
        j_ws(&j);
        if (j.p >= j.end)
            return -1;
        if (!over && strcmp(key, "reason") == 0 && *j.p == '"') {
            int rover = 0;
            if (j_string(&j, reason, cap, &rover) != 0) {
                reason[0] = '\0';
                return -1;
            }
            if (rover)
                reason[0] = '\0'; /* no reason is that long */
        } else if (!over && ts && strcmp(key, "timestamp") == 0 &&
                   (*j.p == '-' || (*j.p >= '0' && *j.p <= '9'))) {
            if (j_number(&j, ts) != 0)
                return -1;
        } else if (j_skip(&j, 1) != 0) {
            return -1;
        }
        j_ws(&j);
        if (j.p >= j.end)
            return -1;
        if (*j.p == ',') {
            j.p++;
            continue;
        }
        if (*j.p == '}')
            return 0;
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* records                                                             */

static h2s *rec_get(apns__h2_conn *c)
{
    h2s *r = rec_of(common_list_first(&c->free.head));
    if (r) {
        list_remove(&c->free, r);
    } else {
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
    }
    r->job = NULL;
    r->stream_id = 0;
    r->opened = 0;
    r->status = 0;
    r->apns_id[0] = '\0';
    r->apns_unique_id[0] = '\0';
    r->body = NULL;
    r->channel_id[0] = '\0';
    r->mbody_len = 0;
    r->retry_after[0] = '\0';
    return r;
}

static void body_put(apns__h2_conn *c, h2s *r)
{
    if (r->body) {
        r->body->next = c->bodies;
        c->bodies = r->body;
        r->body = NULL;
    }
}

/* Takes the job off the book, exactly once: returns NULL the second time. */
static apns__job *detach(apns__h2_conn *c, h2s *r)
{
    apns__job *job = r->job;
    if (!job)
        return NULL;
    list_remove(&c->book, r);
    r->job = NULL;
    r->where = REC_LIMBO;
    list_push(&c->limbo, r);
    job->conn = NULL;
    job->stream_id = 0;
    return job;
}

/* nghttp2 is done with the stream: recycle the record. The job (if still
 * attached) must have been detached by the caller. */
static void rec_release(apns__h2_conn *c, h2s *r)
{
    if (r->where == REC_BOOK)
        detach(c, r);
    if (r->where == REC_LIMBO)
        list_remove(&c->limbo, r);
    body_put(c, r);
    if (c->hdr_rec == r)
        c->hdr_sid = 0, c->hdr_rec = NULL;
    r->where = REC_FREE;
    r->stream_id = 0;
    list_push(&c->free, r);
}

static h2s *rec_find(apns__h2_conn *c, int32_t sid)
{
    h2s_list *lists[] = {&c->book, &c->limbo};
    for (int i = 0; i < 2; i++)
        for (common_list *n = common_list_last(&lists[i]->head); n;
             n = common_list_prev(&lists[i]->head, n))
            if (rec_of(n)->stream_id == sid)
                return rec_of(n);
    return NULL;
}

static void handback(apns__h2_conn *c, apns__job *job, apns__handback why)
{
    if (job && c->cb.on_handback)
        c->cb.on_handback(c->ud, job, why);
}

/* Builds the result from the record; reason_str points into c->reason. */
static void build_fcm_result(apns__h2_conn *c, h2s *r, apns__job *job, apns_result *res)
{
    int64_t unix_s = (c->last_recv_ms + c->unix_offset_ms) / 1000;
    apns_fcm_answer *a = &c->fcm;
    apns_fcm_answer_parse(r->status, r->mbody, r->mbody_len, r->retry_after, strlen(r->retry_after),
                          unix_s, a);
    res->reason = a->reason;
    res->action = a->action;
    res->outcome =
        r->status >= 200 && r->status < 300 ? APNS_OUTCOME_ACCEPTED : APNS_OUTCOME_REJECTED;
    /* The stable reason name; for a code this library does not know, FCM's. */
    const char *rs = a->reason == APNS_REASON_UNKNOWN
                         ? (a->fcm_code[0] ? a->fcm_code : a->status_name)
                         : apns_reason_name(a->reason);
    snprintf(c->reason, sizeof c->reason, "%s", rs);
    res->reason_str = c->reason;
    res->fcm_name = a->name[0] ? a->name : NULL;
    res->fcm_field = a->field[0] ? a->field : NULL;
    res->retry_after_s = a->retry_after_s;
    memcpy(res->apns_id, job->n.apns_id, APNS_UUID_LEN + 1);
    res->apns_id[APNS_UUID_LEN] = '\0';
}

static void build_result(apns__h2_conn *c, h2s *r, apns__job *job, apns_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = r->status;
    res->attempts = job->attempts;
    if (job->op == APNS__OP_FCM_SEND) {
        build_fcm_result(c, r, job, res);
        return;
    }
    c->reason[0] = '\0';
    if (r->body && r->body->len > 0)
        parse_answer(r->body->data, r->body->len, c->reason, sizeof c->reason, &res->timestamp_ms);
    else if (r->mbody_len > 0 && r->status >= 300)
        parse_answer(r->mbody, r->mbody_len, c->reason, sizeof c->reason, &res->timestamp_ms);
    if (r->status == 200) {
        res->reason = APNS_REASON_NONE;
        res->timestamp_ms = 0;
    } else {
        res->reason = apns_reason_lookup(c->reason, strlen(c->reason));
        if (r->status != 410)
            res->timestamp_ms = 0;
    }
    res->outcome =
        r->status >= 200 && r->status < 300 ? APNS_OUTCOME_ACCEPTED : APNS_OUTCOME_REJECTED;
    res->reason_str = c->reason;
    res->action = apns_action_for(r->status, res->reason);
    memcpy(res->apns_id, r->apns_id[0] ? r->apns_id : job->n.apns_id, APNS_UUID_LEN + 1);
    res->apns_id[APNS_UUID_LEN] = '\0';
    memcpy(res->apns_unique_id, r->apns_unique_id, sizeof res->apns_unique_id);
    res->channel_id = r->channel_id[0] ? r->channel_id : NULL;
    if (job->op != APNS__OP_PUSH && r->mbody_len > 0) {
        res->body = r->mbody;
        res->body_len = r->mbody_len;
    }
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                   */

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)sid;
    (void)ud;
    h2s *r = src->ptr;
    apns__job *job = r->job;
    if (!job) {
        /* The job already left (answered early, handed back): end the
         * request cleanly; the stream is being torn down anyway. */
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    size_t left = job->n.payload_len - job->body_sent;
    size_t n = left < len ? left : len;
    if (n)
        memcpy(buf, job->n.payload + job->body_sent, n);
    job->body_sent += n;
    if (job->body_sent >= job->n.payload_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    apns__h2_conn *c = ud;
    if (c->dead)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    /* The header fields of one HEADERS frame arrive in a row: look the
     * stream up once per frame, not once per field. */
    if (f->hd.stream_id != c->hdr_sid) {
        c->hdr_sid = f->hd.stream_id;
        c->hdr_rec = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    }
    h2s *r = c->hdr_rec;
    if (!r || !r->job)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        if (valuelen == 3 && value[0] >= '1' && value[0] <= '9' && value[1] >= '0' &&
            value[1] <= '9' && value[2] >= '0' && value[2] <= '9') {
            int st = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
            if (st >= 200 && st <= 999 && r->status == 0) /* the first final status */
                r->status = st;
        }
    } else if ((namelen == 7 && memcmp(name, "apns-id", 7) == 0) ||
               (namelen == 15 && memcmp(name, "apns-request-id", 15) == 0)) {
        if (valuelen <= APNS_UUID_LEN) {
            memcpy(r->apns_id, value, valuelen);
            r->apns_id[valuelen] = '\0';
        }
    } else if (namelen == 14 && memcmp(name, "apns-unique-id", 14) == 0) {
        if (valuelen <= APNS_UUID_LEN) {
            memcpy(r->apns_unique_id, value, valuelen);
            r->apns_unique_id[valuelen] = '\0';
        }
    } else if (namelen == 15 && memcmp(name, "apns-channel-id", 15) == 0) {
        if (valuelen <= APNS_CHANNEL_ID_MAX) {
            memcpy(r->channel_id, value, valuelen);
            r->channel_id[valuelen] = '\0';
        }
    } else if (namelen == 11 && memcmp(name, "retry-after", 11) == 0) {
        if (valuelen < RETRY_AFTER_CAP) {
            memcpy(r->retry_after, value, valuelen);
            r->retry_after[valuelen] = '\0';
        }
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    apns__h2_conn *c = ud;
    if (c->dead)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    h2s *r = nghttp2_session_get_stream_user_data(s, sid);
    if (!r || !r->job)
        return 0;
    if (r->job->op != APNS__OP_PUSH) {
        size_t body_cap = r->job->op == APNS__OP_FCM_SEND ? FCM_BODY_CAP : MGMT_BODY_CAP;
        if (r->mbody_len + len > r->mbody_cap && r->mbody_len + len <= body_cap) {
            size_t cap = r->mbody_cap ? r->mbody_cap : 4096;
            while (cap < r->mbody_len + len)
                cap *= 2;
            char *b = realloc(r->mbody, cap);
            if (!b)
                return 0; /* lose the rest of the body, keep the answer */
            r->mbody = b;
            r->mbody_cap = cap;
        }
        if (r->mbody_len + len <= r->mbody_cap) {
            memcpy(r->mbody + r->mbody_len, data, len);
            r->mbody_len += len;
        }
        return 0;
    }
    if (!r->body) {
        body_block *b = c->bodies;
        if (b) {
            c->bodies = b->next;
        } else {
            b = malloc(sizeof *b);
            if (!b)
                return 0; /* lose the body, keep the answer */
        }
        b->len = 0;
        b->next = NULL;
        r->body = b;
    }
    size_t room = BODY_CAP - r->body->len;
    size_t n = len < room ? len : room;
    memcpy(r->body->data + r->body->len, data, n);
    r->body->len += n;
    return 0;
}

static void on_goaway_frame(apns__h2_conn *c, const nghttp2_goaway *g)
{
    uint32_t last = (uint32_t)g->last_stream_id;
    c->goaway_recv = 1;
    c->goaway_last = last;
    c->reason[0] = '\0';
    if (g->opaque_data_len > 0)
        parse_answer((const char *)g->opaque_data, g->opaque_data_len, c->reason, sizeof c->reason,
                     NULL);
    logf_(c, APNS_LOG_INFO, "GOAWAY error_code=%" PRIu32 " last_stream_id=%" PRIu32 " debug=%.*s",
          g->error_code, last, (int)(g->opaque_data_len > 200 ? 200 : g->opaque_data_len),
          g->opaque_data_len ? (const char *)g->opaque_data : "");
    if (c->cb.on_peer_end) {
        char text[REASON_CAP + 64];
        snprintf(text, sizeof text, "GOAWAY (error %" PRIu32 ", last stream %" PRIu32 "%s%s)",
                 g->error_code, last, c->reason[0] ? ", " : "", c->reason);
        apns__peer_end e = {.kind = APNS__END_GOAWAY,
                            .finishing = 1,
                            .code = g->error_code,
                            .last_id = last,
                            .reason = c->reason,
                            .text = text,
                            .level = g->error_code ? APNS_LOG_WARN : APNS_LOG_INFO};
        c->cb.on_peer_end(c->ud, &e);
    }
    /* Streams above last were never processed: the suffix of the book. Walk
     * back to the first one, then hand them back in submit order. */
    h2s *first = NULL;
    for (h2s *r = rec_of(common_list_last(&c->book.head)); r && (uint32_t)r->stream_id > last;
         r = rec_of(common_list_prev(&c->book.head, &r->link)))
        first = r;
    while (first && !c->closed) {
        /* still in the book: callbacks can only append (capacity is 0) or close() */
        h2s *next = rec_of(common_list_next(&c->book.head, &first->link));
        handback(c, detach(c, first), APNS__HB_GOAWAY);
        first = c->closed ? NULL : next;
    }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    apns__h2_conn *c = ud;
    if (c->dead)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
            if (!c->got_settings)
                logf_(c, APNS_LOG_DEBUG, "server SETTINGS: max_concurrent_streams=%" PRIu32,
                      nghttp2_session_get_remote_settings(s,
                                                          NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
            c->got_settings = 1;
        }
        break;
    case NGHTTP2_PING:
        if (f->hd.flags & NGHTTP2_FLAG_ACK)
            c->ping_sent_ms = -1;
        break;
    case NGHTTP2_GOAWAY:
        on_goaway_frame(c, &f->goaway);
        break;
    default:
        break;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud)
{
    apns__h2_conn *c = ud;
    h2s *r = nghttp2_session_get_stream_user_data(s, sid);
    if (!r || r->where == REC_FREE)
        return 0;
    apns__job *job = detach(c, r);
    if (!job) {
        rec_release(c, r);
        return 0;
    }
    if (r->status >= 200) {
        apns_result res;
        build_result(c, r, job, &res);
        rec_release(c, r); /* capacity is back before the callback runs */
        if (c->cb.on_result)
            c->cb.on_result(c->ud, job, &res);
        return 0;
    }
    apns__handback why;
    if (c->goaway_recv && (uint32_t)sid > c->goaway_last)
        why = APNS__HB_GOAWAY;
    else if (error_code == NGHTTP2_REFUSED_STREAM)
        why = APNS__HB_REFUSED;
    else
        why = APNS__HB_RESET;
    logf_(c, APNS_LOG_DEBUG, "stream %d closed without answer, error_code=%" PRIu32, sid,
          error_code);
    rec_release(c, r);
    handback(c, job, why);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    apns__h2_conn *c = ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        h2s *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (r) {
            r->opened = 1;
            /* Its deadline passed (or it was handed back) while it waited in
             * nghttp2's queue. Cancelling it there is not possible (nghttp2
             * forbids frames on a stream before its HEADERS leave, and
             * refusing it in before_frame_send desyncs HPACK), so reset it
             * now that it left. */
            if (!r->job)
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
        }
        return 0;
    }
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
        /* nghttp2 tore the connection down (protocol error from the server). */
        logf_(c, APNS_LOG_WARN, "sent GOAWAY error_code=%" PRIu32, f->goaway.error_code);
        set_dead(c, APNS_EPROTO);
    }
    return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud)
{
    apns__h2_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    int32_t sid = f->hd.stream_id;
    /* An opened stream is closed right after this callback: on_stream_close
     * takes care of it. */
    if (nghttp2_session_get_stream_user_data(s, sid))
        return 0;
    h2s *r = rec_find(c, sid);
    if (!r)
        return 0;
    apns__job *job = detach(c, r);
    rec_release(c, r);
    if (job) {
        logf_(c, APNS_LOG_DEBUG, "request on stream %d not sent: %s", sid, nghttp2_strerror(err));
        handback(c, job, c->goaway_recv ? APNS__HB_GOAWAY : APNS__HB_CLOSED);
    }
    return 0;
}

static int on_error(nghttp2_session *s, int lib_error, const char *msg, size_t len, void *ud)
{
    (void)s;
    (void)lib_error;
    apns__h2_conn *c = ud;
    logf_(c, APNS_LOG_DEBUG, "nghttp2: %.*s", (int)(len > 200 ? 200 : len), msg);
    return 0;
}

/* ------------------------------------------------------------------ */
/* public                                                              */

static void nv_set(nghttp2_nv *nv, const char *name, size_t namelen, const char *value,
                   size_t valuelen, uint8_t flags)
{
    nv->name = (uint8_t *)(uintptr_t)name;
    nv->namelen = namelen;
    nv->value = (uint8_t *)(uintptr_t)value;
    nv->valuelen = valuelen;
    nv->flags = flags;
}

/* nghttp2's allocator: the connection's pool. */
static void *mem_malloc(size_t n, void *ud)
{
    return apns__mempool_alloc(ud, n);
}
static void mem_free(void *ptr, void *ud)
{
    apns__mempool_free(ud, ptr);
}
static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
    return apns__mempool_calloc(ud, nmemb, size);
}
static void *mem_realloc(void *ptr, size_t n, void *ud)
{
    return apns__mempool_realloc(ud, ptr, n);
}

#define NV_STATIC (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)
#define NV_NAME   NGHTTP2_NV_FLAG_NO_COPY_NAME
#define LIT(s)    s, (sizeof(s) - 1)

int apns__h2_conn_new(apns__h2_conn **out, const apns__h2_conn_opts *o,
                      const apns__core_callbacks *cb, void *ud, int64_t now_ms)
{
    *out = NULL;
    apns__h2_conn *c = calloc(1, sizeof *c);
    if (!c)
        return APNS_ENOMEM;
    common_clist_init(&c->book);
    common_clist_init(&c->limbo);
    common_clist_init(&c->free);
    if (cb)
        c->cb = *cb;
    c->ud = ud;
    apns__mempool_init(&c->pool, POOL_CACHE_BYTES);
    c->mem = (nghttp2_mem){&c->pool, mem_malloc, mem_free, mem_calloc, mem_realloc};
    c->cap = o && o->max_streams ? o->max_streams : DEFAULT_MAX_STREAMS;
    c->stream_timeout_ms =
        o && o->stream_timeout_ms > 0 ? o->stream_timeout_ms : DEFAULT_STREAM_TIMEOUT;
    c->ping_idle_ms = o && o->ping_idle_ms > 0 ? o->ping_idle_ms : DEFAULT_PING_IDLE;
    c->ping_timeout_ms = o && o->ping_timeout_ms > 0 ? o->ping_timeout_ms : DEFAULT_PING_TIMEOUT;
    c->last_recv_ms = now_ms;
    c->ping_sent_ms = -1;
    c->authority = strdup(o && o->authority ? o->authority : "api.push.apple.com");
    if (!c->authority) {
        free(c);
        return APNS_ENOMEM;
    }

    nv_set(&c->nv[NV_METHOD], LIT(":method"), LIT("POST"), NV_STATIC);
    nv_set(&c->nv[NV_SCHEME], LIT(":scheme"), LIT("https"), NV_STATIC);
    nv_set(&c->nv[NV_AUTHORITY], LIT(":authority"), c->authority, strlen(c->authority), NV_STATIC);
    memcpy(c->path, PATH_PREFIX, PATH_PREFIX_LEN);
    nv_set(&c->nv[NV_PATH], LIT(":path"), c->path, 0, NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    memcpy(c->auth, BEARER_PREFIX, BEARER_PREFIX_LEN);
    c->unix_offset_ms = o ? o->unix_offset_ms : 0;
    if (o && o->fcm_project) {
        if (apns_fcm_project_check(o->fcm_project, NULL, 0) != 0) {
            free(c->authority);
            free(c);
            return APNS_EINVAL;
        }
        size_t pl = sizeof FCM_PATH_FMT + strlen(o->fcm_project);
        c->fcm_path = malloc(pl);
        if (!c->fcm_path) {
            free(c->authority);
            free(c);
            return APNS_ENOMEM;
        }
        snprintf(c->fcm_path, pl, FCM_PATH_FMT, o->fcm_project);
        memcpy(c->auth, "Bearer ", BEARER_PREFIX_LEN); /* Google's spelling (§1.2) */
    }

    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    int rv = nghttp2_session_callbacks_new(&cbs);
    if (rv == 0)
        rv = nghttp2_option_new(&opt);
    if (rv != 0)
        goto fail;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    /* Until the server's SETTINGS arrive we open nothing anyway (capacity 0);
     * assume the APNs token-auth minimum. */
    nghttp2_option_set_peer_max_concurrent_streams(opt, 1);
    /* Answers are read by on_header/on_data_chunk, which take only what they
     * know (:status, apns-id, apns-unique-id, apns-channel-id; the body of an
     * error answer, bounded) and check it themselves; a stream that ends
     * without a final :status is handed back. nghttp2's HTTP messaging checks
     * (header name/value characters, pseudo-header order, content-length)
     * guard nothing more here and cost ~1,700 instructions per answer. */
    nghttp2_option_set_no_http_messaging(opt, 1);
    rv = nghttp2_session_client_new3(&c->s, cbs, c, opt, &c->mem);
    if (rv != 0)
        goto fail;

    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, LOCAL_STREAM_WINDOW},
    };
    rv = nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    if (rv == 0)
        rv = nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, LOCAL_CONN_WINDOW);
    if (rv != 0)
        goto fail;
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    *out = c;
    return 0;

fail:
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (c->s)
        nghttp2_session_del(c->s);
    apns__mempool_clear(&c->pool);
    free(c->authority);
    free(c->fcm_path);
    free(c);
    return APNS_ENOMEM;
}

static void free_list(h2s_list *l)
{
    h2s *r;
    while ((r = rec_of(common_clist_pop_front(l))) != NULL) {
        free(r->body);
        free(r->mbody);
        free(r);
    }
}

void apns__h2_conn_free(apns__h2_conn *c)
{
    if (!c)
        return;
    nghttp2_session_del(c->s);
    apns__mempool_clear(&c->pool);
    free_list(&c->book);
    free_list(&c->limbo);
    free_list(&c->free);
    while (c->bodies) {
        body_block *b = c->bodies;
        c->bodies = b->next;
        free(b);
    }
    free(c->authority);
    free(c->fcm_path);
    free(c);
}

/* nghttp2 may end the session itself from inside mem_recv (a connection
 * error: it queues GOAWAY and ignores further input) and still return
 * success. It then no longer allows requests although no GOAWAY arrived. */
static void check_terminated(apns__h2_conn *c)
{
    if (!c->dead && !c->goaway_recv && !c->goaway_sent && !c->ids_exhausted &&
        !nghttp2_session_check_request_allowed(c->s))
        set_dead(c, APNS_EPROTO);
}

int apns__h2_conn_recv(apns__h2_conn *c, const uint8_t *data, size_t len, int64_t now_ms)
{
    if (c->dead)
        return c->dead;
    if (len == 0)
        return 0;
    c->last_recv_ms = now_ms;
    ssize_t n = nghttp2_session_mem_recv(c->s, data, len);
    if (n < 0) {
        if (nghttp2_is_fatal((int)n))
            c->fatal = 1;
        logf_(c, APNS_LOG_WARN, "HTTP/2 receive failed: %s", nghttp2_strerror((int)n));
        set_dead(c, map_ng_error((int)n));
        return c->dead;
    }
    check_terminated(c);
    if (c->dead)
        logf_(c, APNS_LOG_WARN, "HTTP/2 connection error from the server");
    return c->dead;
}

int apns__h2_conn_flush(apns__h2_conn *c, apns__buf *out)
{
    if (c->closed || c->fatal)
        return 0;
    int was_dead = c->dead;
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        if (n < 0) {
            c->fatal = nghttp2_is_fatal((int)n);
            set_dead(c, map_ng_error((int)n));
            return c->dead;
        }
        if (n == 0)
            break;
        if (apns__buf_append(out, p, (size_t)n) != 0) {
            /* nghttp2 considers those bytes sent: the stream state is now
             * out of step with the peer. */
            c->fatal = 1;
            set_dead(c, APNS_ENOMEM);
            return APNS_ENOMEM;
        }
        if (c->closed)
            break;
    }
    /* Died while writing (nghttp2's own GOAWAY for a connection error, or
     * close() from a callback): say so, rather than look finished. */
    return !was_dead && c->dead ? c->dead : 0;
}

static uint32_t limit(const apns__h2_conn *c)
{
    uint32_t remote =
        nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return remote < c->cap ? remote : c->cap;
}

uint32_t apns__h2_conn_capacity(const apns__h2_conn *c)
{
    if (c->dead || !c->got_settings || c->goaway_recv || c->goaway_sent || c->ids_exhausted)
        return 0;
    size_t used = c->book.len + c->limbo.len;
    uint32_t lim = limit(c);
    return used >= lim ? 0 : (uint32_t)(lim - used);
}

/* :method and :path for job (c->nv[NV_METHOD], c->path). Returns 0, or
 * APNS_EINVAL when a field the request needs is missing or too long. */
static int build_path(apns__h2_conn *c, const apns__job *job)
{
    static const char *const methods[] = {"POST", "POST", "GET", "GET", "DELETE", "POST"};
    const apns_notification *n = &job->n;
    size_t len = 0;
    if (job->op == APNS__OP_FCM_SEND) {
        if (!c->fcm_path)
            return APNS_EINVAL;
        c->nv[NV_PATH].value = (uint8_t *)c->fcm_path;
        c->nv[NV_PATH].valuelen = strlen(c->fcm_path);
        c->nv[NV_METHOD].value = (uint8_t *)methods[job->op];
        c->nv[NV_METHOD].valuelen = 4;
        return 0;
    }
    c->nv[NV_PATH].value = (uint8_t *)c->path;
    if (job->op == APNS__OP_PUSH && !n->channel_id) {
        size_t toklen = n->token ? strnlen(n->token, APNS_TOKEN_HEX_MAX + 1) : 0;
        if (toklen == 0 || toklen > APNS_TOKEN_HEX_MAX)
            return APNS_EINVAL;
        memcpy(c->path, PATH_PREFIX, PATH_PREFIX_LEN);
        /* Lower case: a job's token is hex (the client validated it). */
        common_token_lower(n->token, toklen, c->path + PATH_PREFIX_LEN);
        len = PATH_PREFIX_LEN + toklen;
    } else {
        size_t tl = n->topic ? strnlen(n->topic, APNS_TOPIC_MAX + 1) : 0;
        if (tl == 0 || tl > APNS_TOPIC_MAX || (unsigned)job->op > APNS__OP_CH_DELETE)
            return APNS_EINVAL;
        if ((job->op == APNS__OP_PUSH || job->op == APNS__OP_CH_READ ||
             job->op == APNS__OP_CH_DELETE) &&
            (!n->channel_id || !n->channel_id[0]))
            return APNS_EINVAL;
        const char *pre = job->op == APNS__OP_PUSH ? "/4/broadcasts/apps/" : "/1/apps/";
        const char *post = job->op == APNS__OP_PUSH      ? ""
                           : job->op == APNS__OP_CH_LIST ? "/all-channels"
                                                         : "/channels";
        int l = snprintf(c->path, sizeof c->path, "%s%.*s%s", pre, (int)tl, n->topic, post);
        if (l < 0 || (size_t)l >= sizeof c->path)
            return APNS_EINVAL;
        len = (size_t)l;
    }
    c->nv[NV_PATH].valuelen = len;
    c->nv[NV_METHOD].value = (uint8_t *)methods[job->op];
    c->nv[NV_METHOD].valuelen = strlen(methods[job->op]);
    return 0;
}

/* The apns-* headers of a device push or a broadcast publish, appended at
 * c->nv[nvlen]; returns the new count. */
static size_t push_headers(apns__h2_conn *c, apns__job *job, const char *ptype, size_t nvlen)
{
    const apns_notification *n = &job->n;
    nghttp2_nv *nv = c->nv;
    int broadcast = n->channel_id != NULL;
    nv_set(&nv[nvlen++], LIT("apns-push-type"), ptype, strlen(ptype), NV_STATIC);
    if (broadcast) /* Apple: index a broadcast channel id (it repeats) */
        nv_set(&nv[nvlen++], LIT("apns-channel-id"), n->channel_id,
               strnlen(n->channel_id, APNS_CHANNEL_ID_MAX), NV_NAME);
    else if (n->topic && n->topic[0])
        nv_set(&nv[nvlen++], LIT("apns-topic"), n->topic, strnlen(n->topic, APNS_TOPIC_MAX),
               NV_NAME);
    if (broadcast)
        nv_set(&nv[nvlen++], LIT("apns-request-id"), job->n.apns_id,
               strnlen(job->n.apns_id, APNS_UUID_LEN), NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    else
        nv_set(&nv[nvlen++], LIT("apns-id"), job->n.apns_id, strnlen(job->n.apns_id, APNS_UUID_LEN),
               NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    if (n->expiration != APNS_EXPIRATION_NONE) {
        int l = snprintf(c->expiration, sizeof c->expiration, "%" PRId64, n->expiration);
        nv_set(&nv[nvlen++], LIT("apns-expiration"), c->expiration, (size_t)l,
               NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    }
    if (n->priority != 0) {
        switch (n->priority) {
        case 10:
            nv_set(&nv[nvlen++], LIT("apns-priority"), LIT("10"), NV_STATIC);
            break;
        case 5:
            nv_set(&nv[nvlen++], LIT("apns-priority"), LIT("5"), NV_STATIC);
            break;
        case 1:
            nv_set(&nv[nvlen++], LIT("apns-priority"), LIT("1"), NV_STATIC);
            break;
        default: {
            int l = snprintf(c->priority, sizeof c->priority, "%d", n->priority);
            nv_set(&nv[nvlen++], LIT("apns-priority"), c->priority, (size_t)l, NV_NAME);
        }
        }
    }
    if (n->collapse_id && n->collapse_id[0] && !broadcast)
        nv_set(&nv[nvlen++], LIT("apns-collapse-id"), n->collapse_id,
               strnlen(n->collapse_id, APNS_COLLAPSE_ID_MAX), NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    return nvlen;
}

/* The headers of a channel-management request: apns-request-id, and
 * apns-channel-id for read and delete. */
static size_t manage_headers(apns__h2_conn *c, apns__job *job, size_t nvlen)
{
    nghttp2_nv *nv = c->nv;
    nv_set(&nv[nvlen++], LIT("apns-request-id"), job->n.apns_id,
           strnlen(job->n.apns_id, APNS_UUID_LEN), NV_NAME | NGHTTP2_NV_FLAG_NO_INDEX);
    if (job->op == APNS__OP_CH_READ || job->op == APNS__OP_CH_DELETE)
        nv_set(&nv[nvlen++], LIT("apns-channel-id"), job->n.channel_id,
               strnlen(job->n.channel_id, APNS_CHANNEL_ID_MAX), NV_NAME);
    if (job->op == APNS__OP_CH_CREATE)
        nv_set(&nv[nvlen++], LIT("content-type"), LIT("application/json"), NV_STATIC);
    return nvlen;
}

int apns__h2_conn_submit(apns__h2_conn *c, apns__job *job, const apns_token *tok, int64_t now_ms)
{
    if (apns__h2_conn_capacity(c) == 0)
        return c->dead ? c->dead : APNS_EAGAIN;
    const apns_notification *n = &job->n;
    const int fcm = job->op == APNS__OP_FCM_SEND;
    const char *ptype = fcm ? "" : apns_push_type_name(n->push_type);
    if (!ptype || (fcm && !tok))
        return APNS_EINVAL;
    if (n->payload_len > 0 && !n->payload)
        return APNS_EINVAL;
    int rv = build_path(c, job);
    if (rv != 0)
        return rv;
    if (job->n.apns_id[0] == '\0') {
        rv = apns_uuid_generate(job->n.apns_id);
        if (rv != 0)
            return rv;
    }

    size_t nvlen = NV_MAX_FIXED;
    nghttp2_nv *nv = c->nv;
    if (tok) {
        if (tok->generation != c->auth_gen || c->auth_len == 0) {
            size_t jl = strnlen(tok->jwt, APNS_JWT_MAX);
            if (jl == 0 || jl >= APNS_JWT_MAX)
                return APNS_EINVAL;
            memcpy(c->auth + BEARER_PREFIX_LEN, tok->jwt, jl);
            c->auth_len = BEARER_PREFIX_LEN + jl;
            c->auth_gen = tok->generation;
        }
        /* copied by nghttp2: a queued request keeps the token it was built with */
        nv_set(&nv[nvlen++], LIT("authorization"), c->auth, c->auth_len, NV_NAME);
    }
    if (fcm)
        nv_set(&nv[nvlen++], LIT("content-type"), LIT("application/json"), NV_STATIC);
    else if (job->op == APNS__OP_PUSH)
        nvlen = push_headers(c, job, ptype, nvlen);
    else
        nvlen = manage_headers(c, job, nvlen);

    h2s *r = rec_get(c);
    if (!r)
        return APNS_ENOMEM;
    r->job = job;
    job->body_sent = 0;
    nghttp2_data_provider prd;
    prd.source.ptr = r;
    prd.read_callback = read_body;
    int32_t sid = nghttp2_submit_request(c->s, NULL, nv, nvlen, n->payload_len ? &prd : NULL, r);
    if (sid < 0) {
        r->job = NULL;
        r->where = REC_FREE;
        list_push(&c->free, r);
        if (sid == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
            c->ids_exhausted = 1;
            return APNS_EAGAIN;
        }
        return map_ng_error(sid);
    }
    r->stream_id = sid;
    r->where = REC_BOOK;
    list_push(&c->book, r);
    job->stream_id = sid;
    job->conn = c;
    job->attempts++;
    job->token_generation = tok ? tok->generation : 0;
    job->deadline_ms = now_ms + c->stream_timeout_ms;
    return 0;
}

int64_t apns__h2_conn_next_deadline(const apns__h2_conn *c)
{
    if (c->dead)
        return INT64_MAX;
    int64_t d = c->ping_sent_ms >= 0 ? c->ping_sent_ms + c->ping_timeout_ms
                                     : c->last_recv_ms + c->ping_idle_ms;
    h2s *first = rec_of(common_list_first(&c->book.head));
    if (first && first->job->deadline_ms < d)
        d = first->job->deadline_ms;
    return d;
}

int apns__h2_conn_tick(apns__h2_conn *c, int64_t now_ms)
{
    if (c->dead)
        return c->dead;
    /* The book is in deadline order: only its head can be due. */
    h2s *r;
    while (!c->closed && (r = rec_of(common_list_first(&c->book.head))) != NULL &&
           r->job->deadline_ms <= now_ms) {
        int32_t sid = r->stream_id;
        int opened = r->opened;
        apns__job *job = detach(c, r);
        /* A request not sent yet is reset by on_frame_send once its
         * HEADERS leave (nghttp2 forbids frames on it before that). */
        if (opened) {
            int rv = nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
            if (rv != 0)
                logf_(c, APNS_LOG_WARN, "RST_STREAM %d: %s", sid, nghttp2_strerror(rv));
        }
        logf_(c, APNS_LOG_DEBUG, "stream %d timed out", sid);
        handback(c, job, APNS__HB_TIMEOUT);
    }
    if (c->dead)
        return c->dead;
    if (c->ping_sent_ms >= 0) {
        if (now_ms - c->ping_sent_ms >= c->ping_timeout_ms) {
            logf_(c, APNS_LOG_WARN, "PING unanswered for %" PRId64 " ms", now_ms - c->ping_sent_ms);
            set_dead(c, APNS_ETIMEOUT);
            return c->dead;
        }
    } else if (now_ms - c->last_recv_ms >= c->ping_idle_ms) {
        uint8_t opaque[8];
        uint64_t t = (uint64_t)now_ms;
        for (int i = 0; i < 8; i++)
            opaque[i] = (uint8_t)(t >> (56 - 8 * i));
        int rv = nghttp2_submit_ping(c->s, NGHTTP2_FLAG_NONE, opaque);
        if (rv != 0) {
            set_dead(c, map_ng_error(rv));
            return c->dead;
        }
        c->ping_sent_ms = now_ms;
    }
    return 0;
}

void apns__h2_conn_close(apns__h2_conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    set_dead(c, APNS_ECLOSED);
    h2s *r;
    while ((r = rec_of(common_list_first(&c->book.head))) != NULL)
        handback(c, detach(c, r), APNS__HB_CLOSED);
}

void apns__h2_conn_shutdown(apns__h2_conn *c)
{
    if (c->dead || c->goaway_sent)
        return;
    c->goaway_sent = 1;
    int rv = nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                                   nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR,
                                   NULL, 0);
    if (rv != 0)
        set_dead(c, map_ng_error(rv));
}

size_t apns__h2_conn_in_flight(const apns__h2_conn *c)
{
    return c->book.len;
}

int apns__h2_conn_is_open(const apns__h2_conn *c)
{
    return !c->dead && c->got_settings && !c->goaway_recv && !c->goaway_sent && !c->ids_exhausted;
}

int apns__h2_conn_is_finished(const apns__h2_conn *c)
{
    if (c->dead)
        return 1;
    return (c->goaway_recv || c->goaway_sent || c->ids_exhausted) && c->book.len == 0;
}

/* ------------------------------------------------------------------ */
/* the class (core.h)                                                  */

static int cls_config_new(void **cfg, const apns_client_opts *o, size_t slots, char *detail,
                          size_t detail_len)
{
    (void)slots;
    (void)detail;
    (void)detail_len;
    apns__h2_conn_opts *h = calloc(1, sizeof *h);
    if (!h)
        return APNS_ENOMEM;
    /* apns__h2_conn_new() applies the defaults (the same as the client's). */
    h->max_streams = o->max_streams;
    h->stream_timeout_ms = o->stream_timeout_ms;
    h->ping_idle_ms = o->ping_idle_ms;
    h->ping_timeout_ms = o->ping_timeout_ms;
    if (o->provider == APNS_PROVIDER_FCM) {
        int rc = apns_fcm_project_check(o->fcm_project_id, detail, detail_len);
        if (rc == 0 && !(h->fcm_project = strdup(o->fcm_project_id)))
            rc = APNS_ENOMEM;
        if (rc) {
            free(h);
            return rc;
        }
    }
    *cfg = h;
    return 0;
}

static void cls_config_free(void *cfg)
{
    apns__h2_conn_opts *h = cfg;
    if (h)
        free((char *)h->fcm_project);
    free(cfg);
}

/* :authority is the host, "[v6]" for an IPv6 literal, ":port" unless 443. */
static int cls_create(void **core, const void *cfg, const apns__core_peer *peer,
                      const apns__core_callbacks *cb, void *ud, int64_t now_ms)
{
    size_t alen = strlen(peer->host) + 16;
    char *authority = malloc(alen);
    if (!authority)
        return APNS_ENOMEM;
    int v6 = strchr(peer->host, ':') != NULL;
    if (peer->port == 443)
        snprintf(authority, alen, v6 ? "[%s]" : "%s", peer->host);
    else
        snprintf(authority, alen, v6 ? "[%s]:%u" : "%s:%u", peer->host, peer->port);
    apns__h2_conn_opts o = *(const apns__h2_conn_opts *)cfg;
    o.authority = authority; /* copied */
    o.unix_offset_ms = peer->unix_offset_ms;
    int rc = apns__h2_conn_new((apns__h2_conn **)core, &o, cb, ud, now_ms);
    free(authority);
    return rc;
}
APNS__CORE_ADAPTERS(apns__h2_conn, apns__h2_conn_)

static void cls_free(void *c)
{
    apns__h2_conn_free(c);
}
static int cls_submit(void *c, apns__job *job, const apns_token *tok, int64_t now)
{
    return apns__h2_conn_submit(c, job, tok, now);
}
static void cls_close(void *c, int64_t now)
{
    (void)now;
    apns__h2_conn_close(c);
}

const apns__core_class apns__h2_class = {
    .name = "HTTP/2",
    .host_production = "api.push.apple.com",
    .host_sandbox = "api.sandbox.push.apple.com",
    .host_broadcast_production = "api-broadcast.push.apple.com",
    .host_broadcast_sandbox = "api-broadcast.sandbox.push.apple.com",
    .port = 443,
    .slots = 1000,
    .handshake = 1,
    .config_new = cls_config_new,
    .config_free = cls_config_free,
    .alpn_h2 = 1,
    .finished = "connection finished (GOAWAY, every stream answered)",
    .tick_failed = "no answer to PING",
    .create = cls_create,
    .free = cls_free,
    .submit = cls_submit,
    .close = cls_close,
    APNS__CORE_OPS,
};

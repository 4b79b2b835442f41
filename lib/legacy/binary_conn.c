/*
 * binary_conn.c - the legacy binary connection core and its sent list.
 *
 * Design note
 * ===========
 *
 * The story. The binary interface is a one-way stream: a provider writes
 * notification after notification and APNs never says "accepted". When one
 * is bad, APNs writes one 6-byte error packet naming its identifier and
 * closes the connection, and it discards every notification that was
 * written after the bad one. A provider that does not remember what it sent
 * loses all of them. This core remembers: every notification written on
 * the connection stays on a sent list, in send order, until the connection
 * has told us what became of it.
 *
 * The sent list is a FIFO ring of (job, release time), preallocated at
 * max_sent entries (the connection's credit: submit says APNS_EAGAIN when
 * it is full). Identifiers are a per-connection counter from 1, so the ids
 * in the ring are consecutive and the entry for id X is at offset
 * X - head_id from the oldest one: an O(1) lookup with no hash and no
 * search. Every removal is a pop at the head, so the list stays in send
 * order and each pop is followed by exactly one callback:
 *   - tick(now): silence for accept_window_ms means accepted. Pops while the
 *     oldest entry's window has passed: O(released).
 *   - error packet (status S, id X): pops the X - head_id entries before X
 *     as ACCEPTED (APNs processes in order and stops at the first error),
 *     pops X as REJECTED with the reason S stands for, then pops the tail as
 *     handed back (APNS__HB_DISCARDED: APNs discarded them; in the original
 *     order, to be resent on a new connection). There is no search: the
 *     cost is one pop and one callback per entry, which each entry needs
 *     anyway, and the resent tail is never copied or re-ordered.
 *   - status 10 (Shutdown): Apple says X is the LAST notification processed
 *     successfully, so X and everything before it are accepted and the tail
 *     is handed back; nobody is rejected. One field report says X was the
 *     failing one; with that reading X is lost. shutdown_resends_id = 1
 *     hands X back as well (APNS__HB_CLOSED), trading that possible loss for
 *     a possible duplicate. Status 0 (which APNs should never send in an
 *     error packet) is treated like 10: it names no failure.
 *   - close() (EOF, reset, a local decision): releases what tick would, then
 *     hands back the rest (APNS__HB_CLOSED).
 *
 * The accept window. APNs never acknowledges, so "no error packet for a
 * while" is the only evidence of success (libcapn waits 1 s; we default to
 * 2 s). The window runs from submit, and only entries whose bytes were
 * handed to the transport by flush() can be released, so the window must
 * cover the transport's write queue, the round trip and APNs' processing.
 * Too short: an error packet can arrive for an id already released and
 * reported ACCEPTED. We can still recognise that id (it is below head_id),
 * so everything in the list came after it and is handed back as certainly
 * unprocessed, without duplicates; only that one result was wrong (a warning
 * is logged). Too long: a bigger list, more credit tied up, and more
 * duplicates on a silent close.
 *
 * Which duplicates a silent close causes, and why that is right. When the
 * connection ends without an error packet, every entry still in the list
 * was sent less than a window ago and we cannot know whether APNs read it:
 * the connection may have died before APNs saw the bytes (not resending
 * would lose them) or after APNs processed them (resending delivers them
 * twice). We hand them all back: the duplicates are exactly the entries
 * APNs had already processed within the last window before the close, so at
 * most send rate x window. A duplicate alert is an annoyance the user sees;
 * a lost one is a silent failure nobody sees. The gateway promises
 * at-least-once, and this is where that promise costs something. Entries
 * never flushed are handed back too, and for them there is no duplicate
 * risk.
 *
 * The simple format (command 0) has no identifier, so APNs cannot name the
 * bad notification: it just drops the connection. The core still keeps the
 * list (with internal ids) and a close hands back the window, bad
 * notification included: the good ones APNs had processed are duplicated,
 * and the bad one is resent and drops the next connection too, until the
 * client's retry limit (job->attempts, incremented on every submit) gives up
 * on it. The naive provider instead believes what it wrote was delivered
 * and loses everything the drop discarded: APNS__BIN_CLOSE_ASSUME_DELIVERED
 * reproduces it so that the benchmark can count the losses against the
 * duplicates. An error packet on the simple format (APNs does not send one)
 * names nothing we sent: everything is handed back as on a close.
 *
 * An error packet naming an id this connection never sent (or only queued,
 * never flushed) is garbage; everything is handed back APNS__HB_CLOSED, with
 * the silent-close duplicate risk.
 *
 * Fields with no binary equivalent. APNS_EXPIRATION_NONE means "Apple's
 * default storage" (up to 30 days on HTTP/2). The frame format can say that
 * by leaving item 4 out (what APNs did then is UNCONFIRMED; libraries always
 * sent it). The enhanced format always carries an expiry, and 0 means "do
 * not store", which would silently drop pushes to offline devices, so it
 * gets now + 30 days (UNIX time = now_ms + unix_offset_ms; the transport
 * sets the offset). The simple format stores per Apple's default. Priority 1
 * (HTTP/2 only) becomes 5, the power-friendly value; simple and enhanced
 * carry no priority (10 is implied).
 *
 * Identifiers are never reused on a connection: after 0xFFFFFFFF the
 * connection takes no more submits (is_open() = 0) and the client opens
 * another. A resent job gets a new identifier on its new connection.
 *
 * Re-entrancy. Callbacks may call submit, capacity, in_flight and close
 * (close from a callback hands the rest back); not recv, tick or free. The
 * core updates its list before every callback, so whatever a callback does,
 * each job leaves by one pop and gets one callback.
 */
#include "binary_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "detail.h"

#define DEFAULT_MAX_SENT      10000u
#define DEFAULT_WINDOW_MS     2000
#define DEFAULT_STORE_SECONDS (30 * 86400) /* enhanced format, APNS_EXPIRATION_NONE */

typedef struct entry {
    apns__job *job;
    int64_t release_ms; /* submit time + window: accepted when silent until then */
} entry;

struct apns__bin_conn {
    apns__bin_conn_opts o;
    apns__core_callbacks cb;
    void *ud;

    entry *ring;
    uint32_t cap;
    uint32_t head;      /* ring index of the oldest entry */
    uint32_t len;       /* entries in the list */
    uint32_t unflushed; /* the newest `unflushed` entries are still in `out` */
    uint32_t first_id;  /* the connection's first identifier */
    uint32_t next_id;   /* the next identifier; head's id is next_id - len */
    int exhausted;      /* next_id wrapped: no more submits */

    apns__buf out; /* encoded notifications not yet flushed */

    uint8_t ebuf[APNS_BINARY_ERROR_LEN]; /* error packet, possibly in pieces */
    size_t elen;

    int dead;      /* error packet, garbage, or close: no more submits */
    int dead_err;  /* what recv returns once dead */
    int shut;      /* shutdown(): no more submits */
    int rewinding; /* inside the error-packet rewind */
};

/* ---- helpers --------------------------------------------------------------- */

#define logf_(c, lvl, ...) apns__core_logf(&(c)->cb, (c)->ud, lvl, __VA_ARGS__)

static uint32_t head_id(const apns__bin_conn *c)
{
    return c->next_id - c->len; /* ids are consecutive; wraps correctly */
}

static uint32_t flushed(const apns__bin_conn *c)
{
    return c->len - c->unflushed;
}

/* Removes the oldest entry; the caller then fires its one callback. */
static apns__job *pop(apns__bin_conn *c)
{
    apns__job *job = c->ring[c->head].job;
    if (flushed(c) == 0)
        c->unflushed--; /* the oldest one was never flushed */
    c->ring[c->head].job = NULL;
    c->head = c->head + 1 == c->cap ? 0 : c->head + 1;
    c->len--;
    job->conn = NULL;
    return job;
}

static void result_init(apns_result *r, const apns__job *job)
{
    memset(r, 0, sizeof *r);
    r->outcome = APNS_OUTCOME_ACCEPTED;
    r->reason = APNS_REASON_NONE;
    r->reason_str = "";
    r->action = APNS_ACTION_NONE;
    r->attempts = job->attempts;
    memcpy(r->apns_id, job->n.apns_id, sizeof r->apns_id);
    r->apns_id[APNS_UUID_LEN] = '\0';
}

static void accept_job(apns__bin_conn *c, apns__job *job)
{
    apns_result r;
    result_init(&r, job);
    c->cb.on_result(c->ud, job, &r);
}

static void reject_job(apns__bin_conn *c, apns__job *job, uint8_t status)
{
    apns_result r;
    result_init(&r, job);
    r.outcome = APNS_OUTCOME_REJECTED;
    r.binary_status = status;
    r.reason = apns__bin_status_reason(status, &r.action);
    r.reason_str = r.reason == APNS_REASON_UNKNOWN ? apns_binary_status_name(status)
                                                   : apns_reason_name(r.reason);
    c->cb.on_result(c->ud, job, &r);
}

static void go_dead(apns__bin_conn *c, int err)
{
    if (!c->dead) {
        c->dead = 1;
        c->dead_err = err;
    }
    /* Never write on a dead connection. The entries whose bytes are dropped
     * here stay counted as unflushed: never sent, never released. */
    apns__buf_consume(&c->out, c->out.len);
}

apns_reason apns__bin_status_reason(int status, apns_action *action)
{
    apns_reason r;
    apns_action a;
    switch (status) {
    case APNS_BINARY_STATUS_NO_ERROR:
        r = APNS_REASON_NONE;
        a = APNS_ACTION_NONE;
        break;
    case APNS_BINARY_STATUS_PROCESSING_ERROR:
    case APNS_BINARY_STATUS_UNKNOWN:
        r = APNS_REASON_INTERNAL_SERVER_ERROR;
        a = APNS_ACTION_RETRY;
        break;
    case APNS_BINARY_STATUS_MISSING_TOKEN:
        r = APNS_REASON_MISSING_DEVICE_TOKEN;
        a = APNS_ACTION_DROP;
        break;
    case APNS_BINARY_STATUS_MISSING_TOPIC:
        r = APNS_REASON_MISSING_TOPIC;
        a = APNS_ACTION_DROP;
        break;
    case APNS_BINARY_STATUS_MISSING_PAYLOAD:
        r = APNS_REASON_PAYLOAD_EMPTY;
        a = APNS_ACTION_DROP;
        break;
    case APNS_BINARY_STATUS_INVALID_TOKEN_SIZE:
    case APNS_BINARY_STATUS_INVALID_TOKEN:
        r = APNS_REASON_BAD_DEVICE_TOKEN;
        a = APNS_ACTION_DEAD_TOKEN;
        break;
    case APNS_BINARY_STATUS_INVALID_TOPIC_SIZE:
        r = APNS_REASON_BAD_TOPIC;
        a = APNS_ACTION_DROP;
        break;
    case APNS_BINARY_STATUS_INVALID_PAYLOAD_SIZE:
        r = APNS_REASON_PAYLOAD_TOO_LARGE;
        a = APNS_ACTION_DROP;
        break;
    case APNS_BINARY_STATUS_SHUTDOWN:
        r = APNS_REASON_SHUTDOWN;
        a = APNS_ACTION_RECONNECT;
        break;
    case APNS_BINARY_STATUS_PROTOCOL_ERROR:
        r = APNS_REASON_UNKNOWN;
        a = APNS_ACTION_DROP;
        break;
    default:
        r = APNS_REASON_UNKNOWN;
        a = APNS_ACTION_RETRY;
        break;
    }
    if (action != NULL)
        *action = a;
    return r;
}

/* ---- lifecycle ------------------------------------------------------------- */

int apns__bin_conn_new(apns__bin_conn **out, const apns__bin_conn_opts *o,
                       const apns__core_callbacks *cb, void *ud)
{
    if (out == NULL || o == NULL || cb == NULL || cb->on_result == NULL || cb->on_handback == NULL)
        return APNS_EINVAL;
    *out = NULL;
    if (o->format != APNS_BINARY_SIMPLE && o->format != APNS_BINARY_ENHANCED &&
        o->format != APNS_BINARY_FRAME)
        return APNS_EINVAL;
    if (o->close_policy != APNS__BIN_CLOSE_RESEND_WINDOW &&
        o->close_policy != APNS__BIN_CLOSE_ASSUME_DELIVERED)
        return APNS_EINVAL;

    apns__bin_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return APNS_ENOMEM;
    c->o = *o;
    if (c->o.max_sent == 0)
        c->o.max_sent = DEFAULT_MAX_SENT;
    if (c->o.accept_window_ms <= 0)
        c->o.accept_window_ms = DEFAULT_WINDOW_MS;
    c->cb = *cb;
    c->ud = ud;
    c->cap = c->o.max_sent;
    c->ring = calloc(c->cap, sizeof *c->ring);
    if (c->ring == NULL) {
        free(c);
        return APNS_ENOMEM;
    }
    c->first_id = c->next_id = o->first_id ? o->first_id : 1;
    *out = c;
    return 0;
}

void apns__bin_conn_free(apns__bin_conn *c)
{
    if (c == NULL)
        return;
    apns__buf_free(&c->out);
    free(c->ring);
    free(c);
}

/* ---- sending --------------------------------------------------------------- */

static uint32_t map_expiry(const apns__bin_conn *c, int64_t expiration, int64_t now_ms,
                           uint8_t *omit)
{
    if (expiration == APNS_EXPIRATION_NONE) {
        if (c->o.format == APNS_BINARY_FRAME) {
            *omit |= APNS_BINARY_OMIT_EXPIRY;
            return 0;
        }
        int64_t unix_s = (now_ms + c->o.unix_offset_ms) / 1000 + DEFAULT_STORE_SECONDS;
        return unix_s < 1 ? 1 : unix_s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)unix_s;
    }
    if (expiration <= 0)
        return 0;
    return expiration > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)expiration;
}

int apns__bin_conn_submit(apns__bin_conn *c, apns__job *job, int64_t now_ms)
{
    if (c == NULL || job == NULL)
        return APNS_EINVAL;
    if (c->dead || c->shut || c->exhausted)
        return APNS_ECLOSED;
    if (c->len >= c->cap)
        return APNS_EAGAIN;

    const char *hex = job->n.token ? job->n.token : job->token;
    size_t hex_len = strnlen(hex, APNS_TOKEN_HEX_MAX + 1);
    uint8_t token[APNS_BINARY_TOKEN_MAX];
    if (hex_len > APNS_TOKEN_HEX_MAX)
        return APNS_EBADTOKEN;
    int rc = apns_token_hex_to_bin(hex, hex_len, token, sizeof token);
    if (rc < 0)
        return APNS_EBADTOKEN;

    apns_binary_notification bn = {0};
    bn.token = token;
    bn.token_len = (size_t)rc;
    bn.payload = job->n.payload;
    bn.payload_len = job->n.payload_len;
    bn.id = c->next_id;
    bn.expiry = map_expiry(c, job->n.expiration, now_ms, &bn.omit);
    if (c->o.format == APNS_BINARY_FRAME) {
        int p = job->n.priority == 1 ? 5 : job->n.priority;
        if (p < 0 || p > 255)
            return APNS_EPRIORITY;
        bn.priority = (uint8_t)p;
    }

    uint8_t frame[APNS_BINARY_ENCODED_MAX];
    rc = apns_binary_encode(c->o.format, &bn, frame, sizeof frame);
    if (rc < 0)
        return rc;
    if (apns__buf_append(&c->out, frame, (size_t)rc) != 0)
        return APNS_ENOMEM;

    uint32_t tail = (uint32_t)(((uint64_t)c->head + c->len) % c->cap);
    c->ring[tail].job = job;
    c->ring[tail].release_ms = now_ms + c->o.accept_window_ms;
    c->len++;
    c->unflushed++;
    if (++c->next_id == 0)
        c->exhausted = 1;

    job->attempts++;
    job->conn = c;
    job->stream_id = 0;
    job->deadline_ms = now_ms + c->o.accept_window_ms;
    return 0;
}

int apns__bin_conn_flush(apns__bin_conn *c, apns__buf *out)
{
    if (c == NULL || out == NULL)
        return APNS_EINVAL;
    if (c->out.len > 0) {
        if (apns__buf_append(out, apns__buf_head(&c->out), c->out.len) != 0)
            return APNS_ENOMEM;
        apns__buf_consume(&c->out, c->out.len);
    }
    if (!c->dead)
        c->unflushed = 0;
    return 0;
}

/* ---- the accept window ----------------------------------------------------- */

static void release_expired(apns__bin_conn *c, int64_t now_ms)
{
    while (c->len > 0 && flushed(c) > 0 && c->ring[c->head].release_ms <= now_ms)
        accept_job(c, pop(c));
}

int apns__bin_conn_tick(apns__bin_conn *c, int64_t now_ms)
{
    if (c == NULL || c->rewinding)
        return 0;
    release_expired(c, now_ms);
    return 0;
}

int64_t apns__bin_conn_next_deadline(const apns__bin_conn *c)
{
    if (c == NULL || c->len == 0 || flushed(c) == 0)
        return INT64_MAX;
    return c->ring[c->head].release_ms;
}

/* ---- the error packet ------------------------------------------------------ */

static void rewind_list(apns__bin_conn *c, uint8_t status, uint32_t id)
{
    uint32_t off = id - head_id(c);
    uint32_t released = head_id(c) - c->first_id;
    int no_failure = status == APNS_BINARY_STATUS_SHUTDOWN || status == APNS_BINARY_STATUS_NO_ERROR;
    int legacy = c->o.format == APNS_BINARY_SIMPLE; /* ids never went on the wire */
    apns__handback why = APNS__HB_DISCARDED;

    c->rewinding = 1;
    if (!legacy && off < flushed(c)) {
        uint32_t ok = off;
        if (no_failure && !c->o.shutdown_resends_id)
            ok++;
        for (uint32_t i = 0; i < ok && c->len > 0; i++)
            accept_job(c, pop(c));
        if (c->len > 0 && ok == off) {
            if (no_failure)
                c->cb.on_handback(c->ud, pop(c), APNS__HB_CLOSED); /* maybe processed */
            else
                reject_job(c, pop(c), status);
        }
    } else if (!legacy && id - c->first_id < released) {
        /* Already released by the window: everything left came after it. */
        if (!no_failure)
            logf_(c, APNS_LOG_WARN,
                  "binary: error status %u (%s) for notification %u, which was already "
                  "reported accepted after the %lld ms window; widen the window",
                  status, apns_binary_status_name(status), id, (long long)c->o.accept_window_ms);
    } else {
        why = APNS__HB_CLOSED;
        logf_(c, APNS_LOG_WARN,
              "binary: error status %u (%s) names identifier %u, which %s; handing back all "
              "%u sent notifications",
              status, apns_binary_status_name(status), id,
              legacy ? "the simple format never sends" : "this connection never sent", c->len);
    }
    while (c->len > 0)
        c->cb.on_handback(c->ud, pop(c), why);
    c->rewinding = 0;
}

int apns__bin_conn_recv(apns__bin_conn *c, const uint8_t *data, size_t len, int64_t now_ms)
{
    (void)now_ms;
    if (c == NULL || (data == NULL && len > 0))
        return APNS_EINVAL;
    if (c->dead)
        return c->dead_err;
    while (len > 0) {
        if (c->elen == 0 && data[0] != 8) {
            logf_(c, APNS_LOG_ERROR, "binary: server sent command %u, not an error packet",
                  data[0]);
            go_dead(c, APNS_EPROTO);
            return APNS_EPROTO;
        }
        size_t take = APNS_BINARY_ERROR_LEN - c->elen;
        if (take > len)
            take = len;
        memcpy(c->ebuf + c->elen, data, take);
        c->elen += take;
        data += take;
        len -= take;
        if (c->elen == APNS_BINARY_ERROR_LEN) {
            uint8_t status = 0;
            uint32_t id = 0;
            (void)apns_binary_error_decode(c->ebuf, c->elen, &status, &id);
            go_dead(c, APNS_ECLOSED);
            logf_(c, status == APNS_BINARY_STATUS_SHUTDOWN ? APNS_LOG_INFO : APNS_LOG_DEBUG,
                  "binary: error packet status %u (%s) id %u; %u in the sent list", status,
                  apns_binary_status_name(status), id, c->len);
            if (c->cb.on_peer_end) {
                char text[160];
                snprintf(text, sizeof text,
                         "error packet (status %u: %s, identifier %u, %u in the sent list)", status,
                         apns_binary_status_name(status), id, c->len);
                apns__peer_end e = {.kind = APNS__END_ERROR_PACKET,
                                    .code = status,
                                    .last_id = id,
                                    .reason = apns_binary_status_name(status),
                                    .text = text,
                                    .level = status == APNS_BINARY_STATUS_SHUTDOWN
                                                 ? APNS_LOG_INFO
                                                 : APNS_LOG_DEBUG};
                c->cb.on_peer_end(c->ud, &e);
            }
            rewind_list(c, status, id);
            return APNS_ECLOSED;
        }
    }
    return 0;
}

/* ---- closing --------------------------------------------------------------- */

void apns__bin_conn_close(apns__bin_conn *c, int64_t now_ms)
{
    if (c == NULL)
        return;
    go_dead(c, APNS_ECLOSED);
    if (!c->rewinding)
        release_expired(c, now_ms);
    if (c->len > 0 && !c->rewinding)
        logf_(c, APNS_LOG_DEBUG, "binary: closed with %u unanswered; %s", c->len,
              c->o.close_policy == APNS__BIN_CLOSE_ASSUME_DELIVERED ? "assuming delivered"
                                                                    : "handing back");
    while (c->len > 0) {
        apns__job *job = pop(c);
        if (c->o.close_policy == APNS__BIN_CLOSE_ASSUME_DELIVERED && !c->rewinding)
            accept_job(c, job);
        else
            c->cb.on_handback(c->ud, job, APNS__HB_CLOSED);
    }
}

void apns__bin_conn_shutdown(apns__bin_conn *c)
{
    if (c != NULL)
        c->shut = 1;
}

/* ---- state ----------------------------------------------------------------- */

size_t apns__bin_conn_in_flight(const apns__bin_conn *c)
{
    return c ? c->len : 0;
}

int apns__bin_conn_is_open(const apns__bin_conn *c)
{
    return c != NULL && !c->dead && !c->shut && !c->exhausted;
}

uint32_t apns__bin_conn_capacity(const apns__bin_conn *c)
{
    return apns__bin_conn_is_open(c) ? c->cap - c->len : 0;
}

int apns__bin_conn_is_finished(const apns__bin_conn *c)
{
    return c == NULL || c->dead || ((c->shut || c->exhausted) && c->len == 0);
}

uint32_t apns__bin_conn_next_id(const apns__bin_conn *c)
{
    return c == NULL || c->exhausted ? 0 : c->next_id;
}

/* ---- the class (core.h) ---------------------------------------------------- */

static const char *format_name(apns_binary_format f)
{
    return f == APNS_BINARY_SIMPLE ? "simple" : f == APNS_BINARY_ENHANCED ? "enhanced" : "frame";
}

static int cls_config_new(void **cfg, const apns_client_opts *o, size_t slots, char *detail,
                          size_t detail_len)
{
    if ((!o->cert_file && !o->p12_file) || o->h2c) {
        apns__set_detail(detail, detail_len,
                         "the binary interface authenticates with a client certificate over TLS "
                         "only: give cert_file or p12_file%s%s",
                         o->tokens ? ", not a token cache" : "", o->h2c ? ", and no h2c" : "");
        return APNS_EINVAL;
    }
    /* The zero value (SIMPLE) means FRAME unless binary_simple says so. */
    apns_binary_format f = APNS_BINARY_FRAME;
    if (o->binary_simple)
        f = APNS_BINARY_SIMPLE;
    else if (o->binary_format == APNS_BINARY_ENHANCED)
        f = APNS_BINARY_ENHANCED;
    else if (o->binary_format != APNS_BINARY_FRAME && o->binary_format != APNS_BINARY_SIMPLE) {
        apns__set_detail(detail, detail_len, "unknown binary format %d", (int)o->binary_format);
        return APNS_EINVAL;
    }
    apns__bin_conn_opts *b = calloc(1, sizeof *b);
    if (!b)
        return APNS_ENOMEM;
    b->format = f;
    /* One connection may hold every slot in its sent list (16 bytes an
     * entry), so the pool, not the core, is the bound. */
    b->max_sent = slots > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)slots;
    b->accept_window_ms = o->binary_accept_window_ms;
    b->close_policy = o->binary_assume_delivered ? APNS__BIN_CLOSE_ASSUME_DELIVERED
                                                 : APNS__BIN_CLOSE_RESEND_WINDOW;
    *cfg = b;
    return 0;
}

static void cls_config_free(void *cfg)
{
    free(cfg);
}

static const char *cls_label(const void *cfg)
{
    switch (((const apns__bin_conn_opts *)cfg)->format) {
    case APNS_BINARY_SIMPLE:
        return "legacy binary, simple format";
    case APNS_BINARY_ENHANCED:
        return "legacy binary, enhanced format";
    default:
        return "legacy binary, frame format";
    }
}

/* What the codecs would refuse (the HTTP/2 limits were checked already). */
static int cls_check(const void *cfg, const apns_notification *n, char *detail, size_t detail_len)
{
    apns_binary_format f = ((const apns__bin_conn_opts *)cfg)->format;
    int legacy = f != APNS_BINARY_FRAME;
    size_t max = legacy ? APNS_BINARY_PAYLOAD_MAX_LEGACY : APNS_BINARY_PAYLOAD_MAX_FRAME;
    if (n->channel_id != NULL) {
        apns__set_detail(detail, detail_len,
                         "the binary interface has no broadcast channels; use HTTP/2");
        return APNS_EINVAL;
    }
    size_t token_hex_len = strlen(n->token);
    if (legacy && token_hex_len != 2 * APNS_BINARY_TOKEN_LEGACY) {
        apns__set_detail(detail, detail_len,
                         "the %s format needs a 32-byte device token (64 hex digits), not %zu "
                         "digits",
                         format_name(f), token_hex_len);
        return APNS_EBADTOKEN;
    }
    if (n->payload_len > max) {
        apns__set_detail(detail, detail_len,
                         "payload of %zu bytes is over the %s format's %zu-byte limit",
                         n->payload_len, format_name(f), max);
        return APNS_ETOOBIG;
    }
    return 0;
}

static int cls_create(void **core, const void *cfg, const apns__core_peer *peer,
                      const apns__core_callbacks *cb, void *ud, int64_t now_ms)
{
    (void)now_ms;
    apns__bin_conn_opts o = *(const apns__bin_conn_opts *)cfg;
    o.unix_offset_ms = peer->unix_offset_ms;
    return apns__bin_conn_new((apns__bin_conn **)core, &o, cb, ud);
}
APNS__CORE_ADAPTERS(apns__bin_conn, apns__bin_conn_)

static void cls_free(void *c)
{
    apns__bin_conn_free(c);
}
static int cls_submit(void *c, apns__job *job, const apns_token *tok, int64_t now)
{
    (void)tok;
    return apns__bin_conn_submit(c, job, now);
}
static void cls_close(void *c, int64_t now)
{
    apns__bin_conn_close(c, now);
}

const apns__core_class apns__bin_class = {
    .name = "binary",
    .host_production = "gateway.push.apple.com",
    .host_sandbox = "gateway.sandbox.push.apple.com",
    .port = 2195,
    .slots = 20000, /* per connection: 10000/s with the 2 s window */
    .config_new = cls_config_new,
    .config_free = cls_config_free,
    .label = cls_label,
    .check = cls_check,
    .eof_is_close = 1,
    /* APNs writes its error packet and closes: a write that races the close
     * (EPIPE, reset) must not hide the packet that says what to resend. */
    .verdict_then_close = 1,
    /* A notification's accept window starts at submit, so what waits
     * unwritten in the transport's buffer must stay small (about 2500
     * frames). */
    .out_limit = 256 * 1024,
    .finished = "connection finished",
    .create = cls_create,
    .free = cls_free,
    .submit = cls_submit,
    .close = cls_close,
    APNS__CORE_OPS,
};

/*
 * js_codec.c - the JetStream backend's binary records: the per-chunk
 * outcome record (KV <P>_OUT), the job header (KV <P>_JOBS), the chunk
 * message (stream <P>_CHUNKS), the dead-token entry (KV <P>_DEAD), the
 * fleet's provider token (KV <P>_TOKENS), and the rules that merge two
 * writers' views of one chunk.
 *
 * All integers are little-endian; every record starts with a 4-byte magic
 * that names its kind and version (js_int.h, "Format versions"), so a later
 * apnsd can read what an earlier one wrote and an earlier one recognises
 * what it cannot read (GW_JS_ENEWER). Decoders check every length against
 * the buffer: a record written by something else is APNS_EINVAL, never a
 * crash.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte helpers ----------------------------------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

static void w_need(wbuf *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void w_bytes(wbuf *b, const void *v, size_t n)
{
    w_need(b, n);
    if (b->oom)
        return;
    if (n > 0)
        memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void w_u8(wbuf *b, uint8_t v)
{
    w_bytes(b, &v, 1);
}

static void w_u16(wbuf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_bytes(b, x, 2);
}

static void w_u32(wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(b, x, 4);
}

static void w_u64(wbuf *b, uint64_t v)
{
    w_u32(b, (uint32_t)v);
    w_u32(b, (uint32_t)(v >> 32));
}

/* A string of up to 255 bytes after its length byte. */
static void w_str8(wbuf *b, const char *s)
{
    size_t n = strlen(s);

    w_u8(b, (uint8_t)n);
    w_bytes(b, s, n);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    int bad;
    int ver; /* the record's version digit ('1'..) once r_open accepted it */
} rbuf;

static const uint8_t *r_bytes(rbuf *b, size_t n)
{
    const uint8_t *p;

    if (b->bad || b->len - b->pos < n) {
        b->bad = 1;
        return NULL;
    }
    p = b->p + b->pos;
    b->pos += n;
    return p;
}

static uint8_t r_u8(rbuf *b)
{
    const uint8_t *p = r_bytes(b, 1);
    return p ? p[0] : 0;
}

static uint16_t r_u16(rbuf *b)
{
    const uint8_t *p = r_bytes(b, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t r_u32(rbuf *b)
{
    const uint8_t *p = r_bytes(b, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static uint64_t r_u64(rbuf *b)
{
    uint64_t lo = r_u32(b);
    return lo | (uint64_t)r_u32(b) << 32;
}

int gw_js_format_version(const uint8_t *p, size_t len)
{
    return len >= 4 && p[0] == 'A' && p[1] == 'J' && p[3] >= '1' && p[3] <= '9' ? p[3] - '0' : 0;
}

/* Starts reading a record into obj (zeroed first; may be NULL): 0 when it
 * begins with the magic m or m's kind in an older version ('1' up to m's
 * digit: b->ver says which), GW_JS_ENEWER when it is m's kind in a newer
 * version, else APNS_EINVAL. */
static int r_open(rbuf *b, const uint8_t *p, size_t len, const char *m, void *obj, size_t obj_len)
{
    const uint8_t *magic;

    if (obj != NULL)
        memset(obj, 0, obj_len);
    *b = (rbuf){p, len, 0, 0, 0};
    magic = r_bytes(b, 4);
    if (magic == NULL || memcmp(magic, m, 3) != 0)
        return APNS_EINVAL;
    if (magic[3] >= '1' && magic[3] <= m[3]) {
        b->ver = magic[3];
        return 0;
    }
    return magic[3] > m[3] && magic[3] <= '9' ? GW_JS_ENEWER : APNS_EINVAL;
}

static int finish(wbuf *b, uint8_t **out, size_t *len)
{
    if (b->oom) {
        free(b->p);
        return APNS_ENOMEM;
    }
    *out = b->p;
    *len = b->len;
    return 0;
}

/* ---- the outcome record ------------------------------------------------------- */

int gw_js_rec_init(gw_js_rec *r, uint32_t n)
{
    memset(r, 0, sizeof(*r));
    r->n = n;
    r->state = calloc(n ? n : 1, 1);
    r->attempts = calloc(n ? n : 1, 1);
    r->retry_at = calloc(n ? n : 1, sizeof(int64_t));
    if (r->state == NULL || r->attempts == NULL || r->retry_at == NULL) {
        gw_js_rec_cleanup(r);
        return APNS_ENOMEM;
    }
    return 0;
}

void gw_js_rec_cleanup(gw_js_rec *r)
{
    free(r->state);
    free(r->attempts);
    free(r->retry_at);
    free(r->rej);
    memset(r, 0, sizeof(*r));
}

const gw_js_rej *gw_js_rec_rej(const gw_js_rec *r, uint32_t idx)
{
    for (size_t i = 0; i < r->n_rej; i++)
        if (r->rej[i].idx == idx)
            return &r->rej[i];
    return NULL;
}

static int add_rej(gw_js_rec *r, const gw_js_rej *x)
{
    if (gw_js_rec_rej(r, x->idx) != NULL)
        return 0;
    if (r->n_rej == r->cap_rej) {
        size_t cap = r->cap_rej ? r->cap_rej * 2 : 8;
        gw_js_rej *p = realloc(r->rej, cap * sizeof(*p));
        if (p == NULL)
            return APNS_ENOMEM;
        r->rej = p;
        r->cap_rej = cap;
    }
    r->rej[r->n_rej++] = *x;
    return 0;
}

int gw_js_rec_open_in(const gw_js_rec *r, uint32_t off, uint32_t n)
{
    for (uint32_t i = off; i < r->n && i - off < n; i++)
        if (!gw_token_state_final((gw_token_state)r->state[i]))
            return 1;
    return 0;
}

int gw_js_rec_slice(const gw_js_rec *src, uint32_t off, uint32_t n, gw_js_rec *out)
{
    if (off > src->n || n > src->n - off)
        return APNS_EINVAL;
    if (gw_js_rec_init(out, n) != 0)
        return APNS_ENOMEM;
    memcpy(out->state, src->state + off, n);
    memcpy(out->attempts, src->attempts + off, n);
    memcpy(out->retry_at, src->retry_at + off, n * sizeof(int64_t));
    out->rel = src->rel;
    out->held_at = src->held_at;
    out->done_ms = src->done_ms;
    for (size_t i = 0; i < src->n_rej; i++) {
        gw_js_rej x = src->rej[i];
        if (x.idx < off || x.idx - off >= n)
            continue;
        x.idx -= off;
        if (add_rej(out, &x) != 0) {
            gw_js_rec_cleanup(out);
            return APNS_ENOMEM;
        }
    }
    return 0;
}

int gw_js_rec_encode(const gw_js_rec *r, uint8_t **out, size_t *len)
{
    wbuf b = {0};
    uint32_t n_retry = 0;
    int v2 = 0;

    /* Version 2 (the same layout) only when a token is cancelled: nodes of
     * version 1 then see a newer record (GW_JS_ENEWER) and leave it alone
     * instead of refusing its state byte (and rewriting the record). */
    for (uint32_t i = 0; i < r->n && !v2; i++)
        v2 = r->state[i] == GW_TOKEN_CANCELLED;
    w_bytes(&b, v2 ? "AJR2" : "AJR1", 4);
    w_u32(&b, r->n);
    w_u32(&b, r->rel);
    w_u64(&b, (uint64_t)r->held_at);
    w_u64(&b, (uint64_t)r->done_ms);
    w_bytes(&b, r->state, r->n);
    w_bytes(&b, r->attempts, r->n);
    for (uint32_t i = 0; i < r->n; i++)
        n_retry += r->state[i] == GW_TOKEN_RETRY;
    w_u32(&b, n_retry);
    for (uint32_t i = 0; i < r->n; i++)
        if (r->state[i] == GW_TOKEN_RETRY) {
            w_u32(&b, i);
            w_u64(&b, (uint64_t)r->retry_at[i]);
        }
    w_u32(&b, (uint32_t)r->n_rej);
    for (size_t i = 0; i < r->n_rej; i++) {
        w_u32(&b, r->rej[i].idx);
        w_u16(&b, (uint16_t)r->rej[i].status);
        w_u64(&b, (uint64_t)r->rej[i].apns_ts);
        w_str8(&b, r->rej[i].reason);
    }
    return finish(&b, out, len);
}

int gw_js_rec_decode(gw_js_rec *r, const uint8_t *p, size_t len)
{
    rbuf b;
    const uint8_t *st, *at;
    uint32_t n, k;

    int rc = r_open(&b, p, len, "AJR" JS_REC_FORMAT_S, r, sizeof(*r));
    if (rc != 0)
        return rc;
    n = r_u32(&b);
    if (b.bad || n > GW_JOB_TOKENS_MAX || (size_t)n * 2 > len)
        return APNS_EINVAL;
    if (gw_js_rec_init(r, n) != 0)
        return APNS_ENOMEM;
    r->rel = r_u32(&b);
    r->held_at = (int64_t)r_u64(&b);
    r->done_ms = (int64_t)r_u64(&b);
    st = r_bytes(&b, n);
    at = r_bytes(&b, n);
    if (st == NULL || at == NULL)
        goto bad;
    memcpy(r->state, st, n);
    memcpy(r->attempts, at, n);
    for (uint32_t i = 0; i < n; i++)
        if (r->state[i] >= (b.ver >= '2' ? GW_TOKEN_STATE_COUNT : GW_TOKEN_CANCELLED))
            goto bad;
    k = r_u32(&b);
    for (uint32_t i = 0; i < k && !b.bad; i++) {
        uint32_t idx = r_u32(&b);
        int64_t at_ms = (int64_t)r_u64(&b);
        if (idx < n)
            r->retry_at[idx] = at_ms;
    }
    k = r_u32(&b);
    for (uint32_t i = 0; i < k && !b.bad; i++) {
        gw_js_rej x;
        const uint8_t *s;
        uint8_t rl;

        memset(&x, 0, sizeof(x));
        x.idx = r_u32(&b);
        x.status = (int16_t)r_u16(&b);
        x.apns_ts = (int64_t)r_u64(&b);
        rl = r_u8(&b);
        s = r_bytes(&b, rl);
        if (s == NULL)
            break;
        memcpy(x.reason, s, rl > JS_REASON_MAX ? JS_REASON_MAX : rl);
        if (x.idx < n && add_rej(r, &x) != 0) {
            gw_js_rec_cleanup(r);
            return APNS_ENOMEM;
        }
    }
    if (b.bad)
        goto bad;
    return 0;
bad:
    gw_js_rec_cleanup(r);
    return APNS_EINVAL;
}

void gw_js_rec_counts(const gw_js_rec *r, uint64_t c[4], uint64_t *retry, uint64_t *open,
                      int64_t *min_retry)
{
    memset(c, 0, 4 * sizeof(uint64_t));
    *retry = *open = 0;
    *min_retry = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        uint8_t s = r->state[i];
        if (s >= GW_TOKEN_ACCEPTED && s <= GW_TOKEN_FAILED) {
            c[s - GW_TOKEN_ACCEPTED]++;
            continue;
        }
        if (s == GW_TOKEN_CANCELLED) /* final: n minus the others counts them */
            continue;
        (*open)++;
        if (s == GW_TOKEN_RETRY) {
            (*retry)++;
            if (*min_retry == 0 || r->retry_at[i] < *min_retry)
                *min_retry = r->retry_at[i];
        }
    }
}

void gw_js_rec_merge(gw_js_rec *ours, const gw_js_rec *theirs)
{
    uint32_t n = ours->n < theirs->n ? ours->n : theirs->n;

    for (uint32_t i = 0; i < n; i++) {
        uint8_t a = ours->state[i], b = theirs->state[i];
        int fa = gw_token_state_final((gw_token_state)a);
        int fb = gw_token_state_final((gw_token_state)b);

        if (fb && (!fa || a != b)) {
            /* Their final answer was stored first: it stays. */
            ours->state[i] = b;
            ours->retry_at[i] = 0;
        } else if (!fa && !fb && theirs->attempts[i] > ours->attempts[i]) {
            ours->state[i] = b;
            ours->retry_at[i] = theirs->retry_at[i];
        }
        if (theirs->attempts[i] > ours->attempts[i])
            ours->attempts[i] = theirs->attempts[i];
    }
    for (size_t i = 0; i < theirs->n_rej; i++)
        if (gw_queue__has_extra(ours->state[theirs->rej[i].idx])) {
            /* Theirs describes the rejection (failure) that stayed. */
            for (size_t k = 0; k < ours->n_rej; k++)
                if (ours->rej[k].idx == theirs->rej[i].idx)
                    ours->rej[k] = theirs->rej[i];
            add_rej(ours, &theirs->rej[i]);
        }
    if (theirs->rel > ours->rel)
        ours->rel = theirs->rel;
    if (theirs->done_ms > 0 && (ours->done_ms == 0 || theirs->done_ms < ours->done_ms))
        ours->done_ms = theirs->done_ms;
}

int gw_js_rec_apply(gw_js_rec *r, uint32_t idx, int state, int status, const char *reason,
                    int64_t apns_ts, int64_t retry_at)
{
    if (idx >= r->n || !gw_queue__token_apply(&r->state[idx], &r->attempts[idx], &r->retry_at[idx],
                                              state, retry_at))
        return 0;
    if (gw_queue__has_extra(state)) { /* its reason is kept */
        gw_js_rej x;
        memset(&x, 0, sizeof(x));
        x.idx = idx;
        x.status = (int16_t)status;
        x.apns_ts = apns_ts;
        snprintf(x.reason, sizeof(x.reason), "%s", reason != NULL ? reason : "");
        add_rej(r, &x); /* on ENOMEM only the details are missing */
    }
    return 1;
}

/* ---- the job header -------------------------------------------------------------- */

int gw_js_job_encode(const gw_js_job *j, uint8_t **out, size_t *len)
{
    wbuf b = {0};
    size_t al = strlen(j->app);

    /* Version 2 adds the channel of a channel publish; version 3 the key
     * of the request's commit record (js_idem.c), after the channel (then
     * written with a length, 0 = none). A device push's header of a
     * request without one stays version 1, which every node reads. */
    int grouped = j->group[0] != '\0';

    w_bytes(&b, grouped ? "AJJ3" : j->channel[0] ? "AJJ2" : "AJJ1", 4);
    w_u8(&b, (uint8_t)j->state);
    w_bytes(&b, j->id, GW_JOB_ID_LEN);
    w_bytes(&b, j->apns_id, GW_JOB_ID_LEN);
    w_u16(&b, (uint16_t)al);
    w_bytes(&b, j->app, al);
    w_u32(&b, j->n);
    w_u32(&b, j->n_chunks);
    w_u32(&b, j->per);
    w_u64(&b, (uint64_t)j->created);
    w_u64(&b, (uint64_t)j->send_at);
    w_u32(&b, (uint32_t)j->tokens_len);
    w_bytes(&b, j->tokens, j->tokens_len);
    if (j->channel[0] || grouped)
        w_str8(&b, j->channel);
    if (grouped)
        w_str8(&b, j->group);
    return finish(&b, out, len);
}

int gw_js_job_decode(gw_js_job *j, const uint8_t *p, size_t len)
{
    rbuf b;
    const uint8_t *id, *aid, *app, *tok;
    uint16_t al;
    uint32_t tl;

    const uint8_t *ch = NULL, *gr = NULL;
    uint8_t chl = 0, grl = 0;
    int rc = r_open(&b, p, len, "AJJ" JS_JOB_FORMAT_S, j, sizeof(*j));
    if (rc != 0)
        return rc;
    j->state = r_u8(&b);
    id = r_bytes(&b, GW_JOB_ID_LEN);
    aid = r_bytes(&b, GW_JOB_ID_LEN);
    al = r_u16(&b);
    app = r_bytes(&b, al);
    j->n = r_u32(&b);
    j->n_chunks = r_u32(&b);
    j->per = r_u32(&b);
    j->created = (int64_t)r_u64(&b);
    j->send_at = (int64_t)r_u64(&b);
    tl = r_u32(&b);
    tok = r_bytes(&b, tl);
    if (b.ver >= '2') {
        chl = r_u8(&b);
        ch = r_bytes(&b, chl);
    }
    if (b.ver >= '3') {
        grl = r_u8(&b);
        gr = r_bytes(&b, grl);
    }
    if (b.bad || al >= sizeof(j->app) || (b.ver == '2' && chl == 0) ||
        (b.ver >= '3' && (grl == 0 || grl > JS_GROUP_MAX)))
        return APNS_EINVAL;
    if (ch != NULL)
        memcpy(j->channel, ch, chl);
    if (gr != NULL)
        memcpy(j->group, gr, grl);
    memcpy(j->id, id, GW_JOB_ID_LEN);
    memcpy(j->apns_id, aid, GW_JOB_ID_LEN);
    memcpy(j->app, app, al);
    if (tl > 0) {
        j->tokens = malloc(tl);
        if (j->tokens == NULL)
            return APNS_ENOMEM;
        memcpy(j->tokens, tok, tl);
        j->tokens_len = tl;
    }
    return 0;
}

void gw_js_job_cleanup(gw_js_job *j)
{
    free(j->tokens);
    j->tokens = NULL;
    j->tokens_len = 0;
}

/* ---- the chunk message ------------------------------------------------------------- */

#define NONE16 0xffffu

int gw_js_chunk_encode(const gw_js_chunk_msg *c, uint8_t **out, size_t *len)
{
    wbuf b = {0};

    /* Version 2 adds the channel of a channel publish (after the tokens); a
     * device push's chunk stays version 1, which every node reads, so an
     * older node hands back only the channel publishes (GW_JS_ENEWER). */
    int grouped = c->group != NULL && c->group_len > 0;

    /* Version 3 adds the request's commit record (js_idem.c) after the
     * channel (then written with a length, 0 = none); only chunks of a
     * request that needs one are written in it, so an older node hands back
     * just those (it cannot tell whether their request was committed). */
    w_bytes(&b, grouped ? "AJC3" : c->channel ? "AJC2" : "AJC1", 4);
    w_bytes(&b, c->job_id, GW_JOB_ID_LEN);
    w_bytes(&b, c->apns_id, GW_JOB_ID_LEN);
    w_u8(&b, (uint8_t)c->push_type);
    w_u8(&b, (uint8_t)c->priority);
    w_u64(&b, (uint64_t)c->expiration);
    w_u64(&b, (uint64_t)c->send_at);
    w_u64(&b, (uint64_t)c->created);
    w_u32(&b, c->seq);
    w_u32(&b, c->first);
    w_u32(&b, c->n);
    w_u32(&b, c->job_tokens);
    w_u32(&b, c->n_chunks);
    w_u16(&b, (uint16_t)c->app_len);
    w_bytes(&b, c->app, c->app_len);
    w_u16(&b, c->topic ? (uint16_t)c->topic_len : NONE16);
    w_bytes(&b, c->topic, c->topic ? c->topic_len : 0);
    w_u16(&b, c->collapse_id ? (uint16_t)c->collapse_len : NONE16);
    w_bytes(&b, c->collapse_id, c->collapse_id ? c->collapse_len : 0);
    w_u32(&b, (uint32_t)c->payload_len);
    w_bytes(&b, c->payload, c->payload_len);
    w_u32(&b, (uint32_t)c->tokens_len);
    w_bytes(&b, c->tokens, c->tokens_len);
    if (c->channel != NULL || grouped) {
        w_u16(&b, c->channel != NULL ? (uint16_t)c->channel_len : 0);
        w_bytes(&b, c->channel, c->channel != NULL ? c->channel_len : 0);
    }
    if (grouped) {
        w_u16(&b, (uint16_t)c->group_len);
        w_bytes(&b, c->group, c->group_len);
    }
    return finish(&b, out, len);
}

static const char *r_str16(rbuf *b, size_t *len, int nullable)
{
    uint16_t n = r_u16(b);
    if (nullable && n == NONE16) {
        *len = 0;
        return NULL;
    }
    *len = n;
    return (const char *)r_bytes(b, n);
}

int gw_js_chunk_decode(gw_js_chunk_msg *c, const uint8_t *p, size_t len)
{
    rbuf b;
    const uint8_t *id, *aid;

    int rc = r_open(&b, p, len, "AJC" JS_CHUNK_FORMAT_S, c, sizeof(*c));
    if (rc != 0)
        return rc;
    id = r_bytes(&b, GW_JOB_ID_LEN);
    aid = r_bytes(&b, GW_JOB_ID_LEN);
    c->push_type = r_u8(&b);
    c->priority = r_u8(&b);
    c->expiration = (int64_t)r_u64(&b);
    c->send_at = (int64_t)r_u64(&b);
    c->created = (int64_t)r_u64(&b);
    c->seq = r_u32(&b);
    c->first = r_u32(&b);
    c->n = r_u32(&b);
    c->job_tokens = r_u32(&b);
    c->n_chunks = r_u32(&b);
    c->app = r_str16(&b, &c->app_len, 0);
    c->topic = r_str16(&b, &c->topic_len, 1);
    c->collapse_id = r_str16(&b, &c->collapse_len, 1);
    c->payload_len = r_u32(&b);
    c->payload = (const char *)r_bytes(&b, c->payload_len);
    c->tokens_len = r_u32(&b);
    c->tokens = r_bytes(&b, c->tokens_len);
    if (b.ver >= '2') {
        c->channel = r_str16(&b, &c->channel_len, 0);
        if (c->channel_len == 0 && b.ver >= '3')
            c->channel = NULL; /* version 3: 0 = a device push */
        else if (c->channel_len == 0 || c->channel_len > APNS_CHANNEL_ID_MAX)
            b.bad = 1;
    }
    if (b.ver >= '3') {
        c->group = r_str16(&b, &c->group_len, 0);
        if (c->group_len == 0 || c->group_len > JS_GROUP_MAX)
            b.bad = 1;
    }
    if (b.bad || c->n == 0 || c->n > GW_JOB_TOKENS_MAX || c->app_len == 0 || c->app_len >= 128)
        return APNS_EINVAL;
    memcpy(c->job_id, id, GW_JOB_ID_LEN);
    memcpy(c->apns_id, aid, GW_JOB_ID_LEN);
    c->job_id[GW_JOB_ID_LEN] = c->apns_id[GW_JOB_ID_LEN] = '\0';
    return 0;
}

/* ---- packs (queue_pack.c): a message and a header of several jobs ------------------ */

/* "AJC4", the member count (u32), then each member's chunk message as above
 * (u32 length, bytes). A node of chunk format 3 reads "AJC4" as a newer
 * version of the chunk and hands it back (GW_JS_ENEWER). */
int gw_js_pack_encode(const gw_js_chunk_msg *v, size_t n, uint8_t **out, size_t *len)
{
    wbuf b = {0};

    w_bytes(&b, JS_PACK_MAGIC, 4);
    w_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *m = NULL;
        size_t ml = 0;

        if (gw_js_chunk_encode(&v[i], &m, &ml) != 0) {
            free(b.p);
            return APNS_ENOMEM;
        }
        w_u32(&b, (uint32_t)ml);
        w_bytes(&b, m, ml);
        free(m);
    }
    return finish(&b, out, len);
}

void gw_js_pack_key(const char *job_id, char out[GW_JOB_ID_LEN + 3])
{
    char pack[GW_JOB_ID_LEN + 1];

    if (gw_queue__pack_of(job_id, pack) < 0)
        snprintf(pack, sizeof(pack), "%s", job_id);
    snprintf(out, GW_JOB_ID_LEN + 3, "%s.0", pack);
}

int gw_js_is_pack(const uint8_t *p, size_t len)
{
    return len >= 4 && memcmp(p, JS_PACK_MAGIC, 4) == 0;
}

int gw_js_pack_decode(const uint8_t *p, size_t len, gw_js_chunk_msg **v, size_t *n)
{
    rbuf b;
    uint32_t count;
    int rc = r_open(&b, p, len, JS_PACK_MAGIC, NULL, 0);

    *v = NULL;
    *n = 0;
    if (rc != 0)
        return rc;
    if (b.ver != JS_PACK_MAGIC[3]) /* an older chunk's "AJC1".."AJC3" is no pack */
        return APNS_EINVAL;
    count = r_u32(&b);
    if (b.bad || count == 0 || count > GW_PACK_MEMBERS_MAX || count > (len - b.pos) / 4)
        return APNS_EINVAL;
    *v = calloc(count, sizeof(**v));
    if (*v == NULL)
        return APNS_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t ml = r_u32(&b);
        const uint8_t *m = r_bytes(&b, ml);

        /* A member is a chunk of format 1 to 3, never a pack; the members
         * of a pack name one commit record, or none (the pack's header
         * commits a request that is one pack). */
        rc = m == NULL || gw_js_is_pack(m, ml) ? APNS_EINVAL : gw_js_chunk_decode(&(*v)[i], m, ml);
        if (rc == 0 && ((*v)[i].seq != 0 || (*v)[i].first != 0 ||
                        (i > 0 && ((*v)[i].group_len != (*v)[0].group_len ||
                                   ((*v)[0].group_len > 0 && memcmp((*v)[i].group, (*v)[0].group,
                                                                    (*v)[0].group_len) != 0)))))
            rc = APNS_EINVAL;
        if (rc != 0) {
            free(*v);
            *v = NULL;
            return rc == GW_JS_ENEWER ? rc : APNS_EINVAL;
        }
    }
    if (b.pos != len) {
        free(*v);
        *v = NULL;
        return APNS_EINVAL;
    }
    *n = count;
    return 0;
}

/* "AJK1", the state (u8), the member count (u32), then each member's job
 * header as above (u32 length, bytes), in the pack's token order. */
int gw_js_packhdr_encode(int state, const gw_js_job *v, size_t n, uint8_t **out, size_t *len)
{
    wbuf b = {0};

    w_bytes(&b, JS_PACKHDR_MAGIC, 4);
    w_u8(&b, (uint8_t)state);
    w_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *m = NULL;
        size_t ml = 0;

        if (gw_js_job_encode(&v[i], &m, &ml) != 0) {
            free(b.p);
            return APNS_ENOMEM;
        }
        w_u32(&b, (uint32_t)ml);
        w_bytes(&b, m, ml);
        free(m);
    }
    return finish(&b, out, len);
}

int gw_js_packhdr_jobs(const uint8_t *p, size_t len, int *state, gw_js_job **v, size_t *n)
{
    rbuf b;
    uint32_t count;
    int rc = r_open(&b, p, len, JS_PACKHDR_MAGIC, NULL, 0);

    *v = NULL;
    *n = 0;
    if (rc != 0)
        return rc;
    *state = r_u8(&b);
    count = r_u32(&b);
    if (b.bad || count > GW_PACK_MEMBERS_MAX || count > (len - b.pos) / 4)
        return APNS_EINVAL;
    *v = calloc(count ? count : 1, sizeof(**v));
    if (*v == NULL)
        return APNS_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t ml = r_u32(&b);
        const uint8_t *m = r_bytes(&b, ml);

        rc = m == NULL ? APNS_EINVAL : gw_js_job_decode(&(*v)[i], m, ml);
        if (rc != 0) {
            for (uint32_t k = 0; k <= i; k++)
                gw_js_job_cleanup(&(*v)[k]);
            free(*v);
            *v = NULL;
            return rc == GW_JS_ENEWER || rc == APNS_ENOMEM ? rc : APNS_EINVAL;
        }
    }
    *n = count;
    return 0;
}

int gw_js_packhdr_find(const uint8_t *p, size_t len, const char *id, int *state, gw_js_job *j,
                       uint32_t *off)
{
    gw_js_job *v = NULL;
    size_t n = 0;
    uint32_t at = 0;
    int rc;

    memset(j, 0, sizeof(*j));
    *off = 0;
    rc = gw_js_packhdr_jobs(p, len, state, &v, &n);
    if (rc != 0)
        return rc;
    rc = GW_QUEUE_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (rc != 0 && strcmp(v[i].id, id) == 0) {
            *j = v[i]; /* its tokens are the caller's now */
            memset(&v[i], 0, sizeof(v[i]));
            *off = at;
            rc = 0;
        }
        at += v[i].n;
        gw_js_job_cleanup(&v[i]);
    }
    free(v);
    return rc;
}

/* ---- the dead-token entry and the fleet's provider token ------------------------- */

int gw_js_dead_encode(const gw_dead_token *d, uint8_t **out, size_t *len)
{
    wbuf b = {0};

    size_t tl = strlen(d->token);

    /* AJD2 only for a token longer than 255 bytes (an FCM registration
     * token): its length is 16 bits. Every other entry stays AJD1, which
     * nodes of earlier versions read. */
    w_bytes(&b, tl > 255 ? "AJD2" : "AJD1", 4);
    w_u8(&b, (uint8_t)d->source);
    w_u64(&b, (uint64_t)d->apns_ts_ms);
    w_u64(&b, (uint64_t)d->recorded_ms);
    w_str8(&b, d->reason);
    if (tl > 255) {
        w_u16(&b, (uint16_t)tl);
        w_bytes(&b, d->token, tl);
    } else {
        w_str8(&b, d->token);
    }
    return finish(&b, out, len);
}

int gw_js_dead_decode(gw_dead_token *d, const uint8_t *p, size_t len)
{
    rbuf b;
    const uint8_t *reason, *token;
    uint8_t rl;
    size_t hl;

    int rc = r_open(&b, p, len, "AJD2", d, sizeof(*d));
    if (rc != 0)
        return rc;
    d->source = (gw_dead_source)r_u8(&b);
    d->apns_ts_ms = (int64_t)r_u64(&b);
    d->recorded_ms = (int64_t)r_u64(&b);
    rl = r_u8(&b);
    reason = r_bytes(&b, rl);
    hl = b.ver >= '2' ? r_u16(&b) : r_u8(&b);
    token = r_bytes(&b, hl);
    if (b.bad || rl >= sizeof(d->reason) || hl >= sizeof(d->token))
        return APNS_EINVAL;
    memcpy(d->reason, reason, rl);
    memcpy(d->token, token, hl);
    return 0;
}

int gw_js_tok_encode(int64_t issued, const char *jwt, uint8_t **out, size_t *len)
{
    wbuf b = {0};

    w_bytes(&b, "AJT1", 4);
    w_u64(&b, (uint64_t)issued);
    w_bytes(&b, jwt, strlen(jwt));
    return finish(&b, out, len);
}

int gw_js_tok_decode(const uint8_t *p, size_t len, int64_t *issued, char *jwt, size_t jwt_len)
{
    rbuf b;

    int rc = r_open(&b, p, len, "AJT1", NULL, 0);
    if (rc != 0)
        return rc;
    *issued = (int64_t)r_u64(&b);
    if (b.bad || len - b.pos >= jwt_len)
        return APNS_EINVAL;
    memcpy(jwt, p + b.pos, len - b.pos);
    jwt[len - b.pos] = '\0';
    return 0;
}

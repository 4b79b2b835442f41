/*
 * fuzz_js_codec.c - the JetStream backend's binary records
 * (daemon/queue/jetstream/js_codec.c) fed arbitrary bytes: the outcome
 * record, the job header, the chunk message, the pack message, the pack
 * header (a fixed member id, and the id at its first member's place), the
 * dead-token entry and the provider token. Every decoder runs on every
 * input (each checks its own magic), from a buffer of exactly its size, so
 * a read past the end is caught by AddressSanitizer and a leak by
 * LeakSanitizer. Invariants (abort() on a violation):
 *   - a decoder answers 0, APNS_EINVAL, APNS_ENOMEM or GW_JS_ENEWER (the
 *     pack header's lookup also GW_QUEUE_ENOTFOUND), the same answer twice;
 *   - what decodes stays within its bounds (token states, rejections'
 *     indexes, a pack's 1..4096 members of seq 0, first 0 with a commit
 *     record, pointing into the input) and encodes again to bytes that
 *     decode to the same fields;
 *   - a record's slice of tokens in range succeeds, one out of range is
 *     APNS_EINVAL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "js_int.h"

#define FIXED_ID "0190a1b2-c3d4-7001-a123-456789abcdef"

static void check(int ok)
{
    if (!ok)
        abort();
}

static int known(int rc)
{
    return rc == 0 || rc == APNS_EINVAL || rc == APNS_ENOMEM || rc == GW_JS_ENEWER;
}

static void fuzz_rec(const uint8_t *p, size_t len)
{
    gw_js_rec r, back, s;
    uint8_t *buf;
    size_t blen;
    int rc = gw_js_rec_decode(&r, p, len);

    check(known(rc));
    if (rc != 0)
        return;
    check(r.n <= GW_JOB_TOKENS_MAX);
    for (uint32_t i = 0; i < r.n; i++)
        check(r.state[i] < GW_TOKEN_STATE_COUNT);
    for (size_t i = 0; i < r.n_rej; i++)
        check(r.rej[i].idx < r.n && r.rej[i].reason[JS_REASON_MAX] == '\0');
    if (gw_js_rec_encode(&r, &buf, &blen) == 0) {
        check(gw_js_rec_decode(&back, buf, blen) == 0);
        check(back.n == r.n && back.n_rej == r.n_rej && back.rel == r.rel);
        check(r.n == 0 || (memcmp(back.state, r.state, r.n) == 0 &&
                           memcmp(back.attempts, r.attempts, r.n) == 0));
        gw_js_rec_cleanup(&back);
        free(buf);
    }
    /* The middle third, and one token too many. */
    memset(&s, 0, sizeof(s));
    rc = gw_js_rec_slice(&r, r.n / 3, r.n / 3, &s);
    check(rc == 0 || rc == APNS_ENOMEM);
    if (rc == 0) {
        check(s.n == r.n / 3);
        for (size_t i = 0; i < s.n_rej; i++)
            check(s.rej[i].idx < s.n);
        check(s.n == 0 || memcmp(s.state, r.state + r.n / 3, s.n) == 0);
        gw_js_rec_cleanup(&s);
    }
    check(gw_js_rec_slice(&r, r.n / 2, r.n - r.n / 2 + 1, &s) == APNS_EINVAL);
    gw_js_rec_cleanup(&r);
}

static void fuzz_job(const uint8_t *p, size_t len)
{
    gw_js_job j, back;
    uint8_t *buf;
    size_t blen;
    int rc = gw_js_job_decode(&j, p, len);

    check(known(rc));
    if (rc == 0) {
        check(j.id[GW_JOB_ID_LEN] == '\0' && j.apns_id[GW_JOB_ID_LEN] == '\0');
        check(j.tokens_len == 0 || j.tokens != NULL);
        if (gw_js_job_encode(&j, &buf, &blen) == 0) {
            check(gw_js_job_decode(&back, buf, blen) == 0);
            check(memcmp(back.id, j.id, GW_JOB_ID_LEN) == 0 && back.n == j.n &&
                  back.state == j.state && back.tokens_len == j.tokens_len &&
                  strcmp(back.app, j.app) == 0);
            check(j.tokens_len == 0 || memcmp(back.tokens, j.tokens, j.tokens_len) == 0);
            gw_js_job_cleanup(&back);
            free(buf);
        }
    }
    gw_js_job_cleanup(&j);
}

static int inside(const void *x, size_t n, const uint8_t *p, size_t len)
{
    const uint8_t *b = x;
    return n == 0 || (b != NULL && b >= p && b + n <= p + len);
}

static void chunk_fields_ok(const gw_js_chunk_msg *c, const uint8_t *p, size_t len)
{
    check(c->n >= 1 && c->n <= GW_JOB_TOKENS_MAX);
    check(c->app_len >= 1 && c->app_len < 128 && inside(c->app, c->app_len, p, len));
    check(inside(c->payload, c->payload_len, p, len));
    check(inside(c->tokens, c->tokens_len, p, len));
    check(c->topic == NULL || inside(c->topic, c->topic_len, p, len));
    check(c->collapse_id == NULL || inside(c->collapse_id, c->collapse_len, p, len));
    check(c->channel == NULL || inside(c->channel, c->channel_len, p, len));
    check(c->group == NULL || (c->group_len >= 1 && c->group_len <= JS_GROUP_MAX &&
                               inside(c->group, c->group_len, p, len)));
    check(c->job_id[GW_JOB_ID_LEN] == '\0' && c->apns_id[GW_JOB_ID_LEN] == '\0');
}

static void fuzz_chunk(const uint8_t *p, size_t len)
{
    gw_js_chunk_msg c, back;
    uint8_t *buf;
    size_t blen;
    int rc = gw_js_chunk_decode(&c, p, len);

    check(known(rc));
    if (rc != 0)
        return;
    chunk_fields_ok(&c, p, len);
    if (gw_js_chunk_encode(&c, &buf, &blen) == 0) {
        check(gw_js_chunk_decode(&back, buf, blen) == 0);
        check(back.n == c.n && back.seq == c.seq && back.first == c.first &&
              back.payload_len == c.payload_len && back.tokens_len == c.tokens_len &&
              back.group_len == c.group_len && (back.channel == NULL) == (c.channel == NULL));
        check(c.payload_len == 0 || memcmp(back.payload, c.payload, c.payload_len) == 0);
        free(buf);
    }
}

static void fuzz_pack(const uint8_t *p, size_t len)
{
    gw_js_chunk_msg *v = NULL, *back = NULL;
    size_t n = 0, bn = 0, blen;
    uint8_t *buf;
    int rc = gw_js_pack_decode(p, len, &v, &n);

    check(known(rc));
    if (rc != 0) {
        check(v == NULL && n == 0);
        return;
    }
    check(n >= 1 && n <= GW_PACK_MEMBERS_MAX && v != NULL);
    for (size_t i = 0; i < n; i++) {
        chunk_fields_ok(&v[i], p, len);
        check(v[i].seq == 0 && v[i].first == 0 && v[i].group != NULL);
    }
    if (gw_js_pack_encode(v, n, &buf, &blen) == 0) {
        check(gw_js_is_pack(buf, blen));
        check(gw_js_pack_decode(buf, blen, &back, &bn) == 0 && bn == n);
        for (size_t i = 0; i < n; i++)
            check(strcmp(back[i].job_id, v[i].job_id) == 0 && back[i].n == v[i].n);
        free(back);
        free(buf);
    }
    free(v);
}

static void fuzz_packhdr_one(const uint8_t *p, size_t len, const char *id)
{
    gw_js_job j, j2;
    uint32_t off = 0, off2 = 0;
    int st = 0, st2 = 0;
    int rc = gw_js_packhdr_find(p, len, id, &st, &j, &off);
    int rc2 = gw_js_packhdr_find(p, len, id, &st2, &j2, &off2);

    check(known(rc) || rc == GW_QUEUE_ENOTFOUND);
    check(rc == rc2);
    if (rc == 0) {
        check(memcmp(j.id, id, GW_JOB_ID_LEN) == 0);
        check(st == st2 && off == off2 && j.n == j2.n);
    }
    gw_js_job_cleanup(&j);
    gw_js_job_cleanup(&j2);
}

static void fuzz_packhdr(const uint8_t *p, size_t len)
{
    char id[GW_JOB_ID_LEN + 1];

    fuzz_packhdr_one(p, len, FIXED_ID);
    /* The id at the first member's place ("AJK1", state, count, length,
     * "AJJn", state). */
    if (len >= 18 + GW_JOB_ID_LEN) {
        memcpy(id, p + 18, GW_JOB_ID_LEN);
        id[GW_JOB_ID_LEN] = '\0';
        fuzz_packhdr_one(p, len, id);
    }
}

static void fuzz_dead_tok(const uint8_t *p, size_t len)
{
    gw_dead_token d;
    int64_t issued = 0;
    char jwt[GW_QUEUE_JWT_MAX];
    int rc = gw_js_dead_decode(&d, p, len);

    check(known(rc));
    if (rc == 0)
        check(memchr(d.reason, '\0', sizeof(d.reason)) != NULL &&
              memchr(d.token, '\0', sizeof(d.token)) != NULL);
    rc = gw_js_tok_decode(p, len, &issued, jwt, sizeof(jwt));
    check(known(rc));
    if (rc == 0)
        check(memchr(jwt, '\0', sizeof(jwt)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = calloc(size ? size : 1, 1);
    int v;

    if (p == NULL)
        return 0;
    if (size > 0)
        memcpy(p, data, size);
    v = gw_js_format_version(p, size);
    check(v >= 0 && v <= 9);
    check(gw_js_is_pack(p, size) == (size >= 4 && memcmp(p, "AJC4", 4) == 0));
    fuzz_rec(p, size);
    fuzz_job(p, size);
    fuzz_chunk(p, size);
    fuzz_pack(p, size);
    fuzz_packhdr(p, size);
    fuzz_dead_tok(p, size);
    free(p);
    return 0;
}

/*
 * test_js_codec.c - the JetStream records' format versions (js_int.h,
 * "Format versions"), no NATS server needed: a record of this version
 * reads back; the same record with a NEWER version digit is GW_JS_ENEWER
 * (recognised, never misread), and gw_js_format_version names it; another
 * kind, an older/invalid digit or a foreign prefix is APNS_EINVAL. Checked
 * for the outcome record, the dead-token entry and the provider token.
 * The chunk message and the job header: a device push stays version 1 (what
 * every node reads), a channel publish is version 2 carrying its channel,
 * so a node reading only version 1 gets GW_JS_ENEWER for it (hands it
 * back) and never a device push it cannot read.
 *
 * Packs (js_int.h, "packs (queue_pack.c)"): a message of several members
 * ("AJC4", u32 LE count, per member u32 LE length + its chunk message)
 * reads back member by member; a count of 0 or past 4096, a short or long
 * buffer, a pack inside a pack, a member of seq or first != 0, members
 * naming different commit records (or some none) are APNS_EINVAL (all none
 * reads back: the pack's header commits it), "AJC5" and a member of a newer chunk
 * version GW_JS_ENEWER. A pack header ("AJK1", u8 state, u32 LE count, per
 * member u32 LE length + its job header) finds each member with its first
 * token in the pack's record (the token counts before it). A record's
 * slice holds tokens [off, off + n) with their rejections renumbered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "js_int.h"

/* The record with its 4th byte (the version digit) or 3rd (the kind) set. */
static uint8_t *variant(const uint8_t *p, size_t len, size_t at, uint8_t v)
{
    uint8_t *q = malloc(len);
    assert_non_null(q);
    memcpy(q, p, len);
    q[at] = v;
    return q;
}

static void outcome_record(void **state)
{
    gw_js_rec r, back;
    uint8_t *buf, *q;
    size_t len;

    assert_int_equal(gw_js_rec_init(&r, 3), 0);
    r.state[1] = 1;
    assert_int_equal(gw_js_rec_encode(&r, &buf, &len), 0);
    assert_memory_equal(buf, "AJR1", 4);
    assert_int_equal(gw_js_format_version(buf, len), JS_FORMAT_VERSION);
    assert_int_equal(gw_js_rec_decode(&back, buf, len), 0);
    assert_int_equal(back.n, 3);
    assert_int_equal(back.state[1], 1);
    gw_js_rec_cleanup(&back);

    q = variant(buf, len, 3, '3'); /* a newer apnsd's record */
    assert_int_equal(gw_js_rec_decode(&back, q, len), GW_JS_ENEWER);
    assert_int_equal(gw_js_format_version(q, len), 3);
    gw_js_rec_cleanup(&back);
    free(q);
    /* A cancelled token (state 6) makes the record version 2, which a node
     * of version 1 leaves alone (its GW_JS_ENEWER); in a version 1 record
     * that byte is no state at all. */
    r.state[2] = 6;
    free(buf);
    assert_int_equal(gw_js_rec_encode(&r, &buf, &len), 0);
    assert_memory_equal(buf, "AJR2", 4);
    assert_int_equal(gw_js_rec_decode(&back, buf, len), 0);
    assert_int_equal(back.state[2], 6);
    uint64_t c[4], retry, open;
    int64_t min_retry;
    gw_js_rec_counts(&back, c, &retry, &open, &min_retry);
    assert_int_equal(c[0], 1); /* accepted */
    assert_int_equal(open, 1); /* token 0: pending; token 2 cancelled is final */
    gw_js_rec_cleanup(&back);
    q = variant(buf, len, 3, '1');
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    gw_js_rec_cleanup(&back);
    free(q);
    r.state[2] = 0;
    free(buf);
    assert_int_equal(gw_js_rec_encode(&r, &buf, &len), 0);
    q = variant(buf, len, 3, '0'); /* no such version */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    gw_js_rec_cleanup(&back);
    free(q);
    q = variant(buf, len, 2, 'J'); /* another kind */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    gw_js_rec_cleanup(&back);
    free(q);
    q = variant(buf, len, 0, 'X'); /* not ours */
    assert_int_equal(gw_js_rec_decode(&back, q, len), APNS_EINVAL);
    assert_int_equal(gw_js_format_version(q, len), 0);
    gw_js_rec_cleanup(&back);
    free(q);
    free(buf);
    gw_js_rec_cleanup(&r);
}

static void dead_and_token_records(void **state)
{
    gw_dead_token d = {0}, back;
    uint8_t *buf, *q;
    size_t len;
    int64_t issued;
    char jwt[64];

    snprintf(d.token, sizeof(d.token), "%064d", 7);
    d.source = GW_DEAD_UNREGISTERED;
    snprintf(d.reason, sizeof(d.reason), "Unregistered");
    assert_int_equal(gw_js_dead_encode(&d, &buf, &len), 0);
    assert_int_equal(gw_js_dead_decode(&back, buf, len), 0);
    assert_string_equal(back.reason, "Unregistered");
    q = variant(buf, len, 3, '9');
    assert_int_equal(gw_js_dead_decode(&back, q, len), GW_JS_ENEWER);
    free(q);
    free(buf);

    assert_int_equal(gw_js_tok_encode(1234, "a.b.c", &buf, &len), 0);
    assert_int_equal(gw_js_tok_decode(buf, len, &issued, jwt, sizeof(jwt)), 0);
    assert_string_equal(jwt, "a.b.c");
    q = variant(buf, len, 3, '3');
    assert_int_equal(gw_js_tok_decode(q, len, &issued, jwt, sizeof(jwt)), GW_JS_ENEWER);
    free(q);
    free(buf);
}

static void chunk_and_job_versions(void **state)
{
    static const char ch[] = "dHxHY2hhbm5lbC0xMjM0NTY3OA==";
    static const uint8_t tok[] = {8, 0, 0, 0, 0, 0, 0, 0, 0};
    gw_js_chunk_msg m, back;
    gw_js_job j, jb;
    uint8_t *buf, *q;
    size_t len;

    memset(&m, 0, sizeof(m));
    memcpy(m.job_id, "6f1c2a4e-0b7d-4c1e-9a55-3d2f1e0c9b8a", GW_JOB_ID_LEN);
    memcpy(m.apns_id, m.job_id, GW_JOB_ID_LEN);
    m.app = "demo";
    m.app_len = 4;
    m.payload = "{}";
    m.payload_len = 2;
    m.n = m.job_tokens = m.n_chunks = 1;
    m.tokens = tok;
    m.tokens_len = sizeof(tok);
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    assert_memory_equal(buf, "AJC1", 4); /* a device push: version 1 */
    assert_int_equal(gw_js_chunk_decode(&back, buf, len), 0);
    assert_null(back.channel);
    free(buf);

    m.channel = ch;
    m.channel_len = strlen(ch);
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    assert_memory_equal(buf, "AJC2", 4); /* a channel publish: version 2 */
    assert_int_equal(gw_js_format_version(buf, len), 2);
    assert_int_equal(gw_js_chunk_decode(&back, buf, len), 0);
    assert_int_equal(back.channel_len, strlen(ch));
    assert_memory_equal(back.channel, ch, strlen(ch));
    assert_int_equal(back.n, 1);
    free(buf);

    /* A chunk of a request with a commit record: version 3 (a node of
     * version 2 hands it back: it cannot judge whether it was committed),
     * with or without a channel. */
    m.group = "g.1f.7";
    m.group_len = 6;
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    assert_memory_equal(buf, "AJC3", 4);
    assert_int_equal(gw_js_chunk_decode(&back, buf, len), 0);
    assert_int_equal(back.group_len, 6);
    assert_memory_equal(back.group, "g.1f.7", 6);
    assert_int_equal(back.channel_len, strlen(ch));
    free(buf);
    m.channel = NULL;
    m.channel_len = 0;
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    assert_memory_equal(buf, "AJC3", 4);
    assert_int_equal(gw_js_chunk_decode(&back, buf, len), 0);
    assert_null(back.channel);
    assert_memory_equal(back.group, "g.1f.7", 6);
    q = variant(buf, len, 3, '4'); /* a later apnsd's chunk */
    assert_int_equal(gw_js_chunk_decode(&back, q, len), GW_JS_ENEWER);
    free(q);
    free(buf);
    m.group = NULL;
    m.group_len = 0;
    assert_int_equal(gw_js_chunk_encode(&m, &buf, &len), 0);
    assert_memory_equal(buf, "AJC1", 4); /* without: version 1 again */
    assert_int_equal(gw_js_chunk_decode(&back, buf, len), 0);
    assert_null(back.group);
    free(buf);
    m.channel = ch;
    m.channel_len = strlen(ch);

    memset(&j, 0, sizeof(j));
    memcpy(j.id, m.job_id, GW_JOB_ID_LEN);
    memcpy(j.apns_id, m.job_id, GW_JOB_ID_LEN);
    snprintf(j.app, sizeof(j.app), "demo");
    j.n = j.n_chunks = j.per = 1;
    assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
    assert_memory_equal(buf, "AJJ1", 4);
    free(buf);
    snprintf(j.channel, sizeof(j.channel), "%s", ch);
    assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
    assert_memory_equal(buf, "AJJ2", 4);
    assert_int_equal(gw_js_job_decode(&jb, buf, len), 0);
    assert_string_equal(jb.channel, ch);
    gw_js_job_cleanup(&jb);
    snprintf(j.group, sizeof(j.group), "g.1f.7");
    free(buf);
    assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
    assert_memory_equal(buf, "AJJ3", 4);
    assert_int_equal(gw_js_job_decode(&jb, buf, len), 0);
    assert_string_equal(jb.channel, ch);
    assert_string_equal(jb.group, "g.1f.7");
    gw_js_job_cleanup(&jb);
    j.channel[0] = '\0'; /* a device push of a group: version 3, no channel */
    free(buf);
    assert_int_equal(gw_js_job_encode(&j, &buf, &len), 0);
    assert_memory_equal(buf, "AJJ3", 4);
    assert_int_equal(gw_js_job_decode(&jb, buf, len), 0);
    assert_string_equal(jb.channel, "");
    assert_string_equal(jb.group, "g.1f.7");
    gw_js_job_cleanup(&jb);
    assert_int_equal(gw_js_job_decode(&jb, buf, len - 1), APNS_EINVAL);
    gw_js_job_cleanup(&jb);
    q = variant(buf, len, 3, '4');
    assert_int_equal(gw_js_job_decode(&jb, q, len), GW_JS_ENEWER);
    gw_js_job_cleanup(&jb);
    free(q);
    free(buf);
}

/* ---- packs ---------------------------------------------------------------------- */

#define ID0    "0190a1b2-c3d4-7000-a123-456789abcdef"
#define ID1    "0190a1b2-c3d4-7001-a123-456789abcdef"
#define ID2    "0190a1b2-c3d4-7002-a123-456789abcdef"
#define ID_NOT "0190a1b2-c3d4-7003-a123-456789abcdef"
#define AID0   "5d1e0f9a-7b3c-4d2e-8f10-000000000a00"
#define AID1   "5d1e0f9a-7b3c-4d2e-8f10-000000000b00"
#define AID2   "5d1e0f9a-7b3c-4d2e-8f10-000000000c00"

/* Tokens as a job stores them: [len][bytes], eight bytes each. */
static const uint8_t tok1[] = {8, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
static const uint8_t tok2[] = {8, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
                               8, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};
static const uint8_t tok3[] = {8, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                               8, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
                               8, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
static const uint8_t tok5[] = {
    8,    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 8,    0x58, 0x59, 0x5a, 0x5b, 0x5c,
    0x5d, 0x5e, 0x5f, 8,    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 8,    0x68, 0x69,
    0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 8,    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77};

static void member(gw_js_chunk_msg *m, const char *id, const char *aid, const char *payload,
                   const uint8_t *tok, size_t tok_len, uint32_t n)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->job_id, id, GW_JOB_ID_LEN);
    memcpy(m->apns_id, aid, GW_JOB_ID_LEN);
    m->push_type = 0;
    m->priority = 10;
    m->send_at = m->created = 1700000000000LL;
    m->app = "demo";
    m->app_len = 4;
    m->payload = payload;
    m->payload_len = strlen(payload);
    m->n = m->job_tokens = n;
    m->n_chunks = 1;
    m->tokens = tok;
    m->tokens_len = tok_len;
    m->group = "g.1f.7";
    m->group_len = 6;
}

/* Three members: 1, 2 and 3 tokens, three payloads, the second with a topic. */
static void three_members(gw_js_chunk_msg m[3])
{
    member(&m[0], ID0, AID0, "{\"a\":1}", tok1, sizeof(tok1), 1);
    member(&m[1], ID1, AID1, "{\"b\":22}", tok2, sizeof(tok2), 2);
    m[1].topic = "com.example";
    m[1].topic_len = 11;
    member(&m[2], ID2, AID2, "{\"c\":333}", tok3, sizeof(tok3), 3);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A copy of p[0..len) with extra zero bytes after it. */
static uint8_t *copy_of(const uint8_t *p, size_t len, size_t extra)
{
    uint8_t *q = calloc(1, len + extra);
    assert_non_null(q);
    memcpy(q, p, len);
    return q;
}

/* Decodes p and expects err, with nothing handed out. */
static void pack_refused(const uint8_t *p, size_t len, int err)
{
    gw_js_chunk_msg *v = (gw_js_chunk_msg *)1;
    size_t n = 99;

    assert_int_equal(gw_js_pack_decode(p, len, &v, &n), err);
    assert_null(v);
    assert_int_equal(n, 0);
}

static void pack_round_trip(void **state)
{
    static const uint8_t head[8] = {'A', 'J', 'C', '4', 3, 0, 0, 0};
    gw_js_chunk_msg m[3], *v = NULL;
    uint8_t *buf;
    size_t len, n = 0;

    (void)state;
    three_members(m);
    assert_int_equal(gw_js_pack_encode(m, 3, &buf, &len), 0);
    assert_memory_equal(buf, head, 8);
    /* Each member: its length, then an ordinary chunk message of version 3
     * (it carries a commit record) starting with its job id. Lengths by hand:
     * 166 = 4 magic + 2 * 36 ids + 2 + 24 + 20 + (2 + 4) app + 2 topic none +
     * 2 collapse none + (4 + 7) payload + (4 + 9) tokens + 2 channel none +
     * (2 + 6) group; the second adds a topic of 11, a byte of payload and a
     * token (9); the third two bytes of payload and two tokens. */
    assert_int_equal(get_u32(buf + 8), 166);
    assert_memory_equal(buf + 12, "AJC3" ID0, 40);
    assert_int_equal(get_u32(buf + 178), 187);
    assert_memory_equal(buf + 182, "AJC3" ID1, 40);
    assert_int_equal(get_u32(buf + 369), 186);
    assert_memory_equal(buf + 373, "AJC3" ID2, 40);
    assert_int_equal(len, 559);
    assert_int_equal(gw_js_is_pack(buf, len), 1);

    assert_int_equal(gw_js_pack_decode(buf, len, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].job_id, ID0);
    assert_string_equal(v[1].job_id, ID1);
    assert_string_equal(v[2].job_id, ID2);
    assert_string_equal(v[0].apns_id, AID0);
    assert_string_equal(v[1].apns_id, AID1);
    assert_string_equal(v[2].apns_id, AID2);
    assert_int_equal(v[0].n, 1);
    assert_int_equal(v[1].n, 2);
    assert_int_equal(v[2].n, 3);
    assert_int_equal(v[2].job_tokens, 3);
    assert_int_equal(v[0].payload_len, 7);
    assert_memory_equal(v[0].payload, "{\"a\":1}", 7);
    assert_int_equal(v[1].payload_len, 8);
    assert_memory_equal(v[1].payload, "{\"b\":22}", 8);
    assert_int_equal(v[2].payload_len, 9);
    assert_memory_equal(v[2].payload, "{\"c\":333}", 9);
    assert_int_equal(v[0].tokens_len, 9);
    assert_memory_equal(v[0].tokens, tok1, 9);
    assert_int_equal(v[1].tokens_len, 18);
    assert_memory_equal(v[1].tokens, tok2, 18);
    assert_int_equal(v[2].tokens_len, 27);
    assert_memory_equal(v[2].tokens, tok3, 27);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(v[i].seq, 0);
        assert_int_equal(v[i].first, 0);
        assert_int_equal(v[i].n_chunks, 1);
        assert_int_equal(v[i].priority, 10);
        assert_int_equal(v[i].send_at, 1700000000000LL);
        assert_int_equal(v[i].app_len, 4);
        assert_memory_equal(v[i].app, "demo", 4);
        assert_int_equal(v[i].group_len, 6);
        assert_memory_equal(v[i].group, "g.1f.7", 6);
        assert_null(v[i].channel);
        assert_null(v[i].collapse_id);
        /* The members point into the message. */
        assert_true((const uint8_t *)v[i].payload > buf &&
                    (const uint8_t *)v[i].payload < buf + len);
    }
    assert_null(v[0].topic);
    assert_int_equal(v[1].topic_len, 11);
    assert_memory_equal(v[1].topic, "com.example", 11);
    assert_null(v[2].topic);
    free(v);
    free(buf);
}

static void pack_refusals(void **state)
{
    static const uint8_t chunk_head[4] = {'A', 'J', 'C', '3'};
    gw_js_chunk_msg m[3], bad[3], *v = NULL;
    uint8_t *buf, *q, *one, *inner;
    size_t len, one_len, inner_len, n = 0;

    (void)state;
    three_members(m);
    assert_int_equal(gw_js_pack_encode(m, 3, &buf, &len), 0);
    assert_int_equal(len, 559);

    pack_refused(buf, len - 1, APNS_EINVAL); /* one byte short */
    pack_refused(buf, 7, APNS_EINVAL);       /* cut inside the count */
    pack_refused(buf, 3, APNS_EINVAL);       /* cut inside the magic */
    q = copy_of(buf, len, 1);                /* one byte too many */
    pack_refused(q, len + 1, APNS_EINVAL);
    free(q);
    q = copy_of(buf, len, 0);
    put_u32(q + 4, 0); /* no member */
    pack_refused(q, len, APNS_EINVAL);
    put_u32(q + 4, 4097); /* past 4096 members */
    pack_refused(q, len, APNS_EINVAL);
    put_u32(q + 4, 2); /* the third member left over */
    pack_refused(q, len, APNS_EINVAL);
    put_u32(q + 4, 4); /* a fourth member missing */
    pack_refused(q, len, APNS_EINVAL);
    put_u32(q + 4, 3);
    q[3] = '5'; /* a later apnsd's pack */
    pack_refused(q, len, GW_JS_ENEWER);
    for (char d = '1'; d <= '3'; d++) { /* an older chunk's magic is no pack's */
        q[3] = (uint8_t)d;
        pack_refused(q, len, APNS_EINVAL);
    }
    q[3] = '5';
    assert_int_equal(gw_js_is_pack(q, len), 0);
    q[3] = '4';
    q[12 + 3] = '5'; /* the first member a chunk of a later version */
    pack_refused(q, len, GW_JS_ENEWER);
    q[12 + 3] = '4'; /* the first member claims to be a pack */
    pack_refused(q, len, APNS_EINVAL);
    q[12 + 3] = '3';
    q[0] = 'X'; /* not ours */
    pack_refused(q, len, APNS_EINVAL);
    assert_int_equal(gw_js_is_pack(q, len), 0);
    free(q);

    /* What is not a pack message: a chunk message, short input. */
    assert_int_equal(gw_js_chunk_encode(&m[0], &one, &one_len), 0);
    assert_memory_equal(one, chunk_head, 4);
    assert_int_equal(gw_js_is_pack(one, one_len), 0);
    assert_int_equal(gw_js_is_pack((const uint8_t *)"AJC", 3), 0);
    assert_int_equal(gw_js_is_pack((const uint8_t *)"AJC4", 4), 1);

    /* Built by hand: "AJC4", count 1, [len][chunk message] reads back ... */
    q = malloc(8 + 4 + one_len);
    assert_non_null(q);
    memcpy(q, "AJC4", 4);
    put_u32(q + 4, 1);
    put_u32(q + 8, (uint32_t)one_len);
    memcpy(q + 12, one, one_len);
    assert_int_equal(gw_js_pack_decode(q, 12 + one_len, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].job_id, ID0);
    free(v);
    v = NULL;
    free(q);
    /* ... but a pack in the place of that chunk message is refused. */
    assert_int_equal(gw_js_pack_encode(&m[0], 1, &inner, &inner_len), 0);
    q = malloc(8 + 4 + inner_len);
    assert_non_null(q);
    memcpy(q, "AJC4", 4);
    put_u32(q + 4, 1);
    put_u32(q + 8, (uint32_t)inner_len);
    memcpy(q + 12, inner, inner_len);
    pack_refused(q, 12 + inner_len, APNS_EINVAL);
    free(q);
    free(inner);
    free(one);

    /* Members that are no pack's: seq 1, first 1, one naming no commit
     * record (then a chunk of version 1) or another one than the others:
     * the members of a pack name one record, or all none (a request that is
     * one pack: its header commits it). */
    memcpy(bad, m, sizeof(bad));
    bad[1].seq = 1;
    assert_int_equal(gw_js_pack_encode(bad, 3, &q, &len), 0);
    pack_refused(q, len, APNS_EINVAL);
    free(q);
    memcpy(bad, m, sizeof(bad));
    bad[2].first = 1;
    assert_int_equal(gw_js_pack_encode(bad, 3, &q, &len), 0);
    pack_refused(q, len, APNS_EINVAL);
    free(q);
    memcpy(bad, m, sizeof(bad));
    bad[0].group = NULL;
    bad[0].group_len = 0;
    assert_int_equal(gw_js_pack_encode(bad, 3, &q, &len), 0);
    assert_memory_equal(q + 12, "AJC1", 4);
    pack_refused(q, len, APNS_EINVAL);
    free(q);
    memcpy(bad, m, sizeof(bad));
    bad[2].group = "g.1f.8";
    assert_int_equal(gw_js_pack_encode(bad, 3, &q, &len), 0);
    pack_refused(q, len, APNS_EINVAL);
    free(q);
    /* None names a record: read back, each a chunk of version 1. */
    memcpy(bad, m, sizeof(bad));
    for (int i = 0; i < 3; i++) {
        bad[i].group = NULL;
        bad[i].group_len = 0;
    }
    assert_int_equal(gw_js_pack_encode(bad, 3, &q, &len), 0);
    assert_memory_equal(q + 12, "AJC1", 4);
    assert_int_equal(gw_js_pack_decode(q, len, &v, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_null(v[i].group);
        assert_int_equal(v[i].group_len, 0);
    }
    free(v);
    v = NULL;
    free(q);
    free(buf);
}

/* 4096 members (the 12 bits of rand_a) read back; 4097 are refused. */
static void pack_member_limit(void **state)
{
    gw_js_chunk_msg *m = calloc(4097, sizeof(*m)), *v = NULL;
    uint8_t *buf;
    size_t len, n = 0;
    char id[GW_JOB_ID_LEN + 1];

    (void)state;
    assert_non_null(m);
    for (size_t i = 0; i < 4097; i++) {
        snprintf(id, sizeof(id), "0190a1b2-c3d4-7%03zx-a123-456789abcdef", i & 0xfff);
        member(&m[i], id, AID0, "{}", tok1, sizeof(tok1), 1);
    }
    assert_int_equal(gw_js_pack_encode(m, 4096, &buf, &len), 0);
    assert_memory_equal(buf, "AJC4\x00\x10\x00\x00", 8);
    assert_int_equal(gw_js_pack_decode(buf, len, &v, &n), 0);
    assert_int_equal(n, 4096);
    assert_string_equal(v[4095].job_id, "0190a1b2-c3d4-7fff-a123-456789abcdef");
    assert_string_equal(v[1].job_id, "0190a1b2-c3d4-7001-a123-456789abcdef");
    free(v);
    free(buf);
    assert_int_equal(gw_js_pack_encode(m, 4097, &buf, &len), 0);
    assert_memory_equal(buf, "AJC4\x01\x10\x00\x00", 8);
    pack_refused(buf, len, APNS_EINVAL);
    free(buf);
    free(m);
}

static void job(gw_js_job *j, const char *id, const char *aid, const uint8_t *tok, size_t tok_len,
                uint32_t n)
{
    memset(j, 0, sizeof(*j));
    j->state = JS_JOB_COMMITTED;
    memcpy(j->id, id, GW_JOB_ID_LEN);
    memcpy(j->apns_id, aid, GW_JOB_ID_LEN);
    snprintf(j->app, sizeof(j->app), "demo");
    j->n = j->per = n;
    j->n_chunks = 1;
    j->created = j->send_at = 1700000000000LL;
    j->tokens = (uint8_t *)tok;
    j->tokens_len = tok_len;
    snprintf(j->group, sizeof(j->group), "g.1f.7");
}

/* The header finds member id at offset off with its own fields and tokens. */
static void expect_member(const uint8_t *buf, size_t len, const char *id, const char *aid,
                          uint32_t want_off, uint32_t n, const uint8_t *tok, size_t tok_len)
{
    gw_js_job j;
    uint32_t off = 99;
    int st = -1;

    assert_int_equal(gw_js_packhdr_find(buf, len, id, &st, &j, &off), 0);
    assert_int_equal(st, JS_JOB_COMMITTED);
    assert_int_equal(off, want_off);
    assert_string_equal(j.id, id);
    assert_string_equal(j.apns_id, aid);
    assert_string_equal(j.app, "demo");
    assert_string_equal(j.group, "g.1f.7");
    assert_int_equal(j.n, n);
    assert_int_equal(j.tokens_len, tok_len);
    assert_memory_equal(j.tokens, tok, tok_len);
    gw_js_job_cleanup(&j);
}

static void pack_header_find(void **state)
{
    static const uint8_t head[9] = {'A', 'J', 'K', '1', JS_JOB_COMMITTED, 3, 0, 0, 0};
    gw_js_job v[3], j;
    uint8_t *buf, *q;
    size_t len;
    uint32_t off = 99;
    int st = -1;

    (void)state;
    job(&v[0], ID0, AID0, tok2, sizeof(tok2), 2);
    job(&v[1], ID1, AID1, tok5, sizeof(tok5), 5);
    job(&v[2], ID2, AID2, tok1, sizeof(tok1), 1);
    assert_int_equal(gw_js_packhdr_encode(JS_JOB_COMMITTED, v, 3, &buf, &len), 0);
    assert_memory_equal(buf, head, 9);
    /* The first member's job header: version 3 (a commit record), its id
     * after its magic and state. */
    assert_memory_equal(buf + 13, "AJJ3", 4);
    assert_memory_equal(buf + 18, ID0, GW_JOB_ID_LEN);
    assert_int_equal(gw_js_is_pack(buf, len), 0); /* a header, not a message */

    expect_member(buf, len, ID0, AID0, 0, 2, tok2, sizeof(tok2));
    expect_member(buf, len, ID1, AID1, 2, 5, tok5, sizeof(tok5));
    expect_member(buf, len, ID2, AID2, 7, 1, tok1, sizeof(tok1));

    assert_int_equal(gw_js_packhdr_find(buf, len, ID_NOT, &st, &j, &off), GW_QUEUE_ENOTFOUND);
    gw_js_job_cleanup(&j);
    /* Cut short: the last member and an unknown id cannot be read. */
    assert_int_equal(gw_js_packhdr_find(buf, len - 1, ID2, &st, &j, &off), APNS_EINVAL);
    gw_js_job_cleanup(&j);
    assert_int_equal(gw_js_packhdr_find(buf, len - 1, ID_NOT, &st, &j, &off), APNS_EINVAL);
    gw_js_job_cleanup(&j);
    assert_int_equal(gw_js_packhdr_find(buf, 7, ID0, &st, &j, &off), APNS_EINVAL);
    gw_js_job_cleanup(&j);
    q = copy_of(buf, len, 0);
    put_u32(q + 5, 4097); /* past 4096 members */
    assert_int_equal(gw_js_packhdr_find(q, len, ID0, &st, &j, &off), APNS_EINVAL);
    gw_js_job_cleanup(&j);
    put_u32(q + 5, 3);
    q[3] = '2'; /* a later apnsd's header */
    assert_int_equal(gw_js_packhdr_find(q, len, ID0, &st, &j, &off), GW_JS_ENEWER);
    gw_js_job_cleanup(&j);
    q[3] = '1';
    q[13 + 3] = '4'; /* the first member's header of a later version */
    assert_int_equal(gw_js_packhdr_find(q, len, ID1, &st, &j, &off), GW_JS_ENEWER);
    gw_js_job_cleanup(&j);
    free(q);
    free(buf);

    /* The state byte reads back. */
    assert_int_equal(gw_js_packhdr_encode(JS_JOB_ABORTED, v, 3, &buf, &len), 0);
    assert_int_equal(buf[4], 2);
    assert_int_equal(gw_js_packhdr_find(buf, len, ID1, &st, &j, &off), 0);
    assert_int_equal(st, JS_JOB_ABORTED);
    assert_int_equal(off, 2);
    gw_js_job_cleanup(&j);
    free(buf);
}

static void rec_slice(void **state)
{
    gw_js_rec r, s;

    (void)state;
    assert_int_equal(gw_js_rec_init(&r, 10), 0);
    gw_js_rec_apply(&r, 0, GW_TOKEN_ACCEPTED, 200, NULL, 0, 0);
    gw_js_rec_apply(&r, 1, GW_TOKEN_RETRY, 429, NULL, 0, 5000);
    gw_js_rec_apply(&r, 2, GW_TOKEN_ACCEPTED, 200, NULL, 0, 0);
    gw_js_rec_apply(&r, 3, GW_TOKEN_REJECTED, 400, "BadDeviceToken", 111, 0);
    gw_js_rec_apply(&r, 5, GW_TOKEN_RETRY, 503, NULL, 0, 7000);
    gw_js_rec_apply(&r, 6, GW_TOKEN_EXPIRED, 0, NULL, 0, 0);
    gw_js_rec_apply(&r, 8, GW_TOKEN_REJECTED, 410, "Unregistered", 222, 0);
    gw_js_rec_apply(&r, 9, GW_TOKEN_ACCEPTED, 200, NULL, 0, 0);
    assert_int_equal(r.n_rej, 2);

    /* Tokens 2..5. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(gw_js_rec_slice(&r, 2, 4, &s), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.state[0], GW_TOKEN_ACCEPTED);
    assert_int_equal(s.state[1], GW_TOKEN_REJECTED);
    assert_int_equal(s.state[1], r.state[3]);
    assert_int_equal(s.state[2], GW_TOKEN_PENDING);
    assert_int_equal(s.state[3], GW_TOKEN_RETRY);
    assert_int_equal(s.attempts[3], 1);
    assert_int_equal(s.retry_at[3], 7000);
    assert_int_equal(s.n_rej, 1);
    assert_int_equal(s.rej[0].idx, 1);
    assert_int_equal(s.rej[0].status, 400);
    assert_int_equal(s.rej[0].apns_ts, 111);
    assert_string_equal(s.rej[0].reason, "BadDeviceToken");
    assert_non_null(gw_js_rec_rej(&s, 1));
    assert_null(gw_js_rec_rej(&s, 3));
    gw_js_rec_cleanup(&s);

    /* The last two: the second rejection becomes token 0. */
    assert_int_equal(gw_js_rec_slice(&r, 8, 2, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.state[0], GW_TOKEN_REJECTED);
    assert_int_equal(s.state[1], GW_TOKEN_ACCEPTED);
    assert_int_equal(s.n_rej, 1);
    assert_int_equal(s.rej[0].idx, 0);
    assert_int_equal(s.rej[0].status, 410);
    assert_string_equal(s.rej[0].reason, "Unregistered");
    gw_js_rec_cleanup(&s);

    /* Out of range. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(gw_js_rec_slice(&r, 8, 3, &s), APNS_EINVAL);
    assert_int_equal(gw_js_rec_slice(&r, 0, 11, &s), APNS_EINVAL);
    assert_int_equal(gw_js_rec_slice(&r, 11, 0, &s), APNS_EINVAL);
    assert_int_equal(gw_js_rec_slice(&r, 4294967295u, 2, &s), APNS_EINVAL);
    assert_int_equal(gw_js_rec_slice(&r, 2, 4294967295u, &s), APNS_EINVAL);
    gw_js_rec_cleanup(&s);
    gw_js_rec_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcome_record),         cmocka_unit_test(dead_and_token_records),
        cmocka_unit_test(chunk_and_job_versions), cmocka_unit_test(pack_round_trip),
        cmocka_unit_test(pack_refusals),          cmocka_unit_test(pack_member_limit),
        cmocka_unit_test(pack_header_find),       cmocka_unit_test(rec_slice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

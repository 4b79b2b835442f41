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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcome_record),
        cmocka_unit_test(dead_and_token_records),
        cmocka_unit_test(chunk_and_job_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

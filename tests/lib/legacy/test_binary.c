/* test_binary.c - codecs of the legacy binary interface: exact byte layouts
 * (apns-protocol.md section 5), every decoder error with its status, partial
 * input at every split point, hostile lengths, feedback tuples, hex tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apns/binary.h"
#include "apns/error.h"

/* A 32-byte token 00 01 .. 1f and a 7-byte payload {"a":1}. */
#define TOK32                                                                                      \
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,      \
        0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,  \
        0x1e, 0x1f
#define PAY7 '{', '"', 'a', '"', ':', '1', '}'

static const uint8_t token32[32] = {TOK32};
static const char payload7[] = "{\"a\":1}";

static apns_binary_notification base_n(void)
{
    apns_binary_notification n = {0};
    n.token = token32;
    n.token_len = 32;
    n.payload = payload7;
    n.payload_len = 7;
    n.id = 0x01020304;
    n.expiry = 0x5f5e0ff0;
    n.priority = 10;
    return n;
}

/* ---- exact layouts ---------------------------------------------------------- */

/* base_n() encodes to exactly want (len bytes) in format fmt. */
static void encodes_to(apns_binary_format fmt, const uint8_t *want, size_t len)
{
    apns_binary_notification n = base_n();
    uint8_t out[128];
    assert_int_equal(apns_binary_encoded_len(fmt, &n), len);
    assert_int_equal(apns_binary_encode(fmt, &n, out, sizeof out), len);
    assert_memory_equal(out, want, len);
}

static void simple_layout(void **state)
{
    static const uint8_t want[] = {0x00, 0x00, 0x20, TOK32, 0x00, 0x07, PAY7};
    assert_int_equal(sizeof want, 37 + 7);
    encodes_to(APNS_BINARY_SIMPLE, want, sizeof want);
}

static void enhanced_layout(void **state)
{
    static const uint8_t want[] = {0x01, 0x01, 0x02, 0x03,  0x04, 0x5f, 0x5e, 0x0f,
                                   0xf0, 0x00, 0x20, TOK32, 0x00, 0x07, PAY7};
    assert_int_equal(sizeof want, 45 + 7);
    encodes_to(APNS_BINARY_ENHANCED, want, sizeof want);
}

static void frame_layout(void **state)
{
    static const uint8_t want[] = {
        0x02, 0x00, 0x00, 0x00,  56 + 7,             /* command, frame length 56 + m */
        0x01, 0x00, 0x20, TOK32,                     /* item 1: token */
        0x02, 0x00, 0x07, PAY7,                      /* item 2: payload */
        0x03, 0x00, 0x04, 0x01,  0x02,   0x03, 0x04, /* item 3: identifier */
        0x04, 0x00, 0x04, 0x5f,  0x5e,   0x0f, 0xf0, /* item 4: expiry */
        0x05, 0x00, 0x01, 0x0a,                      /* item 5: priority 10 */
    };
    assert_int_equal(sizeof want, 61 + 7);
    encodes_to(APNS_BINARY_FRAME, want, sizeof want);

    /* The decoder gives back every field, pointing into the input. */
    apns_binary_notification d;
    apns_binary_format f = APNS_BINARY_SIMPLE;
    uint8_t st = 99;
    assert_int_equal(apns_binary_decode(want, sizeof want, &f, &d, &st), sizeof want);
    assert_int_equal(f, APNS_BINARY_FRAME);
    assert_int_equal(st, 0);
    assert_ptr_equal(d.token, want + 8);
    assert_int_equal(d.token_len, 32);
    assert_ptr_equal(d.payload, (const char *)want + 43);
    assert_int_equal(d.payload_len, 7);
    assert_int_equal(d.id, 0x01020304);
    assert_int_equal(d.expiry, 0x5f5e0ff0);
    assert_int_equal(d.priority, 10);
    assert_int_equal(d.omit, 0);
}

static void frame_optional_items(void **state)
{
    /* Only token and payload: 5 + 35 + 10 = 50 bytes. */
    static const uint8_t want[] = {0x02, 0x00,  0x00, 0x00, 45,   0x01, 0x00,
                                   0x20, TOK32, 0x02, 0x00, 0x07, PAY7};
    apns_binary_notification n = base_n();
    n.omit = APNS_BINARY_OMIT_ID | APNS_BINARY_OMIT_EXPIRY;
    n.priority = 0;
    uint8_t out[128];
    assert_int_equal(apns_binary_encode(APNS_BINARY_FRAME, &n, out, sizeof out), sizeof want);
    assert_memory_equal(out, want, sizeof want);

    apns_binary_notification d;
    apns_binary_format f;
    uint8_t st;
    assert_int_equal(apns_binary_decode(want, sizeof want, &f, &d, &st), sizeof want);
    assert_int_equal(d.omit, APNS_BINARY_OMIT_ID | APNS_BINARY_OMIT_EXPIRY);
    assert_int_equal(d.priority, 0);
    assert_int_equal(d.id, 0);

    /* Each optional item alone. */
    for (int mask = 0; mask < 4; mask++) {
        for (int prio = 0; prio <= 10; prio += 5) {
            n = base_n();
            n.omit = (uint8_t)mask;
            n.priority = (uint8_t)prio;
            int len = apns_binary_encode(APNS_BINARY_FRAME, &n, out, sizeof out);
            assert_int_equal(len,
                             61 + 7 - ((mask & 1) ? 7 : 0) - ((mask & 2) ? 7 : 0) - (prio ? 0 : 4));
            assert_int_equal(apns_binary_decode(out, (size_t)len, &f, &d, &st), len);
            assert_int_equal(d.omit, mask);
            assert_int_equal(d.priority, prio);
            assert_int_equal(d.id, (mask & 1) ? 0 : n.id);
            assert_int_equal(d.expiry, (mask & 2) ? 0 : n.expiry);
        }
    }
}

static void frame_items_in_any_order(void **state)
{
    static const uint8_t in[] = {
        0x02, 0x00, 0x00, 0x00,  56 + 7,             /* frame length */
        0x05, 0x00, 0x01, 0x05,                      /* priority 5 */
        0x04, 0x00, 0x04, 0x00,  0x00,   0x00, 0x00, /* expiry 0 */
        0x02, 0x00, 0x07, PAY7,                      /* payload */
        0x03, 0x00, 0x04, 0xde,  0xad,   0xbe, 0xef, /* id */
        0x01, 0x00, 0x20, TOK32,                     /* token */
    };
    apns_binary_notification d;
    apns_binary_format f;
    uint8_t st;
    assert_int_equal(apns_binary_decode(in, sizeof in, &f, &d, &st), sizeof in);
    assert_int_equal(d.id, 0xdeadbeef);
    assert_int_equal(d.priority, 5);
    assert_int_equal(d.expiry, 0);
    assert_memory_equal(d.token, token32, 32);
    assert_memory_equal(d.payload, payload7, 7);
    /* Re-encoded in canonical order: same length, items 1..5. */
    uint8_t out[128];
    assert_int_equal(apns_binary_encode(APNS_BINARY_FRAME, &d, out, sizeof out), sizeof in);
    assert_int_equal(out[5], 1);
}

/* ---- round trips at every size -------------------------------------------- */

static void round_trip(apns_binary_format f, const uint8_t *tok, size_t tl, const char *pay,
                       size_t pl)
{
    static uint8_t out[APNS_BINARY_ENCODED_MAX + 8];
    apns_binary_notification n = {0};
    n.token = tok;
    n.token_len = tl;
    n.payload = pay;
    n.payload_len = pl;
    n.id = (uint32_t)(tl * 7919 + pl);
    n.expiry = (uint32_t)(pl * 31);
    n.priority = f == APNS_BINARY_FRAME ? (pl % 2 ? 5 : 10) : 0;
    size_t want = f == APNS_BINARY_SIMPLE     ? 5 + tl + pl
                  : f == APNS_BINARY_ENHANCED ? 13 + tl + pl
                                              : 5 + 3 + tl + 3 + pl + 7 + 7 + 4;
    assert_int_equal(apns_binary_encoded_len(f, &n), want);
    int len = apns_binary_encode(f, &n, out, sizeof out);
    assert_int_equal(len, want);
    /* Exact size works, one byte less is refused. */
    assert_int_equal(apns_binary_encode(f, &n, out, want), want);
    assert_int_equal(apns_binary_encode(f, &n, out, want - 1), APNS_EINVAL);

    apns_binary_notification d;
    apns_binary_format df;
    uint8_t st;
    assert_int_equal(apns_binary_decode(out, want, &df, &d, &st), want);
    assert_int_equal(df, f);
    assert_int_equal(d.token_len, tl);
    assert_memory_equal(d.token, tok, tl);
    assert_int_equal(d.payload_len, pl);
    assert_memory_equal(d.payload, pay, pl);
    if (f != APNS_BINARY_SIMPLE) {
        assert_int_equal(d.id, n.id);
        assert_int_equal(d.expiry, n.expiry);
    }
    assert_int_equal(d.priority, n.priority);
}

static void round_trips_all_sizes(void **state)
{
    static uint8_t tok[APNS_BINARY_TOKEN_MAX];
    static char pay[APNS_BINARY_PAYLOAD_MAX_FRAME];
    for (size_t i = 0; i < sizeof tok; i++)
        tok[i] = (uint8_t)(i * 37 + 1);
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (char)('a' + i % 26);
    for (size_t pl = 1; pl <= APNS_BINARY_PAYLOAD_MAX_LEGACY; pl++) {
        round_trip(APNS_BINARY_SIMPLE, tok, 32, pay, pl);
        round_trip(APNS_BINARY_ENHANCED, tok, 32, pay, pl);
    }
    for (size_t pl = 1; pl <= APNS_BINARY_PAYLOAD_MAX_FRAME; pl++)
        round_trip(APNS_BINARY_FRAME, tok, 32, pay, pl);
    for (size_t tl = 1; tl <= APNS_BINARY_TOKEN_MAX; tl++) {
        round_trip(APNS_BINARY_FRAME, tok, tl, pay, 1);
        round_trip(APNS_BINARY_FRAME, tok, tl, pay, APNS_BINARY_PAYLOAD_MAX_FRAME);
    }
    /* The largest frame is exactly APNS_BINARY_ENCODED_MAX. */
    apns_binary_notification n = {0};
    n.token = tok;
    n.token_len = APNS_BINARY_TOKEN_MAX;
    n.payload = pay;
    n.payload_len = APNS_BINARY_PAYLOAD_MAX_FRAME;
    n.priority = 10;
    assert_int_equal(apns_binary_encoded_len(APNS_BINARY_FRAME, &n), APNS_BINARY_ENCODED_MAX);
    assert_int_equal(APNS_BINARY_ENCODED_MAX, 2177);
}

/* ---- encoder errors -------------------------------------------------------- */

static void encode_errors(void **state)
{
    static uint8_t tok[101];
    static char pay[2049];
    memset(pay, 'x', sizeof pay);
    uint8_t out[4096];
    apns_binary_notification n = base_n();

#define ENC_FAILS(fmt, want)                                                                       \
    do {                                                                                           \
        memset(out, 0xa5, 16);                                                                     \
        assert_int_equal(apns_binary_encode(fmt, &n, out, sizeof out), want);                      \
        assert_int_equal(out[0], 0xa5); /* nothing written */                                      \
    } while (0)

    /* Legacy formats: exactly 32 bytes. */
    n.token = tok;
    for (size_t tl = 0; tl <= 101; tl++) {
        n.token_len = tl;
        if (tl == 32)
            continue;
        ENC_FAILS(APNS_BINARY_SIMPLE, APNS_EBADTOKEN);
        ENC_FAILS(APNS_BINARY_ENHANCED, APNS_EBADTOKEN);
    }
    n.token_len = 0;
    ENC_FAILS(APNS_BINARY_FRAME, APNS_EBADTOKEN);
    n.token_len = 101;
    ENC_FAILS(APNS_BINARY_FRAME, APNS_EBADTOKEN);
    n.token_len = 100;
    assert_true(apns_binary_encode(APNS_BINARY_FRAME, &n, out, sizeof out) > 0);
    n.token = NULL;
    ENC_FAILS(APNS_BINARY_FRAME, APNS_EBADTOKEN);

    n = base_n();
    n.payload = pay;
    n.payload_len = 257;
    ENC_FAILS(APNS_BINARY_SIMPLE, APNS_ETOOBIG);
    ENC_FAILS(APNS_BINARY_ENHANCED, APNS_ETOOBIG);
    assert_true(apns_binary_encode(APNS_BINARY_FRAME, &n, out, sizeof out) > 0);
    n.payload_len = 2049;
    ENC_FAILS(APNS_BINARY_FRAME, APNS_ETOOBIG);
    n.payload_len = 0;
    ENC_FAILS(APNS_BINARY_SIMPLE, APNS_EPAYLOADEMPTY);
    ENC_FAILS(APNS_BINARY_FRAME, APNS_EPAYLOADEMPTY);
    n.payload = NULL;
    n.payload_len = 5;
    ENC_FAILS(APNS_BINARY_ENHANCED, APNS_EPAYLOADEMPTY);

    n = base_n();
    for (int p = 0; p < 256; p++) {
        n.priority = (uint8_t)p;
        if (p == 0 || p == 5 || p == 10)
            continue;
        ENC_FAILS(APNS_BINARY_FRAME, APNS_EPRIORITY);
        /* Legacy formats carry no priority and ignore it. */
        assert_int_equal(apns_binary_encode(APNS_BINARY_ENHANCED, &n, out, sizeof out), 52);
    }

    n = base_n();
    ENC_FAILS((apns_binary_format)3, APNS_EINVAL);
    ENC_FAILS((apns_binary_format)8, APNS_EINVAL);
    assert_int_equal(apns_binary_encoded_len((apns_binary_format)3, &n), 0);
    assert_int_equal(apns_binary_encode(APNS_BINARY_FRAME, NULL, out, sizeof out), APNS_EINVAL);
    assert_int_equal(apns_binary_encode(APNS_BINARY_FRAME, &n, NULL, 100), APNS_EINVAL);
    assert_int_equal(apns_binary_encode(APNS_BINARY_FRAME, &n, out, 67), APNS_EINVAL);
#undef ENC_FAILS
}

/* ---- decoder errors -------------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    uint8_t bytes[80];
    size_t len;
    uint8_t status;
    uint32_t id; /* expected out->id */
} bad_case;

/* Frame header + items helpers, written out by hand. */
#define FRAME(l) 0x02, 0x00, 0x00, (uint8_t)((l) >> 8), (uint8_t)(l)
#define ITOK(n)  0x01, 0x00, (n)
#define IPAY(n)  0x02, 0x00, (n)
#define IID      0x03, 0x00, 0x04, 0x00, 0x00, 0x01, 0x90 /* id 400 */
#define IEXP     0x04, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00
#define IPRIO(v) 0x05, 0x00, 0x01, (v)
#define T4       0xaa, 0xbb, 0xcc, 0xdd
#define P2       '{', '}'
#define ENH_HDR  0x01, 0x00, 0x00, 0x01, 0x90, 0x00, 0x00, 0x00, 0x00 /* id 400 */

static const bad_case bad_cases[] = {
    {"unknown command 3", {0x03, 0x00}, 2, 128, 0},
    {"command 8 is not a notification", {0x08, 0x08, 0, 0, 0, 1}, 6, 128, 0},
    {"unknown command 0xff", {0xff}, 1, 128, 0},
    {"simple: token length 0", {0x00, 0x00, 0x00}, 3, 2, 0},
    {"simple: token length 31", {0x00, 0x00, 0x1f}, 3, 5, 0},
    {"simple: token length 33", {0x00, 0x00, 0x21}, 3, 5, 0},
    {"simple: token length 0xffff", {0x00, 0xff, 0xff}, 3, 5, 0},
    {"simple: payload 0", {0x00, 0x00, 0x20, TOK32, 0x00, 0x00}, 37, 4, 0},
    {"simple: payload 257", {0x00, 0x00, 0x20, TOK32, 0x01, 0x01}, 37, 7, 0},
    {"simple: payload 0xffff", {0x00, 0x00, 0x20, TOK32, 0xff, 0xff}, 37, 7, 0},
    {"enhanced: token length 0", {ENH_HDR, 0x00, 0x00}, 11, 2, 400},
    {"enhanced: token length 64", {ENH_HDR, 0x00, 0x40}, 11, 5, 400},
    {"enhanced: payload 0", {ENH_HDR, 0x00, 0x20, TOK32, 0x00, 0x00}, 45, 4, 400},
    {"enhanced: payload 300", {ENH_HDR, 0x00, 0x20, TOK32, 0x01, 0x2c}, 45, 7, 400},
    {"frame: length 0xffffffff", {0x02, 0xff, 0xff, 0xff, 0xff}, 5, 128, 0},
    {"frame: length 2173", {FRAME(2173)}, 5, 128, 0},
    {"frame: length 0x00010000", {0x02, 0x00, 0x01, 0x00, 0x00}, 5, 128, 0},
    {"frame: empty", {FRAME(0)}, 5, 2, 0},
    {"frame: item 0", {FRAME(4), 0x00, 0x00, 0x01, 0x00}, 9, 128, 0},
    {"frame: token only", {FRAME(7), ITOK(4), T4}, 12, 4, 0},
    {"frame: unknown item 6", {FRAME(10), IID, 0x06, 0x00, 0x00}, 15, 128, 400},
    {"frame: duplicate token", {FRAME(14), ITOK(4), T4, ITOK(4), T4}, 19, 128, 0},
    {"frame: duplicate id", {FRAME(14), IID, IID}, 19, 128, 400},
    {"frame: token item 0 bytes", {FRAME(10), IID, ITOK(0)}, 15, 2, 400},
    {"frame: token item 101 bytes", {FRAME(10), IID, 0x01, 0x00, 101}, 15, 5, 400},
    {"frame: payload item 0 bytes", {FRAME(10), IID, IPAY(0)}, 15, 4, 400},
    {"frame: payload item 2049 bytes", {FRAME(10), IID, 0x02, 0x08, 0x01}, 15, 7, 400},
    {"frame: no token", {FRAME(12), IID, IPAY(2), P2}, 17, 2, 400},
    {"frame: no payload", {FRAME(14), IID, ITOK(4), T4}, 19, 4, 400},
    {"frame: id 3 bytes", {FRAME(6), 0x03, 0x00, 0x03, 1, 2, 3}, 11, 128, 0},
    {"frame: expiry 5 bytes", {FRAME(8), 0x04, 0x00, 0x05, 1, 2, 3, 4, 5}, 13, 128, 0},
    {"frame: priority 2 bytes", {FRAME(5), 0x05, 0x00, 0x02, 10, 10}, 10, 128, 0},
    {"frame: priority 7", {FRAME(4), IPRIO(7)}, 9, 128, 0},
    {"frame: priority 0", {FRAME(4), IPRIO(0)}, 9, 128, 0},
    {"frame: item overruns frame", {FRAME(11), IID, ITOK(4), 0xaa}, 16, 128, 400},
    {"frame: truncated item header", {FRAME(9), IID, 0x01, 0x00}, 14, 128, 400},
    {"frame: 2 trailing bytes",
     {FRAME(21), IID, ITOK(4), T4, IPAY(2), P2, 0x00, 0x00},
     26,
     128,
     400},
    {"frame: 1 trailing byte", {FRAME(20), ITOK(4), T4, IPAY(2), P2, IID, 0x01}, 25, 128, 400},
};

static void decoder_errors(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *b = &bad_cases[i];
        apns_binary_notification d;
        apns_binary_format f;
        uint8_t st = 0;
        int rc = apns_binary_decode(b->bytes, b->len, &f, &d, &st);
        if (rc != APNS_EFORMAT || st != b->status || d.id != b->id)
            fail_msg("%s: rc %d status %u id %u, want EFORMAT status %u id %u", b->name, rc, st,
                     d.id, b->status, b->id);
        /* Decided from exactly these bytes, never from later ones: every
         * prefix either needs more or gives the same answer. */
        for (size_t k = 0; k < b->len; k++) {
            uint8_t st2 = 0;
            int rc2 = apns_binary_decode(b->bytes, k, &f, &d, &st2);
            if (rc2 != 0 && !(rc2 == APNS_EFORMAT && st2 == b->status))
                fail_msg("%s: prefix %zu gave rc %d status %u", b->name, k, rc2, st2);
        }
        /* ...and more bytes after it change nothing. */
        uint8_t more[128];
        memcpy(more, b->bytes, b->len);
        memset(more + b->len, 0x01, sizeof more - b->len);
        assert_int_equal(apns_binary_decode(more, sizeof more, &f, &d, &st), APNS_EFORMAT);
        assert_int_equal(st, b->status);
    }
}

static void hostile_frame_length(void **state)
{
    /* A frame announcing 4 GiB is malformed from its first 5 bytes: the
     * caller never has to buffer more. */
    uint8_t b[5] = {0x02, 0xff, 0xff, 0xff, 0xff};
    apns_binary_notification d;
    apns_binary_format f;
    uint8_t st;
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(apns_binary_decode(b, k, &f, &d, &st), 0);
    assert_int_equal(apns_binary_decode(b, 5, &f, &d, &st), APNS_EFORMAT);
    assert_int_equal(st, APNS_BINARY_STATUS_PROTOCOL_ERROR);
    assert_int_equal(f, APNS_BINARY_FRAME);

    /* The largest legal frame length still waits for its bytes. */
    uint8_t m[5] = {0x02, 0x00, 0x00, APNS_BINARY_FRAME_DATA_MAX >> 8,
                    APNS_BINARY_FRAME_DATA_MAX & 0xff};
    assert_int_equal(apns_binary_decode(m, 5, &f, &d, &st), 0);
    m[4]++;
    assert_int_equal(apns_binary_decode(m, 5, &f, &d, &st), APNS_EFORMAT);

    /* Simple/enhanced: a huge token or payload length is refused at once. */
    uint8_t s[3] = {0x00, 0xff, 0xff};
    assert_int_equal(apns_binary_decode(s, 3, &f, &d, &st), APNS_EFORMAT);
    assert_int_equal(st, APNS_BINARY_STATUS_INVALID_TOKEN_SIZE);
}

/* Every valid encoding: each prefix needs more, the whole decodes, and
 * trailing bytes (the next notification) are left alone. */
static void check_splits(const uint8_t *b, size_t len)
{
    static uint8_t more[APNS_BINARY_ENCODED_MAX * 2];
    apns_binary_notification d;
    apns_binary_format f;
    uint8_t st;
    for (size_t k = 0; k < len; k++)
        assert_int_equal(apns_binary_decode(b, k, &f, &d, &st), 0);
    assert_int_equal(apns_binary_decode(b, len, &f, &d, &st), len);
    memcpy(more, b, len);
    memcpy(more + len, b, len);
    assert_int_equal(apns_binary_decode(more, 2 * len, &f, &d, &st), len);
}

static void partial_input_every_split(void **state)
{
    uint8_t out[APNS_BINARY_ENCODED_MAX];
    static char pay[2048];
    memset(pay, 'p', sizeof pay);
    apns_binary_notification n = base_n();
    for (int f = 0; f <= 2; f++) {
        int len = apns_binary_encode((apns_binary_format)f, &n, out, sizeof out);
        assert_true(len > 0);
        check_splits(out, (size_t)len);
    }
    n.payload = pay;
    n.payload_len = 256;
    for (int f = 0; f <= 2; f++) {
        int len = apns_binary_encode((apns_binary_format)f, &n, out, sizeof out);
        check_splits(out, (size_t)len);
    }
    n.payload_len = 2048;
    int len = apns_binary_encode(APNS_BINARY_FRAME, &n, out, sizeof out);
    check_splits(out, (size_t)len);

    apns_binary_notification d;
    apns_binary_format f;
    uint8_t st;
    assert_int_equal(apns_binary_decode(NULL, 0, &f, &d, &st), 0);
    assert_int_equal(apns_binary_decode(out, 10, NULL, &d, &st), APNS_EINVAL);
    assert_int_equal(apns_binary_decode(out, 10, &f, NULL, &st), APNS_EINVAL);
    assert_int_equal(apns_binary_decode(out, 10, &f, &d, NULL), APNS_EINVAL);
    assert_int_equal(apns_binary_decode(NULL, 10, &f, &d, &st), APNS_EINVAL);
}

static void stream_of_mixed_formats(void **state)
{
    /* Back-to-back notifications of all three formats parse by their
     * lengths alone. */
    uint8_t buf[1024];
    size_t off = 0;
    apns_binary_notification n = base_n();
    for (int i = 0; i < 9; i++) {
        n.id = (uint32_t)i;
        int len = apns_binary_encode((apns_binary_format)(i % 3), &n, buf + off, sizeof buf - off);
        assert_true(len > 0);
        off += (size_t)len;
    }
    size_t pos = 0;
    for (int i = 0; i < 9; i++) {
        apns_binary_notification d;
        apns_binary_format f;
        uint8_t st;
        int rc = apns_binary_decode(buf + pos, off - pos, &f, &d, &st);
        assert_true(rc > 0);
        assert_int_equal(f, i % 3);
        if (f != APNS_BINARY_SIMPLE)
            assert_int_equal(d.id, i);
        pos += (size_t)rc;
    }
    assert_int_equal(pos, off);
}

/* ---- error packet ---------------------------------------------------------- */

static void error_packet(void **state)
{
    static const uint8_t want[] = {0x08, 0x08, 0x00, 0x00, 0x01, 0x90};
    uint8_t out[6];
    assert_int_equal(apns_binary_error_encode(8, 400, out, sizeof out), 6);
    assert_memory_equal(out, want, 6);
    assert_int_equal(apns_binary_error_encode(8, 400, out, 5), APNS_EINVAL);
    assert_int_equal(apns_binary_error_encode(8, 400, NULL, 6), APNS_EINVAL);

    uint8_t st = 0;
    uint32_t id = 0;
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(apns_binary_error_decode(want, k, &st, &id), 0);
    assert_int_equal(apns_binary_error_decode(want, 6, &st, &id), 6);
    assert_int_equal(st, 8);
    assert_int_equal(id, 400);

    /* Only 6 bytes are consumed, whatever follows. */
    static const uint8_t two[] = {0x08, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x08, 0x01};
    assert_int_equal(apns_binary_error_decode(two, sizeof two, &st, &id), 6);
    assert_int_equal(st, 10);
    assert_int_equal(id, 0xffffffff);

    /* Any status byte passes through; the command must be 8. */
    for (int s = 0; s < 256; s++) {
        assert_int_equal(apns_binary_error_encode((uint8_t)s, 7, out, 6), 6);
        assert_int_equal(apns_binary_error_decode(out, 6, &st, &id), 6);
        assert_int_equal(st, s);
    }
    static const uint8_t bad[] = {0x02, 0x08, 0, 0, 0, 1};
    assert_int_equal(apns_binary_error_decode(bad, 1, &st, &id), APNS_EFORMAT);
    assert_int_equal(apns_binary_error_decode(bad, 6, &st, &id), APNS_EFORMAT);
    assert_int_equal(apns_binary_error_decode(NULL, 0, &st, &id), 0);
    assert_int_equal(apns_binary_error_decode(want, 6, NULL, &id), APNS_EINVAL);
}

static void status_names(void **state)
{
    assert_string_equal(apns_binary_status_name(8), "Invalid token");
    assert_string_equal(apns_binary_status_name(10), "Shutdown");
    assert_string_equal(apns_binary_status_name(128), "Protocol error");
    assert_string_equal(apns_binary_status_name(255), "None (unknown)");
    assert_string_equal(apns_binary_status_name(9), "Unknown status");
    assert_string_equal(apns_binary_status_name(-1), "Unknown status");
    assert_int_equal(APNS_BINARY_STATUS_INVALID_TOKEN, 8);
    assert_int_equal(APNS_BINARY_STATUS_PROTOCOL_ERROR, 128);
}

/* ---- feedback -------------------------------------------------------------- */

static void feedback_tuples(void **state)
{
    static const uint8_t want[] = {0x5f, 0x5e, 0x0f, 0xf0, 0x00, 0x20, TOK32};
    assert_int_equal(sizeof want, 38);
    uint8_t out[256];
    assert_int_equal(apns_feedback_encode(0x5f5e0ff0, token32, 32, out, sizeof out), 38);
    assert_memory_equal(out, want, 38);
    assert_int_equal(apns_feedback_encode(1, token32, 32, out, 37), APNS_EINVAL);
    assert_int_equal(apns_feedback_encode(1, token32, 0, out, sizeof out), APNS_EBADTOKEN);
    assert_int_equal(apns_feedback_encode(1, NULL, 32, out, sizeof out), APNS_EBADTOKEN);
    assert_int_equal(apns_feedback_encode(1, out, 101, out + 100, 150), APNS_EBADTOKEN);
    assert_int_equal(apns_feedback_encode(1, token32, 32, NULL, 100), APNS_EINVAL);

    apns_feedback_tuple t;
    for (size_t k = 0; k < 38; k++)
        assert_int_equal(apns_feedback_decode(want, k, &t), 0);
    assert_int_equal(apns_feedback_decode(want, 38, &t), 38);
    assert_int_equal(t.timestamp, 0x5f5e0ff0);
    assert_ptr_equal(t.token, want + 6);
    assert_int_equal(t.token_len, 32);

    /* Parsed by the length field: a 32-, a 20- and a 100-byte token. */
    static uint8_t tok[100];
    for (int i = 0; i < 100; i++)
        tok[i] = (uint8_t)i;
    size_t off = 0;
    const size_t lens[] = {32, 20, 100, 1};
    for (int i = 0; i < 4; i++) {
        int rc = apns_feedback_encode((uint32_t)i, tok, lens[i], out + off, sizeof out - off);
        assert_int_equal(rc, 6 + lens[i]);
        off += (size_t)rc;
    }
    size_t pos = 0;
    for (int i = 0; i < 4; i++) {
        int rc = apns_feedback_decode(out + pos, off - pos, &t);
        assert_int_equal(rc, 6 + lens[i]);
        assert_int_equal(t.timestamp, i);
        assert_int_equal(t.token_len, lens[i]);
        assert_memory_equal(t.token, tok, lens[i]);
        pos += (size_t)rc;
    }
    assert_int_equal(pos, off);

    /* Token length 0 or over 100: malformed from the 6-byte header. */
    static const uint8_t zero[] = {0, 0, 0, 1, 0x00, 0x00};
    static const uint8_t big[] = {0, 0, 0, 1, 0x00, 0x65};
    static const uint8_t huge[] = {0, 0, 0, 1, 0xff, 0xff};
    assert_int_equal(apns_feedback_decode(zero, 6, &t), APNS_EFORMAT);
    assert_int_equal(apns_feedback_decode(big, 6, &t), APNS_EFORMAT);
    assert_int_equal(apns_feedback_decode(huge, 6, &t), APNS_EFORMAT);
    assert_int_equal(apns_feedback_decode(huge, 5, &t), 0);
    assert_int_equal(apns_feedback_decode(NULL, 0, &t), 0);
    assert_int_equal(apns_feedback_decode(want, 38, NULL), APNS_EINVAL);
}

/* ---- hex tokens ------------------------------------------------------------ */

static void hex_tokens(void **state)
{
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    uint8_t bin[100];
    assert_int_equal(apns_token_hex_to_bin(hex, 64, bin, sizeof bin), 32);
    assert_memory_equal(bin, token32, 32);
    char back[65];
    assert_int_equal(apns_token_bin_to_hex(bin, 32, back, sizeof back), 0);
    assert_string_equal(back, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    assert_int_equal(apns_token_bin_to_hex(bin, 32, back, 64), APNS_EINVAL);
    assert_int_equal(apns_token_bin_to_hex(NULL, 32, back, 65), APNS_EINVAL);
    assert_int_equal(apns_token_bin_to_hex(bin, 0, back, 1), 0);
    assert_string_equal(back, "");

    assert_int_equal(apns_token_hex_to_bin(hex, 63, bin, sizeof bin), APNS_EBADTOKEN);
    assert_int_equal(apns_token_hex_to_bin(hex, 0, bin, sizeof bin), APNS_EBADTOKEN);
    assert_int_equal(apns_token_hex_to_bin("0g", 2, bin, sizeof bin), APNS_EBADTOKEN);
    assert_int_equal(apns_token_hex_to_bin("0 ", 2, bin, sizeof bin), APNS_EBADTOKEN);
    assert_int_equal(apns_token_hex_to_bin(hex, 64, bin, 31), APNS_EINVAL);
    assert_int_equal(apns_token_hex_to_bin(NULL, 64, bin, 32), APNS_EINVAL);
    /* Every byte value survives the round trip. */
    uint8_t all[100], again[100];
    char h[201];
    for (int start = 0; start < 256; start += 100) {
        for (int i = 0; i < 100; i++)
            all[i] = (uint8_t)(start + i);
        assert_int_equal(apns_token_bin_to_hex(all, 100, h, sizeof h), 0);
        assert_int_equal(apns_token_hex_to_bin(h, 200, again, sizeof again), 100);
        assert_memory_equal(all, again, 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_layout),
        cmocka_unit_test(enhanced_layout),
        cmocka_unit_test(frame_layout),
        cmocka_unit_test(frame_optional_items),
        cmocka_unit_test(frame_items_in_any_order),
        cmocka_unit_test(round_trips_all_sizes),
        cmocka_unit_test(encode_errors),
        cmocka_unit_test(decoder_errors),
        cmocka_unit_test(hostile_frame_length),
        cmocka_unit_test(partial_input_every_split),
        cmocka_unit_test(stream_of_mixed_formats),
        cmocka_unit_test(error_packet),
        cmocka_unit_test(status_names),
        cmocka_unit_test(feedback_tuples),
        cmocka_unit_test(hex_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

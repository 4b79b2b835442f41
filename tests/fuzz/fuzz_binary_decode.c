/*
 * fuzz_binary_decode.c - the server-side notification decoder (apns-sim reads
 * provider bytes with it). Decodes the input as a stream of notifications
 * and aborts when an invariant breaks:
 *   - consumed bytes never exceed the input; pointers stay inside it;
 *   - sizes are within the format's limits;
 *   - "need more" only while fewer than APNS_BINARY_ENCODED_MAX bytes are
 *     left (a hostile length is never waited for);
 *   - errors are APNS_EFORMAT with one of the documented statuses;
 *   - every strict prefix of a decoded notification needs more bytes;
 *   - re-encoding a decoded notification gives the same length, decodes to
 *     the same fields, and gives identical bytes unless the input was a
 *     frame with items out of the canonical 1..5 order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/binary.h"
#include "apns/error.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
    const uint8_t *q = p;
    return q >= buf && n <= len && q - buf <= (ptrdiff_t)(len - n);
}

/* Items of a decoded frame appear in ascending id order. */
static int frame_is_canonical(const uint8_t *b, size_t len)
{
    size_t pos = 5;
    int last = 0;
    while (pos + 3 <= len) {
        int id = b[pos];
        size_t il = ((size_t)b[pos + 1] << 8) | b[pos + 2];
        if (id <= last)
            return 0;
        last = id;
        pos += 3 + il;
    }
    return 1;
}

static void same_fields(const apns_binary_notification *a, const apns_binary_notification *b,
                        apns_binary_format f)
{
    CHECK(a->token_len == b->token_len && memcmp(a->token, b->token, a->token_len) == 0);
    CHECK(a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0);
    if (f != APNS_BINARY_SIMPLE) {
        CHECK(a->id == b->id);
        CHECK(a->expiry == b->expiry);
    }
    CHECK(a->priority == b->priority);
    CHECK(a->omit == b->omit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t re[APNS_BINARY_ENCODED_MAX];
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *b = data + pos;
        size_t left = size - pos;
        apns_binary_notification n;
        apns_binary_format f = (apns_binary_format)-1;
        uint8_t st = 0xee;
        int rc = apns_binary_decode(b, left, &f, &n, &st);
        if (rc == 0) {
            CHECK(left < APNS_BINARY_ENCODED_MAX);
            CHECK(st == 0);
            break;
        }
        if (rc < 0) {
            CHECK(rc == APNS_EFORMAT);
            CHECK(st == APNS_BINARY_STATUS_PROTOCOL_ERROR ||
                  st == APNS_BINARY_STATUS_MISSING_TOKEN ||
                  st == APNS_BINARY_STATUS_MISSING_PAYLOAD ||
                  st == APNS_BINARY_STATUS_INVALID_TOKEN_SIZE ||
                  st == APNS_BINARY_STATUS_INVALID_PAYLOAD_SIZE);
            if (b[0] <= 2)
                CHECK(f == (apns_binary_format)b[0]);
            else
                CHECK(st == APNS_BINARY_STATUS_PROTOCOL_ERROR);
            break;
        }
        size_t used = (size_t)rc;
        CHECK(used <= left && used <= APNS_BINARY_ENCODED_MAX);
        CHECK(st == 0);
        CHECK(f == APNS_BINARY_SIMPLE || f == APNS_BINARY_ENHANCED || f == APNS_BINARY_FRAME);
        CHECK((int)f == b[0]);
        CHECK(inside(n.token, n.token_len, b, used));
        CHECK(inside(n.payload, n.payload_len, b, used));
        CHECK(n.token_len >= 1 && n.payload_len >= 1);
        if (f == APNS_BINARY_FRAME) {
            CHECK(n.token_len <= APNS_BINARY_TOKEN_MAX);
            CHECK(n.payload_len <= APNS_BINARY_PAYLOAD_MAX_FRAME);
            CHECK(n.priority == 0 || n.priority == 5 || n.priority == 10);
            CHECK((n.omit & ~(APNS_BINARY_OMIT_ID | APNS_BINARY_OMIT_EXPIRY)) == 0);
        } else {
            CHECK(n.token_len == APNS_BINARY_TOKEN_LEGACY);
            CHECK(n.payload_len <= APNS_BINARY_PAYLOAD_MAX_LEGACY);
            CHECK(n.priority == 0 && n.omit == 0);
        }

        /* A strict prefix needs more. */
        apns_binary_notification p;
        apns_binary_format pf;
        uint8_t pst;
        CHECK(apns_binary_decode(b, used - 1, &pf, &p, &pst) == 0);

        /* Re-encode. */
        CHECK(apns_binary_encoded_len(f, &n) == used);
        int wrote = apns_binary_encode(f, &n, re, sizeof re);
        CHECK(wrote == rc);
        if (f != APNS_BINARY_FRAME || frame_is_canonical(b, used))
            CHECK(memcmp(re, b, used) == 0);
        apns_binary_notification n2;
        apns_binary_format f2;
        uint8_t st2;
        CHECK(apns_binary_decode(re, used, &f2, &n2, &st2) == rc && f2 == f);
        same_fields(&n, &n2, f);
        pos += used;
    }
    return 0;
}

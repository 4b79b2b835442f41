/*
 * fuzz_feedback.c - the feedback-service tuple decoder. Decodes the input as
 * a stream of tuples and aborts when an invariant breaks: consumed bytes
 * within the input, the token inside the input and 1..100 bytes, "need
 * more" only while fewer than 6 + 100 bytes are left, APNS_EFORMAT only for
 * a token length of 0 or over 100, and re-encoding gives identical bytes.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t re[6 + APNS_BINARY_TOKEN_MAX];
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *b = data + pos;
        size_t left = size - pos;
        apns_feedback_tuple t;
        int rc = apns_feedback_decode(b, left, &t);
        if (rc == 0) {
            CHECK(left < 6 + APNS_BINARY_TOKEN_MAX);
            break;
        }
        if (rc < 0) {
            CHECK(rc == APNS_EFORMAT && left >= 6);
            size_t tl = ((size_t)b[4] << 8) | b[5];
            CHECK(tl == 0 || tl > APNS_BINARY_TOKEN_MAX);
            break;
        }
        size_t used = (size_t)rc;
        CHECK(used <= left);
        CHECK(t.token_len >= 1 && t.token_len <= APNS_BINARY_TOKEN_MAX);
        CHECK(used == 6 + t.token_len);
        CHECK(t.token == b + 6);
        CHECK(apns_feedback_decode(b, used - 1, &t) == 0);
        CHECK(apns_feedback_decode(b, used, &t) == rc);
        CHECK(apns_feedback_encode(t.timestamp, t.token, t.token_len, re, sizeof re) == rc);
        CHECK(memcmp(re, b, used) == 0);
        pos += used;
    }
    return 0;
}

/*
 * fuzz_fcm_token_answer.c - the token endpoint's answer as libapns reads it
 * (lib/fcm_auth_answer.c): arbitrary bytes as a whole HTTP/1.1 answer, fed
 * whole and cut in two at every position the first byte picks, then the
 * body judged; and the bytes as a body under the status the first byte
 * picks. Aborts when an invariant breaks:
 *  - the reader's verdict on the whole input does not depend on the cut
 *    (a prefix needs more or is already complete with the same answer);
 *  - a complete answer has a status of 200..599 and a NUL-terminated body
 *    no longer than the input;
 *  - the judge returns one of its four codes, and a token only when it is
 *    non-empty, printable without spaces, shorter than APNS_JWT_MAX, with
 *    a positive lifetime; details are printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "fcm_auth_int.h"

static void check_detail(const char *d)
{
    for (; *d; d++)
        if ((unsigned char)*d < 0x20 || (unsigned char)*d > 0x7e)
            abort();
}

static void judge(int status, const char *body, size_t len)
{
    apns__fcm_answer a;
    char d[512];
    int rc = apns__fcm_token_answer_parse(status, body, len, &a, d, sizeof d);
    check_detail(d);
    if (rc == 0) {
        size_t n = strlen(a.access_token);
        if (n == 0 || n >= APNS_JWT_MAX || a.expires_in <= 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)a.access_token[i] < 0x21 || (unsigned char)a.access_token[i] > 0x7e)
                abort();
    } else if (rc != APNS_EGRANT && rc != APNS_EUNAVAILABLE && rc != APNS_EFORMAT) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {200, 400, 401, 403, 404, 429, 500, 503};
    apns__h1_answer whole, part;
    char d[256];

    if (size == 0)
        return 0;
    judge(statuses[data[0] % 8], (const char *)data + 1, size - 1);

    int rc = apns__h1_answer_parse(data, size, 1, &whole, d, sizeof d);
    check_detail(d);
    if (rc != 1 && rc != APNS_EFORMAT && rc != APNS_ENOMEM)
        abort();
    if (rc == 1) {
        if (whole.status < 200 || whole.status > 599 || whole.body_len > size ||
            whole.body[whole.body_len] != '\0')
            abort();
        judge(whole.status, whole.body, whole.body_len);
    }
    size_t cut = size > 1 ? (size_t)data[0] * size / 256 : 0;
    int prc = apns__h1_answer_parse(data, cut, 0, &part, d, sizeof d);
    if (prc == 1) {
        /* complete before the end: the whole input reads the same answer
         * (bytes after the framed body are ignored) unless it was read until close */
        if (rc == 1 &&
            (part.status != whole.status || (part.body_len == whole.body_len &&
                                             memcmp(part.body, whole.body, part.body_len) != 0)))
            abort();
        apns__h1_answer_clear(&part);
    }
    if (rc == 1)
        apns__h1_answer_clear(&whole);
    return 0;
}

/*
 * fuzz_fcm_answer.c - the FCM answer parser and classifier
 * (apns_fcm_answer_parse, apns_fcm_retry_after) and the message rules
 * (apns_fcm_fields_validate) on arbitrary bytes.
 *
 * Input: byte 0 and 1 pick the HTTP status (200..599); bytes up to the first
 * '\n' after them are the Retry-After value; the rest is the body (and the
 * fields JSON).
 *
 * Invariants: no crash or leak; every string of the answer is NUL-terminated
 * within its buffer; the action is the reason table's for the reason; a
 * 2xx is NONE, a 429 RETRY, and nothing else is NONE; Retry-After is 0 or
 * within 1..3600; the validator returns 0 or one of its documented codes;
 * a 200's name is the same whether the small scanner or jansson read it
 * (the body padded with a trailing member forces jansson).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "apns/fcm.h"
#include "apns/reason.h"

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int status = 200 + (int)((data[0] << 8 | data[1]) % 400);
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    const char *nl = memchr(p, '\n', n);
    const char *ra = NULL;
    size_t ralen = 0;
    if (nl) {
        ra = p;
        ralen = (size_t)(nl - p);
        n -= ralen + 1;
        p = nl + 1;
    }
    apns_fcm_answer a;
    apns_fcm_answer_parse(status, p, n, ra, ralen, 1700000000, &a);
    if (!TERMINATED(a.name) || !TERMINATED(a.status_name) || !TERMINATED(a.fcm_code) ||
        !TERMINATED(a.error_info) || !TERMINATED(a.field) || !TERMINATED(a.message))
        abort();
    if (a.status != status || a.action != apns_action_for(status, a.reason))
        abort();
    if ((status < 300) != (a.action == APNS_ACTION_NONE))
        abort();
    if (status == 429 && a.action != APNS_ACTION_RETRY)
        abort();
    if (status >= 300 && (a.reason < APNS_REASON_FCM_FIRST && a.reason != APNS_REASON_UNKNOWN))
        abort();
    if (a.retry_after_s != 0 && (a.retry_after_s < 1 || a.retry_after_s > 3600))
        abort();
    if (status == 200 && a.name[0] && n < 60000) {
        /* the same object with one more member: jansson reads it */
        const char *close = memrchr(p, '}', n);
        if (close) {
            size_t head = (size_t)(close - p);
            char *b = malloc(n + 16);
            memcpy(b, p, head);
            memcpy(b + head, ",\"x\":1", 6);
            memcpy(b + head + 6, close, n - head);
            apns_fcm_answer j;
            apns_fcm_answer_parse(200, b, n + 6, NULL, 0, 0, &j);
            if (j.is_json && strcmp(j.name, a.name) != 0)
                abort();
            free(b);
        }
    }
    int64_t r = apns_fcm_retry_after(p, n, 1700000000);
    if (r != 0 && (r < 1 || r > 3600))
        abort();
    int rc = apns_fcm_fields_validate(p, n, NULL, 0);
    if (rc != 0 && rc != APNS_ENOTOBJECT && rc != APNS_ETOOBIG && rc != APNS_EFCMMESSAGE)
        abort();
    return 0;
}

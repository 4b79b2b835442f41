/*
 * fcm_auth_int.h - the sans-I/O parts of FCM service-account auth
 * (internal): the HTTP/1.1 answer reader and the token-endpoint answer
 * parser (fcm_auth_answer.c), unit-tested and fuzzed without a network.
 */
#ifndef APNS_FCM_AUTH_INT_H
#define APNS_FCM_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "apns/jwt.h"

/* The most bytes of one HTTP/1.1 answer (header section + body as sent)
 * the reader keeps: a token answer is well under 4 KiB. */
#define APNS__H1_ANSWER_MAX (64 * 1024)

typedef struct apns__h1_answer {
    int status;            /* the final (non-1xx) status */
    int64_t retry_after_s; /* Retry-After in seconds, 0 if absent or not delta-seconds */
    char *body;            /* the decoded body (chunked undone), NUL-terminated; malloc'ed */
    size_t body_len;
} apns__h1_answer;

/*
 * Reads one HTTP/1.1 answer from raw[0..len), everything received so far
 * on a connection that carried one request; eof = the server closed it.
 * Interim 1xx answers are skipped. The body is framed by Content-Length,
 * chunked Transfer-Encoding, or the end of the connection. Returns 1 when
 * the answer is complete (*out filled; free it with apns__h1_answer_clear),
 * 0 when more bytes are needed (never with eof), APNS_EFORMAT (not HTTP/1.x,
 * bad framing, truncated at eof, over APNS__H1_ANSWER_MAX; detail says
 * what), APNS_ENOMEM. detail is "" unless APNS_EFORMAT.
 */
int apns__h1_answer_parse(const uint8_t *raw, size_t len, int eof, apns__h1_answer *out,
                          char *detail, size_t detail_len);

void apns__h1_answer_clear(apns__h1_answer *a);

typedef struct apns__fcm_answer {
    char access_token[APNS_JWT_MAX];
    int64_t expires_in;
    char error[64];              /* RFC 6749 "error", printable ASCII, cut */
    char error_description[256]; /* its "error_description", printable ASCII, cut */
} apns__fcm_answer;

/*
 * Judges the token endpoint's answer (status, body[0..len)):
 *   200 with {"access_token": non-empty VCHAR string < APNS_JWT_MAX bytes,
 *   "expires_in": integer > 0 (or a string of digits), "token_type":
 *   "Bearer" (any case)} -> 0;
 *   429 and 5xx -> APNS_EUNAVAILABLE (whatever the body);
 *   any other status with an RFC 6749 body {"error": string, ...}
 *   -> APNS_EGRANT (error and error_description copied);
 *   anything else -> APNS_EFORMAT (not JSON, not an object, a field
 *   missing or of the wrong type, another status without an OAuth error).
 * `detail` names the problem and quotes the endpoint's error text.
 */
int apns__fcm_token_answer_parse(int status, const char *body, size_t len, apns__fcm_answer *out,
                                 char *detail, size_t detail_len);

/* The parts of an https URL: host (no brackets), port (443 when absent),
 * path (with the query; "/" when absent). Returns 0 or APNS_EINVAL (not
 * https, no host, bad port, a part too long) with detail. */
int apns__fcm_url_parse(const char *url, char *host, size_t host_len, uint16_t *port, char *path,
                        size_t path_len, char *detail, size_t detail_len);

#endif

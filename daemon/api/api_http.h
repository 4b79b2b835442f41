/*
 * api_http.h - a strict, sans-I/O HTTP/1.1 request parser (RFC 9112) for
 * apnsd's API: no socket, no allocation, no clock. The connection layer
 * (api_conn.c) feeds it bytes; tests/fuzz/fuzz_http_request.c fuzzes it.
 *
 * Three pieces, used in this order for each request on a connection:
 *
 *   gw_api_http_scan()        finds the end of the head (request line and
 *                             fields) in the bytes received so far, refusing
 *                             a bare CR or LF and a head over the limit
 *                             before the head is complete;
 *   gw_api_http_parse_head()  parses the head and decides the body's framing;
 *   gw_api_http_chunked_feed() decodes a chunked body.
 *
 * Strictness (each refusal names its rule in a static sentence):
 *   - lines end in CRLF; a bare CR or LF is 400;
 *   - field names are tokens followed at once by ':' (whitespace before the
 *     colon is 400); a line starting with SP/HT (obs-fold) is 400; field
 *     values hold no control character but HT (400);
 *   - Content-Length: one field of digits only; repeated (even with the same
 *     value) or a list is 400;
 *   - Transfer-Encoding with Content-Length is 400; a final coding that is
 *     not chunked is 400; chunked twice is 400; any other coding before a
 *     final chunked is 501 (we decode none); Transfer-Encoding in HTTP/1.0
 *     is 400;
 *   - HTTP/1.1 needs exactly one Host (400); a major version other than 1 is
 *     505; an Expect other than 100-continue is 417; more than
 *     GW_API_HTTP_FIELDS_MAX fields or a head over GW_API_HTTP_HEAD_MAX bytes
 *     is 431;
 *   - the target is origin-form ("/path?query"), or "*" (no '#').
 * Every refusal of the head or of the chunked framing leaves the connection
 * unusable: the caller answers and closes, reading nothing more as a request.
 */
#ifndef GW_API_HTTP_H
#define GW_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define GW_API_HTTP_HEAD_MAX   (64 * 1024) /* request line + fields + CRLFs */
#define GW_API_HTTP_FIELDS_MAX 100
#define GW_API_HTTP_LEAD_MAX   8 /* empty lines tolerated before a request line */

/* A refusal: the HTTP status to answer (400, 417, 431, 501, 505) and a static
 * sentence naming the rule. */
typedef struct gw_api_http_error {
    int status;
    const char *why;
} gw_api_http_error;

/* ---- finding the end of the head ---------------------------------------- */

typedef struct gw_api_http_scanner {
    size_t off;        /* bytes examined */
    size_t line_start; /* offset of the current line */
    int seen_line;     /* a non-empty line (the request line) was seen */
} gw_api_http_scanner;

/* Zeroes s: call before each request's head. */
void gw_api_http_scan_init(gw_api_http_scanner *s);

/* buf[0..len) is the head received so far (the same prefix on every call,
 * possibly longer). Returns the head's length (through the empty line that
 * ends it, leading empty lines included) once complete; 0 when more bytes
 * are needed; -1 with *err filled on a bare CR/LF, a NUL or a head over
 * GW_API_HTTP_HEAD_MAX. Examines each byte once across calls. */
long gw_api_http_scan(gw_api_http_scanner *s, const char *buf, size_t len, gw_api_http_error *err);

/* ---- the head ------------------------------------------------------------ */

typedef enum gw_api_http_body {
    GW_API_HTTP_BODY_NONE = 0, /* no Content-Length, no Transfer-Encoding: empty */
    GW_API_HTTP_BODY_LENGTH,   /* Content-Length bytes */
    GW_API_HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
} gw_api_http_body;

typedef struct gw_api_http_field {
    const char *name;  /* as sent; compare case-insensitively */
    const char *value; /* OWS trimmed */
} gw_api_http_field;

typedef struct gw_api_http_head {
    const char *method; /* "GET", any token */
    const char *target; /* "/v1/push?wait=5" or "*" */
    int minor;          /* HTTP/1.<minor>: 0 or 1 (1.2 and later count as 1) */
    size_t n_fields;
    gw_api_http_field fields[GW_API_HTTP_FIELDS_MAX];
    gw_api_http_body body;
    uint64_t content_length; /* GW_API_HTTP_BODY_LENGTH */
    int keep_alive;          /* the connection may carry another request */
    int expect_continue;     /* Expect: 100-continue */
} gw_api_http_head;

/* Parses the complete head buf[0..len) (as gw_api_http_scan() delimited it)
 * in place: it writes NULs into buf, and every string of *h points into buf
 * (borrowed: valid while buf is). Returns 0, or -1 with *err filled (h is
 * then unspecified). Never reads outside buf. */
int gw_api_http_parse_head(char *buf, size_t len, gw_api_http_head *h, gw_api_http_error *err);

/* The value of the first field named `name` (case-insensitive), or NULL;
 * *count (may be NULL) gets how many fields have that name. */
const char *gw_api_http_field_get(const gw_api_http_head *h, const char *name, size_t *count);

/* ---- chunked bodies ------------------------------------------------------ */

typedef struct gw_api_http_chunked {
    int state;
    uint64_t left;     /* data bytes left in the current chunk */
    unsigned digits;   /* hex digits of the size line so far */
    size_t line_bytes; /* bytes of the current extension or trailer line, and all trailers */
    int done;          /* the last chunk and the trailer section were read */
} gw_api_http_chunked;

void gw_api_http_chunked_init(gw_api_http_chunked *c);

/* Decodes in[0..len). Returns the input bytes consumed (0..len) and sets
 * *data / *data_len to the body bytes among them (one span per call, inside
 * in; *data_len 0 when none); stops after a span of data or when the body is
 * complete (c->done: the bytes after it belong to the next request). -1 with
 * *err filled (400: a size that is not hex or over 2^60, a missing CRLF, an
 * extension or trailer section over 8 KiB). Call again with the rest. */
long gw_api_http_chunked_feed(gw_api_http_chunked *c, const char *in, size_t len, const char **data,
                              size_t *data_len, gw_api_http_error *err);

#endif

/*
 * api_http.c - the strict HTTP/1.1 request parser (contract: api_http.h).
 *
 * Design note
 * -----------
 * Request smuggling lives in the gap between two parsers that frame the same
 * bytes differently (a proxy in front and us). This parser closes the gap
 * by refusing, not repairing: every ambiguity RFC 9112 lets a recipient
 * either reject or interpret (repeated Content-Length, Transfer-Encoding
 * beside Content-Length, obs-fold, whitespace before the colon, bare LF) is
 * rejected, and a refusal always ends the connection (the caller's job), so
 * no byte after it is read as a request. Framing fields are read from the
 * whole field list before the body is touched.
 *
 * The head is delimited first (gw_api_http_scan, incremental, each byte
 * examined once) and parsed in one pass over a complete buffer, so the
 * parser itself needs no resumable state; only the chunked decoder does.
 */
#include "api_http.h"

#include <string.h>
#include <strings.h>

#include "hex.h"

#define CHUNK_LINE_MAX 8192 /* a chunk-size line's extensions; all trailers together */
#define CHUNK_SIZE_HEX 15   /* hex digits of a chunk size: < 2^60 */

static int fail(gw_api_http_error *err, int status, const char *why)
{
    if (err != NULL) {
        err->status = status;
        err->why = why;
    }
    return -1;
}

/* tchar (RFC 9110 5.6.2) */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field-vchar, SP or HTAB (RFC 9110 5.5); obs-text allowed */
static int is_value_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f);
}

/* ---- scanning ----------------------------------------------------------- */

void gw_api_http_scan_init(gw_api_http_scanner *s)
{
    memset(s, 0, sizeof(*s));
}

long gw_api_http_scan(gw_api_http_scanner *s, const char *buf, size_t len, gw_api_http_error *err)
{
    size_t lead = 0;

    for (; s->off < len; s->off++) {
        unsigned char c = (unsigned char)buf[s->off];
        if (s->off >= GW_API_HTTP_HEAD_MAX)
            return fail(err, 431, "the request head is over 64 KiB");
        if (c == '\0')
            return fail(err, 400, "a NUL byte in the request head");
        if (s->off > 0 && buf[s->off - 1] == '\r' && c != '\n')
            return fail(err, 400, "a bare CR in the request head (lines end in CRLF)");
        if (c != '\n')
            continue;
        if (s->off == 0 || buf[s->off - 1] != '\r')
            return fail(err, 400, "a bare LF in the request head (lines end in CRLF)");
        if (s->off - s->line_start == 1) { /* an empty line */
            if (s->seen_line) {
                s->off++;
                return (long)s->off;
            }
            /* Before the request line: tolerated, a few (RFC 9112 2.2). */
            lead = (s->off + 1) / 2;
            if (lead > GW_API_HTTP_LEAD_MAX)
                return fail(err, 400, "too many empty lines before the request line");
        } else {
            s->seen_line = 1;
        }
        s->line_start = s->off + 1;
    }
    return 0;
}

/* ---- the head ------------------------------------------------------------ */

/* The next CRLF-terminated line of [*p, end): NUL-terminated in place. */
static char *next_line(char **p, char *end)
{
    char *s = *p, *e = s;

    while (e + 1 < end && !(e[0] == '\r' && e[1] == '\n'))
        e++;
    if (e + 1 >= end)
        return NULL;
    *e = '\0';
    *p = e + 2;
    return s;
}

static int request_line(char *line, gw_api_http_head *h, gw_api_http_error *err)
{
    char *p = line, *t;

    h->method = p;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == line || *p != ' ')
        return fail(err, 400, "the request line must be METHOD SP TARGET SP HTTP/1.1");
    *p++ = '\0';
    t = p;
    while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == t || *p != ' ')
        return fail(err, 400, "the request line must be METHOD SP TARGET SP HTTP/1.1");
    *p++ = '\0';
    h->target = t;
    if (strncmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' ||
        p[7] > '9' || p[8] != '\0')
        return fail(err, 400, "the request line must end in HTTP/1.1 or HTTP/1.0");
    if (p[5] != '1')
        return fail(err, 505, "only HTTP/1.1 and HTTP/1.0 are served here");
    h->minor = p[7] == '0' ? 0 : 1;
    if (strcmp(t, "*") != 0 && t[0] != '/')
        return fail(err, 400, "the request target must be a path (origin-form: /v1/push)");
    if (strchr(t, '#') != NULL)
        return fail(err, 400, "the request target must not hold a fragment (#)");
    return 0;
}

static int field_line(char *line, gw_api_http_head *h, gw_api_http_error *err)
{
    char *p = line, *v, *e;

    if (*p == ' ' || *p == '\t')
        return fail(err, 400, "a field line folded onto the next (obs-fold) is not accepted");
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == line)
        return fail(err, 400, "a field name must be a token");
    if (*p == ' ' || *p == '\t')
        return fail(err, 400, "whitespace between a field name and its colon");
    if (*p != ':')
        return fail(err, 400, "a field name must be a token followed by ':'");
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    v = p;
    for (e = v; *e != '\0'; e++)
        if (!is_value_char((unsigned char)*e))
            return fail(err, 400, "a control character in a field value");
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    if (h->n_fields >= GW_API_HTTP_FIELDS_MAX)
        return fail(err, 431, "more than 100 header fields");
    h->fields[h->n_fields].name = line;
    h->fields[h->n_fields].value = v;
    h->n_fields++;
    return 0;
}

/* Does the comma-separated list `v` hold token `tok` (case-insensitive)? */
static int list_has(const char *v, const char *tok)
{
    size_t n = strlen(tok);

    while (*v != '\0') {
        v += strspn(v, " \t,");
        size_t l = strcspn(v, ",");
        size_t t = l;
        while (t > 0 && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (t == n && strncasecmp(v, tok, n) == 0)
            return 1;
        v += l;
    }
    return 0;
}

/* Transfer-Encoding: the codings of every such field, in order. */
static int transfer_codings(const gw_api_http_head *h, gw_api_http_error *err)
{
    int chunked = 0, other = 0, last_chunked = 0;

    for (size_t i = 0; i < h->n_fields; i++) {
        const char *v = h->fields[i].value;
        if (strcasecmp(h->fields[i].name, "Transfer-Encoding") != 0)
            continue;
        while (*v != '\0') {
            v += strspn(v, " \t,");
            size_t l = strcspn(v, ",");
            size_t t = strcspn(v, ",; \t");
            if (l == 0)
                break;
            last_chunked = t == 7 && strncasecmp(v, "chunked", 7) == 0;
            chunked += last_chunked;
            other += !last_chunked;
            v += l;
        }
    }
    if (chunked + other == 0)
        return fail(err, 400, "Transfer-Encoding names no coding");
    if (!last_chunked)
        return fail(err, 400, "the final transfer coding must be chunked");
    if (chunked > 1)
        return fail(err, 400, "chunked is applied more than once");
    if (other > 0)
        return fail(err, 501, "a transfer coding other than chunked (none is decoded here)");
    return 0;
}

static int framing(gw_api_http_head *h, gw_api_http_error *err)
{
    size_t n_cl, n_te, n_host, n_expect;
    const char *cl = gw_api_http_field_get(h, "Content-Length", &n_cl);
    const char *conn = gw_api_http_field_get(h, "Connection", NULL);
    const char *expect = gw_api_http_field_get(h, "Expect", &n_expect);

    (void)gw_api_http_field_get(h, "Transfer-Encoding", &n_te);
    (void)gw_api_http_field_get(h, "Host", &n_host);
    if (n_te > 0) {
        if (n_cl > 0)
            return fail(err, 400, "Transfer-Encoding together with Content-Length");
        if (h->minor == 0)
            return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (transfer_codings(h, err) != 0)
            return -1;
        h->body = GW_API_HTTP_BODY_CHUNKED;
    } else if (n_cl > 1) {
        return fail(err, 400, "Content-Length is given more than once");
    } else if (n_cl == 1) {
        size_t d = strspn(cl, "0123456789");
        if (d == 0 || cl[d] != '\0')
            return fail(err, 400, "Content-Length must be one number of digits");
        if (d > 18)
            return fail(err, 400, "Content-Length is out of range");
        h->content_length = 0;
        for (size_t i = 0; i < d; i++)
            h->content_length = h->content_length * 10 + (uint64_t)(cl[i] - '0');
        h->body = GW_API_HTTP_BODY_LENGTH;
    }
    if (h->minor == 1 && n_host != 1)
        return fail(err, 400,
                    n_host == 0 ? "HTTP/1.1 requires a Host field"
                                : "Host is given more than once");
    if (n_expect > 1 || (expect != NULL && strcasecmp(expect, "100-continue") != 0))
        return fail(err, 417, "the only expectation met here is Expect: 100-continue");
    h->expect_continue = expect != NULL;
    if (conn != NULL && list_has(conn, "close"))
        h->keep_alive = 0;
    else
        h->keep_alive = h->minor == 1 || (conn != NULL && list_has(conn, "keep-alive"));
    /* Connection fields after the first still count. */
    for (size_t i = 0; i < h->n_fields; i++)
        if (strcasecmp(h->fields[i].name, "Connection") == 0 &&
            list_has(h->fields[i].value, "close"))
            h->keep_alive = 0;
    return 0;
}

int gw_api_http_parse_head(char *buf, size_t len, gw_api_http_head *h, gw_api_http_error *err)
{
    char *p = buf, *end = buf + len, *line;

    memset(h, 0, sizeof(*h));
    if (buf == NULL)
        return fail(err, 400, "no request");
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            return fail(err, 400, "a NUL byte in the request head");
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    line = next_line(&p, end);
    if (line == NULL || line[0] == '\0')
        return fail(err, 400, "no request line");
    if (request_line(line, h, err) != 0)
        return -1;
    for (;;) {
        line = next_line(&p, end);
        if (line == NULL)
            return fail(err, 400, "the request head does not end with an empty line");
        if (line[0] == '\0')
            break;
        if (strchr(line, '\r') != NULL || strchr(line, '\n') != NULL)
            return fail(err, 400, "a bare CR or LF in the request head");
        if (field_line(line, h, err) != 0)
            return -1;
    }
    return framing(h, err);
}

const char *gw_api_http_field_get(const gw_api_http_head *h, const char *name, size_t *count)
{
    const char *first = NULL;
    size_t n = 0;

    for (size_t i = 0; h != NULL && i < h->n_fields; i++)
        if (strcasecmp(h->fields[i].name, name) == 0) {
            if (n++ == 0)
                first = h->fields[i].value;
        }
    if (count != NULL)
        *count = n;
    return first;
}

/* ---- chunked ------------------------------------------------------------- */

enum {
    C_SIZE = 0, /* hex digits */
    C_EXT,      /* after the size: BWS, ";ext", up to CR */
    C_SIZE_LF,  /* the LF after the size line's CR */
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILER,    /* start of a trailer line, or the final empty line */
    C_TRAILER_IN, /* inside a trailer line */
    C_TRAILER_LF, /* LF of a trailer line (or of the final line: line_bytes 0) */
    C_DONE,
};

void gw_api_http_chunked_init(gw_api_http_chunked *c)
{
    memset(c, 0, sizeof(*c));
}

long gw_api_http_chunked_feed(gw_api_http_chunked *c, const char *in, size_t len, const char **data,
                              size_t *data_len, gw_api_http_error *err)
{
    size_t i = 0;

    *data = NULL;
    *data_len = 0;
    while (i < len && c->state != C_DONE) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case C_SIZE:
            if (common_hex_val(ch) >= 0) {
                if (++c->digits > CHUNK_SIZE_HEX)
                    return fail(err, 400, "a chunk size is out of range");
                c->left = c->left * 16 + (uint64_t)common_hex_val(ch);
                i++;
                break;
            }
            if (c->digits == 0)
                return fail(err, 400, "a chunk size must be hex digits");
            c->state = C_EXT;
            c->line_bytes = 0;
            break; /* the same byte, in C_EXT */
        case C_EXT:
            if (ch == '\r') {
                c->state = C_SIZE_LF;
            } else if (ch == '\n' || ch == '\0' || (ch < 0x20 && ch != '\t') || ch == 0x7f) {
                return fail(err, 400, "a control character on a chunk size line");
            } else if (++c->line_bytes > CHUNK_LINE_MAX) {
                return fail(err, 400, "chunk extensions over 8 KiB");
            } else if (c->line_bytes == 1 && ch != ';' && ch != ' ' && ch != '\t') {
                return fail(err, 400, "a chunk size must be hex digits");
            }
            i++;
            break;
        case C_SIZE_LF:
            if (ch != '\n')
                return fail(err, 400, "a chunk size line must end in CRLF");
            i++;
            c->digits = 0;
            c->state = c->left > 0 ? C_DATA : C_TRAILER;
            c->line_bytes = 0;
            break;
        case C_DATA: {
            size_t n = len - i;
            if (n > c->left)
                n = (size_t)c->left;
            *data = in + i;
            *data_len = n;
            c->left -= n;
            i += n;
            if (c->left == 0)
                c->state = C_DATA_CR;
            return (long)i; /* one span per call */
        }
        case C_DATA_CR:
        case C_DATA_LF:
            if (ch != (c->state == C_DATA_CR ? '\r' : '\n'))
                return fail(err, 400, "chunk data must be followed by CRLF");
            i++;
            c->state = c->state == C_DATA_CR ? C_DATA_LF : C_SIZE;
            break;
        case C_TRAILER:
            if (ch == '\r') {
                c->state = C_TRAILER_LF;
                c->digits = 1; /* an empty line: the end */
                i++;
                break;
            }
            c->state = C_TRAILER_IN;
            c->digits = 0;
            break;
        case C_TRAILER_IN:
            if (ch == '\r')
                c->state = C_TRAILER_LF;
            else if (ch == '\n' || ch == '\0')
                return fail(err, 400, "a bare LF or NUL in the trailer section");
            else if (++c->line_bytes > CHUNK_LINE_MAX)
                return fail(err, 400, "a trailer section over 8 KiB");
            i++;
            break;
        case C_TRAILER_LF:
            if (ch != '\n')
                return fail(err, 400, "a trailer line must end in CRLF");
            i++;
            if (c->digits == 1) {
                c->state = C_DONE;
                c->done = 1;
            } else {
                c->state = C_TRAILER;
            }
            break;
        default:
            return fail(err, 400, "chunked decoder in an unknown state");
        }
    }
    return (long)i;
}

/*
 * fuzz_http_request.c - the API's HTTP/1.1 parser (daemon/api/api_http.c)
 * fed an arbitrary byte stream as a connection would receive it: requests
 * one after another, each head delimited, parsed, and its body framed
 * (Content-Length or chunked), until the bytes run out or a refusal ends
 * the connection.
 *
 * Invariants (abort() on a violation):
 *   - the head's end (or refusal) found by the scanner is the same whether
 *     the bytes arrive at once or one by one;
 *   - a refusal carries a status of 400, 417, 431, 501 or 505 and a reason;
 *   - a parsed head's strings lie inside its buffer; Content-Length framing
 *     means exactly one Content-Length field and no Transfer-Encoding,
 *     chunked framing a Transfer-Encoding field and no Content-Length;
 *   - the chunked decoder gives the same body bytes and the same end (or
 *     refusal) whether fed at once or one byte at a time, and never reads
 *     or reports outside its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

#define MAX_REQUESTS 16

static void check(int ok)
{
    if (!ok)
        abort();
}

static int status_ok(const gw_api_http_error *e)
{
    return (e->status == 400 || e->status == 417 || e->status == 431 || e->status == 501 ||
            e->status == 505) &&
           e->why != NULL && e->why[0] != '\0';
}

static void inside(const char *p, const char *buf, size_t len)
{
    check(p != NULL && p >= buf && p + strlen(p) <= buf + len);
}

/* The chunked body at in[0..len): consumed bytes (or -1), body bytes into
 * out (at most len). step 0: all at once; else byte by byte. */
static long chunked(const char *in, size_t len, int step, char *out, size_t *out_len, int *done)
{
    gw_api_http_chunked c;
    gw_api_http_error e;
    size_t off = 0;

    gw_api_http_chunked_init(&c);
    *out_len = 0;
    while (off < len && !c.done) {
        size_t n = step ? 1 : len - off;
        const char *d;
        size_t dl;
        long used = gw_api_http_chunked_feed(&c, in + off, n, &d, &dl, &e);
        if (used < 0) {
            check(status_ok(&e));
            return -1;
        }
        check((size_t)used <= n);
        if (dl > 0) {
            check(d >= in + off && d + dl <= in + off + (size_t)used);
            memcpy(out + *out_len, d, dl);
            *out_len += dl;
        }
        if (used == 0 && !c.done)
            break; /* must not happen with bytes left */
        off += (size_t)used;
    }
    *done = c.done;
    return (long)off;
}

static long scan(const char *buf, size_t len, int step, gw_api_http_error *e)
{
    gw_api_http_scanner s;
    long r = 0;

    gw_api_http_scan_init(&s);
    if (!step)
        return gw_api_http_scan(&s, buf, len, e);
    for (size_t n = 1; n <= len && r == 0; n++)
        r = gw_api_http_scan(&s, buf, n, e);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t off = 0;

    for (int req = 0; req < MAX_REQUESTS && off < size; req++) {
        gw_api_http_error e1, e2;
        long h1 = scan(in + off, size - off, 0, &e1);
        long h2 = scan(in + off, size - off, 1, &e2);
        gw_api_http_head *h;
        char *buf;

        check(h1 == h2);
        if (h1 < 0) {
            check(status_ok(&e1) && e1.status == e2.status);
            return 0;
        }
        if (h1 == 0)
            return 0;
        check((size_t)h1 <= size - off);
        buf = malloc((size_t)h1 + 1);
        h = malloc(sizeof(*h));
        check(buf != NULL && h != NULL);
        memcpy(buf, in + off, (size_t)h1);
        buf[h1] = '\0';
        if (gw_api_http_parse_head(buf, (size_t)h1, h, &e1) != 0) {
            check(status_ok(&e1));
            free(buf);
            free(h);
            return 0;
        }
        {
            size_t n_cl, n_te;
            inside(h->method, buf, (size_t)h1);
            inside(h->target, buf, (size_t)h1);
            check(h->n_fields <= GW_API_HTTP_FIELDS_MAX);
            for (size_t i = 0; i < h->n_fields; i++) {
                inside(h->fields[i].name, buf, (size_t)h1);
                inside(h->fields[i].value, buf, (size_t)h1);
            }
            gw_api_http_field_get(h, "Content-Length", &n_cl);
            gw_api_http_field_get(h, "Transfer-Encoding", &n_te);
            if (h->body == GW_API_HTTP_BODY_LENGTH)
                check(n_cl == 1 && n_te == 0);
            if (h->body == GW_API_HTTP_BODY_CHUNKED)
                check(n_te > 0 && n_cl == 0 && h->minor == 1);
            if (h->body == GW_API_HTTP_BODY_NONE)
                check(n_cl == 0 && n_te == 0);
        }
        off += (size_t)h1;
        if (h->body == GW_API_HTTP_BODY_LENGTH) {
            if (h->content_length > size - off) {
                off = size;
            } else {
                off += (size_t)h->content_length;
            }
        } else if (h->body == GW_API_HTTP_BODY_CHUNKED) {
            char *b1 = malloc(size - off + 1), *b2 = malloc(size - off + 1);
            size_t l1, l2;
            int d1, d2;
            long u1, u2;
            check(b1 != NULL && b2 != NULL);
            u1 = chunked(in + off, size - off, 0, b1, &l1, &d1);
            u2 = chunked(in + off, size - off, 1, b2, &l2, &d2);
            check(u1 == u2);
            if (u1 >= 0)
                check(d1 == d2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
            free(b1);
            free(b2);
            if (u1 < 0 || !d1)
                off = size;
            else
                off += (size_t)u1;
        }
        free(buf);
        free(h);
    }
    return 0;
}

/* http1.c - strict HTTP/1.1 request parser (http1.h). */
#include "http1.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static long fail(fsim_h1_req *out, int status, const char *why)
{
    out->status = status;
    out->why = why;
    return -1;
}

static int name_is(const char *p, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(p, want, n) == 0;
}

/* Finds the CRLF ending the line at buf[off..end); returns its offset, -1
 * when the line is not complete, -2 on a bare CR or LF. */
static long line_end(const char *buf, size_t off, size_t end)
{
    for (size_t i = off; i < end; i++) {
        if (buf[i] == '\n')
            return -2;
        if (buf[i] == '\r') {
            if (i + 1 >= end)
                return -1;
            return buf[i + 1] == '\n' ? (long)i : -2;
        }
    }
    return -1;
}

/* The chunked body at buf[off..len) (RFC 9112 7.1), decoded into scratch
 * (FSIM_H1_MAX_BODY bytes). Chunk extensions are ignored; trailer fields are
 * checked like header fields and dropped. */
static long chunked(const char *buf, size_t len, size_t off, fsim_h1_req *out, char *scratch)
{
    size_t total = 0;
    for (;;) {
        long e = line_end(buf, off, len);
        if (e == -2)
            return fail(out, 400, "bare CR or LF in a chunk size line");
        if (e == -1)
            return len - off > 1024 ? fail(out, 400, "chunk size line too long") : 0;
        size_t le = (size_t)e, i = off, size = 0;
        while (i < le && isxdigit((unsigned char)buf[i])) {
            if (i - off >= 8)
                return fail(out, 413, "body too large");
            char ch = buf[i++];
            size = size * 16 + (size_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
        }
        if (i == off || (i < le && buf[i] != ';' && buf[i] != ' ' && buf[i] != '\t'))
            return fail(out, 400, "bad chunk size");
        for (size_t k = i; k < le; k++) /* chunk-ext: ignored, but no controls */
            if ((unsigned char)buf[k] < 0x20 && buf[k] != '\t')
                return fail(out, 400, "control character in a chunk extension");
        off = le + 2;
        if (size == 0)
            break;
        if (total + size > FSIM_H1_MAX_BODY)
            return fail(out, 413, "body too large");
        if (len - off < size + 2)
            return 0;
        if (buf[off + size] != '\r' || buf[off + size + 1] != '\n')
            return fail(out, 400, "chunk data not followed by CRLF");
        memcpy(scratch + total, buf + off, size);
        total += size;
        off += size + 2;
    }
    for (;;) { /* trailer section */
        long e = line_end(buf, off, len);
        if (e == -2)
            return fail(out, 400, "bare CR or LF in a trailer field");
        if (e == -1)
            return len - off > FSIM_H1_MAX_HEAD ? fail(out, 431, "trailer section too large") : 0;
        size_t le = (size_t)e, n = off;
        if (le == off)
            break;
        while (n < le && is_tchar((unsigned char)buf[n]))
            n++;
        if (n == off || n >= le || buf[n] != ':')
            return fail(out, 400, "malformed trailer field");
        off = le + 2;
    }
    out->body = (fsim_str){scratch, total};
    return (long)(off + 2);
}

long fsim_h1_parse(const char *buf, size_t len, fsim_h1_req *out, char *scratch)
{
    memset(out, 0, sizeof *out);
    size_t lim = len < FSIM_H1_MAX_HEAD ? len : FSIM_H1_MAX_HEAD;

    /* Request line. */
    long e = line_end(buf, 0, lim);
    if (e == -2)
        return fail(out, 400, "bare CR or LF in the request line");
    if (e == -1)
        return len >= FSIM_H1_MAX_HEAD ? fail(out, 431, "request header section too large") : 0;
    size_t i = 0, le = (size_t)e;
    while (i < le && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == 0 || i >= le || buf[i] != ' ')
        return fail(out, 400, "malformed request line (method)");
    out->method = (fsim_str){buf, i};
    size_t t0 = ++i;
    while (i < le && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f)
        i++;
    if (i == t0 || i >= le || buf[i] != ' ')
        return fail(out, 400, "malformed request line (target)");
    out->target = (fsim_str){buf + t0, i - t0};
    i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3) */
    if (le - i != 8 || memcmp(buf + i, "HTTP/", 5) != 0 || buf[i + 5] < '0' || buf[i + 5] > '9' ||
        buf[i + 6] != '.' || buf[i + 7] < '0' || buf[i + 7] > '9')
        return fail(out, 400, "malformed request line (version)");
    if (buf[i + 5] != '1' || buf[i + 7] != '1')
        return fail(out, 505, "only HTTP/1.1 is served");

    /* Header fields. */
    size_t off = le + 2;
    int have_cl = 0, have_host = 0, have_te = 0;
    size_t cl = 0;
    for (;;) {
        e = line_end(buf, off, lim);
        if (e == -2)
            return fail(out, 400, "bare CR or LF in a header field");
        if (e == -1)
            return len >= FSIM_H1_MAX_HEAD ? fail(out, 431, "request header section too large") : 0;
        le = (size_t)e;
        if (le == off) {
            off += 2;
            break;
        }
        if (buf[off] == ' ' || buf[off] == '\t')
            return fail(out, 400, "obsolete line folding");
        size_t n = off;
        while (n < le && is_tchar((unsigned char)buf[n]))
            n++;
        if (n == off || n >= le || buf[n] != ':')
            return fail(out, 400, "malformed header field name");
        const char *name = buf + off;
        size_t nlen = n - off;
        size_t v = n + 1, ve = le;
        while (v < ve && (buf[v] == ' ' || buf[v] == '\t'))
            v++;
        while (ve > v && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        for (size_t k = v; k < ve; k++) {
            unsigned char c = (unsigned char)buf[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return fail(out, 400, "control character in a header value");
        }
        fsim_str val = {buf + v, ve - v};
        if (name_is(name, nlen, "content-length")) {
            if (have_cl)
                return fail(out, 400, "repeated Content-Length");
            if (val.len == 0 || val.len > 9)
                return fail(out, 400, "bad Content-Length");
            for (size_t k = 0; k < val.len; k++) {
                if (val.p[k] < '0' || val.p[k] > '9')
                    return fail(out, 400, "bad Content-Length");
                cl = cl * 10 + (size_t)(val.p[k] - '0');
            }
            have_cl = 1;
        } else if (name_is(name, nlen, "transfer-encoding")) {
            /* RFC 9112 6.1: chunked at most once and last in a request. */
            size_t k = val.len;
            while (k > 0 && val.p[k - 1] != ',' && val.p[k - 1] != ' ')
                k--;
            if (have_te || val.len - k != 7 || strncasecmp(val.p + k, "chunked", 7) != 0)
                return fail(out, 400, "Transfer-Encoding without a single, final chunked");
            for (size_t j = 0; j + 7 <= k; j++)
                if (strncasecmp(val.p + j, "chunked", 7) == 0)
                    return fail(out, 400, "chunked applied more than once");
            have_te = 1;
        } else if (name_is(name, nlen, "host")) {
            if (have_host)
                return fail(out, 400, "repeated Host");
            have_host = 1;
            out->host = val;
        } else if (name_is(name, nlen, "authorization")) {
            if (out->authorization.p)
                return fail(out, 400, "repeated Authorization");
            out->authorization = val;
        } else if (name_is(name, nlen, "content-type")) {
            out->content_type = val;
        } else if (name_is(name, nlen, "connection")) {
            for (size_t k = 0; k + 5 <= val.len; k++)
                if (strncasecmp(val.p + k, "close", 5) == 0)
                    out->close = 1;
        }
        off = le + 2;
    }
    if (have_te && have_cl)
        return fail(out, 400, "both Transfer-Encoding and Content-Length");
    if (!have_host)
        return fail(out, 400, "missing Host");
    if (have_te)
        return chunked(buf, len, off, out, scratch);
    if (!have_cl && name_is(out->method.p, out->method.len, "POST"))
        return fail(out, 411, "POST without Content-Length");
    if (cl > FSIM_H1_MAX_BODY)
        return fail(out, 413, "body too large");
    if (len - off < cl)
        return 0;
    out->body = (fsim_str){buf + off, cl};
    return (long)(off + cl);
}

/*
 * fcm_auth_answer.c - the token endpoint's answer, read and judged (sans I/O).
 *
 * Design note. One connection carries one request (Connection: close), so
 * the reader keeps every byte received (bounded by APNS__H1_ANSWER_MAX) and
 * parses the whole buffer again after each read: a token answer arrives in
 * one or two TLS records, and re-parsing a few KiB is cheaper to get right
 * than a resumable state machine. The reader is strict where a lie would
 * change the framing (a bad or repeated Content-Length, Transfer-Encoding
 * that is not a final "chunked", a bad chunk size, bare LF line ends) and
 * lenient elsewhere (unknown headers, trailers). The judge maps the answer
 * to one code: a token, a refusal of the grant (RFC 6749 §5.2: the operator
 * must act), a transient failure (5xx, 429: retry), or malformed; every
 * string of the endpoint that goes into a detail is reduced to printable
 * ASCII first.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "apns/error.h"
#include "detail.h"
#include "fcm_auth_int.h"

/* ---- HTTP/1.1 answer --------------------------------------------------------- */

void apns__h1_answer_clear(apns__h1_answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    memset(a, 0, sizeof *a);
}

/* The end of the line starting at p (the CR of its CRLF), or NULL when no
 * CRLF is in [p, end); *bad = 1 for a bare LF or CR. */
static const char *line_end(const char *p, const char *end, int *bad)
{
    for (const char *q = p; q < end; q++) {
        if (*q == '\n') {
            *bad = 1;
            return NULL;
        }
        if (*q == '\r') {
            if (q + 1 == end)
                return NULL;
            if (q[1] != '\n') {
                *bad = 1;
                return NULL;
            }
            return q;
        }
    }
    return NULL;
}

static int name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Parses digits [p, e) into *v (bounded). 0 or -1. */
static int parse_digits(const char *p, const char *e, int64_t *v)
{
    int64_t x = 0;
    if (p == e)
        return -1;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9' || x > (INT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (*p - '0');
    }
    *v = x;
    return 0;
}

/* Decodes a chunked body starting at p. Returns 1 done (body set), 0 more
 * needed, -1 bad framing. */
static int dechunk(const char *p, const char *end, char **body, size_t *body_len, char *detail,
                   size_t dl)
{
    size_t cap = (size_t)(end - p) + 1, n = 0;
    char *b = malloc(cap);
    int bad = 0;
    if (b == NULL)
        return APNS_ENOMEM;
    for (;;) {
        const char *le = line_end(p, end, &bad);
        if (le == NULL)
            goto need;
        const char *s = p, *se = s;
        while (se < le && isxdigit((unsigned char)*se))
            se++;
        if (se == s || se - s > 8 || (se < le && *se != ';' && *se != ' ' && *se != '\t')) {
            apns__set_detail(detail, dl, "bad chunk size line");
            goto bad;
        }
        size_t sz = (size_t)strtoul(s, NULL, 16);
        p = le + 2;
        if (sz == 0) {
            /* trailer section: lines until an empty one */
            for (;;) {
                le = line_end(p, end, &bad);
                if (le == NULL)
                    goto need;
                if (le == p)
                    break;
                if (memchr(p, ':', (size_t)(le - p)) == NULL) {
                    apns__set_detail(detail, dl, "malformed trailer field");
                    goto bad;
                }
                p = le + 2;
            }
            b[n] = '\0';
            *body = b;
            *body_len = n;
            return 1;
        }
        if ((size_t)(end - p) < sz + 2)
            goto need;
        memcpy(b + n, p, sz);
        n += sz;
        p += sz;
        if (p[0] != '\r' || p[1] != '\n') {
            apns__set_detail(detail, dl, "chunk data not followed by CRLF");
            goto bad;
        }
        p += 2;
    }
need:
    free(b);
    if (bad) {
        apns__set_detail(detail, dl, "bare CR or LF in the chunked body");
        return -1;
    }
    return 0;
bad:
    free(b);
    return -1;
}

int apns__h1_answer_parse(const uint8_t *raw, size_t len, int eof, apns__h1_answer *out,
                          char *detail, size_t dl)
{
    const char *p = (const char *)raw, *end = p + len;
    int bad = 0;

    memset(out, 0, sizeof *out);
    apns__set_detail(detail, dl, "%s", "");
    if (len > APNS__H1_ANSWER_MAX) {
        apns__set_detail(detail, dl, "answer longer than %d bytes", APNS__H1_ANSWER_MAX);
        return APNS_EFORMAT;
    }
    for (;;) { /* one header section per round: 1xx answers are skipped */
        const char *le = line_end(p, end, &bad);
        if (le == NULL)
            goto need;
        int status = 0;
        if (le - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
            p[8] != ' ' || !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
            !isdigit((unsigned char)p[11]) || (le - p > 12 && p[12] != ' ')) {
            apns__set_detail(detail, dl, "not an HTTP/1.1 status line: \"%.*s\"",
                             (int)(le - p > 40 ? 40 : le - p), p);
            for (char *d = detail; d && *d; d++)
                if (!isprint((unsigned char)*d))
                    *d = '?';
            return APNS_EFORMAT;
        }
        status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        if (status < 100 || status > 599) { /* RFC 9110 15: three digits, 1xx..5xx */
            apns__set_detail(detail, dl, "bad status code %d", status);
            return APNS_EFORMAT;
        }
        p = le + 2;
        int64_t clen = -1, retry = 0;
        int chunked = 0, te = 0;
        for (;;) {
            le = line_end(p, end, &bad);
            if (le == NULL)
                goto need;
            if (le == p)
                break;
            const char *colon = memchr(p, ':', (size_t)(le - p));
            if (colon == NULL || colon == p || colon[-1] == ' ' || colon[-1] == '\t' || *p == ' ' ||
                *p == '\t') {
                apns__set_detail(detail, dl, "malformed header field");
                return APNS_EFORMAT;
            }
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t nl = (size_t)(colon - p);
            if (name_is(p, nl, "content-length")) {
                int64_t x;
                if (clen >= 0 || parse_digits(v, ve, &x) != 0) {
                    apns__set_detail(detail, dl, "bad or repeated Content-Length");
                    return APNS_EFORMAT;
                }
                clen = x;
            } else if (name_is(p, nl, "transfer-encoding")) {
                /* the last coding must be chunked (RFC 9112 6.1); only chunked is understood */
                te = 1;
                chunked = (size_t)(ve - v) == 7 && strncasecmp(v, "chunked", 7) == 0;
                if (!chunked) {
                    apns__set_detail(detail, dl, "unsupported Transfer-Encoding \"%.*s\"",
                                     (int)((ve - v) > 40 ? 40 : (ve - v)), v);
                    for (char *d = detail; d && *d; d++)
                        if (!isprint((unsigned char)*d))
                            *d = '?';
                    return APNS_EFORMAT;
                }
            } else if (name_is(p, nl, "retry-after")) {
                int64_t x;
                if (parse_digits(v, ve, &x) == 0)
                    retry = x > 86400 ? 86400 : x;
            }
            p = le + 2;
        }
        p += 2; /* the empty line */
        if (te && clen >= 0) {
            apns__set_detail(detail, dl, "both Transfer-Encoding and Content-Length");
            return APNS_EFORMAT;
        }
        if (status >= 100 && status < 200) {
            if (status == 101) {
                apns__set_detail(detail, dl, "unexpected 101 Switching Protocols");
                return APNS_EFORMAT;
            }
            continue;
        }
        out->status = status;
        out->retry_after_s = retry;
        if (status == 204 || status == 304)
            clen = 0;
        if (chunked) {
            int rc = dechunk(p, end, &out->body, &out->body_len, detail, dl);
            if (rc == 1)
                return 1;
            if (rc < 0) {
                memset(out, 0, sizeof *out);
                return rc == APNS_ENOMEM ? APNS_ENOMEM : APNS_EFORMAT;
            }
            goto need;
        }
        size_t have = (size_t)(end - p);
        if (clen >= 0) {
            if ((int64_t)have < clen)
                goto need;
            have = (size_t)clen; /* bytes after the body are ignored: one request */
        } else if (!eof) {
            goto need; /* the body ends with the connection */
        }
        out->body = malloc(have + 1);
        if (out->body == NULL)
            return APNS_ENOMEM;
        memcpy(out->body, p, have);
        out->body[have] = '\0';
        out->body_len = have;
        return 1;
    }
need:
    memset(out, 0, sizeof *out);
    if (bad) {
        apns__set_detail(detail, dl, "bare CR or LF in the answer's header section");
        return APNS_EFORMAT;
    }
    if (eof) {
        apns__set_detail(detail, dl, "the connection ended inside the answer (%zu bytes)", len);
        return APNS_EFORMAT;
    }
    if (len >= APNS__H1_ANSWER_MAX) {
        apns__set_detail(detail, dl, "answer longer than %d bytes", APNS__H1_ANSWER_MAX);
        return APNS_EFORMAT;
    }
    return 0;
}

/* ---- the token answer ---------------------------------------------------------- */

/* Copies s into d, printable ASCII only (others become '?'), cut to fit. */
static void copy_printable(char *d, size_t n, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < n; i++)
        d[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    d[i] = '\0';
}

static int vchar_only(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

int apns__fcm_token_answer_parse(int status, const char *body, size_t len, apns__fcm_answer *out,
                                 char *detail, size_t dl)
{
    json_error_t jerr;
    json_t *root = NULL;
    int rc = APNS_EFORMAT;

    memset(out, 0, sizeof *out);
    apns__set_detail(detail, dl, "%s", "");
    if (body == NULL)
        len = 0;
    if (len > 0 && len <= APNS__H1_ANSWER_MAX)
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    const char *err = json_string_value(json_object_get(root, "error"));
    if (err)
        copy_printable(out->error, sizeof out->error, err);
    const char *desc = json_string_value(json_object_get(root, "error_description"));
    if (desc)
        copy_printable(out->error_description, sizeof out->error_description, desc);

    if (status == 429 || (status >= 500 && status <= 599)) {
        if (err)
            apns__set_detail(detail, dl,
                             "token endpoint answered HTTP %d (%s%s%s): try again later", status,
                             out->error, desc ? ": " : "", out->error_description);
        else
            apns__set_detail(detail, dl, "token endpoint answered HTTP %d: try again later",
                             status);
        rc = APNS_EUNAVAILABLE;
        goto done;
    }
    if (err && (status != 200 || json_object_get(root, "access_token") == NULL)) {
        if (out->error[0] == '\0') {
            apns__set_detail(detail, dl,
                             "token endpoint answered HTTP %d with an empty OAuth error", status);
            goto done;
        }
        apns__set_detail(detail, dl, "token endpoint refused the grant: %s%s%s (HTTP %d)",
                         out->error, out->error_description[0] ? ": " : "", out->error_description,
                         status);
        rc = APNS_EGRANT;
        goto done;
    }
    if (status != 200) {
        char head[61];
        size_t n = len < 60 ? len : 60, i;
        for (i = 0; i < n; i++)
            head[i] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?';
        head[i] = '\0';
        apns__set_detail(detail, dl,
                         "token endpoint answered HTTP %d without an OAuth error (body: \"%s%s\")",
                         status, head, len > 60 ? "..." : "");
        goto done;
    }
    if (len > APNS__H1_ANSWER_MAX) {
        apns__set_detail(detail, dl, "token answer longer than %d bytes", APNS__H1_ANSWER_MAX);
        goto done;
    }
    if (root == NULL) {
        if (len == 0)
            apns__set_detail(detail, dl, "token answer (HTTP 200) has an empty body");
        else
            apns__set_detail(detail, dl, "token answer is not JSON: %s (at byte %d)", jerr.text,
                             jerr.position);
        goto done;
    }
    if (!json_is_object(root)) {
        apns__set_detail(detail, dl, "token answer is not a JSON object");
        goto done;
    }
    json_t *at = json_object_get(root, "access_token");
    json_t *ei = json_object_get(root, "expires_in");
    json_t *tt = json_object_get(root, "token_type");
    if (at == NULL) {
        apns__set_detail(detail, dl, "token answer has no \"access_token\"");
        goto done;
    }
    if (!json_is_string(at) || json_string_length(at) == 0) {
        apns__set_detail(detail, dl, "token answer's \"access_token\" is not a non-empty string");
        goto done;
    }
    if (json_string_length(at) >= APNS_JWT_MAX) {
        apns__set_detail(detail, dl,
                         "token answer's \"access_token\" is %zu bytes (at most %d fit a cache)",
                         json_string_length(at), APNS_JWT_MAX - 1);
        goto done;
    }
    if (strlen(json_string_value(at)) != json_string_length(at) ||
        !vchar_only(json_string_value(at))) {
        apns__set_detail(detail, dl,
                         "token answer's \"access_token\" has a character a header cannot carry");
        goto done;
    }
    if (ei == NULL) {
        apns__set_detail(detail, dl, "token answer has no \"expires_in\"");
        goto done;
    }
    int64_t life = -1;
    if (json_is_integer(ei)) {
        life = (int64_t)json_integer_value(ei);
    } else if (json_is_string(ei)) {
        const char *s = json_string_value(ei);
        if (parse_digits(s, s + json_string_length(ei), &life) != 0)
            life = -1;
    }
    if (life <= 0) {
        apns__set_detail(detail, dl,
                         "token answer's \"expires_in\" is not a positive number of seconds");
        goto done;
    }
    if (tt == NULL) {
        apns__set_detail(detail, dl, "token answer has no \"token_type\"");
        goto done;
    }
    if (!json_is_string(tt) || strcasecmp(json_string_value(tt), "bearer") != 0) {
        char ty[41];
        copy_printable(ty, sizeof ty,
                       json_is_string(tt) ? json_string_value(tt) : "(not a string)");
        apns__set_detail(detail, dl, "token answer's \"token_type\" is \"%s\", not \"Bearer\"", ty);
        goto done;
    }
    memcpy(out->access_token, json_string_value(at), json_string_length(at) + 1);
    out->expires_in = life > 366 * 86400 ? 366 * 86400 : life;
    apns__set_detail(detail, dl, "%s", "");
    rc = 0;
done:
    json_decref(root);
    /* jansson's messages quote the input: no byte of the endpoint's
     * reaches a detail unless printable */
    for (char *p = detail; p && dl && *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return rc;
}

/* ---- the URL ------------------------------------------------------------------- */

int apns__fcm_url_parse(const char *url, char *host, size_t host_len, uint16_t *port, char *path,
                        size_t path_len, char *detail, size_t dl)
{
    const char *p, *he, *hs;
    size_t n;

    if (url == NULL || strncasecmp(url, "https://", 8) != 0) {
        apns__set_detail(detail, dl, "token URL \"%.100s\" does not start with https://",
                         url ? url : "(null)");
        return APNS_EINVAL;
    }
    p = url + 8;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (he == NULL) {
            apns__set_detail(detail, dl, "token URL \"%.100s\": unclosed [", url);
            return APNS_EINVAL;
        }
        p = he + 1;
    } else {
        hs = p;
        he = p + strcspn(p, ":/?#");
        p = he;
    }
    n = (size_t)(he - hs);
    if (n == 0 || n >= host_len) {
        apns__set_detail(detail, dl, "token URL \"%.100s\" has no host or a host too long", url);
        return APNS_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)hs[i] <= 0x20 || hs[i] == '@' || (unsigned char)hs[i] >= 0x7f) {
            apns__set_detail(detail, dl, "token URL \"%.100s\": bad character in the host", url);
            return APNS_EINVAL;
        }
    memcpy(host, hs, n);
    host[n] = '\0';
    *port = 443;
    if (*p == ':') {
        const char *ps = ++p;
        int64_t v;
        p += strcspn(p, "/?#");
        if (parse_digits(ps, p, &v) != 0 || v < 1 || v > 65535) {
            apns__set_detail(detail, dl, "token URL \"%.100s\": bad port", url);
            return APNS_EINVAL;
        }
        *port = (uint16_t)v;
    }
    if (*p == '#')
        p = "";
    n = strcspn(p, "#");
    const char *pre = (*p == '/') ? "" : "/";
    if (n + 2 > path_len) {
        apns__set_detail(detail, dl, "token URL \"%.100s\": path too long", url);
        return APNS_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f) {
            apns__set_detail(detail, dl, "token URL \"%.100s\": bad character in the path", url);
            return APNS_EINVAL;
        }
    snprintf(path, path_len, "%s%.*s", pre, (int)n, p);
    return 0;
}

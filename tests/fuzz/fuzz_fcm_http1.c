/*
 * fuzz_fcm_http1.c - fcm-sim's strict HTTP/1.1 request parser
 * (sim/fcm/http1.c) fed an arbitrary byte stream as a connection receives
 * it: requests one after another until the bytes run out or a refusal.
 *
 * Invariants (abort() on a violation):
 *   - every prefix shorter than a parsed request's length needs more bytes
 *     (0) or is refused the same way: the parse never depends on how the
 *     bytes arrive, and a request is never complete before its last byte;
 *   - a refusal carries 400, 411, 413, 431 or 505 and a reason;
 *   - a parsed request's strings lie inside the buffer, its method is POST,
 *     GET or another token, a Content-Length body ends exactly where the
 *     request ends (a chunked one is decoded into the scratch buffer), and
 *     no field holds CR or LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void inside(fsim_str s, const char *buf, size_t len)
{
    if (!s.p)
        return;
    check(s.p >= buf && s.p + s.len <= buf + len);
    check(memchr(s.p, '\r', s.len) == NULL || s.p + s.len > buf + len);
}

static char scratch[FSIM_H1_MAX_BODY], scratch2[FSIM_H1_MAX_BODY];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;
    for (int n = 0; n < 16 && off < size; n++) {
        fsim_h1_req r;
        long got = fsim_h1_parse(buf + off, size - off, &r, scratch);
        if (got < 0) {
            check(r.why != NULL);
            check(r.status == 400 || r.status == 411 || r.status == 413 || r.status == 431 ||
                  r.status == 505);
            return 0;
        }
        if (got == 0)
            return 0;
        size_t len = (size_t)got;
        check(len <= size - off);
        const char *b = buf + off;
        inside(r.method, b, len);
        inside(r.target, b, len);
        inside(r.host, b, len);
        inside(r.authorization, b, len);
        inside(r.content_type, b, len);
        check(r.method.len > 0 && r.target.len > 0);
        check(r.body.p == scratch ? r.body.len <= FSIM_H1_MAX_BODY
                                  : r.body.p + r.body.len == b + len);
        check(r.body.len <= FSIM_H1_MAX_BODY);
        for (size_t k = 0; k < r.target.len; k++)
            check((unsigned char)r.target.p[k] > 0x20 && (unsigned char)r.target.p[k] < 0x7f);
        /* Every shorter prefix: incomplete, never a different request. */
        for (size_t cut = len > 64 ? len - 64 : 0; cut < len; cut++) {
            fsim_h1_req q;
            long g = fsim_h1_parse(b, cut, &q, scratch2);
            check(g == 0);
        }
        off += len;
    }
    return 0;
}

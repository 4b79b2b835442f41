/*
 * http1.h - a small strict HTTP/1.1 request parser (RFC 9112), sans-I/O.
 *
 * Accepts: "METHOD SP request-target SP HTTP/1.1 CRLF", header fields
 * "name: value CRLF" (token names, optional whitespace around the value),
 * an empty line, then exactly Content-Length body bytes or a chunked body.
 * Rejects what is ambiguous or that it does not implement, with the status
 * to answer before closing: bare LF or CR, obsolete line folding, whitespace
 * before the colon, a repeated or non-numeric Content-Length, a missing or
 * repeated Host, Transfer-Encoding with Content-Length or without a single
 * final "chunked" (400, RFC 9112 6.1/6.3), a bad chunk size, chunk data not
 * followed by CRLF, a malformed trailer field (400; RFC 9112 7.1: chunk
 * extensions are ignored, trailer fields checked and dropped); a POST with
 * neither Content-Length nor chunked (411); other versions (505); a header section over
 * FSIM_H1_MAX_HEAD (431); a body over FSIM_H1_MAX_BODY (413).
 * Pipelined requests are parsed one at a time: the return value says how many
 * bytes the request took.
 */
#ifndef FSIM_HTTP1_H
#define FSIM_HTTP1_H

#include <stddef.h>

#define FSIM_H1_MAX_HEAD (16 * 1024)
#define FSIM_H1_MAX_BODY (64 * 1024)

typedef struct fsim_str {
    const char *p; /* borrowed from the parsed buffer (or scratch); not NUL-terminated */
    size_t len;
} fsim_str;

typedef struct fsim_h1_req {
    fsim_str method, target, host, authorization, content_type;
    fsim_str body;
    int close;       /* "Connection: close" */
    int status;      /* on -1: the status to answer (400, 411, 413, 431, 505) */
    const char *why; /* on -1: what was wrong (static) */
} fsim_h1_req;

/*
 * Parses one request at buf[0..len). Returns the bytes it takes (> 0, *out
 * filled, pointing into buf; a chunked body is decoded into scratch, the
 * caller's FSIM_H1_MAX_BODY bytes, and out->body points there), 0 when more
 * bytes are needed (nothing wrong so far), or -1 when the request is
 * malformed (out->status, out->why set; the connection must be closed after
 * answering).
 */
long fsim_h1_parse(const char *buf, size_t len, fsim_h1_req *out, char *scratch);

#endif

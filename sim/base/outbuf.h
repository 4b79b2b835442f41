/*
 * outbuf.h - the output buffer of one simulator connection: the bytes its
 * protocol has to say, not yet written to its sim_sock.
 *
 * Design note. Both simulators serialise what a connection has to say into
 * one growable buffer and write it with one sim_sock_write() sequence, so
 * a read of many requests becomes one write of many answers. While a write
 * is blocked nothing more is pulled from the protocol, so a retried
 * SSL_write sees the same bytes (OpenSSL's retry rule); bytes appended
 * directly (an HTTP/1.1 answer) may move the buffer, which the server
 * context allows (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, tlsserver.h).
 */
#ifndef SIM_OUTBUF_H
#define SIM_OUTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sock.h"

typedef struct sim_outbuf {
    uint8_t *p;   /* owned; NULL until the first append */
    size_t off;   /* written so far */
    size_t len;   /* queued */
    size_t cap;   /* allocated */
    size_t first; /* the first allocation (sim_outbuf_init) */
} sim_outbuf;

/* Sets o empty; first is the size of the first allocation (grown by
 * doubling). Allocates nothing. */
void sim_outbuf_init(sim_outbuf *o, size_t first);

/* Frees the buffer; o is empty afterwards. */
void sim_outbuf_cleanup(sim_outbuf *o);

/* 1 when everything queued has been written. */
static inline int sim_outbuf_empty(const sim_outbuf *o)
{
    return o->off == o->len;
}

/* Drops what is queued and not written yet. */
static inline void sim_outbuf_clear(sim_outbuf *o)
{
    o->off = o->len = 0;
}

/* Queues p[0..n). Returns 0, or -1 when out of memory (nothing queued). */
int sim_outbuf_append(sim_outbuf *o, const void *p, size_t n);

/* The owner's protocol: points *data at the next bytes it has to send and
 * returns their count, 0 when it has nothing more, < 0 on a fatal error.
 * The bytes stay valid until the next call (nghttp2_session_mem_send). */
typedef ssize_t (*sim_outbuf_pull_fn)(void *arg, const uint8_t **data);

/*
 * Writes until the owner has nothing more to say or the socket blocks:
 * while the buffer is drained, pulls up to batch bytes through pull (may be
 * NULL: only what was appended), then writes them to s. When all is
 * written the write event follows s->read_wants_write; when the socket
 * blocks it stays armed. Returns 0, or -1 on a write error, a pull error or
 * out of memory.
 */
int sim_outbuf_flush(sim_outbuf *o, sim_sock *s, size_t batch, sim_outbuf_pull_fn pull, void *arg);

#endif

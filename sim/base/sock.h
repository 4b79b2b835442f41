/*
 * sock.h - the socket and TLS layer under one accepted connection: the
 * HTTP/2 connection (conn.c) and the legacy binary gateway and feedback
 * connection (legacy/bconn.c) each embed one.
 *
 * It owns the socket, the SSL (none with --h2c), the persistent read and
 * write events and one timer, and does what both protocols do the same
 * way: non-blocking reads and writes through SSL_read/SSL_write or
 * recv/send (0 = would block; an SSL_read that needs the socket writable
 * sets read_wants_write and arms the write event), the server handshake,
 * the half-close that starts a linger (close_notify, FIN, drop what the
 * peer still sends until it closes), and the teardown. What the bytes mean,
 * the states and the counters stay with the owner; the events call the
 * owner's callbacks with the owner's arg.
 */
#ifndef SIM_SOCK_H
#define SIM_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#define SIM_SOCK_HANDSHAKE_TIMEOUT_MS 10000
#define SIM_SOCK_LINGER_TIMEOUT_MS    2000

typedef struct sim_sock {
    int fd;
    SSL *ssl; /* NULL with --h2c (plaintext) */
    struct event *rev, *wev;
    struct event *timer; /* the owner's: handshake timeout, linger timeout, ... */
    unsigned wev_added : 1;
    unsigned read_wants_write : 1; /* an SSL_read needs the socket writable */
} sim_sock;

/*
 * Takes accepted socket fd: TCP_NODELAY, non-blocking, the read event
 * (added), the write event and the timer with the owner's callbacks and
 * arg. With ctx, also an SSL for the server handshake, and the timer is
 * armed for SIM_SOCK_HANDSHAKE_TIMEOUT_MS. Returns 0, or -1 when out of
 * memory; either way sim_sock_cleanup() frees what exists and closes fd.
 */
int sim_sock_init(sim_sock *s, struct event_base *base, int fd, SSL_CTX *ctx,
                  event_callback_fn on_read, event_callback_fn on_write, event_callback_fn on_timer,
                  void *arg);

/* Frees the events and the SSL, closes the socket, clears OpenSSL's error
 * queue. */
void sim_sock_cleanup(sim_sock *s);

/* Adds or removes the write event (idempotent). */
static inline void sim_sock_want_write(sim_sock *s, int on)
{
    if (on && !s->wev_added) {
        event_add(s->wev, NULL);
        s->wev_added = 1;
    } else if (!on && s->wev_added) {
        event_del(s->wev);
        s->wev_added = 0;
    }
}

/* (Re)arms the timer for ms milliseconds from now. */
void sim_sock_arm(sim_sock *s, long ms);

/* > 0 bytes read; 0 would block; -1 end of stream or error. */
ssize_t sim_sock_recv(sim_sock *s, uint8_t *buf, size_t len);

/* Writes buf[*off..len), advancing *off. Returns 1 when all is written (the
 * write event is left as it is), 0 when the socket blocks (the write event
 * is armed; call again with the same buf, len and *off: a retried SSL_write
 * must see the same bytes), -1 on an error. */
int sim_sock_write(sim_sock *s, const uint8_t *buf, size_t len, size_t *off);

/* Advances the server handshake. Returns 1 when done (the write event and
 * the timer are off), 0 when it waits for the socket (the write event
 * follows what it waits for), -1 when it failed. */
int sim_sock_handshake(sim_sock *s);

/* Ends our side: no more write events, close_notify (best effort), FIN;
 * the timer is re-armed for SIM_SOCK_LINGER_TIMEOUT_MS. */
void sim_sock_linger(sim_sock *s);

/* Reads and drops what the peer still sends, from the socket itself (after
 * sim_sock_linger()), into buf. Returns 0 when the socket would block, -1
 * when the peer closed or failed. *dropped (may be NULL) grows by the bytes
 * dropped. */
int sim_sock_drop_input(sim_sock *s, uint8_t *buf, size_t len, uint64_t *dropped);

#endif

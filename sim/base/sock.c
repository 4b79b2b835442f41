/* sock.c - see sock.h. */
#include "sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define WRITE_CHUNK (1 << 20)

int sim_sock_init(sim_sock *s, struct event_base *base, int fd, SSL_CTX *ctx,
                  event_callback_fn on_read, event_callback_fn on_write, event_callback_fn on_timer,
                  void *arg)
{
    s->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);
    s->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, arg);
    s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, arg);
    s->timer = evtimer_new(base, on_timer, arg);
    if (!s->rev || !s->wev || !s->timer)
        return -1;
    event_add(s->rev, NULL);
    if (ctx) {
        s->ssl = SSL_new(ctx);
        if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1)
            return -1;
        sim_sock_arm(s, SIM_SOCK_HANDSHAKE_TIMEOUT_MS);
    }
    return 0;
}

void sim_sock_cleanup(sim_sock *s)
{
    if (s->rev)
        event_free(s->rev);
    if (s->wev)
        event_free(s->wev);
    if (s->timer)
        event_free(s->timer);
    if (s->ssl)
        SSL_free(s->ssl);
    if (s->fd >= 0)
        close(s->fd);
    ERR_clear_error();
}

void sim_sock_arm(sim_sock *s, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static int would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

ssize_t sim_sock_recv(sim_sock *s, uint8_t *buf, size_t len)
{
    if (!s->ssl) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n < 0 && would_block())
            return 0;
        return -1;
    }
    int n = SSL_read(s->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(s->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        s->read_wants_write = 1;
        sim_sock_want_write(s, 1);
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* > 0 bytes written; 0 would block; -1 error. At most WRITE_CHUNK. */
static ssize_t send_some(sim_sock *s, const uint8_t *buf, size_t len)
{
    if (len > WRITE_CHUNK)
        len = WRITE_CHUNK;
    if (!s->ssl) {
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        return would_block() ? 0 : -1;
    }
    int n = SSL_write(s->ssl, buf, (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(s->ssl, n)) {
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ: /* retried after the next read event, too */
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

int sim_sock_write(sim_sock *s, const uint8_t *buf, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t n = send_some(s, buf + *off, len - *off);
        if (n < 0)
            return -1;
        if (n == 0) {
            sim_sock_want_write(s, 1);
            return 0;
        }
        *off += (size_t)n;
    }
    return 1;
}

int sim_sock_handshake(sim_sock *s)
{
    int r = SSL_accept(s->ssl);
    if (r != 1) {
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            sim_sock_want_write(s, 0);
            return 0;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            sim_sock_want_write(s, 1);
            return 0;
        }
        return -1;
    }
    sim_sock_want_write(s, 0);
    event_del(s->timer);
    return 1;
}

void sim_sock_linger(sim_sock *s)
{
    sim_sock_want_write(s, 0);
    if (s->ssl) {
        SSL_shutdown(s->ssl); /* close_notify, best effort */
        ERR_clear_error();
    }
    shutdown(s->fd, SHUT_WR);
    sim_sock_arm(s, SIM_SOCK_LINGER_TIMEOUT_MS);
}

int sim_sock_drop_input(sim_sock *s, uint8_t *buf, size_t len, uint64_t *dropped)
{
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n > 0) {
            if (dropped)
                *dropped += (uint64_t)n;
            continue;
        }
        if (n < 0 && would_block())
            return 0;
        return -1;
    }
}

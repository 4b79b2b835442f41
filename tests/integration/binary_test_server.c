/* binary_test_server.c - see binary_test_server.h. */
#include "binary_test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "harness.h"

struct bts_server {
    int lfd;
    uint16_t port;
    SSL_CTX *ctx;
    bts_handler h;
    void *ud;
    pthread_t thr;
    atomic_int stop;
    atomic_int conns;
};

static void *serve(void *arg)
{
    bts_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            int n = atomic_fetch_add(&s->conns, 1);
            s->h(ssl, fd, n, s->ud);
        } else {
            ERR_clear_error();
        }
        SSL_free(ssl);
        close(fd);
    }
    return NULL;
}

bts_server *bts_start(bts_handler h, void *ud)
{
    return bts_start_ca(h, ud, "ca.pem");
}

bts_server *bts_start_ca(bts_handler h, void *ud, const char *client_ca)
{
    char path[1024], key[1024], ca[1024];
    const char *dir = th_certs();
    bts_server *s = calloc(1, sizeof *s);
    TH_CHECK(s != NULL, "oom");
    s->h = h;
    s->ud = ud;
    s->ctx = SSL_CTX_new(TLS_server_method());
    snprintf(path, sizeof path, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/%s", dir, client_ca);
    TH_CHECK(SSL_CTX_use_certificate_chain_file(s->ctx, path) == 1, "server cert %s", path);
    TH_CHECK(SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) == 1, "server key");
    TH_CHECK(SSL_CTX_load_verify_locations(s->ctx, ca, NULL) == 1, "ca %s", ca);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(s->ctx, SSL_MODE_AUTO_RETRY);

    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    TH_CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    TH_CHECK(listen(s->lfd, 16) == 0, "listen");
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    TH_CHECK(pthread_create(&s->thr, NULL, serve, s) == 0, "pthread_create");
    return s;
}

uint16_t bts_port(const bts_server *s)
{
    return s->port;
}

int bts_connections(const bts_server *s)
{
    return atomic_load(&((bts_server *)s)->conns);
}

void bts_stop(bts_server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
    free(s);
}

int bts_write_all(SSL *ssl, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        int n = SSL_write(ssl, p, (int)len);
        if (n <= 0) {
            ERR_clear_error();
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bts_read(SSL *ssl, int fd, void *buf, int len, int timeout_ms)
{
    if (SSL_pending(ssl) == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EINTR ? 0 : -1;
    }
    int n = SSL_read(ssl, buf, len);
    if (n > 0)
        return n;
    int e = SSL_get_error(ssl, n);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    return -1;
}

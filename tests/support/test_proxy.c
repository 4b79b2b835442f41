/* test_proxy.c - the tests' HTTP CONNECT proxy (test_proxy.h). */
#include "test_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_header(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return (int)n;
    }
    return -1;
}

static void relay(int a, int b)
{
    char buf[65536];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0)
            return;
        for (int i = 0; i < 2; i++) {
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = read(p[i].fd, buf, sizeof buf);
                if (n <= 0)
                    return;
                for (ssize_t off = 0; off < n;) {
                    ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(n - off));
                    if (w <= 0)
                        return;
                    off += w;
                }
            }
        }
    }
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct tunnel {
    tp_proxy *px;
    int cfd;
} tunnel;

/* One client connection: the request, then the answer and the relay. */
static void *tunnel_main(void *arg)
{
    tunnel *tn = arg;
    tp_proxy *px = tn->px;
    int cfd = tn->cfd;
    free(tn);
    char req[1024];
    if (read_header(cfd, req, sizeof req) < 0) {
        close(cfd);
        return NULL;
    }
    char *eol = strstr(req, "\r\n");
    if (eol)
        *eol = '\0';
    pthread_mutex_lock(&mu);
    snprintf(px->last_request, sizeof px->last_request, "%.200s", req);
    if (px->connects < TP_PROXY_LOG)
        snprintf(px->log[px->connects], sizeof px->log[0], "%.120s", req);
    px->connects++;
    pthread_mutex_unlock(&mu);
    char host[128];
    unsigned port = 0;
    if (px->refuse || sscanf(req, "CONNECT %127[^:]:%u HTTP/1.1", host, &port) != 2) {
        const char *no = "HTTP/1.1 " TP_PROXY_REFUSED "\r\nContent-Length: 0\r\n\r\n";
        (void)!write(cfd, no, strlen(no));
        close(cfd);
        return NULL;
    }
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(sfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        const char *no = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
        (void)!write(cfd, no, strlen(no));
        close(cfd);
        close(sfd);
        return NULL;
    }
    const char *yes = "HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n";
    (void)!write(cfd, yes, strlen(yes));
    relay(cfd, sfd);
    close(cfd);
    close(sfd);
    return NULL;
}

static void *proxy_main(void *arg)
{
    tp_proxy *px = arg;
    for (;;) {
        int cfd = accept(px->lfd, NULL, NULL);
        if (cfd < 0)
            return NULL;
        tunnel *tn = malloc(sizeof *tn);
        pthread_t th;
        if (!tn) {
            close(cfd);
            continue;
        }
        *tn = (tunnel){px, cfd};
        if (pthread_create(&th, NULL, tunnel_main, tn) != 0) {
            free(tn);
            close(cfd);
            continue;
        }
        pthread_detach(th);
    }
}

int tp_proxy_count(tp_proxy *px, const char *line)
{
    int n = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < px->connects && i < TP_PROXY_LOG; i++)
        n += strcmp(px->log[i], line) == 0;
    pthread_mutex_unlock(&mu);
    return n;
}

void tp_proxy_start(tp_proxy *px)
{
    px->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (bind(px->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(px->lfd, 8) < 0 ||
        getsockname(px->lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("proxy");
        exit(1);
    }
    px->port = ntohs(sa.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, proxy_main, px);
    pthread_detach(th);
}

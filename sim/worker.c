/* worker.c - listening sockets and the per-thread event loop. */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "legacy/bconn.h"
#include "conn.h"

#define LISTEN_BACKLOG 1024

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    sim_conn_accept(arg, fd, 0);
}

static void on_accept_manage(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int socklen, void *arg)
{
    sim_conn_accept(arg, fd, 1);
}

static void on_accept_gateway(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int socklen, void *arg)
{
    sim_bconn_accept(arg, fd, SIM_BK_GATEWAY);
}

static void on_accept_feedback(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                               int socklen, void *arg)
{
    sim_bconn_accept(arg, fd, SIM_BK_FEEDBACK);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sim_worker *w = arg;
    sim_dlog_flush(&w->dlog);
}

int sim_worker_init(sim_worker *w, int index, const sim_shared *sh, int listen_fd)
{
    w->index = index;
    w->sh = sh;
    common_list_init(&w->conns);
    common_list_init(&w->bconns);
    sim_idgen_init(&w->ids);
    w->base = event_base_new();
    if (!w->base || sim_dlog_init(&w->dlog, sh->dlog_fd) != 0)
        return -1;
    w->listener = evconnlistener_new(w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE, 0, listen_fd);
    if (!w->listener)
        return -1;
    if (sh->dlog_fd >= 0) {
        w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
        int ms = sh->opt->delivery_log_flush_ms > 0 ? sh->opt->delivery_log_flush_ms : 100;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        if (!w->tick || event_add(w->tick, &tv) != 0)
            return -1;
    }
    return 0;
}

int sim_worker_listen_binary(sim_worker *w, int kind, int listen_fd)
{
    struct evconnlistener **slot = kind == SIM_BK_GATEWAY ? &w->bin_listener : &w->fb_listener;
    *slot =
        evconnlistener_new(w->base, kind == SIM_BK_GATEWAY ? on_accept_gateway : on_accept_feedback,
                           w, LEV_OPT_CLOSE_ON_FREE, 0, listen_fd);
    if (!*slot) {
        close(listen_fd);
        return -1;
    }
    return 0;
}

int sim_worker_listen_manage(sim_worker *w, int listen_fd)
{
    w->manage_listener =
        evconnlistener_new(w->base, on_accept_manage, w, LEV_OPT_CLOSE_ON_FREE, 0, listen_fd);
    if (!w->manage_listener) {
        close(listen_fd);
        return -1;
    }
    return 0;
}

void sim_worker_run(sim_worker *w)
{
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
}

void sim_worker_stop(sim_worker *w)
{
    if (w->base)
        event_base_loopbreak(w->base);
}

void sim_worker_cleanup(sim_worker *w)
{
    for (common_list *n; (n = common_list_first(&w->conns)) != NULL;)
        sim_conn_free(COMMON_CONTAINER_OF(n, sim_conn, link));
    for (common_list *n; (n = common_list_first(&w->bconns)) != NULL;)
        sim_bconn_free(COMMON_CONTAINER_OF(n, sim_bconn, link));
    if (w->bin_listener)
        evconnlistener_free(w->bin_listener);
    if (w->fb_listener)
        evconnlistener_free(w->fb_listener);
    if (w->manage_listener)
        evconnlistener_free(w->manage_listener);
    w->bin_listener = w->fb_listener = w->manage_listener = NULL;
    sim_dlog_cleanup(&w->dlog);
    if (w->tick)
        event_free(w->tick);
    if (w->listener)
        evconnlistener_free(w->listener);
    if (w->base)
        event_base_free(w->base);
    w->tick = NULL;
    w->listener = NULL;
    w->base = NULL;
}

static int open_one(const struct addrinfo *ai, int port, int reuseport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);

    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on port %d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sim_listen(const char *host, int port, int n, int *fds, char *bound, size_t boundlen, char *err,
               size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int i;
    for (i = 0; i < n; i++) {
        fds[i] = open_one(res, port, n > 1, err, errlen);
        if (fds[i] < 0)
            break;
        if (i == 0 && port == 0) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            getsockname(fds[0], (struct sockaddr *)&ss, &len);
            port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    if (i < n) {
        while (i-- > 0)
            close(fds[i]);
        freeaddrinfo(res);
        return -1;
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    if (res->ai_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
        snprintf(bound, boundlen, "%s:%d", addr, port);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr, sizeof addr);
        snprintf(bound, boundlen, "[%s]:%d", addr, port);
    }
    freeaddrinfo(res);
    return 0;
}

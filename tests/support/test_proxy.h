/*
 * test_proxy.h - a tiny HTTP CONNECT proxy for the tests of libapns' proxy
 * support (nghttpd_client.c for the push client, feedback_proxy.c for the
 * feedback client, test_dispatch.c for apnsd's binary apps): threads of the
 * test process on 127.0.0.1, blocking, one thread per tunnel (a gateway
 * connection and a feedback fetch may be open at once). Each reads the
 * request header, records its first line, then either answers 403 (refuse)
 * or connects to the IPv4 address and port named in "CONNECT a.b.c.d:port
 * HTTP/1.1", answers 200 and relays bytes both ways until either side
 * closes (then closes both). A target it cannot reach gets 502. Test
 * programs only: a setup failure prints and exits. The threads run until
 * the process ends.
 */
#ifndef APNS_TEST_PROXY_H
#define APNS_TEST_PROXY_H

#include <stdint.h>

#define TP_PROXY_LOG 64 /* request lines kept */

typedef struct tp_proxy {
    int lfd;
    uint16_t port;               /* where it listens (after tp_proxy_start) */
    int refuse;                  /* set before tp_proxy_start: answer every CONNECT with 403 */
    int connects;                /* request headers read (written by the proxy threads) */
    char last_request[256];      /* the first line of the last one */
    char log[TP_PROXY_LOG][128]; /* the first lines, in order (the first TP_PROXY_LOG) */
} tp_proxy;

/* Listens on 127.0.0.1 (an ephemeral port, in px->port) and starts the
 * thread. SIGPIPE should be ignored by the caller (the relay writes with
 * write(2)). */
void tp_proxy_start(tp_proxy *px);

/* How many requests so far had exactly this first line (e.g. "CONNECT
 * 127.0.0.1:2196 HTTP/1.1"), among the first TP_PROXY_LOG. */
int tp_proxy_count(tp_proxy *px, const char *line);

/* The 403 status line a refusing proxy sends (for log checks). */
#define TP_PROXY_REFUSED "403 Forbidden by test proxy"

#endif

/*
 * binary_test_server.h - a tiny TLS server for the legacy binary interface
 * tests (gateway and feedback): one thread, loopback, the test CA's server
 * certificate, a client certificate required (verified against ca.pem), no
 * ALPN. Connections are served one after another by a handler the test
 * gives. Test programs only: setup failures print and exit.
 */
#ifndef BINARY_TEST_SERVER_H
#define BINARY_TEST_SERVER_H

#include <stdint.h>

#include <openssl/ssl.h>

/* Serves one connection after the handshake (blocking socket). When it
 * returns, the server frees ssl and closes fd: return without SSL_shutdown()
 * for an abrupt close. conn is 0 for the first connection. */
typedef void (*bts_handler)(SSL *ssl, int fd, int conn, void *ud);

typedef struct bts_server bts_server;

/* Listens on 127.0.0.1 (an ephemeral port) and starts the thread. */
bts_server *bts_start(bts_handler h, void *ud);

/* The same, verifying client certificates against client_ca (a file name
 * in the test certificate directory, e.g. "other-ca.pem" to refuse ours). */
bts_server *bts_start_ca(bts_handler h, void *ud, const char *client_ca);

uint16_t bts_port(const bts_server *s);

/* Connections accepted (handshake done) so far. */
int bts_connections(const bts_server *s);

/* Stops accepting, waits for the handler in progress to return and the
 * thread to end, frees s. */
void bts_stop(bts_server *s);

/* Writes all of buf (blocking). Returns 0, or -1 when the peer is gone. */
int bts_write_all(SSL *ssl, const void *buf, size_t len);

/* Reads what is available within timeout_ms into buf. Returns bytes (> 0),
 * 0 on timeout, -1 on EOF or error. */
int bts_read(SSL *ssl, int fd, void *buf, int len, int timeout_ms);

#endif

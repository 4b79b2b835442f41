/*
 * binary_util.h - helpers for the legacy binary interface tests
 * (binary_sim.c, binary_formats.c): start apns-sim with its binary gateway
 * and feedback listeners and read all three ports it prints, a blocking raw
 * TLS client (OpenSSL, the test's own: no libapns I/O), and delivery-log
 * reading. Test programs only: setup failures print and exit (through
 * th_fail(), which also stops every sim started here).
 */
#ifndef APNS_BINARY_UTIL_H
#define APNS_BINARY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "harness.h"

typedef struct bu_sim {
    th_proc proc;
    int h2_port, bin_port, fb_port; /* 0 when that listener was not asked for */
    char err_path[600];             /* the sim's stderr (counters at exit) */
} bu_sim;

/* Starts apns-sim with TLS and its binary gateway on loopback (th_sim_argv
 * plus --binary-listen 127.0.0.1:0), then `extra` (NULL-terminated), stderr
 * to err_path (th_spawn); waits up to 15 s for the HTTP/2 and binary
 * "listening on" lines and, when extra asks for it, "feedback listening on". */
void bu_spawn_sim(bu_sim *s, const char *const extra[], const char *err_path);

/* SIGTERM and wait (SIGKILL after 10 s). Returns the waitpid status. */
int bu_stop_sim(bu_sim *s);

/* The value of counter `name` in the last JSON line of the sim's stderr,
 * or -1. */
long long bu_sim_counter(const bu_sim *s, const char *name);

typedef struct bu_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} bu_tls;

/* Blocking TLS connection to 127.0.0.1:port, verifying the server against
 * ca; cert/key (may be NULL) is the client certificate. Returns 0, or -1
 * when the connection or handshake failed (t is cleaned up). */
int bu_tls_connect(bu_tls *t, int port, const char *ca, const char *cert, const char *key);

/* Writes everything. Returns 0 or -1. */
int bu_tls_write(bu_tls *t, const void *buf, size_t len);

/* Reads what arrives within timeout_ms. Returns > 0 bytes, 0 at the end of
 * the stream (close_notify, FIN or reset), -1 on timeout. */
ssize_t bu_tls_read(bu_tls *t, void *buf, size_t len, int timeout_ms);

/* Reads until the end of the stream or until cap bytes; gives up after
 * timeout_ms in all. Returns the byte count; *closed = 1 when the stream
 * ended. */
size_t bu_tls_read_all(bu_tls *t, uint8_t *buf, size_t cap, int timeout_ms, int *closed);

void bu_tls_close(bu_tls *t);

/* Writes a token list for apns-sim (--invalid-tokens, --unregistered, ...):
 * th_token(i) for i in [first, first+count), one a line, followed by ts_ms
 * when it is not 0. Fails the test when the file cannot be written. */
void bu_write_tokens(const char *path, uint32_t first, uint32_t count, long long ts_ms);

/* Binary token of th_token(i). */
void bu_token(uint32_t i, uint8_t out[32]);

/* Appends notification i (token bu_token(i), a small JSON payload naming
 * i, identifier id, priority 10 for frames) in format f to buf at *len.
 * Returns the encoded size. */
size_t bu_encode(int format, uint32_t i, uint32_t id, uint8_t *buf, size_t *len);

/* Delivery log: how often each token index in [0, n) was delivered. Lines
 * whose token is not th_token(i) for an i < n are counted in *foreign (may be
 * NULL). Tokens are looked up through a hash of th_token(0..n-1). Returns a
 * calloc'ed array of n counts (caller frees); an unreadable log counts as
 * empty. */
uint8_t *bu_log_counts(const char *log_path, uint32_t n, size_t *foreign);

/* Token index -> the topic column of its (last) delivery-log line, for
 * tests that check certificate topics. Returns 0 and copies it, or -1. */
int bu_log_topic(const char *log_path, uint32_t i, char *out, size_t outlen);

#endif

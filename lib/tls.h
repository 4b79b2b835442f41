/*
 * tls.h - TLS client setup for APNs connections (internal).
 *
 * One SSL_CTX per client (per credential): TLS 1.2 or newer, ALPN "h2" only
 * (or no ALPN at all for the legacy binary interface and the feedback
 * service, which are plain TLS), the server verified against the system
 * trust store or a CA file, and the APNs client certificate when
 * certificate auth is used. One SSL per
 * connection, bound to a non-blocking socket through a small BIO that writes
 * with MSG_NOSIGNAL (a closed peer must not kill the process with SIGPIPE).
 */
#ifndef APNS_TLS_H
#define APNS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

typedef struct apns__tls_opts {
    const char *cert_file;    /* PEM certificate (chain), or NULL */
    const char *key_file;     /* PEM private key; NULL: in cert_file */
    const char *p12_file;     /* PKCS#12 instead of PEM, or NULL */
    const char *p12_password; /* also used for an encrypted PEM key; NULL = "" */
    const char *ca_file;      /* NULL = system trust store */
    int insecure_skip_verify; /* do not verify the server at all (tests only) */
    int no_alpn;              /* offer no ALPN (legacy binary interface, feedback) */
} apns__tls_opts;

/*
 * Creates a client SSL_CTX. Returns 0, APNS_ECERT (client certificate or key
 * unreadable, wrong PKCS#12 password, key does not match the certificate),
 * APNS_ETLS (CA file unusable, OpenSSL setup failed), APNS_EINVAL (both PEM
 * and PKCS#12 given). `detail` (may be NULL) names the file and OpenSSL's
 * reason. Free with SSL_CTX_free().
 */
int apns__tls_ctx_new(SSL_CTX **out, const apns__tls_opts *o, char *detail, size_t detail_len);

/*
 * Creates the SSL for one connection on socket fd (not owned: closing fd is
 * the caller's job): client mode, SNI = host unless host is an IP literal,
 * and when the context verifies the peer, host name (or IP address)
 * verification against host. Returns 0, APNS_ETLS, APNS_ENOMEM.
 */
int apns__tls_ssl_new(SSL **out, SSL_CTX *ctx, int fd, const char *host, char *detail,
                      size_t detail_len);

/*
 * Write coalescing. While corked, the TLS records SSL_write() makes are
 * kept in the connection's socket BIO (up to 64 KB; beyond that SSL_write
 * wants the socket writable) instead of sent one send() each;
 * apns__tls_drain() sends what is kept in as few send() calls as the socket
 * allows. Uncorked, records go straight to the socket, unless bytes are
 * still kept (they queue behind them, in order).
 * apns__tls_drain returns 0 (nothing left), 1 (the socket is full: wait
 * until writable, then drain again) or -1 (send failed, errno set; the
 * connection is unusable). apns__tls_unsent: bytes kept, not yet sent.
 * apns__tls_send_calls: send() calls that moved bytes on this SSL so far;
 * apns__tls_recv_calls: recv() calls (reads ahead: one recv() takes every
 * record that has arrived, up to OpenSSL's read buffer).
 */
void apns__tls_cork(SSL *ssl, int on);
int apns__tls_drain(SSL *ssl);
size_t apns__tls_unsent(SSL *ssl);
size_t apns__tls_send_calls(SSL *ssl);
size_t apns__tls_recv_calls(SSL *ssl);

#define APNS__TLS_WANT_READ  1
#define APNS__TLS_WANT_WRITE 2

/*
 * Advances the handshake. Returns 0 when it is complete and the server is
 * acceptable, APNS__TLS_WANT_READ / APNS__TLS_WANT_WRITE when the socket must
 * become readable / writable first, or APNS_EVERIFY (with the verify error
 * string), APNS_EALPN (server did not select "h2"), APNS_ETLS (anything
 * else; detail has OpenSSL's reason or the socket error).
 */
int apns__tls_handshake(SSL *ssl, char *detail, size_t detail_len);

/* The same, for a context made with no_alpn when need_h2 is 0: ALPN is not
 * checked (never APNS_EALPN). apns__tls_handshake(s, d, n) is
 * apns__tls_handshake_ex(s, 1, d, n). */
int apns__tls_handshake_ex(SSL *ssl, int need_h2, char *detail, size_t detail_len);

/* 1 if s is an IPv4 or IPv6 address literal (without brackets). */
int apns__tls_is_ip(const char *s);

/* Writes OpenSSL's most recent error reason ("" if none) into buf and clears
 * the thread's error queue. Returns buf. */
const char *apns__tls_err_reason(char *buf, size_t len);

#endif

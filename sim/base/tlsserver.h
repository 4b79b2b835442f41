/*
 * tlsserver.h - the server TLS context both simulators start from: TLS 1.2+,
 * no renegotiation or compression, partial writes with a moving write
 * buffer (sim_sock_write retries from a buffer that may have grown), read-ahead
 * with 64 KiB buffers, and the certificate chain and key, checked against
 * each other. Each simulator adds its own ALPN list (sim_tls_server_alpn) and
 * client-certificate rules.
 */
#ifndef SIM_TLSSERVER_H
#define SIM_TLSSERVER_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Returns a new context (the caller frees it), or NULL with a sentence in err
 * naming the file (cert_flag / key_flag name the options they came from, as
 * "--tls-cert"). OpenSSL's error queue is left empty. */
SSL_CTX *sim_tls_server_ctx(const char *cert, const char *key, const char *cert_flag,
                            const char *key_flag, char *err, size_t errlen);

/* A server's ALPN choice: protos in wire format (length-prefixed names, in
 * the server's order of preference). A client that offers ALPN with none of
 * them gets a no_application_protocol alert when refuse is set; else the
 * handshake goes on with no protocol selected. */
typedef struct sim_tls_alpn {
    const unsigned char *protos;
    unsigned int len;
    int refuse;
} sim_tls_alpn;

/* Installs alpn's selection on ctx; alpn must outlive ctx (static). */
void sim_tls_server_alpn(SSL_CTX *ctx, const sim_tls_alpn *alpn);

/* Writes "<what> <file>: <OpenSSL's reason>" into err and empties OpenSSL's
 * error queue (a configuration file that failed to load). */
void sim_tls_server_reason(char *err, size_t errlen, const char *what, const char *file);

#endif

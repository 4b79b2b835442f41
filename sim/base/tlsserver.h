/*
 * tlsserver.h - the server TLS context both simulators start from: TLS 1.2+,
 * no renegotiation or compression, partial writes with a moving write
 * buffer (sim_sock_write retries from a buffer that may have grown), read-ahead
 * with 64 KiB buffers, and the certificate chain and key, checked against
 * each other. Each simulator adds its own ALPN and client-certificate rules.
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

#endif

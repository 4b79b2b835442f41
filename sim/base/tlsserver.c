/* tlsserver.c - the simulators' common server TLS context (tlsserver.h). */
#include "tlsserver.h"

#include <stdio.h>

#include <openssl/err.h>

void sim_tls_server_reason(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s %s: %s", what, file, e ? buf : "failed");
    ERR_clear_error();
}

SSL_CTX *sim_tls_server_ctx(const char *cert, const char *key, const char *cert_flag,
                            const char *key_flag, char *err, size_t errlen)
{
    char what[64];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        ERR_clear_error();
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(what, sizeof what, "cannot load %s", cert_flag);
        sim_tls_server_reason(err, errlen, what, cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "cannot load %s", key_flag);
        sim_tls_server_reason(err, errlen, what, key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "%s does not match", key_flag);
        sim_tls_server_reason(err, errlen, what, cert);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const sim_tls_alpn *alpn = arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, alpn->protos, alpn->len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return alpn->refuse ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

void sim_tls_server_alpn(SSL_CTX *ctx, const sim_tls_alpn *alpn)
{
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)alpn);
}

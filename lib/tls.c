/*
 * tls.c - TLS client context and per-connection SSL for APNs.
 *
 * Design notes
 * - The library never prompts: a password callback answers with the
 *   configured password (or nothing), so an encrypted key without a password
 *   is an error, not a terminal prompt.
 * - Verification failures abort the handshake inside OpenSSL; the verify
 *   result is still readable afterwards, which is how APNS_EVERIFY gets the
 *   precise reason ("certificate has expired", "hostname mismatch", ...).
 * - The socket BIO is ours (recv / send with MSG_NOSIGNAL): OpenSSL's socket
 *   BIO uses write(2), which raises SIGPIPE when APNs closes the connection
 *   first, and a library must not install signal handlers.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "apns/error.h"
#include "detail.h"

const char *apns__tls_err_reason(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e; /* the last one is usually the most specific */
    if (!len)
        return buf;
    buf[0] = '\0';
    if (last) {
        const char *r = ERR_reason_error_string(last);
        if (r)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(last, buf, len);
    }
    return buf;
}

int apns__tls_is_ip(const char *s)
{
    unsigned char a[16];
    return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}

/* --- socket BIO ---------------------------------------------------------- */

static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;
static int sock_type;

/* Write coalescing: while corked, the records OpenSSL writes go to `buf`
 * (up to CORK_MAX bytes) and leave in one send() at apns__tls_drain(), so
 * one flush of many TLS records costs one system call (on loopback and
 * with a TCP stack that charges the receive path to the sender, one
 * segment train instead of one per 16 KB record). Bytes a send() left
 * behind stay in `buf`, and later records queue behind them. */
#define CORK_MAX (64 * 1024)

struct sock_ctx {
    int fd;
    int cork;
    size_t sends; /* send() calls that moved bytes, for tests */
    size_t recvs; /* recv() calls, for tests */
    uint8_t *buf;
    size_t off, len;
};

static int drain(struct sock_ctx *s)
{
    while (s->off < s->len) {
        ssize_t n = send(s->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
        if (n > 0) {
            s->sends++;
            s->off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n == 0)
            errno = EPIPE;
        return -1;
    }
    s->off = s->len = 0;
    return 0;
}

static int sock_write(BIO *b, const char *data, int len)
{
    struct sock_ctx *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!s->cork && s->len == 0) {
        ssize_t n = send(s->fd, data, (size_t)len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            BIO_set_retry_write(b);
        if (n > 0)
            s->sends++;
        return (int)n;
    }
    if (s->len + (size_t)len > CORK_MAX) {
        if (s->off && drain(s) < 0)
            return -1;
        if (s->len + (size_t)len > CORK_MAX) {
            int d = drain(s);
            if (d < 0)
                return -1;
            if (d > 0 && s->off) { /* compact, then see whether it fits */
                memmove(s->buf, s->buf + s->off, s->len - s->off);
                s->len -= s->off;
                s->off = 0;
            }
            if (s->len + (size_t)len > CORK_MAX) {
                if ((size_t)len > CORK_MAX && s->len == 0) { /* never: a record is < 17 KB */
                    ssize_t n = send(s->fd, data, (size_t)len, MSG_NOSIGNAL);
                    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                        BIO_set_retry_write(b);
                    return (int)n;
                }
                BIO_set_retry_write(b);
                return -1;
            }
        }
    }
    if (!s->buf && !(s->buf = malloc(CORK_MAX))) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(s->buf + s->len, data, (size_t)len);
    s->len += (size_t)len;
    return len;
}

static int sock_read(BIO *b, char *data, int len)
{
    struct sock_ctx *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(s->fd, data, (size_t)len, 0);
    s->recvs++;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        struct sock_ctx *s = BIO_get_data(b);
        int d = s->len ? drain(s) : 0;
        if (d > 0)
            BIO_set_retry_write(b);
        return d == 0 ? 1 : 0;
    }
    case BIO_C_GET_FD: {
        int fd = ((struct sock_ctx *)BIO_get_data(b))->fd;
        if (ptr)
            *(int *)ptr = fd;
        return fd;
    }
    default:
        return 0;
    }
}

static int sock_create(BIO *b)
{
    struct sock_ctx *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    s->fd = -1;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return 1;
}

static int sock_destroy(BIO *b)
{
    struct sock_ctx *s = BIO_get_data(b);
    if (s) {
        free(s->buf);
        free(s);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static struct sock_ctx *ctx_of(SSL *ssl)
{
    BIO *b = SSL_get_wbio(ssl);
    return b && BIO_method_type(b) == sock_type ? BIO_get_data(b) : NULL;
}

static void make_sock_method(void)
{
    int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    BIO_METHOD *m = BIO_meth_new(type, "apns socket");
    if (!m)
        return;
    if (!BIO_meth_set_write(m, sock_write) || !BIO_meth_set_read(m, sock_read) ||
        !BIO_meth_set_ctrl(m, sock_ctrl) || !BIO_meth_set_create(m, sock_create) ||
        !BIO_meth_set_destroy(m, sock_destroy)) {
        BIO_meth_free(m);
        return;
    }
    sock_type = type;
    sock_method = m;
}

/* --- context ------------------------------------------------------------- */

static int passwd_cb(char *buf, int size, int rwflag, void *ud)
{
    const char *pw = ud;
    if (!pw || size <= 0)
        return 0;
    size_t n = strlen(pw);
    if (n > (size_t)size)
        n = (size_t)size;
    memcpy(buf, pw, n);
    return (int)n;
}

static int readable(const char *path, const char *what, char *detail, size_t dlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        apns__set_detail(detail, dlen, "%s %s: %s", what, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

static int load_pem(SSL_CTX *ctx, const apns__tls_opts *o, char *detail, size_t dlen)
{
    char why[256];
    const char *key = o->key_file ? o->key_file : o->cert_file;
    if (!readable(o->cert_file, "client certificate", detail, dlen))
        return APNS_ECERT;
    if (key != o->cert_file && !readable(key, "client key", detail, dlen))
        return APNS_ECERT;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        apns__set_detail(detail, dlen, "client certificate %s: %s", o->cert_file,
                         apns__tls_err_reason(why, sizeof why));
        return APNS_ECERT;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        apns__tls_err_reason(why, sizeof why);
        apns__set_detail(detail, dlen, "client key %s%s: %s", key,
                         key == o->cert_file ? " (no key_file given, so the key must be in the "
                                               "certificate file)"
                                             : "",
                         why);
        return APNS_ECERT;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        apns__set_detail(detail, dlen, "client key %s does not match certificate %s: %s", key,
                         o->cert_file, apns__tls_err_reason(why, sizeof why));
        return APNS_ECERT;
    }
    return 0;
}

static int load_p12(SSL_CTX *ctx, const apns__tls_opts *o, char *detail, size_t dlen)
{
    char why[256];
    const char *pw = o->p12_password ? o->p12_password : "";
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    int rc = APNS_ECERT;

    if (!readable(o->p12_file, "PKCS#12 file", detail, dlen))
        return APNS_ECERT;
    BIO *bio = BIO_new_file(o->p12_file, "rb");
    PKCS12 *p12 = bio ? d2i_PKCS12_bio(bio, NULL) : NULL;
    BIO_free(bio);
    if (!p12) {
        apns__set_detail(detail, dlen, "PKCS#12 file %s: not PKCS#12 (DER): %s", o->p12_file,
                         apns__tls_err_reason(why, sizeof why));
        return APNS_ECERT;
    }
    if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pw, -1)) {
        apns__tls_err_reason(why, sizeof why);
        apns__set_detail(detail, dlen, "PKCS#12 file %s: wrong password (MAC verification failed)",
                         o->p12_file);
        goto out;
    }
    if (!PKCS12_parse(p12, pw, &pkey, &cert, &chain)) {
        apns__set_detail(detail, dlen, "PKCS#12 file %s: %s", o->p12_file,
                         apns__tls_err_reason(why, sizeof why));
        goto out;
    }
    if (!cert || !pkey) {
        apns__set_detail(detail, dlen, "PKCS#12 file %s: no %s inside", o->p12_file,
                         !cert ? "certificate" : "private key");
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        apns__set_detail(detail, dlen, "PKCS#12 file %s: key does not match certificate: %s",
                         o->p12_file, apns__tls_err_reason(why, sizeof why));
        goto out;
    }
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1) {
            apns__set_detail(detail, dlen, "PKCS#12 file %s: chain certificate %d: %s", o->p12_file,
                             i, apns__tls_err_reason(why, sizeof why));
            goto out;
        }
    }
    rc = 0;
out:
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    PKCS12_free(p12);
    return rc;
}

int apns__tls_ctx_new(SSL_CTX **out, const apns__tls_opts *o, char *detail, size_t detail_len)
{
    char why[256];
    int rc;
    static const unsigned char alpn[] = {2, 'h', '2'};

    *out = NULL;
    if (detail && detail_len)
        detail[0] = '\0';
    if (o->p12_file && (o->cert_file || o->key_file)) {
        apns__set_detail(detail, detail_len,
                         "give either a PKCS#12 file or a PEM certificate, not both");
        return APNS_EINVAL;
    }
    if (o->key_file && !o->cert_file) {
        apns__set_detail(detail, detail_len, "key_file given without cert_file");
        return APNS_EINVAL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        apns__set_detail(detail, detail_len, "SSL_CTX_new: %s",
                         apns__tls_err_reason(why, sizeof why));
        return APNS_ETLS;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        (!o->no_alpn && SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn) != 0)) {
        apns__set_detail(detail, detail_len, "TLS setup: %s",
                         apns__tls_err_reason(why, sizeof why));
        rc = APNS_ETLS;
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* Partial writes let one SSL_write hand over many frames and report how
     * far it got; the output buffer may move between retries. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read ahead: one recv() takes as many records as have arrived (up to
     * the read buffer), not a header and then a body per record. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_passwd_cb(ctx, passwd_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)o->p12_password);

    if (o->insecure_skip_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (o->ca_file) {
            if (!readable(o->ca_file, "CA file", detail, detail_len)) {
                rc = APNS_ETLS;
                goto fail;
            }
            if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
                apns__set_detail(detail, detail_len, "CA file %s: %s", o->ca_file,
                                 apns__tls_err_reason(why, sizeof why));
                rc = APNS_ETLS;
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            apns__set_detail(detail, detail_len, "system trust store: %s",
                             apns__tls_err_reason(why, sizeof why));
            rc = APNS_ETLS;
            goto fail;
        }
    }

    if (o->p12_file)
        rc = load_p12(ctx, o, detail, detail_len);
    else if (o->cert_file)
        rc = load_pem(ctx, o, detail, detail_len);
    else
        rc = 0;
    if (rc)
        goto fail;
    /* The password was only needed while loading. */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    ERR_clear_error();
    *out = ctx;
    return 0;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

/* --- connection ---------------------------------------------------------- */

int apns__tls_ssl_new(SSL **out, SSL_CTX *ctx, int fd, const char *host, char *detail,
                      size_t detail_len)
{
    char why[256];
    *out = NULL;
    pthread_once(&sock_once, make_sock_method);
    if (!sock_method) {
        apns__set_detail(detail, detail_len, "cannot create the socket BIO method");
        return APNS_ENOMEM;
    }
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    BIO *bio = ssl ? BIO_new(sock_method) : NULL;
    if (!bio) {
        apns__set_detail(detail, detail_len, "SSL_new: %s", apns__tls_err_reason(why, sizeof why));
        SSL_free(ssl);
        return APNS_ENOMEM;
    }
    ((struct sock_ctx *)BIO_get_data(bio))->fd = fd;
    SSL_set_bio(ssl, bio, bio); /* ssl owns bio */
    int is_ip = apns__tls_is_ip(host);
    int ok = 1;
    if (!is_ip && host && *host)
        ok = SSL_set_tlsext_host_name(ssl, host) == 1;
    if (ok && host && *host && (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER)) {
        if (is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, host) == 1;
        }
    }
    if (!ok) {
        apns__set_detail(detail, detail_len, "TLS host %s: %s", host,
                         apns__tls_err_reason(why, sizeof why));
        SSL_free(ssl);
        return APNS_ETLS;
    }
    SSL_set_connect_state(ssl);
    *out = ssl;
    return 0;
}

int apns__tls_handshake(SSL *ssl, char *detail, size_t detail_len)
{
    return apns__tls_handshake_ex(ssl, 1, detail, detail_len);
}

int apns__tls_handshake_ex(SSL *ssl, int need_h2, char *detail, size_t detail_len)
{
    char why[256];
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        const unsigned char *proto = NULL;
        unsigned int plen = 0;
        SSL_get0_alpn_selected(ssl, &proto, &plen);
        if (need_h2 && (plen != 2 || memcmp(proto, "h2", 2) != 0)) {
            if (plen)
                apns__set_detail(detail, detail_len, "server selected ALPN \"%.*s\", not \"h2\"",
                                 (int)plen, (const char *)proto);
            else
                apns__set_detail(detail, detail_len,
                                 "server did not negotiate ALPN (HTTP/2 over TLS needs \"h2\")");
            return APNS_EALPN;
        }
        if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
            SSL_get_verify_result(ssl) != X509_V_OK) {
            long v = SSL_get_verify_result(ssl);
            apns__set_detail(detail, detail_len, "server certificate: %s",
                             X509_verify_cert_error_string(v));
            return APNS_EVERIFY;
        }
        return 0;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return APNS__TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return APNS__TLS_WANT_WRITE;
    int saved = errno;
    unsigned long err = ERR_peek_last_error();
    long v = SSL_get_verify_result(ssl);
    if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && v != X509_V_OK) {
        ERR_clear_error();
        apns__set_detail(detail, detail_len, "server certificate: %s",
                         X509_verify_cert_error_string(v));
        return APNS_EVERIFY;
    }
    if (err && ERR_GET_LIB(err) == ERR_LIB_SSL &&
        ERR_GET_REASON(err) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
        ERR_clear_error();
        apns__set_detail(detail, detail_len,
                         "server refused ALPN \"h2\" (no_application_protocol)");
        return APNS_EALPN;
    }
    if (e == SSL_ERROR_SYSCALL && !err) {
        if (saved)
            apns__set_detail(detail, detail_len, "TLS handshake: %s", strerror(saved));
        else
            apns__set_detail(detail, detail_len, "TLS handshake: connection closed by the server");
        return APNS_ETLS;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        apns__set_detail(detail, detail_len, "TLS handshake: connection closed by the server");
        return APNS_ETLS;
    }
    apns__set_detail(detail, detail_len, "TLS handshake: %s",
                     apns__tls_err_reason(why, sizeof why));
    if (detail && detail_len && !why[0])
        apns__set_detail(detail, detail_len, "TLS handshake failed (SSL error %d)", e);
    return APNS_ETLS;
}

void apns__tls_cork(SSL *ssl, int on)
{
    struct sock_ctx *s = ctx_of(ssl);
    if (s)
        s->cork = on;
}

int apns__tls_drain(SSL *ssl)
{
    struct sock_ctx *s = ctx_of(ssl);
    return s && s->len ? drain(s) : 0;
}

size_t apns__tls_unsent(SSL *ssl)
{
    struct sock_ctx *s = ctx_of(ssl);
    return s ? s->len - s->off : 0;
}

size_t apns__tls_send_calls(SSL *ssl)
{
    struct sock_ctx *s = ctx_of(ssl);
    return s ? s->sends : 0;
}

size_t apns__tls_recv_calls(SSL *ssl)
{
    struct sock_ctx *s = ctx_of(ssl);
    return s ? s->recvs : 0;
}

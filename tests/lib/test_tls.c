/*
 * test_tls.c - the TLS client context and handshake (lib/tls.c).
 *
 * Context errors are checked against the credentials tests/certs/gen.sh
 * makes (env APNS_TEST_CERTS). Handshakes run against an OpenSSL server in a
 * thread of this process over a socketpair, so every outcome (success, wrong
 * CA, no h2, host name mismatch, client certificate) is exercised without a
 * network.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "apns/error.h"
#include "tls.h"

static char certs[1024];

static const char *cert(const char *name)
{
    static char buf[8][1200];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", certs, name);
    return b;
}

/* --- context errors ------------------------------------------------------ */

static int ctx(const apns__tls_opts *o, char *detail, size_t len)
{
    SSL_CTX *c = NULL;
    int rc = apns__tls_ctx_new(&c, o, detail, len);
    if (rc == 0)
        assert_non_null(c);
    else
        assert_null(c);
    SSL_CTX_free(c);
    return rc;
}

static void ctx_defaults_ok(void **state)
{
    apns__tls_opts o = {0};
    char d[512];
    assert_int_equal(ctx(&o, d, sizeof d), 0); /* system store, no client cert */
    o.ca_file = cert("ca.pem");
    assert_int_equal(ctx(&o, d, sizeof d), 0);
}

static void ctx_pem_ok(void **state)
{
    apns__tls_opts o = {
        .cert_file = cert("client.pem"), .key_file = cert("client.key"), .ca_file = cert("ca.pem")};
    char d[512];
    assert_int_equal(ctx(&o, d, sizeof d), 0);
}

static void ctx_key_inside_cert_file(void **state)
{
    char path[] = "/tmp/apns-test-tls-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    const char *parts[] = {cert("client.pem"), cert("client.key")};
    for (int i = 0; i < 2; i++) {
        FILE *in = fopen(parts[i], "r");
        assert_non_null(in);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
        fclose(in);
    }
    fclose(out);
    apns__tls_opts o = {.cert_file = path};
    char d[512];
    assert_int_equal(ctx(&o, d, sizeof d), 0);
    /* A certificate file without a key and no key_file: the detail says so. */
    o.cert_file = cert("client.pem");
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "client.pem"));
    unlink(path);
}

static void ctx_missing_files(void **state)
{
    char d[512];
    apns__tls_opts o = {.cert_file = "/nonexistent/cert.pem", .key_file = cert("client.key")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "/nonexistent/cert.pem"));
    assert_non_null(strstr(d, "No such file"));

    o = (apns__tls_opts){.cert_file = cert("client.pem"), .key_file = "/nonexistent/key.pem"};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "/nonexistent/key.pem"));

    o = (apns__tls_opts){.p12_file = "/nonexistent/c.p12", .p12_password = "secret"};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "/nonexistent/c.p12"));

    o = (apns__tls_opts){.ca_file = "/nonexistent/ca.pem"};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ETLS);
    assert_non_null(strstr(d, "/nonexistent/ca.pem"));

    /* Not a certificate at all. */
    o = (apns__tls_opts){.ca_file = cert("client.key")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ETLS);
    o = (apns__tls_opts){.cert_file = cert("client.key"), .key_file = cert("client.key")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    o = (apns__tls_opts){.p12_file = cert("client.pem"), .p12_password = "secret"};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "PKCS#12"));
}

static void ctx_p12(void **state)
{
    char d[512];
    apns__tls_opts o = {.p12_file = cert("client.p12"), .p12_password = "secret"};
    assert_int_equal(ctx(&o, d, sizeof d), 0);
    o.p12_password = "wrong";
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "client.p12"));
    assert_non_null(strstr(d, "wrong password"));
    o.p12_password = NULL;
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
}

static void ctx_key_mismatch(void **state)
{
    char d[512];
    apns__tls_opts o = {.cert_file = cert("client.pem"), .key_file = cert("server.key")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_ECERT);
    assert_non_null(strstr(d, "server.key"));
    assert_non_null(strstr(d, "match"));
}

static void ctx_conflicting_options(void **state)
{
    char d[512];
    apns__tls_opts o = {.cert_file = cert("client.pem"), .p12_file = cert("client.p12")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_EINVAL);
    o = (apns__tls_opts){.key_file = cert("client.key")};
    assert_int_equal(ctx(&o, d, sizeof d), APNS_EINVAL);
}

static void is_ip(void **state)
{
    assert_true(apns__tls_is_ip("127.0.0.1"));
    assert_true(apns__tls_is_ip("::1"));
    assert_true(apns__tls_is_ip("2001:db8::17"));
    assert_false(apns__tls_is_ip("localhost"));
    assert_false(apns__tls_is_ip("api.push.apple.com"));
    assert_false(apns__tls_is_ip("[::1]"));
    assert_false(apns__tls_is_ip(""));
    assert_false(apns__tls_is_ip(NULL));
}

/* --- handshakes against an in-process server ----------------------------- */

struct server {
    int fd;
    const char *alpn; /* protocols offered, wire format; NULL = no ALPN callback */
    size_t alpn_len;
    int alpn_fatal; /* refuse with no_application_protocol instead of ignoring */
    int require_client_cert;
    int max_version; /* 0 = default */
    int accept_rc;   /* SSL_accept result */
    int got_client_cert;
    char sni[256];
    size_t received;  /* application bytes read */
    int pattern_bad;  /* a byte read was not (offset % 251) */
    int send_records; /* after the handshake, write this many 100-byte records, then read */
    int records_sent; /* set (atomically) once they are in the socket */
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    struct server *s = arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, (const unsigned char *)s->alpn,
                              (unsigned)s->alpn_len, in, inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return s->alpn_fatal ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(c, cert("server.pem"));
    SSL_CTX_use_PrivateKey_file(c, cert("server.key"), SSL_FILETYPE_PEM);
    if (s->max_version) {
        SSL_CTX_set_security_level(c, 0);
        SSL_CTX_set_min_proto_version(c, 0);
        SSL_CTX_set_max_proto_version(c, s->max_version);
    }
    if (s->alpn)
        SSL_CTX_set_alpn_select_cb(c, alpn_select, s);
    if (s->require_client_cert) {
        SSL_CTX_load_verify_locations(c, cert("ca.pem"), NULL);
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL *ssl = SSL_new(c);
    SSL_set_fd(ssl, s->fd);
    s->accept_rc = SSL_accept(ssl);
    if (s->accept_rc == 1) {
        X509 *peer = SSL_get1_peer_certificate(ssl);
        s->got_client_cert = peer != NULL;
        X509_free(peer);
        const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        snprintf(s->sni, sizeof s->sni, "%s", sni ? sni : "");
        /* Wait for the client to go away, so session tickets etc. flow. */
        unsigned char b[4096];
        int n;
        for (int r = 0; r < s->send_records; r++) {
            memset(b, 'a' + r, 100);
            SSL_write(ssl, b, 100);
        }
        __atomic_store_n(&s->records_sent, 1, __ATOMIC_RELEASE);
        while ((n = SSL_read(ssl, b, sizeof b)) > 0) {
            for (int i = 0; i < n; i++)
                if (b[i] != (unsigned char)((s->received + (size_t)i) % 251))
                    s->pattern_bad = 1;
            s->received += (size_t)n;
        }
    }
    SSL_free(ssl);
    SSL_CTX_free(c);
    close(s->fd);
    ERR_clear_error();
    return NULL;
}

static const char H2[] = "\x02h2";
static const char H2_AND_HTTP11[] = "\x02h2\x08http/1.1";
static const char HTTP11[] = "\x08http/1.1";

/* A client connected to a server thread (server_main) over a socketpair. */
struct client {
    int fd;
    pthread_t th;
    SSL_CTX *c;
    SSL *ssl;
};

/* Starts s and runs the client's handshake (a blocking socket: to the end
 * in one call); returns apns__tls_handshake's final result. */
static int client_open(struct client *k, struct server *s, const apns__tls_opts *o,
                       const char *host, char *detail, size_t dlen)
{
    int sv[2], rc;
    char d[512];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s->fd = sv[1];
    k->fd = sv[0];
    assert_int_equal(pthread_create(&k->th, NULL, server_main, s), 0);
    k->c = NULL;
    k->ssl = NULL;
    assert_int_equal(apns__tls_ctx_new(&k->c, o, d, sizeof d), 0);
    assert_int_equal(apns__tls_ssl_new(&k->ssl, k->c, k->fd, host, d, sizeof d), 0);
    detail[0] = '\0';
    do
        rc = apns__tls_handshake(k->ssl, detail, dlen);
    while (rc == APNS__TLS_WANT_READ || rc == APNS__TLS_WANT_WRITE);
    return rc;
}

/* Closes the client (close_notify first when shut) and waits for the
 * server thread. */
static void client_close(struct client *k, int shut)
{
    if (shut)
        SSL_shutdown(k->ssl);
    SSL_free(k->ssl);
    SSL_CTX_free(k->c);
    close(k->fd);
    pthread_join(k->th, NULL);
}

/* Runs one handshake; returns apns__tls_handshake's final result. */
static int handshake(struct server *s, const apns__tls_opts *o, const char *host, char *detail,
                     size_t dlen)
{
    struct client k;
    int rc = client_open(&k, s, o, host, detail, dlen);

    if (rc == 0) /* both ends really talk: one byte through */
        assert_int_equal(SSL_write(k.ssl, "x", 1), 1);
    client_close(&k, rc == 0);
    return rc;
}

/* A handshake with a fresh server that speaks only h2 (its view left in *s):
 * returns want, and the detail names `says` (NULL: not checked). */
static void h2_handshake(struct server *s, const apns__tls_opts *o, const char *host, int want,
                         const char *says)
{
    char d[512];
    *s = (struct server){.alpn = H2, .alpn_len = sizeof H2 - 1};
    assert_int_equal(handshake(s, o, host, d, sizeof d), want);
    if (says)
        assert_non_null(strstr(d, says));
}

static void handshake_ok(void **state)
{
    struct server s = {.alpn = H2_AND_HTTP11, .alpn_len = sizeof H2_AND_HTTP11 - 1};
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    char d[512];
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), 0);
    assert_int_equal(s.accept_rc, 1);
    assert_string_equal(s.sni, "localhost");
    assert_false(s.got_client_cert);

    /* IP literal: verified against the IP SAN, and no SNI (RFC 6066). */
    h2_handshake(&s, &o, "127.0.0.1", 0, NULL);
    assert_string_equal(s.sni, "");
    h2_handshake(&s, &o, "::1", 0, NULL);
}

/* Write coalescing (issue 16): three full TLS records written while corked
 * leave in one send() at drain, in order; uncorked each record is its own
 * send(), as OpenSSL writes them. */
static void write_one_record(SSL *ssl, const unsigned char *p, size_t len)
{
    while (len) { /* partial writes: one record per SSL_write */
        int n = SSL_write(ssl, p, (int)len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void corked_records_leave_in_one_send(void **state)
{
    enum { RECORD = 16384, RECORDS = 3 };
    static unsigned char data[2 * RECORDS * RECORD];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i % 251);
    struct server s = {.alpn = H2, .alpn_len = sizeof H2 - 1};
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    struct client k;
    char d[512];
    assert_int_equal(client_open(&k, &s, &o, "localhost", d, sizeof d), 0);
    SSL *ssl = k.ssl;

    /* Uncorked: one send() per record. */
    size_t before = apns__tls_send_calls(ssl);
    write_one_record(ssl, data, RECORDS * RECORD);
    assert_int_equal(apns__tls_send_calls(ssl) - before, RECORDS);
    assert_int_equal(apns__tls_unsent(ssl), 0);

    /* Corked: nothing leaves until drain, then all of it in one send(). */
    before = apns__tls_send_calls(ssl);
    apns__tls_cork(ssl, 1);
    write_one_record(ssl, data + RECORDS * RECORD, RECORDS * RECORD);
    assert_int_equal(apns__tls_send_calls(ssl), before);
    assert_true(apns__tls_unsent(ssl) > RECORDS * RECORD); /* plus record overhead */
    apns__tls_cork(ssl, 0);
    assert_int_equal(apns__tls_drain(ssl), 0);
    assert_int_equal(apns__tls_send_calls(ssl) - before, 1);
    assert_int_equal(apns__tls_unsent(ssl), 0);

    client_close(&k, 1);
    assert_int_equal(s.accept_rc, 1);
    assert_int_equal(s.received, sizeof data); /* every byte, in order */
    assert_false(s.pattern_bad);
}

/* Read ahead (issue 16): records that have all arrived are taken by one
 * recv(), not two per record (5-byte header, then the body). */
static void records_read_ahead(void **state)
{
    struct server s = {.alpn = H2, .alpn_len = sizeof H2 - 1, .send_records = 3};
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    struct client k;
    char d[512];
    assert_int_equal(client_open(&k, &s, &o, "localhost", d, sizeof d), 0);
    SSL *ssl = k.ssl;
    /* Wait until the server's session tickets and three records are all in
     * the socket (a blocking socket: SSL_write returned, the bytes are in). */
    while (!__atomic_load_n(&s.records_sent, __ATOMIC_ACQUIRE))
        usleep(1000);
    size_t before = apns__tls_recv_calls(ssl);
    char b[300];
    size_t got = 0;
    while (got < sizeof b) {
        int n = SSL_read(ssl, b + got, (int)(sizeof b - got));
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(b, (char[100]){[0 ... 99] = 'a'}, 100);
    assert_memory_equal(b + 200, (char[100]){[0 ... 99] = 'c'}, 100);
    assert_int_equal(apns__tls_recv_calls(ssl) - before, 1);
    client_close(&k, 1);
}

static void handshake_wrong_ca(void **state)
{
    struct server s;
    apns__tls_opts o = {.ca_file = cert("other-ca.pem")};
    h2_handshake(&s, &o, "localhost", APNS_EVERIFY, "local issuer");
    assert_int_not_equal(s.accept_rc, 1);

    /* insecure_skip_verify accepts it (tests only). */
    o.insecure_skip_verify = 1;
    h2_handshake(&s, &o, "localhost", 0, NULL);
}

static void handshake_hostname_mismatch(void **state)
{
    struct server s;
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    h2_handshake(&s, &o, "api.push.apple.com", APNS_EVERIFY, "mismatch");
    h2_handshake(&s, &o, "10.1.2.3", APNS_EVERIFY, "mismatch");
}

static void handshake_no_h2(void **state)
{
    /* The server speaks only http/1.1: it ignores our ALPN. */
    struct server s = {.alpn = HTTP11, .alpn_len = sizeof HTTP11 - 1};
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    char d[512];
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), APNS_EALPN);
    assert_non_null(strstr(d, "ALPN"));

    /* ... or refuses the handshake with no_application_protocol. */
    s = (struct server){.alpn = HTTP11, .alpn_len = sizeof HTTP11 - 1, .alpn_fatal = 1};
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), APNS_EALPN);

    /* ... or has no ALPN at all. */
    s = (struct server){0};
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), APNS_EALPN);
}

static void handshake_old_tls_refused(void **state)
{
    struct server s = {.alpn = H2, .alpn_len = sizeof H2 - 1, .max_version = TLS1_1_VERSION};
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    char d[512];
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), APNS_ETLS);
    assert_true(strlen(d) > 0);
}

static void handshake_client_cert(void **state)
{
    char d[512];
    struct server s = {.alpn = H2, .alpn_len = sizeof H2 - 1, .require_client_cert = 1};
    apns__tls_opts o = {
        .ca_file = cert("ca.pem"), .p12_file = cert("client.p12"), .p12_password = "secret"};
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), 0);
    assert_int_equal(s.accept_rc, 1);
    assert_true(s.got_client_cert);

    s = (struct server){.alpn = H2, .alpn_len = sizeof H2 - 1, .require_client_cert = 1};
    o = (apns__tls_opts){
        .ca_file = cert("ca.pem"), .cert_file = cert("client.pem"), .key_file = cert("client.key")};
    assert_int_equal(handshake(&s, &o, "localhost", d, sizeof d), 0);
    assert_true(s.got_client_cert);
}

/* A client session for "localhost", trusting the test CA, on fd. */
static SSL *client_ssl(int fd, SSL_CTX **c)
{
    char d[512];
    apns__tls_opts o = {.ca_file = cert("ca.pem")};
    assert_int_equal(apns__tls_ctx_new(c, &o, d, sizeof d), 0);
    SSL *ssl = NULL;
    assert_int_equal(apns__tls_ssl_new(&ssl, *c, fd, "localhost", d, sizeof d), 0);
    return ssl;
}

static void handshake_peer_closes(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    SSL_CTX *c = NULL;
    char d[512];
    SSL *ssl = client_ssl(sv[0], &c);
    assert_int_equal(apns__tls_handshake(ssl, d, sizeof d), APNS_ETLS);
    assert_true(strlen(d) > 0);
    SSL_free(ssl);
    SSL_CTX_free(c);
    close(sv[0]);
}

static void handshake_nonblocking(void **state)
{
    /* The same handshake on a non-blocking socket: WANT_READ comes back and
     * the caller retries; no SIGPIPE when the server is gone. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    SSL_CTX *c = NULL;
    char d[512];
    SSL *ssl = client_ssl(sv[0], &c);
    assert_int_equal(apns__tls_handshake(ssl, d, sizeof d), APNS__TLS_WANT_READ);
    close(sv[1]);
    int rc = apns__tls_handshake(ssl, d, sizeof d);
    assert_int_equal(rc, APNS_ETLS);
    SSL_free(ssl);
    SSL_CTX_free(c);
    close(sv[0]);
}

int main(void)
{
    const char *dir = getenv("APNS_TEST_CERTS");
    if (!dir) {
        fprintf(stderr, "APNS_TEST_CERTS is not set (run tests/certs/gen.sh DIR)\n");
        return 1;
    }
    snprintf(certs, sizeof certs, "%s", dir);
    /* The in-test server writes with plain write(2). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ctx_defaults_ok),
        cmocka_unit_test(ctx_pem_ok),
        cmocka_unit_test(ctx_key_inside_cert_file),
        cmocka_unit_test(ctx_missing_files),
        cmocka_unit_test(ctx_p12),
        cmocka_unit_test(ctx_key_mismatch),
        cmocka_unit_test(ctx_conflicting_options),
        cmocka_unit_test(is_ip),
        cmocka_unit_test(handshake_ok),
        cmocka_unit_test(corked_records_leave_in_one_send),
        cmocka_unit_test(records_read_ahead),
        cmocka_unit_test(handshake_wrong_ca),
        cmocka_unit_test(handshake_hostname_mismatch),
        cmocka_unit_test(handshake_no_h2),
        cmocka_unit_test(handshake_old_tls_refused),
        cmocka_unit_test(handshake_client_cert),
        cmocka_unit_test(handshake_peer_closes),
        cmocka_unit_test(handshake_nonblocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tlsctx.c - SSL_CTX for apns-sim: certificates, ALPN, client CA.
 *
 * ALPN: h2 is selected when offered; a client that offers ALPN without h2
 * gets a no_application_protocol alert (project choice, docs/apns-sim.md);
 * a client that offers no ALPN gets HTTP/2 with prior knowledge, as APNs
 * gives it (protocol notes §1.2). */
#include "tlsctx.h"
#include "certinfo.h"
#include "tlsserver.h" /* sim/base/ */

#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

/* h2 only; a client offering ALPN without it is refused. */
static const sim_tls_alpn alpn_h2 = {(const unsigned char *)"\x02h2", 3, 1};

static SSL_CTX *ctx_new(const sim_options *o, int alpn, char *err, size_t errlen)
{
    SSL_CTX *ctx = sim_tls_server_ctx(o->tls_cert, o->tls_key, "--tls-cert", "--tls-key", err,
                                      errlen); /* sim/base/ */
    if (!ctx)
        return NULL;
    if (alpn)
        sim_tls_server_alpn(ctx, &alpn_h2); /* sim/base/ */
    if (o->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1) {
            sim_tls_server_reason(err, errlen, "cannot load --client-ca", o->client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        static const unsigned char sid_ctx[] = "apns-sim";
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *sim_tls_ctx_new(const sim_options *o, char *err, size_t errlen)
{
    return ctx_new(o, 1, err, errlen);
}

SSL_CTX *sim_tls_ctx_new_binary(const sim_options *o, char *err, size_t errlen)
{
    return ctx_new(o, 0, err, errlen);
}

static int name_entry(X509_NAME *name, int nid, char *out, size_t outlen)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return -1;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n <= 0 || (size_t)n >= outlen || memchr(utf8, '\0', (size_t)n)) {
        OPENSSL_free(utf8);
        return -1;
    }
    memcpy(out, utf8, (size_t)n);
    out[n] = '\0';
    OPENSSL_free(utf8);
    return 0;
}

int sim_tls_peer_topic(SSL *ssl, char *out, size_t outlen)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return -1;
    X509_NAME *name = X509_get_subject_name(cert);
    int rc = name_entry(name, NID_userId, out, outlen);
    if (rc != 0 && name_entry(name, NID_commonName, out, outlen) == 0) {
        size_t off;
        sim_cert_cn_env(out, &off);
        memmove(out, out + off, strlen(out + off) + 1);
        rc = out[0] ? 0 : -1;
    }
    X509_free(cert);
    return rc;
}

void sim_tls_peer_services(SSL *ssl, unsigned *svc, sim_cert_env *env)
{
    *svc = 0;
    *env = SIM_CERT_ENV_BOTH;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return;
    char cn[300];
    size_t off;
    if (name_entry(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) == 0)
        *env = sim_cert_cn_env(cn, &off);
    for (int i = 0; i < X509_get_ext_count(cert); i++) {
        X509_EXTENSION *ext = X509_get_ext(cert, i);
        char oid[64];
        if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1) <= 0)
            continue;
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
        if (strcmp(oid, SIM_OID_CERT_VOIP) == 0)
            *svc |= SIM_CERT_SVC_VOIP;
        else if (strcmp(oid, SIM_OID_CERT_TOPICS) == 0)
            *svc |=
                sim_cert_topics_services(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
    }
    X509_free(cert);
}

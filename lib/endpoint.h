/*
 * endpoint.h - where APNs connections go and what they present (internal).
 *
 * An endpoint is what every connection of one client shares: the host and
 * port (from the environment, or the caller's for APNS_ENV_CUSTOM), one TLS
 * client context made from the caller's credentials, one DNS resolver, and
 * the connect timeout. The push client (client.c: HTTP/2 and the binary
 * gateway) and the feedback client (legacy/feedback.c) each own one and open their
 * apns__transport connections to it (apns__transport_opts.ep).
 *
 * Set up in two steps, so that a caller's argument checks keep their order:
 * apns__endpoint_host() picks the host before anything is allocated,
 * apns__endpoint_init() copies it, apns__endpoint_setup() makes the TLS
 * context and the resolver. apns__endpoint_cleanup() frees what exists, at
 * any point after init (or after zeroing the struct).
 */
#ifndef APNS_ENDPOINT_H
#define APNS_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "apns/client.h"
#include "tls.h"

struct event_base;
struct evdns_base;

typedef struct apns__endpoint {
    struct event_base *base; /* borrowed */
    struct evdns_base *dns;  /* owned */
    SSL_CTX *ssl_ctx;        /* owned; NULL = plaintext h2c */
    char *host;              /* owned; name or IP literal, no brackets */
    uint16_t port;
    int insecure_skip_verify;   /* tests only: logged on every connect */
    int64_t connect_timeout_ms; /* DNS + TCP + proxy + TLS; 0 = 10000 */
} apns__endpoint;

/*
 * The apns__tls_opts for the credential fields of a public options struct
 * (apns_client_opts, apns_feedback_opts: the same names in both).
 */
#define APNS__TLS_OPTS_OF(o, no_alpn_)                                                             \
    ((apns__tls_opts){                                                                             \
        .cert_file = (o)->cert_file,                                                               \
        .key_file = (o)->key_file,                                                                 \
        .p12_file = (o)->p12_file,                                                                 \
        .p12_password = (o)->p12_password,                                                         \
        .ca_file = (o)->ca_file,                                                                   \
        .insecure_skip_verify = (o)->insecure_skip_verify,                                         \
        .no_alpn = (no_alpn_),                                                                     \
    })

/*
 * The host for env: production or sandbox (Apple's names, given by the
 * caller for its service), or custom for APNS_ENV_CUSTOM. Returns it
 * (borrowed from the arguments), or NULL with detail set ("APNS_ENV_CUSTOM
 * needs a host", "unknown environment N"): the caller returns APNS_EINVAL.
 */
const char *apns__endpoint_host(apns_environment env, const char *custom, const char *production,
                                const char *sandbox, char *detail, size_t detail_len);

/* Zeroes ep and copies host (brackets around an IPv6 literal dropped).
 * Returns 0 or APNS_ENOMEM. */
int apns__endpoint_init(apns__endpoint *ep, struct event_base *base, const char *host,
                        uint16_t port);

/*
 * Creates the TLS context from tls (NULL: plaintext, no context), then the
 * DNS resolver (the system's name servers, or none without resolv.conf: IP
 * literals and /etc/hosts still work). Returns 0, the apns__tls_ctx_new()
 * errors, or APNS_ENOMEM ("cannot create the DNS resolver"); detail says
 * which. What was created stays for apns__endpoint_cleanup().
 */
int apns__endpoint_setup(apns__endpoint *ep, const apns__tls_opts *tls, char *detail,
                         size_t detail_len);

void apns__endpoint_cleanup(apns__endpoint *ep);

/* "[v6]" style brackets dropped: a malloc'ed copy of h[0..len), or NULL. */
char *apns__endpoint_host_dup(const char *h, size_t len);

#endif

/*
 * tlsctx.h - the simulator's TLS server context: TLS 1.2+, ALPN "h2" only
 * (a client that offers ALPN without h2 gets a no_application_protocol
 * alert; one that offers no ALPN speaks HTTP/2 with prior knowledge), optional
 * client certificates for certificate auth. The binary gateway and the
 * feedback service get a second context without ALPN.
 */
#ifndef SIM_TLSCTX_H
#define SIM_TLSCTX_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "certinfo.h"
#include "options.h"

/* Returns a context, or NULL with a sentence in err. */
SSL_CTX *sim_tls_ctx_new(const sim_options *o, char *err, size_t errlen);

/* The same for the legacy binary gateway and the feedback service: no ALPN
 * (Apple's binary interface predates it; whatever a client offers is
 * ignored), same certificates and client CA. */
SSL_CTX *sim_tls_ctx_new_binary(const sim_options *o, char *err, size_t errlen);

/* The APNs topic of the peer certificate: its subject UID, else its CN
 * (after an "Apple ... Push Services: " prefix, certinfo.h). Returns 0 and
 * writes out, or -1 when there is no certificate or neither attribute. */
int sim_tls_peer_topic(SSL *ssl, char *out, size_t outlen);

/* The peer certificate's services (SIM_CERT_SVC_* bits from its Apple
 * extensions) and the environment its CN names; 0 and BOTH without one. */
void sim_tls_peer_services(SSL *ssl, unsigned *svc, sim_cert_env *env);

#endif

/* endpoint.c - see endpoint.h. */
#include "endpoint.h"

#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>

#include "apns/error.h"
#include "detail.h"

const char *apns__endpoint_host(apns_environment env, const char *custom, const char *production,
                                const char *sandbox, char *detail, size_t detail_len)
{
    switch (env) {
    case APNS_ENV_PRODUCTION:
        return production;
    case APNS_ENV_SANDBOX:
        return sandbox;
    case APNS_ENV_CUSTOM:
        if (!custom || !*custom) {
            apns__set_detail(detail, detail_len, "APNS_ENV_CUSTOM needs a host");
            return NULL;
        }
        return custom;
    default:
        apns__set_detail(detail, detail_len, "unknown environment %d", (int)env);
        return NULL;
    }
}

char *apns__endpoint_host_dup(const char *h, size_t len)
{
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    return strndup(h, len);
}

int apns__endpoint_init(apns__endpoint *ep, struct event_base *base, const char *host,
                        uint16_t port)
{
    memset(ep, 0, sizeof *ep);
    ep->base = base;
    ep->port = port;
    ep->host = apns__endpoint_host_dup(host, strlen(host));
    return ep->host ? 0 : APNS_ENOMEM;
}

int apns__endpoint_setup(apns__endpoint *ep, const apns__tls_opts *tls, char *detail,
                         size_t detail_len)
{
    if (tls) {
        int rc = apns__tls_ctx_new(&ep->ssl_ctx, tls, detail, detail_len);
        if (rc)
            return rc;
    }
    ep->dns = evdns_base_new(ep->base,
                             EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!ep->dns) /* no resolv.conf: IP literals and /etc/hosts still work */
        ep->dns = evdns_base_new(ep->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!ep->dns) {
        apns__set_detail(detail, detail_len, "cannot create the DNS resolver");
        return APNS_ENOMEM;
    }
    return 0;
}

void apns__endpoint_cleanup(apns__endpoint *ep)
{
    if (ep->dns)
        evdns_base_free(ep->dns, 1);
    if (ep->ssl_ctx)
        SSL_CTX_free(ep->ssl_ctx);
    free(ep->host);
    memset(ep, 0, sizeof *ep);
}

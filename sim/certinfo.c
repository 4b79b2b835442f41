/* certinfo.c - client-certificate environment and services (certinfo.h). */
#include "certinfo.h"

#include <string.h>

#include <openssl/asn1.h>

#include "apple.h"

static const struct {
    const char *prefix;
    sim_cert_env env;
} cn_prefixes[] = {
    {"Apple Push Services: ", SIM_CERT_ENV_BOTH},
    {"Apple Development IOS Push Services: ", SIM_CERT_ENV_SANDBOX},
    {"Apple Production IOS Push Services: ", SIM_CERT_ENV_PRODUCTION},
};

sim_cert_env sim_cert_cn_env(const char *cn, size_t *topic_off)
{
    for (size_t i = 0; i < sizeof cn_prefixes / sizeof cn_prefixes[0]; i++) {
        size_t n = strlen(cn_prefixes[i].prefix);
        if (strncmp(cn, cn_prefixes[i].prefix, n) == 0) {
            *topic_off = n;
            return cn_prefixes[i].env;
        }
    }
    *topic_off = 0;
    return SIM_CERT_ENV_BOTH;
}

static unsigned kind_service(const ASN1_TYPE *t)
{
    if (t->type != V_ASN1_UTF8STRING)
        return 0;
    const ASN1_STRING *s = t->value.utf8string;
    int n = ASN1_STRING_length(s);
    const unsigned char *p = ASN1_STRING_get0_data(s);
    if (n == 4 && memcmp(p, "voip", 4) == 0)
        return SIM_CERT_SVC_VOIP;
    if (n == 12 && memcmp(p, "complication", 12) == 0)
        return SIM_CERT_SVC_WATCHKIT;
    return 0;
}

unsigned sim_cert_topics_services(const unsigned char *der, size_t len)
{
    if (len > 65536)
        return 0;
    const unsigned char *p = der;
    ASN1_SEQUENCE_ANY *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
    if (!top)
        return 0;
    unsigned svc = 0;
    for (int i = 0; i < sk_ASN1_TYPE_num(top); i++) {
        const ASN1_TYPE *t = sk_ASN1_TYPE_value(top, i);
        if (t->type != V_ASN1_SEQUENCE)
            continue; /* a topic; its kinds follow */
        const unsigned char *q = ASN1_STRING_get0_data(t->value.sequence);
        ASN1_SEQUENCE_ANY *kinds =
            d2i_ASN1_SEQUENCE_ANY(NULL, &q, ASN1_STRING_length(t->value.sequence));
        for (int k = 0; kinds && k < sk_ASN1_TYPE_num(kinds); k++)
            svc |= kind_service(sk_ASN1_TYPE_value(kinds, k));
        sk_ASN1_TYPE_pop_free(kinds, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    return svc;
}

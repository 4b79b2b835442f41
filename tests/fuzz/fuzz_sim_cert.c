/*
 * fuzz_sim_cert.c - apns-sim's reading of an APNs client certificate
 * (sim/certinfo.c): the services listed by the DER value of Apple's
 * extension 1.2.840.113635.100.6.3.6, and the environment named by a
 * common name.
 *
 * Input: the DER bytes of the extension value; the same bytes, cut at the
 * first NUL, as a common name.
 * Invariants checked (abort on violation): only SIM_CERT_SVC_* bits come
 * back; the topic offset of a common name lies within it, and is 0 exactly
 * when no known prefix was found (environment BOTH).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apple.h"
#include "certinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned svc = sim_cert_topics_services(data, size);
    if (svc & ~(SIM_CERT_SVC_VOIP | SIM_CERT_SVC_WATCHKIT))
        abort();
    char cn[512];
    size_t n = size < sizeof cn - 1 ? size : sizeof cn - 1;
    memcpy(cn, data, n);
    cn[n] = '\0';
    size_t off = 99999;
    sim_cert_env env = sim_cert_cn_env(cn, &off);
    if (off > strlen(cn) || (off == 0 && env != SIM_CERT_ENV_BOTH))
        abort();
    return 0;
}

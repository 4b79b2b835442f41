/*
 * certinfo.h - what apns-sim reads from an APNs client certificate beyond
 * its verification: the environment its common name names, and the services
 * its Apple extensions list (protocol notes §1.5, §2.5). Pure functions over
 * strings and DER bytes (no SSL), so the fuzzer can drive them
 * (fuzz_sim_cert).
 */
#ifndef SIM_CERTINFO_H
#define SIM_CERTINFO_H

#include <stddef.h>

typedef enum sim_cert_env {
    SIM_CERT_ENV_BOTH,       /* "Apple Push Services: <id>", or no known prefix */
    SIM_CERT_ENV_SANDBOX,    /* "Apple Development IOS Push Services: <id>" */
    SIM_CERT_ENV_PRODUCTION, /* "Apple Production IOS Push Services: <id>" */
} sim_cert_env;

/* The environment a common name's prefix names; *topic_off is set to the
 * offset of the topic after the prefix (0 without a known prefix). */
sim_cert_env sim_cert_cn_env(const char *cn, size_t *topic_off);

/*
 * The services (SIM_CERT_SVC_* of apple.h) listed by the DER value of
 * extension 1.2.840.113635.100.6.3.6: a SEQUENCE of topic UTF8Strings, each
 * followed by a SEQUENCE of kind UTF8Strings ("app", "voip",
 * "complication"). "voip" gives SIM_CERT_SVC_VOIP, "complication"
 * SIM_CERT_SVC_WATCHKIT. Malformed input gives 0; reads only der[0..len).
 */
unsigned sim_cert_topics_services(const unsigned char *der, size_t len);

#endif

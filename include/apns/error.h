/*
 * apns/error.h - the one error space of libapns.
 *
 * Every function that can fail returns 0 on success or a negative APNS_E*
 * code. The codes come from one X-macro table (APNS_ERRNO_MAP) that also
 * generates apns_strerror() and apns_err_name(), so a code, its name and its
 * message are stated once. A function that fails never also calls its
 * callback. Human detail (which field, which file) is written into a
 * caller-supplied buffer or kept on the object, never printed.
 */
#ifndef APNS_ERROR_H
#define APNS_ERROR_H

#include "apns/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, value, message) */
#define APNS_ERRNO_MAP(XX)                                                                         \
    XX(EINVAL, -1, "invalid argument")                                                             \
    XX(ENOMEM, -2, "out of memory")                                                                \
    XX(EAGAIN, -3, "no credit: wait for the credit callback, then submit again")                   \
    XX(EBADTOKEN, -10, "device token must be 16..200 hexadecimal characters, even length")         \
    XX(ENOTOBJECT, -11, "payload is not a JSON object")                                            \
    XX(ETOOBIG, -12, "payload too large (4096 bytes; 5120 for voip)")                              \
    XX(EBGPRIORITY, -13, "background push must use priority 5 or 1, not 10")                       \
    XX(ECOLLAPSEID, -14, "apns-collapse-id longer than 64 bytes or not a header value")            \
    XX(ENOTOPIC, -15, "apns-topic is missing")                                                     \
    XX(EPUSHTYPE, -16, "unknown apns-push-type")                                                   \
    XX(EPRIORITY, -17, "apns-priority must be 10, 5 or 1")                                         \
    XX(EAPNSID, -18, "apns-id is not a canonical UUID")                                            \
    XX(EEXPIRATION, -19, "apns-expiration is negative")                                            \
    XX(EPAYLOADEMPTY, -20, "payload is empty")                                                     \
    XX(EPAYLOADKEY, -21, "payload key has the wrong type or is unknown")                           \
    XX(ETOPIC, -22, "apns-topic is not a valid bundle id")                                         \
    XX(ELIVEACTIVITY, -23, "payload breaks a Live Activity rule")                                  \
    XX(ECHANNELID, -24, "broadcast channel id is missing, too long or not base64")                 \
    XX(EFCMTOKEN, -28, "FCM registration token must be 1..4096 printable non-space bytes")         \
    XX(EFCMMESSAGE, -29, "FCM message field is missing, unknown, or breaks a rule")                \
    XX(EKEY, -30, "cannot load the signing key (.p8: PKCS#8 PEM, EC P-256)")                       \
    XX(EKEYID, -31, "key id must be 10 characters [A-Z0-9]")                                       \
    XX(ETEAMID, -32, "team id must be 10 characters [A-Z0-9]")                                     \
    XX(ECRYPTO, -33, "cryptographic operation failed")                                             \
    XX(ECERT, -34, "cannot load the client certificate or key")                                    \
    XX(EGRANT, -35, "the OAuth token endpoint refused the grant (invalid_grant, ...)")             \
    XX(ETLS, -40, "TLS handshake or I/O failed")                                                   \
    XX(EVERIFY, -41, "server certificate verification failed")                                     \
    XX(EALPN, -42, "server did not negotiate HTTP/2 (ALPN h2)")                                    \
    XX(ERESOLVE, -43, "cannot resolve host name")                                                  \
    XX(ECONNECT, -44, "cannot connect")                                                            \
    XX(EPROXY, -45, "HTTP CONNECT proxy refused or failed")                                        \
    XX(ECLOSED, -46, "connection closed")                                                          \
    XX(ETIMEOUT, -47, "timed out")                                                                 \
    XX(EPROTO, -48, "HTTP/2 protocol error")                                                       \
    XX(EGOAWAY, -49, "server sent GOAWAY")                                                         \
    XX(ESHUTDOWN, -50, "client is shutting down")                                                  \
    XX(ERETRIES, -51, "retries exhausted")                                                         \
    XX(EUNAVAILABLE, -52, "server unavailable or rate limiting (5xx, 429): try again later")       \
    XX(EIO, -60, "I/O error")                                                                      \
    XX(ECONFIG, -61, "invalid configuration")                                                      \
    XX(EFORMAT, -62, "malformed input")

enum apns_errno {
    APNS_OK = 0,
#define APNS_ERRNO_ENUM(name, val, msg) APNS_##name = (val),
    APNS_ERRNO_MAP(APNS_ERRNO_ENUM)
#undef APNS_ERRNO_ENUM
};

/* Message for an error code ("unknown error" for an unknown code). Static
 * string; never NULL. */
APNS_EXTERN const char *apns_strerror(int err);

/* Symbolic name ("APNS_EBADTOKEN"; "APNS_OK" for 0; "APNS_E?" if unknown).
 * Static string; never NULL. */
APNS_EXTERN const char *apns_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif

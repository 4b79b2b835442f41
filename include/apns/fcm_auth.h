/*
 * apns/fcm_auth.h - service-account authentication for FCM HTTP v1.
 *
 * FCM takes `authorization: Bearer <access token>`. An access token comes
 * from Google's OAuth 2.0 token endpoint in exchange for a JWT grant
 * (RFC 7523) signed with the service account's RSA key (the JSON key file
 * Google hands out). Three layers:
 *
 *   apns_fcm_account           the key file, loaded and checked
 *   apns_fcm_assertion_sign()  the RS256 JWT grant
 *   apns_fcm_token_fetch()     one round trip to the token endpoint
 *   apns_fcm_auth              keeps an external apns_token_cache (jwt.h)
 *                              filled with a fresh access token, refreshed
 *                              before expiry and after a 401 "expired"
 *
 * An FCM client presents the token of the cache exactly as an APNs client
 * presents its JWT (apns_token_cache_get), and reports a 401 for an expired
 * access token with apns_token_cache_expired(cache, generation, now): that
 * wakes the apns_fcm_auth that feeds the cache. One apns_fcm_auth per service
 * account feeds one cache shared by every client of that account. A fleet
 * that shares one token across processes uses apns_fcm_token_fetch() where
 * it fetches and apns_token_cache_put() everywhere.
 *
 * Everything runs on the caller's libevent loop (struct event_base) and uses
 * libapns's own connection code (DNS, TCP, HTTP CONNECT proxy, TLS with the
 * server verified). Nothing prints; detail sentences go to the caller.
 */
#ifndef APNS_FCM_AUTH_H
#define APNS_FCM_AUTH_H

#include "apns/client.h"
#include "apns/jwt.h"
#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

#define APNS_FCM_SCOPE            "https://www.googleapis.com/auth/firebase.messaging"
#define APNS_FCM_TOKEN_URI        "https://oauth2.googleapis.com/token"
#define APNS_FCM_ASSERTION_LIFE   3600 /* exp - iat of the grant, Google's maximum */
#define APNS_FCM_ASSERTION_MAX    4096 /* a grant of a key up to 8192 bits fits */
#define APNS_FCM_ACCESS_TOKEN_MAX (APNS_JWT_MAX - 1)

/* ---- the service account ------------------------------------------------- */

typedef struct apns_fcm_account apns_fcm_account;

/*
 * Loads a service-account key file (JSON: "type": "service_account",
 * project_id, private_key_id, private_key = PEM PKCS#8 RSA, at least 2048
 * bits, client_email, token_uri; other fields are ignored). Returns 0,
 * APNS_EIO (file unreadable or over 64 KiB), APNS_EFORMAT (not JSON, not an
 * object, wrong "type", a required field missing, empty or not a string),
 * APNS_EKEY (private_key is not an unencrypted RSA PEM key, or is shorter
 * than 2048 bits), APNS_ENOMEM, APNS_EINVAL (out or path NULL). On success
 * *out is the caller's (apns_fcm_account_free); on failure it is NULL.
 * `detail` (may be NULL) receives one sentence naming the file and the
 * problem, e.g. "sa.json: field \"client_email\" is missing"; "" on success.
 * File permissions are not checked (the caller's policy).
 */
APNS_EXTERN int apns_fcm_account_load_file(apns_fcm_account **out, const char *path, char *detail,
                                           size_t detail_len);

/* The same from the key file's text json[0..len) (need not be
 * NUL-terminated); `detail` names it "service-account JSON". */
APNS_EXTERN int apns_fcm_account_load_json(apns_fcm_account **out, const char *json, size_t len,
                                           char *detail, size_t detail_len);

APNS_EXTERN void apns_fcm_account_free(apns_fcm_account *a);

/* Borrowed, valid while a lives; never NULL for a loaded account. */
APNS_EXTERN const char *apns_fcm_account_project_id(const apns_fcm_account *a);
APNS_EXTERN const char *apns_fcm_account_client_email(const apns_fcm_account *a);
APNS_EXTERN const char *apns_fcm_account_token_uri(const apns_fcm_account *a);
APNS_EXTERN const char *apns_fcm_account_key_id(const apns_fcm_account *a);

/*
 * Signs the JWT grant of fcm-protocol.md §2.2: header
 * {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims
 * {"iss":client_email,"scope":APNS_FCM_SCOPE,"aud":token_uri,"iat":iat,
 * "exp":iat+3600}, RSASSA-PKCS1-v1_5 SHA-256, base64url without padding.
 * Writes the NUL-terminated JWT into out (APNS_FCM_ASSERTION_MAX is always
 * enough). Returns the JWT's length, or APNS_EINVAL (NULL argument, iat < 0,
 * out too small), APNS_ECRYPTO, APNS_ENOMEM. Thread-safe.
 */
APNS_EXTERN int apns_fcm_assertion_sign(const apns_fcm_account *a, int64_t iat, char *out,
                                        size_t out_len);

/* ---- one token request ----------------------------------------------------- */

/* Connection settings of a token request. Zero (apns_fcm_auth_opts_init)
 * means: the account's token_uri, the system trust store, no proxy,
 * 10 s to connect, 30 s for the whole request. */
typedef struct apns_fcm_conn_opts {
    const char *token_url;  /* https://host[:port]/path: where to POST (tests: a
                               simulator); the grant's aud stays the account's
                               token_uri. NULL = token_uri */
    const char *ca_file;    /* PEM CA bundle; NULL = system trust store */
    const char *proxy_host; /* HTTP CONNECT proxy, or NULL */
    uint16_t proxy_port;
    int64_t connect_timeout_ms; /* DNS + TCP + proxy + TLS; 0 = 10000 */
    int64_t request_timeout_ms; /* connect to the end of the answer; 0 = 30000 */
} apns_fcm_conn_opts;

/* What a token request produced (borrowed for the callback). */
typedef struct apns_fcm_token_result {
    int err;                  /* 0, or: APNS_EGRANT (RFC 6749 error: invalid_grant, ...),
                                 APNS_EUNAVAILABLE (5xx, 429), APNS_EFORMAT (an answer that
                                 is not the documented shape), a connection error
                                 (APNS_ERESOLVE, APNS_ECONNECT, APNS_EPROXY, APNS_ETLS,
                                 APNS_EVERIFY, APNS_ECLOSED, APNS_ETIMEOUT), APNS_ECRYPTO */
    const char *detail;       /* one sentence; "" on success */
    int http_status;          /* 0 when no answer came */
    const char *access_token; /* err 0: the token (< APNS_JWT_MAX bytes) */
    int64_t expires_in;       /* err 0: its lifetime in seconds, > 0 */
    int64_t issued_at;        /* err 0: UNIX seconds when the request was sent */
    const char *oauth_error;  /* APNS_EGRANT: RFC 6749 "error" ("invalid_grant"); else "" */
    const char *oauth_error_description; /* APNS_EGRANT: its description, or "" */
    int64_t retry_after_s;               /* APNS_EUNAVAILABLE: Retry-After seconds, or 0 */
} apns_fcm_token_result;

typedef void (*apns_fcm_token_cb)(const apns_fcm_token_result *r, void *ud);

typedef struct apns_fcm_fetch apns_fcm_fetch;

/*
 * Fetches one access token for account: signs a grant (iat = now), POSTs it
 * over HTTP/1.1 and TLS, parses the answer, and calls cb exactly once from
 * the loop (never from inside this call), unless apns_fcm_fetch_cancel()
 * comes first. No retry: the caller decides (apns_fcm_auth does). Borrows
 * account and base (they must outlive the fetch); copies o. *out (may be
 * NULL if the caller never cancels) is valid until cb returns; the fetch
 * frees itself after cb. Returns 0, or APNS_EINVAL (NULL argument, bad
 * token_url: detail says why), APNS_ECRYPTO, APNS_ETLS (CA file unusable),
 * APNS_ENOMEM: then cb is never called.
 */
APNS_EXTERN int apns_fcm_token_fetch(apns_fcm_fetch **out, struct event_base *base,
                                     const apns_fcm_account *account, const apns_fcm_conn_opts *o,
                                     apns_fcm_token_cb cb, void *ud, char *detail,
                                     size_t detail_len);

/* Abandons a fetch before its callback: closes the connection, frees it; cb
 * is never called. From the loop's thread only; not from inside cb. */
APNS_EXTERN void apns_fcm_fetch_cancel(apns_fcm_fetch *f);

/* ---- the refreshing token source ------------------------------------------- */

typedef enum apns_fcm_auth_state {
    APNS_FCM_AUTH_FETCHING = 1, /* a token request is on its way */
    APNS_FCM_AUTH_READY,        /* the cache holds a valid token */
    APNS_FCM_AUTH_RETRYING      /* the last request failed; the next one waits for a backoff */
} apns_fcm_auth_state;

/* A state change (borrowed for the callback). */
typedef struct apns_fcm_auth_event {
    apns_fcm_auth_state state;
    int err;               /* RETRYING: the error (apns_fcm_token_result.err); else 0 */
    const char *detail;    /* RETRYING: what failed (the endpoint's error text included);
                              READY: "access token valid for N s"; FETCHING: why */
    int64_t retry_in_ms;   /* RETRYING: the backoff before the next request */
    int64_t expires_at;    /* READY: UNIX seconds when the token expires */
    int64_t refresh_in_ms; /* READY: when the next request goes out */
    uint64_t generation;   /* READY: the cache's generation of the new token */
} apns_fcm_auth_event;

typedef void (*apns_fcm_auth_state_cb)(const apns_fcm_auth_event *ev, void *ud);

typedef struct apns_fcm_auth_opts {
    const apns_fcm_account *account; /* required; borrowed, must outlive the auth */
    apns_token_cache *cache;         /* required: an external cache (apns_token_cache_new_external);
                                        borrowed, must outlive the auth; its expired-token callback
                                        belongs to the auth while it lives */
    apns_fcm_conn_opts conn;
    /* Backoff of failed requests (common jittered exponential backoff):
     * transient failures (connection errors, 5xx, 429, malformed answers)
     * from retry_base_ms (0 = 1000) doubling to retry_cap_ms (0 = 60000);
     * APNS_EGRANT (the key is refused; an operator must act) from 60 s
     * doubling to 15 min. A Retry-After longer than the backoff wins. */
    int64_t retry_base_ms, retry_cap_ms;
    apns_fcm_auth_state_cb on_state; /* optional: every state change */
    apns_log_cb on_log;              /* optional: the connections' log lines */
    void *ud;
} apns_fcm_auth_opts;

APNS_EXTERN void apns_fcm_auth_opts_init(apns_fcm_auth_opts *o);

typedef struct apns_fcm_auth apns_fcm_auth;

/*
 * Starts keeping o->cache filled with an access token of o->account. The
 * first request goes out from the loop (not from inside this call). A token
 * with a lifetime of L seconds is refreshed when max(5 min, L/10) remain (at
 * L/2 when that is later, for short test lifetimes): exactly one request per
 * refresh window, and never two in flight. apns_token_cache_expired() on the
 * cache for its current token (a 401 "expired" answer) starts one early
 * refresh (once per generation). A failed request is retried with jittered
 * backoff; the token in the cache stays until a new one replaces it.
 * Returns 0, APNS_EINVAL (NULL argument, no account, a cache that is not
 * external, bad token_url),
 * APNS_ETLS (CA file unusable), APNS_ENOMEM; detail says which.
 *
 * Threading: the auth lives on base's thread; free it there. The cache may
 * be read by clients on any thread; apns_token_cache_expired() called from
 * another thread than base's needs libevent's threading enabled
 * (evthread_use_pthreads() before base was made).
 */
APNS_EXTERN int apns_fcm_auth_new(apns_fcm_auth **out, struct event_base *base,
                                  const apns_fcm_auth_opts *o, char *detail, size_t detail_len);

/* Stops: cancels a request in flight and the timers, clears the cache's
 * expired-token callback. The token in the cache stays. NULL is fine. */
APNS_EXTERN void apns_fcm_auth_free(apns_fcm_auth *a);

typedef struct apns_fcm_auth_stats {
    uint64_t requests;          /* token requests sent (each one round trip) */
    uint64_t tokens;            /* of them, answered with a token */
    uint64_t failures;          /* of them, failed (err != 0) */
    uint64_t expired_refreshes; /* early refreshes started by expired() */
    int last_err;               /* the last failure's code, 0 if none yet */
    char last_error[512];       /* its detail, "" if none */
    int64_t expires_at;         /* UNIX seconds of the cache's token, 0 before the first */
    apns_fcm_auth_state state;
} apns_fcm_auth_stats;

/* Copies the counters. From the loop's thread. Returns 0, APNS_EINVAL. */
APNS_EXTERN int apns_fcm_auth_get_stats(const apns_fcm_auth *a, apns_fcm_auth_stats *out);

/* Name of a state ("fetching", "ready", "retrying"; "?" if unknown). */
APNS_EXTERN const char *apns_fcm_auth_state_name(apns_fcm_auth_state s);

#ifdef __cplusplus
}
#endif
#endif

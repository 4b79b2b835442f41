/*
 * apns/jwt.h - provider authentication tokens (ES256 JWT) for token auth.
 *
 * An apns_signing_key is a team's .p8 key with its key id and team id. An
 * apns_token_cache holds the one current token of that key and is shared by
 * every connection of the team (thread-safe): it mints a new token when the
 * current one reaches the refresh age (default 50 min; clamped to 20..60 min,
 * Apple's window) and never more often than every 20 minutes, so APNs never
 * answers TooManyProviderTokenUpdates.
 */
#ifndef APNS_JWT_H
#define APNS_JWT_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APNS_KEY_ID_LEN              10
#define APNS_TEAM_ID_LEN             10
/* Room for a token with its NUL: ES256 APNs tokens are ~190 bytes; Google
 * OAuth access tokens (FCM, apns/fcm_auth.h) are documented as up to 2048
 * bytes. */
#define APNS_JWT_MAX                 2049
#define APNS_TOKEN_MIN_AGE_S         (20 * 60)
#define APNS_TOKEN_MAX_AGE_S         (60 * 60)
#define APNS_TOKEN_DEFAULT_REFRESH_S (50 * 60)

typedef struct apns_signing_key apns_signing_key;

/*
 * Loads a .p8 file (PEM "PRIVATE KEY", unencrypted PKCS#8, EC P-256) with its
 * 10-character key id and team id. On success *out is the caller's; free it
 * with apns_signing_key_free(). Returns 0, APNS_EKEYID, APNS_ETEAMID,
 * APNS_EIO (file unreadable), APNS_EKEY (not a P-256 PKCS#8 key), APNS_ENOMEM,
 * APNS_EINVAL (out or path NULL). The ids are checked first, before the file
 * is opened. A SEC1 "EC PRIVATE KEY" PEM on P-256 is accepted as well;
 * encrypted keys are refused (never prompts for a password). On failure *out
 * is NULL.
 * `detail` (may be NULL) receives a sentence naming the file and the problem,
 * e.g. "AuthKey.p8: not an EC P-256 key (found RSA)"; "" on success.
 */
APNS_EXTERN int apns_signing_key_load_file(apns_signing_key **out, const char *path,
                                           const char *key_id, const char *team_id, char *detail,
                                           size_t detail_len);

/* Same as apns_signing_key_load_file() from PEM text in memory (need not be
 * NUL-terminated); `detail` names it "PEM key". */
APNS_EXTERN int apns_signing_key_load_pem(apns_signing_key **out, const char *pem, size_t pem_len,
                                          const char *key_id, const char *team_id, char *detail,
                                          size_t detail_len);

APNS_EXTERN void apns_signing_key_free(apns_signing_key *k);

/* Borrowed, valid while k lives. */
APNS_EXTERN const char *apns_signing_key_id(const apns_signing_key *k);
APNS_EXTERN const char *apns_signing_key_team(const apns_signing_key *k);

/*
 * Mints one token: header {"alg":"ES256","kid":KEY_ID}, claims
 * {"iss":TEAM_ID,"iat":iat}, signature raw 64-byte r||s, all base64url
 * without padding. Writes the NUL-terminated JWT into out (out_len >=
 * APNS_JWT_MAX is always enough). Returns 0, APNS_EINVAL (buffer too small,
 * NULL argument or iat < 0), APNS_ECRYPTO. Thread-safe: many threads may sign
 * with one key at once.
 */
APNS_EXTERN int apns_jwt_sign(const apns_signing_key *k, int64_t iat, char *out, size_t out_len);

/* A token as a connection holds it. */
typedef struct apns_token {
    char jwt[APNS_JWT_MAX];
    uint64_t generation; /* 0 = none yet; increases by one per minted token */
    int64_t issued_at;   /* iat, UNIX seconds */
} apns_token;

typedef struct apns_token_cache apns_token_cache;

/* refresh_age_s: 0 = default (50 min); else clamped into [20 min, 60 min].
 * The cache borrows k (k must outlive it). Returns 0, APNS_EINVAL (out or k
 * NULL) or APNS_ENOMEM. Free with apns_token_cache_free(). */
APNS_EXTERN int apns_token_cache_new(apns_token_cache **out, const apns_signing_key *k,
                                     int64_t refresh_age_s);
APNS_EXTERN void apns_token_cache_free(apns_token_cache *c);

/*
 * A cache that never mints: its tokens are installed from outside with
 * apns_token_cache_put(). For a fleet of processes that must present ONE
 * token per team (APNs answers TooManyProviderTokenUpdates when a team's
 * token changes more often than every 20 minutes, however many processes
 * send), or FCM's OAuth access tokens (apns/fcm_auth.h): one process mints,
 * all of them put the shared token. get() answers APNS_EAGAIN until the first
 * put (an apns_client keeps its notifications queued meanwhile and looks
 * again every 100 ms); expired() mints nothing: it tells the owner of the
 * token through its callback (apns_token_cache_set_expired_cb), and the
 * owner puts a new one. Returns 0,
 * APNS_EINVAL (out NULL), APNS_ENOMEM. Free with apns_token_cache_free().
 */
APNS_EXTERN int apns_token_cache_new_external(apns_token_cache **out);

/*
 * Installs `jwt` (NUL-terminated, shorter than APNS_JWT_MAX) issued at
 * `issued_at` (UNIX seconds, its iat) as the current token of an external
 * cache. The same JWT again changes nothing; a different one becomes the
 * next generation (connections switch at their next request) and counts as
 * a refresh. Thread-safe. Returns 0, APNS_EINVAL (NULL argument, empty or
 * too long JWT, or c is not external).
 */
APNS_EXTERN int apns_token_cache_put(apns_token_cache *c, const char *jwt, int64_t issued_at);

/* The effective (clamped) refresh age in seconds. */
APNS_EXTERN int64_t apns_token_cache_refresh_age(const apns_token_cache *c);

/*
 * Brings *tok up to date at time `now` (UNIX seconds): mints a token when
 * there is none or the current one has reached the refresh age, and copies
 * the current token into *tok only when tok->generation differs (so a
 * connection can call it before every request). *tok must start zeroed
 * (generation 0). Returns 0, or APNS_ECRYPTO / APNS_ENOMEM (then *tok is
 * unchanged), APNS_EINVAL (NULL argument), APNS_EAGAIN (an external cache
 * that has no token yet). If `now` is earlier than the current token's iat
 * (clock ran backwards) the current token is kept.
 */
APNS_EXTERN int apns_token_cache_get(apns_token_cache *c, int64_t now, apns_token *tok);

/*
 * APNs answered ExpiredProviderToken (FCM: 401 with an expired access
 * token) for a request that carried token `generation`. Minting cache: if
 * that is still the current token and it is at least 20 minutes old, the
 * next get mints a new one. External cache: if that is still the current
 * token, the expired-token callback (apns_token_cache_set_expired_cb) is
 * called, once per generation. Returns 1 if a refresh was scheduled (the
 * callback was called), 0 if not (the token was already replaced or already
 * reported, it is younger than 20 minutes on a minting cache: then the
 * clock is wrong, and minting would only earn TooManyProviderTokenUpdates,
 * or an external cache has no callback).
 */
APNS_EXTERN int apns_token_cache_expired(apns_token_cache *c, uint64_t generation, int64_t now);

/*
 * The expired-token callback of an external cache (apns_token_cache_put()):
 * its owner fetches a new token when a request that carried the current one
 * was refused as expired. `generation` is that token's generation.
 */
typedef void (*apns_token_expired_cb)(apns_token_cache *c, uint64_t generation, void *ud);

/*
 * Sets (cb NULL: clears) the expired-token callback of an external cache.
 * apns_token_cache_expired() calls it, from the thread that called expired(),
 * when `generation` is the current token's and the callback was not yet
 * called for that generation (so at most once per generation, however many
 * connections see the refusal). It runs with the cache's lock held: it must
 * not call this cache's functions, only schedule the refresh (e.g.
 * event_active() on the owner's loop); after set_expired_cb() returns, the
 * previous callback is not running and never runs again. Thread-safe.
 * Returns 0, APNS_EINVAL (c NULL or not external).
 */
APNS_EXTERN int apns_token_cache_set_expired_cb(apns_token_cache *c, apns_token_expired_cb cb,
                                                void *ud);

/* Number of tokens minted so far (for metrics). */
APNS_EXTERN uint64_t apns_token_cache_refreshes(const apns_token_cache *c);

/* base64url without padding of in[0..len) into out (NUL-terminated).
 * Returns the length written, or APNS_EINVAL if out_len is too small
 * (needs 4*ceil(len/3)+1). */
APNS_EXTERN int apns_base64url_encode(const uint8_t *in, size_t len, char *out, size_t out_len);

/* Decodes base64url (no padding; '=' padding tolerated at the end, at most
 * two and only making the length a multiple of 4). Strict: '+', '/',
 * whitespace, a length of 1 mod 4 and non-zero unused bits in the last
 * character are APNS_EFORMAT. Returns the number of bytes written, or
 * APNS_EFORMAT (bad character or length) / APNS_EINVAL (out too small;
 * len*3/4 bytes always suffice). */
APNS_EXTERN int apns_base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif

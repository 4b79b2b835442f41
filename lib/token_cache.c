/*
 * token_cache.c - the one current provider token of a signing key.
 *
 * Design note. APNs wants a token refreshed no more often than every 20
 * minutes and no less often than every 60 (TooManyProviderTokenUpdates /
 * ExpiredProviderToken otherwise), and one token may be shared by every
 * connection of the team. So the cache keeps exactly one token and mints
 * only when (a) there is none, (b) the current one has reached the refresh
 * age, or (c) APNs said ExpiredProviderToken for it and it is at least 20
 * minutes old. The refresh age is clamped into [20, 60] minutes, so in every
 * case two tokens are never minted less than 20 minutes apart (as seen by
 * `now`). If the clock runs backwards the current token is simply kept.
 *
 * Time is always passed in: the cache never reads the clock, which keeps it
 * deterministic under test. Connections hold an apns_token copy and compare
 * generations, so an unchanged token costs one mutex round-trip and no copy.
 * Minting happens under the mutex: at most one thread signs, the others wait
 * ~50 us once per refresh age and then see the new token.
 *
 * An external cache (no key) never mints: a fleet's shared token, or an FCM
 * access token, is put into it by its owner (apnsd's JetStream backend,
 * apns_fcm_auth), and get() only copies. expired() on it calls the owner's
 * callback under the mutex, once per generation (expired_cb_gen remembers
 * the last one reported): under the mutex so that clearing the callback is a
 * barrier for the owner's free(), once per generation so that a burst of
 * 401s from many connections costs one refresh.
 */
#include "apns/error.h"
#include "apns/jwt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct apns_token_cache {
    pthread_mutex_t mu;
    const apns_signing_key *key; /* NULL: external (tokens come from put()) */
    int64_t refresh_age_s;
    apns_token cur;  /* cur.generation == 0: none yet */
    int refresh_due; /* set by expired(): mint at the next get */
    uint64_t refreshes;
    apns_token_expired_cb expired_cb; /* external caches only */
    void *expired_ud;
    uint64_t expired_cb_gen; /* the generation the callback was last called for */
};

int apns_token_cache_new(apns_token_cache **out, const apns_signing_key *k, int64_t refresh_age_s)
{
    apns_token_cache *c;

    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    if (k == NULL)
        return APNS_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return APNS_ENOMEM;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return APNS_ENOMEM;
    }
    if (refresh_age_s == 0)
        refresh_age_s = APNS_TOKEN_DEFAULT_REFRESH_S;
    if (refresh_age_s < APNS_TOKEN_MIN_AGE_S)
        refresh_age_s = APNS_TOKEN_MIN_AGE_S;
    if (refresh_age_s > APNS_TOKEN_MAX_AGE_S)
        refresh_age_s = APNS_TOKEN_MAX_AGE_S;
    c->key = k;
    c->refresh_age_s = refresh_age_s;
    *out = c;
    return 0;
}

int apns_token_cache_new_external(apns_token_cache **out)
{
    apns_token_cache *c;

    if (out == NULL)
        return APNS_EINVAL;
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return APNS_ENOMEM;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return APNS_ENOMEM;
    }
    c->refresh_age_s = APNS_TOKEN_DEFAULT_REFRESH_S;
    *out = c;
    return 0;
}

int apns_token_cache_put(apns_token_cache *c, const char *jwt, int64_t issued_at)
{
    size_t n;

    if (c == NULL || jwt == NULL || c->key != NULL)
        return APNS_EINVAL;
    n = strlen(jwt);
    if (n == 0 || n >= APNS_JWT_MAX)
        return APNS_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->cur.generation == 0 || strcmp(c->cur.jwt, jwt) != 0) {
        memcpy(c->cur.jwt, jwt, n + 1);
        c->cur.issued_at = issued_at;
        c->cur.generation++;
        c->refreshes++;
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void apns_token_cache_free(apns_token_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int64_t apns_token_cache_refresh_age(const apns_token_cache *c)
{
    return c->refresh_age_s;
}

/* Called with c->mu held. */
static int needs_mint(const apns_token_cache *c, int64_t now)
{
    int64_t age;

    if (c->cur.generation == 0)
        return 1;
    age = now - c->cur.issued_at;
    if (age < APNS_TOKEN_MIN_AGE_S) /* also covers a clock that ran backwards */
        return 0;
    return c->refresh_due || age >= c->refresh_age_s;
}

int apns_token_cache_get(apns_token_cache *c, int64_t now, apns_token *tok)
{
    int rc = 0;

    if (c == NULL || tok == NULL)
        return APNS_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->key == NULL) {
        rc = c->cur.generation == 0 ? APNS_EAGAIN : 0;
    } else if (needs_mint(c, now)) {
        char jwt[APNS_JWT_MAX];
        rc = apns_jwt_sign(c->key, now, jwt, sizeof(jwt));
        if (rc == 0) {
            memcpy(c->cur.jwt, jwt, sizeof(jwt));
            c->cur.issued_at = now;
            c->cur.generation++;
            c->refresh_due = 0;
            c->refreshes++;
        } else if (rc != APNS_ENOMEM) {
            rc = APNS_ECRYPTO;
        }
    }
    if (rc == 0 && tok->generation != c->cur.generation)
        *tok = c->cur;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int apns_token_cache_set_expired_cb(apns_token_cache *c, apns_token_expired_cb cb, void *ud)
{
    if (c == NULL || c->key != NULL)
        return APNS_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->expired_cb = cb;
    c->expired_ud = cb ? ud : NULL;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int apns_token_cache_expired(apns_token_cache *c, uint64_t generation, int64_t now)
{
    int scheduled = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    if (c->key == NULL) {
        if (c->expired_cb != NULL && generation != 0 && generation == c->cur.generation &&
            generation != c->expired_cb_gen) {
            c->expired_cb_gen = generation;
            c->expired_cb(c, generation, c->expired_ud);
            scheduled = 1;
        }
    } else if (c->key != NULL && generation != 0 && generation == c->cur.generation &&
               now - c->cur.issued_at >= APNS_TOKEN_MIN_AGE_S) {
        c->refresh_due = 1;
        scheduled = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return scheduled;
}

uint64_t apns_token_cache_refreshes(const apns_token_cache *c)
{
    apns_token_cache *m = (apns_token_cache *)c; /* the mutex is not part of the value */
    uint64_t n;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&m->mu);
    n = c->refreshes;
    pthread_mutex_unlock(&m->mu);
    return n;
}

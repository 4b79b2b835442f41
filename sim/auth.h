/*
 * auth.h - token authentication state of one connection: which key the
 * connection is bound to, the current token, when it last changed, and a
 * small cache of verified token strings so a token is ECDSA-verified once
 * per connection instead of on every request.
 */
#ifndef SIM_AUTH_H
#define SIM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "apns/reason.h"
#include "jwt_verify.h"
#include "keys.h"

#define SIM_AUTH_CACHE 4 /* distinct token strings remembered per connection */

typedef struct sim_auth_entry {
    uint16_t len;       /* 0 = empty slot */
    apns_reason result; /* NONE or INVALID_PROVIDER_TOKEN */
    sim_jwt jwt;
    char str[SIM_JWT_MAX];
} sim_auth_entry;

typedef struct sim_auth {
    const sim_keys *keys;
    int64_t max_age_s;
    int64_t min_interval_s;
    const sim_key *bound;  /* key of the first valid token; NULL before */
    int current;           /* cache slot of the current token, -1 before */
    int changed;           /* the token has changed at least once */
    int64_t last_change_s; /* when it last changed */
    unsigned next_slot;
    uint64_t verifications; /* ECDSA verifications done (for tests) */
    sim_auth_entry cache[SIM_AUTH_CACHE];
} sim_auth;

void sim_auth_init(sim_auth *a, const sim_keys *keys, int64_t max_age_s, int64_t min_interval_s);

/*
 * Checks an authorization header value (NULL when absent) at time now_s.
 * Returns APNS_REASON_NONE, or MISSING_PROVIDER_TOKEN, INVALID_PROVIDER_TOKEN,
 * EXPIRED_PROVIDER_TOKEN (iat older than max age, or more than 60 s ahead),
 * UNRELATED_KEY_ID_IN_TOKEN (kid differs from the connection's first key),
 * TOO_MANY_PROVIDER_TOKEN_UPDATES (a second change within min interval of
 * the previous change; the connection keeps its current token).
 */
apns_reason sim_auth_check(sim_auth *a, const char *value, size_t len, int64_t now_s);

#endif

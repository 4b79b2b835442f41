/*
 * auth.h - token authentication state of one connection: which key the
 * connection is bound to, the current token, when it last changed, and a
 * small cache of verified token strings so a token is ECDSA-verified once
 * per connection instead of on every request. The cache also holds the
 * fleet registry's verdict on each token (teamtokens.h), so the registry is
 * asked once per token per connection, too.
 */
#ifndef SIM_AUTH_H
#define SIM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "apple.h"
#include "jwt_verify.h"
#include "keys.h"

#define SIM_AUTH_CACHE 4 /* distinct token strings remembered per connection */

enum {
    SIM_FLEET_UNASKED,  /* the team registry has not seen it from this connection */
    SIM_FLEET_ACCEPTED, /* accepted fleet-wide: never asked again */
    SIM_FLEET_REFUSED,  /* refused until fleet_retry_s, then asked again */
};

/*
 * The fleet view: asked once per verified token per connection whether the
 * team may present it (teamtokens.h: sim_teamtokens_see, through an adapter
 * in session.c; a function pointer keeps auth.c free of the registry, so the
 * fuzz target links it alone). Returns 0 to accept, 1 to refuse until
 * *retry_s.
 */
typedef int (*sim_auth_fleet_fn)(void *fleet, const char *team, const char *jwt, size_t len,
                                 int64_t now_s, int64_t *retry_s);

typedef struct sim_auth_entry {
    uint16_t len;      /* 0 = empty slot */
    sim_reason result; /* NONE or INVALID_PROVIDER_TOKEN */
    uint8_t fleet;     /* SIM_FLEET_* */
    int64_t fleet_retry_s;
    sim_jwt jwt;
    char str[SIM_JWT_MAX];
} sim_auth_entry;

typedef struct sim_auth {
    const sim_keys *keys;
    sim_auth_fleet_fn fleet_fn; /* NULL = no fleet view */
    void *fleet;
    int64_t max_age_s;
    int64_t min_interval_s;
    const sim_key *bound;  /* key of the first valid token; NULL before */
    int current;           /* cache slot of the current token, -1 before */
    int changed;           /* the token has changed at least once */
    int64_t last_change_s; /* when it last changed */
    unsigned next_slot;
    uint64_t verifications; /* ECDSA verifications done (for tests) */
    uint64_t team_refusals; /* 429s by the fleet rule (--team-token-interval) */
    sim_auth_entry cache[SIM_AUTH_CACHE];
} sim_auth;

void sim_auth_init(sim_auth *a, const sim_keys *keys, int64_t max_age_s, int64_t min_interval_s);

/* Connects the connection to the process's fleet view (fleet is borrowed and
 * must outlive the connection); without it no fleet rule applies. */
void sim_auth_set_fleet(sim_auth *a, sim_auth_fleet_fn fn, void *fleet);

/*
 * Checks an authorization header value (NULL when absent) at time now_s.
 * Returns SIM_REASON_NONE, or MISSING_PROVIDER_TOKEN (no header, or
 * "bearer" without a token), INVALID_PROVIDER_TOKEN,
 * BAD_ENVIRONMENT_KEY_ID_IN_TOKEN (a verified token of a key marked
 * other_env), EXPIRED_PROVIDER_TOKEN (iat older than max age, or more than
 * 60 s ahead),
 * UNRELATED_KEY_ID_IN_TOKEN (kid differs from the connection's first key),
 * TOO_MANY_PROVIDER_TOKEN_UPDATES (a second change within min interval of
 * the previous change; the connection keeps its current token; or, with a
 * fleet registry enforcing --team-token-interval, a token new to the whole
 * process within that interval of the team's current one: team_refusals
 * counts those).
 */
sim_reason sim_auth_check(sim_auth *a, const char *value, size_t len, int64_t now_s);

#endif

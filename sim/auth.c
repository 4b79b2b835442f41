/*
 * auth.c - per-connection provider-token rules.
 *
 * Rule for TooManyProviderTokenUpdates: installing the first token is not a
 * change; the first change is always allowed; every later change must come
 * at least min_interval after the previous change. A client that refreshes
 * on Apple's schedule (20..60 min) never trips it, whatever the token's age
 * when the connection opened; a client minting per request trips it on its
 * third token.
 *
 * The verification cache keeps the exact strings (not hashes), so a forged
 * token can never ride on a cached verdict. Invalid tokens are cached too,
 * so a client hammering a bad token costs one verification.
 *
 * The fleet view (teamtokens.c): a valid, unexpired token that is not the
 * connection's current one is shown to the process-wide team registry once
 * (the verdict is kept in its cache entry) before the per-connection rule
 * runs, so every distinct token a team presents is counted whatever this
 * connection then makes of it. A fleet refusal is 429
 * TooManyProviderTokenUpdates like the per-connection one; it is cached
 * until the team's window has passed, then the registry is asked again.
 * The current token's fast path never reaches the registry.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>

#define FUTURE_SLACK_S 60

void sim_auth_init(sim_auth *a, const sim_keys *keys, int64_t max_age_s, int64_t min_interval_s)
{
    memset(a, 0, sizeof *a);
    a->keys = keys;
    a->max_age_s = max_age_s;
    a->min_interval_s = min_interval_s;
    a->current = -1;
}

void sim_auth_set_fleet(sim_auth *a, sim_auth_fleet_fn fn, void *fleet)
{
    a->fleet_fn = fn;
    a->fleet = fleet;
}

static int lookup(const sim_auth *a, const char *jwt, size_t len)
{
    /* The current token first: it is the one on nearly every request. */
    if (a->current >= 0) {
        const sim_auth_entry *e = &a->cache[a->current];
        if (e->len == len && memcmp(e->str, jwt, len) == 0)
            return a->current;
    }
    for (int i = 0; i < SIM_AUTH_CACHE; i++) {
        const sim_auth_entry *e = &a->cache[i];
        if (e->len == len && len > 0 && memcmp(e->str, jwt, len) == 0)
            return i;
    }
    return -1;
}

static int insert(sim_auth *a, const char *jwt, size_t len)
{
    int slot = (int)(a->next_slot++ % SIM_AUTH_CACHE);
    if (slot == a->current)
        slot = (int)(a->next_slot++ % SIM_AUTH_CACHE);
    sim_auth_entry *e = &a->cache[slot];
    e->len = (uint16_t)len;
    e->fleet = SIM_FLEET_UNASKED;
    memcpy(e->str, jwt, len);
    e->result = sim_jwt_verify(a->keys, jwt, len, &e->jwt);
    a->verifications++;
    return slot;
}

/* The team registry's verdict on a verified token, asked once per entry. */
static sim_reason fleet_check(sim_auth *a, sim_auth_entry *e, int64_t now_s)
{
    if (!a->fleet_fn || e->fleet == SIM_FLEET_ACCEPTED)
        return SIM_REASON_NONE;
    if (e->fleet == SIM_FLEET_UNASKED || now_s >= e->fleet_retry_s) {
        int64_t retry_s = 0;
        if (a->fleet_fn(a->fleet, e->jwt.key->team, e->str, e->len, now_s, &retry_s) == 0) {
            e->fleet = SIM_FLEET_ACCEPTED;
            return SIM_REASON_NONE;
        }
        e->fleet = SIM_FLEET_REFUSED;
        e->fleet_retry_s = retry_s;
    }
    a->team_refusals++;
    return SIM_REASON_TOO_MANY_PROVIDER_TOKEN_UPDATES;
}

/* "bearer <jwt>" (scheme case-insensitive, as RFC 7235 has it). */
static const char *bearer_token(const char *v, size_t len, size_t *jlen)
{
    static const char scheme[] = "bearer ";
    if (len <= sizeof scheme - 1)
        return NULL;
    for (size_t i = 0; i < sizeof scheme - 1; i++) {
        char c = v[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[i])
            return NULL;
    }
    *jlen = len - (sizeof scheme - 1);
    return v + sizeof scheme - 1;
}

/* "bearer" with no token after it (scheme case-insensitive, blanks around):
 * Apple's "no provider token is specified" (§1.8). */
static int bearer_empty(const char *v, size_t len)
{
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    return len == 6 && strncasecmp(v, "bearer", 6) == 0;
}

sim_reason sim_auth_check(sim_auth *a, const char *value, size_t len, int64_t now_s)
{
    if (!value || len == 0 || bearer_empty(value, len))
        return SIM_REASON_MISSING_PROVIDER_TOKEN;
    size_t jlen = 0;
    const char *jwt = bearer_token(value, len, &jlen);
    if (!jwt || jlen > SIM_JWT_MAX)
        return SIM_REASON_INVALID_PROVIDER_TOKEN;

    int slot = lookup(a, jwt, jlen);
    if (slot < 0)
        slot = insert(a, jwt, jlen);
    sim_auth_entry *e = &a->cache[slot];
    if (e->result != SIM_REASON_NONE)
        return e->result;
    if (e->jwt.key->other_env)
        return SIM_REASON_BAD_ENVIRONMENT_KEY_ID_IN_TOKEN;

    if (e->jwt.iat < now_s - a->max_age_s || e->jwt.iat > now_s + FUTURE_SLACK_S)
        return SIM_REASON_EXPIRED_PROVIDER_TOKEN;
    if (a->bound && e->jwt.key != a->bound)
        return SIM_REASON_UNRELATED_KEY_ID_IN_TOKEN;

    if (slot == a->current)
        return SIM_REASON_NONE;
    sim_reason why = fleet_check(a, e, now_s);
    if (why != SIM_REASON_NONE)
        return why;
    if (a->current < 0) {
        a->bound = e->jwt.key;
        a->current = slot;
        return SIM_REASON_NONE;
    }
    if (a->changed && now_s - a->last_change_s < a->min_interval_s)
        return SIM_REASON_TOO_MANY_PROVIDER_TOKEN_UPDATES;
    a->current = slot;
    a->changed = 1;
    a->last_change_s = now_s;
    return SIM_REASON_NONE;
}

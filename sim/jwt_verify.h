/*
 * jwt_verify.h - checks one APNs provider token (compact JWS, ES256) against
 * the known keys. Stateless and thread-safe; the connection caches results
 * (auth.h) so a token is verified once per connection, not per request.
 */
#ifndef SIM_JWT_VERIFY_H
#define SIM_JWT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "apple.h"
#include "keys.h"

#define SIM_JWT_MAX 1024 /* longer tokens are InvalidProviderToken without parsing */

typedef struct sim_jwt {
    const sim_key *key; /* the kid's key (borrowed from the key store) */
    int64_t iat;        /* UNIX seconds */
} sim_jwt;

/*
 * Verifies jwt[0..len): three base64url segments; header {"alg":"ES256",
 * "kid":known}; claims {"iss":the key's team, "iat":integer}; signature
 * either raw 64-byte r||s (RFC 7518) or ASN.1 DER (as APNs tolerates), in
 * base64url or standard base64, padding optional. Other header fields and
 * claims are ignored. Time is not checked here.
 * Returns SIM_REASON_NONE and fills *out, else
 * SIM_REASON_INVALID_PROVIDER_TOKEN.
 */
sim_reason sim_jwt_verify(const sim_keys *ks, const char *jwt, size_t len, sim_jwt *out);

#endif

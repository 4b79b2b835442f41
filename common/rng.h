/*
 * rng.h - the one pseudo-random generator of the tree (libapns, apns-sim,
 * apnsd, the tools): splitmix64, one 64-bit word of state, fast, and good
 * enough for jitter, sampling, fault injection and request ids. Not for
 * secrets: keys and nonces come from OpenSSL's RAND_bytes.
 *
 * The state is the caller's (one per connection, app or object, so runs
 * seeded alike repeat exactly); any value, zero included, is a valid seed.
 */
#ifndef COMMON_RNG_H
#define COMMON_RNG_H

#include <stdint.h>

/* The next 64 random bits; advances *state. */
static inline uint64_t common_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. The modulo bias is below n / 2^64. */
static inline uint64_t common_rng_below(uint64_t *state, uint64_t n)
{
    return n ? common_rng_next(state) % n : 0;
}

/* Uniform in [0, 1). */
static inline double common_rng_double(uint64_t *state)
{
    return (double)(common_rng_next(state) >> 11) * 0x1.0p-53;
}

/* A seed for a new state: from getrandom(), else time, pid and a counter. */
uint64_t common_rng_seed(void);

#endif

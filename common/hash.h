/*
 * hash.h - the one non-cryptographic string hash of the tree: 64-bit FNV-1a,
 * for hash tables keyed by ids, names and label values. Not for anything an
 * attacker may choose to collide where that matters (use a keyed hash there).
 */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define COMMON_FNV1A_INIT 0xcbf29ce484222325ull

/* Continues hash h over n bytes at p; start with COMMON_FNV1A_INIT. */
static inline uint64_t common_fnv1a_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* The hash of a NUL-terminated string. */
static inline uint64_t common_fnv1a_str(const char *s)
{
    uint64_t h = COMMON_FNV1A_INIT;
    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

#endif

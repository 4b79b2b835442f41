/*
 * binset.h - a hash set of binary device tokens (1..100 bytes), for the
 * legacy binary gateway's per-notification "is this token invalid?" check
 * and the feedback service's de-duplication. Hashing reads the token eight
 * bytes at a time, so a lookup of a 32-byte token is a handful of
 * multiplications and usually one memcmp. Not thread-safe: the gateway's
 * set is built before the loops start and only read afterwards; the
 * feedback store locks around its own.
 */
#ifndef SIM_BINSET_H
#define SIM_BINSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_binset sim_binset;

/* Returns an empty set, or NULL when out of memory. */
sim_binset *sim_binset_new(void);
void sim_binset_free(sim_binset *s);

/* Adds token[0..len). Returns 1 when added, 0 when already present, -1 out
 * of memory or len outside 1..255. */
int sim_binset_add(sim_binset *s, const uint8_t *token, size_t len);

/* 1 when present. s may be NULL (empty). */
int sim_binset_has(const sim_binset *s, const uint8_t *token, size_t len);

/* Removes every token (keeps the memory). */
void sim_binset_clear(sim_binset *s);

size_t sim_binset_size(const sim_binset *s);

#endif

/*
 * tokenset.h - a hash set of device tokens, each with a millisecond
 * timestamp. Two kinds of keys:
 *   SIM_TOKENS_TEXT    the HTTP/2 side's token lists (--unregistered,
 *                      --other-topic, ...): text, compared
 *                      case-insensitively, stored lower-case; loaded once at
 *                      start-up from a file, then shared by every thread
 *                      without locks.
 *   SIM_TOKENS_BINARY  the binary interface's tokens (1..100 bytes): the
 *                      gateway's per-notification "is this token invalid?"
 *                      check (built before the loops start, read-only after)
 *                      and the feedback list's de-duplication (which locks
 *                      around its own). Hashed eight bytes at a time, so a
 *                      lookup of a 32-byte token is a handful of
 *                      multiplications and usually one memcmp.
 * Not thread-safe for writers.
 */
#ifndef SIM_TOKENSET_H
#define SIM_TOKENSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_tokenset sim_tokenset;

typedef enum sim_token_keys {
    SIM_TOKENS_TEXT,   /* case-insensitive text */
    SIM_TOKENS_BINARY, /* raw bytes */
} sim_token_keys;

/* Returns an empty set, or NULL when out of memory. */
sim_tokenset *sim_tokenset_new(sim_token_keys keys);

/*
 * Loads a SIM_TOKENS_TEXT set from FILE: one token a line, optionally
 * followed by whitespace and a decimal timestamp in ms (tokens without one
 * get default_ms). Blank lines and lines starting with '#' are skipped;
 * tokens are stored lower-case. Returns 0 and *out, or -1 with a sentence
 * in err.
 */
int sim_tokenset_load(sim_tokenset **out, const char *path, int64_t default_ms, char *err,
                      size_t errlen);

/* Same from text in memory (for tests and the fuzz target). */
int sim_tokenset_parse(sim_tokenset **out, const char *text, size_t len, int64_t default_ms);

void sim_tokenset_free(sim_tokenset *s);

/* Adds token[0..len) with ts_ms. Returns 1 when added, 0 when it was there
 * already (its timestamp is replaced: the last one wins), -1 when out of
 * memory or len is outside 1..256. */
int sim_tokenset_add(sim_tokenset *s, const void *token, size_t len, int64_t ts_ms);

/* Looks token[0..len) up (case-insensitively in a text set). Returns 1 and
 * the timestamp in *ts_ms (may be NULL) if present, else 0. s may be NULL
 * (empty set). */
int sim_tokenset_find(const sim_tokenset *s, const void *token, size_t len, int64_t *ts_ms);

/* Removes every token (keeps the memory). */
void sim_tokenset_clear(sim_tokenset *s);

size_t sim_tokenset_size(const sim_tokenset *s);

/* Calls fn for every token (not NUL-terminated, lower-case in a text set,
 * borrowed for the call) in table order; stops early and returns fn's value
 * when it is not 0. Returns 0 otherwise. s may be NULL. */
int sim_tokenset_foreach(const sim_tokenset *s,
                         int (*fn)(const char *token, size_t len, int64_t ts_ms, void *ud),
                         void *ud);

#endif

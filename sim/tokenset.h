/*
 * tokenset.h - a read-only hash set of device tokens (lower-case hex), each
 * with an optional millisecond timestamp. Built once at start-up from a file,
 * then shared by every thread without locks.
 */
#ifndef SIM_TOKENSET_H
#define SIM_TOKENSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_tokenset sim_tokenset;

/*
 * Loads FILE: one token a line, optionally followed by whitespace and a
 * decimal timestamp in ms (tokens without one get default_ms). Blank lines
 * and lines starting with '#' are skipped; tokens are stored lower-case.
 * Returns 0 and *out, or -1 with a sentence in err.
 */
int sim_tokenset_load(sim_tokenset **out, const char *path, int64_t default_ms, char *err,
                      size_t errlen);

/* Same from text in memory (for tests and the fuzz target). */
int sim_tokenset_parse(sim_tokenset **out, const char *text, size_t len, int64_t default_ms);

void sim_tokenset_free(sim_tokenset *s);

/* Looks token[0..len) up, case-insensitively. Returns 1 and the timestamp in
 * *ts_ms (may be NULL) if present, else 0. s may be NULL (empty set). */
int sim_tokenset_find(const sim_tokenset *s, const char *token, size_t len, int64_t *ts_ms);

size_t sim_tokenset_size(const sim_tokenset *s);

/* Calls fn for every token (lower-case hex, not NUL-terminated, borrowed for
 * the call) in table order; stops early and returns fn's value when it is
 * not 0. Returns 0 otherwise. s may be NULL. */
int sim_tokenset_foreach(const sim_tokenset *s,
                         int (*fn)(const char *token, size_t len, int64_t ts_ms, void *ud),
                         void *ud);

#endif

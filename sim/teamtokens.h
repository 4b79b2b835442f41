/*
 * teamtokens.h - the fleet view of provider tokens: which distinct JWTs each
 * team (the JWT's `iss`) has presented, across every connection and every
 * event loop of the process, and optionally APNs' rule that a team's token
 * may not change more often than every --team-token-interval seconds.
 *
 * One object per process, shared by all workers; every function is
 * thread-safe. Connections consult it only when they see a JWT for the
 * first time (auth.c caches the verdict per connection), never per request.
 */
#ifndef SIM_TEAMTOKENS_H
#define SIM_TEAMTOKENS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_TEAMS_MAX 1024 /* teams tracked; tokens of further teams are only counted */
#define SIM_TEAM_KEEP 4    /* accepted (and refused) token hashes kept per team */

typedef struct sim_teamtokens sim_teamtokens;

/* interval_s: --team-token-interval (0 = count only, refuse nothing).
 * Returns the registry (caller frees with sim_teamtokens_free), or NULL
 * when out of memory. */
sim_teamtokens *sim_teamtokens_new(int64_t interval_s);

void sim_teamtokens_free(sim_teamtokens *t);

/*
 * A connection presents the verified token jwt[0..len) of team (NUL
 * terminated, borrowed) for the first time, at now_s (UNIX seconds).
 * Returns 0 when it is accepted, 1 when it is refused by the interval rule;
 * then *retry_s is the first second at which asking again can succeed (the
 * team's window may have moved on by then: ask again, do not assume).
 * A team beyond SIM_TEAMS_MAX is accepted untracked.
 */
int sim_teamtokens_see(sim_teamtokens *t, const char *team, const char *jwt, size_t len,
                       int64_t now_s, int64_t *retry_s);

/* Tokens presented by teams that found the table full (always accepted). */
uint64_t sim_teamtokens_untracked(sim_teamtokens *t);

/*
 * Writes {"TEAMID":N,...} (distinct tokens per team since start, teams in
 * the order first seen; {} when none, or when t is NULL) to f. Takes a
 * snapshot under the lock and writes after releasing it.
 */
void sim_teamtokens_print_json(sim_teamtokens *t, FILE *f);

#endif

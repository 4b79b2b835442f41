/*
 * teamtokens.c - distinct provider tokens per team, fleet-wide.
 *
 * Why: APNs sees a team's tokens, not a gateway's processes. If every pod of
 * a fleet mints its own JWT, APNs sees the team's token change every time a
 * connection of another pod speaks, and answers 429
 * TooManyProviderTokenUpdates. The per-connection rule (auth.c) cannot show
 * that; this registry sees every connection of every event loop, so a test
 * can run N gateway processes against one simulator and read how many
 * distinct tokens each team presented (provider_tokens_by_team), and with
 * --team-token-interval have the simulator refuse the extra ones.
 *
 * What a team keeps (bounded, whatever clients send):
 *   - ntokens: distinct tokens seen since start (accepted and refused ones);
 *   - acc[]: SHA-256 of the last SIM_TEAM_KEEP accepted tokens. The newest
 *     is the team's current token, first seen at current_since_s; the older
 *     ones are still accepted, for connections that have not switched yet;
 *   - ref[]: SHA-256 of the last SIM_TEAM_KEEP refused tokens, so that a
 *     refused token presented again on other connections is not counted
 *     twice, and is accepted (becomes current) once the window has passed.
 * A token that fell out of both rings counts again when it comes back: with
 * tokens that live at most an hour and a 20-minute rule, 4 accepted ones
 * cover every token a well-behaved fleet can still be using.
 *
 * The rule, with interval I > 0: a token not in acc[] is accepted (and
 * becomes current) when the team has no current token or now - current_since
 * >= I; otherwise it is refused. Refusals do not move the window.
 *
 * Distinct means "different JWT text": the registry keeps SHA-256 digests of
 * the whole compact JWT (computed outside the lock). At most SIM_TEAMS_MAX
 * teams are tracked (teams come from the --auth-keys files, so the cap only
 * matters with a huge key directory); tokens of further teams are accepted
 * and counted in `untracked`.
 *
 * Locking: one mutex. Connections call in once per distinct token they see
 * (auth.c caches the verdict), so it is never on the per-request path and
 * contention is negligible; the team table is a small open-addressing index
 * into an array that grows by doubling.
 */
#include "teamtokens.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "apns/jwt.h"
#include "hash.h" /* common/ */

#define HASH_LEN   32
#define INDEX_SIZE (2 * SIM_TEAMS_MAX) /* power of two, at most half full */

typedef struct ring {
    uint8_t h[SIM_TEAM_KEEP][HASH_LEN];
    uint8_t used[SIM_TEAM_KEEP];
    unsigned next; /* slot written next; (next - 1) % KEEP is the newest */
} ring;

typedef struct team {
    char id[APNS_TEAM_ID_LEN + 1];
    uint64_t ntokens;
    int64_t current_since_s;
    int have_current;
    ring acc, ref;
} team;

struct sim_teamtokens {
    pthread_mutex_t lock;
    int64_t interval_s;
    uint64_t untracked;
    team *teams; /* in the order first seen */
    size_t nteams, cap;
    int16_t index[INDEX_SIZE]; /* team number + 1; 0 = empty */
};

sim_teamtokens *sim_teamtokens_new(int64_t interval_s)
{
    sim_teamtokens *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->interval_s = interval_s;
    return t;
}

void sim_teamtokens_free(sim_teamtokens *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->teams);
    free(t);
}

static unsigned team_hash(const char *id)
{
    return (unsigned)(common_fnv1a_str(id) & (INDEX_SIZE - 1));
}

/* The team's record, created when new; NULL when the table is full (or
 * out of memory). Called with the lock held. */
static team *team_get(sim_teamtokens *t, const char *id)
{
    unsigned i = team_hash(id);
    for (; t->index[i] != 0; i = (i + 1) & (INDEX_SIZE - 1)) {
        team *m = &t->teams[t->index[i] - 1];
        if (strcmp(m->id, id) == 0)
            return m;
    }
    if (t->nteams >= SIM_TEAMS_MAX || strlen(id) > APNS_TEAM_ID_LEN)
        return NULL;
    if (t->nteams == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        team *n = realloc(t->teams, cap * sizeof *n);
        if (!n)
            return NULL;
        t->teams = n;
        t->cap = cap;
    }
    team *m = &t->teams[t->nteams];
    memset(m, 0, sizeof *m);
    strcpy(m->id, id);
    t->index[i] = (int16_t)(++t->nteams);
    return m;
}

static int ring_find(const ring *r, const uint8_t *h)
{
    for (int i = 0; i < SIM_TEAM_KEEP; i++)
        if (r->used[i] && memcmp(r->h[i], h, HASH_LEN) == 0)
            return i;
    return -1;
}

static void ring_push(ring *r, const uint8_t *h)
{
    unsigned slot = r->next++ % SIM_TEAM_KEEP;
    memcpy(r->h[slot], h, HASH_LEN);
    r->used[slot] = 1;
}

int sim_teamtokens_see(sim_teamtokens *t, const char *team_id, const char *jwt, size_t len,
                       int64_t now_s, int64_t *retry_s)
{
    uint8_t h[EVP_MAX_MD_SIZE];
    unsigned hlen = 0;
    if (EVP_Digest(jwt, len, h, &hlen, EVP_sha256(), NULL) != 1 || hlen != HASH_LEN)
        return 0; /* cannot tell tokens apart: never refuse for that */

    int refused = 0;
    pthread_mutex_lock(&t->lock);
    team *m = team_get(t, team_id);
    if (!m) {
        t->untracked++;
    } else if (ring_find(&m->acc, h) < 0) {
        int was_refused = ring_find(&m->ref, h);
        if (was_refused < 0)
            m->ntokens++;
        if (t->interval_s > 0 && m->have_current && now_s - m->current_since_s < t->interval_s) {
            refused = 1;
            *retry_s = m->current_since_s + t->interval_s;
            if (was_refused < 0)
                ring_push(&m->ref, h);
        } else {
            if (was_refused >= 0)
                m->ref.used[was_refused] = 0;
            ring_push(&m->acc, h);
            m->have_current = 1;
            m->current_since_s = now_s;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return refused;
}

uint64_t sim_teamtokens_untracked(sim_teamtokens *t)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    uint64_t n = t->untracked;
    pthread_mutex_unlock(&t->lock);
    return n;
}

typedef struct snap {
    char id[APNS_TEAM_ID_LEN + 1];
    uint64_t n;
} snap;

void sim_teamtokens_print_json(sim_teamtokens *t, FILE *f)
{
    snap *s = NULL;
    size_t n = 0;
    if (t) {
        pthread_mutex_lock(&t->lock);
        if (t->nteams > 0 && (s = malloc(t->nteams * sizeof *s)) != NULL) {
            n = t->nteams;
            for (size_t i = 0; i < n; i++) {
                memcpy(s[i].id, t->teams[i].id, sizeof s[i].id);
                s[i].n = t->teams[i].ntokens;
            }
        }
        pthread_mutex_unlock(&t->lock);
    }
    /* Team ids are [A-Z0-9]{10} (keys.c checks the file names): no escaping. */
    fputc('{', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", s[i].id, (unsigned long long)s[i].n);
    fputc('}', f);
    free(s);
}

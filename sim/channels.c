/*
 * channels.c - the process-wide broadcast channel store (see channels.h).
 *
 * Design note. Lookups (every broadcast publish) hash the channel id into a
 * chained table under a read lock; ids are random, so they spread evenly
 * and are unique across apps (the node records its app). Each app keeps its
 * channels in creation order in an array for the list answer; a delete
 * removes the node from both (linear in the app's channels: deletes are
 * rare, 10,000 at most). Apps are few and found by a linear search.
 */
#include "channels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hash.h" /* common/ */

typedef struct chan_node {
    struct chan_node *next; /* hash chain */
    uint16_t app;
    uint8_t policy;
    char id[SIM_CHANNEL_ID_LEN + 1];
} chan_node;

typedef struct chan_app {
    char *bundle;
    size_t blen;
    chan_node **list; /* creation order */
    uint32_t n, cap;
} chan_app;

struct sim_channels {
    pthread_rwlock_t lock;
    uint32_t limit;
    chan_node **buckets;
    size_t nbuckets; /* power of two */
    uint64_t total;
    chan_app apps[SIM_CHANNELS_APPS_MAX];
    size_t napps;
};

sim_channels *sim_channels_new(uint32_t limit)
{
    sim_channels *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    cs->limit = limit;
    cs->nbuckets = 1024;
    cs->buckets = calloc(cs->nbuckets, sizeof *cs->buckets);
    if (!cs->buckets || pthread_rwlock_init(&cs->lock, NULL) != 0) {
        free(cs->buckets);
        free(cs);
        return NULL;
    }
    return cs;
}

void sim_channels_free(sim_channels *cs)
{
    if (!cs)
        return;
    for (size_t a = 0; a < cs->napps; a++) {
        for (uint32_t i = 0; i < cs->apps[a].n; i++)
            free(cs->apps[a].list[i]);
        free(cs->apps[a].list);
        free(cs->apps[a].bundle);
    }
    free(cs->buckets);
    pthread_rwlock_destroy(&cs->lock);
    free(cs);
}

static size_t slot_of(const sim_channels *cs, const char *id, size_t len)
{
    return (size_t)common_fnv1a_add(COMMON_FNV1A_INIT, id, len) & (cs->nbuckets - 1);
}

static long app_find(const sim_channels *cs, const char *bundle, size_t blen)
{
    for (size_t a = 0; a < cs->napps; a++)
        if (cs->apps[a].blen == blen && memcmp(cs->apps[a].bundle, bundle, blen) == 0)
            return (long)a;
    return -1;
}

/* The node of id in app a, or NULL; *pp receives the link pointing at it. */
static chan_node *node_find(const sim_channels *cs, long a, const char *id, size_t len,
                            chan_node ***pp)
{
    if (a < 0 || len != SIM_CHANNEL_ID_LEN)
        return NULL;
    chan_node **p = &cs->buckets[slot_of(cs, id, len)];
    for (; *p; p = &(*p)->next) {
        if ((*p)->app == a && memcmp((*p)->id, id, len) == 0) {
            if (pp)
                *pp = p;
            return *p;
        }
    }
    return NULL;
}

static int id_taken(const sim_channels *cs, const char *id)
{
    for (chan_node *n = cs->buckets[slot_of(cs, id, SIM_CHANNEL_ID_LEN)]; n; n = n->next)
        if (memcmp(n->id, id, SIM_CHANNEL_ID_LEN) == 0)
            return 1;
    return 0;
}

static void grow(sim_channels *cs)
{
    size_t nb = cs->nbuckets * 2;
    chan_node **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < cs->nbuckets; i++) {
        for (chan_node *n = cs->buckets[i], *next; n; n = next) {
            next = n->next;
            size_t s =
                (size_t)common_fnv1a_add(COMMON_FNV1A_INIT, n->id, SIM_CHANNEL_ID_LEN) & (nb - 1);
            n->next = b[s];
            b[s] = n;
        }
    }
    free(cs->buckets);
    cs->buckets = b;
    cs->nbuckets = nb;
}

static long app_add(sim_channels *cs, const char *bundle, size_t blen)
{
    if (cs->napps == SIM_CHANNELS_APPS_MAX)
        return -2;
    chan_app *app = &cs->apps[cs->napps];
    memset(app, 0, sizeof *app);
    if (!(app->bundle = malloc(blen + 1)))
        return -1;
    memcpy(app->bundle, bundle, blen);
    app->bundle[blen] = '\0';
    app->blen = blen;
    return (long)cs->napps++;
}

static int create_locked(sim_channels *cs, const char *bundle, size_t blen, int policy, char *id)
{
    long a = app_find(cs, bundle, blen);
    if (a < 0 && (a = app_add(cs, bundle, blen)) < 0)
        return a == -2 ? 1 : -1;
    chan_app *app = &cs->apps[a];
    if (app->n >= cs->limit)
        return 1;
    if (app->n == app->cap) {
        uint32_t cap = app->cap ? app->cap * 2 : 16;
        chan_node **l = realloc(app->list, cap * sizeof *l);
        if (!l)
            return -1;
        app->list = l;
        app->cap = cap;
    }
    chan_node *n = malloc(sizeof *n);
    if (!n)
        return -1;
    unsigned char raw[16];
    do {
        if (RAND_bytes(raw, sizeof raw) != 1) {
            free(n);
            return -1;
        }
        EVP_EncodeBlock((unsigned char *)n->id, raw, sizeof raw); /* 24 chars + NUL */
    } while (id_taken(cs, n->id));
    n->app = (uint16_t)a;
    n->policy = (uint8_t)policy;
    size_t s = slot_of(cs, n->id, SIM_CHANNEL_ID_LEN);
    n->next = cs->buckets[s];
    cs->buckets[s] = n;
    app->list[app->n++] = n;
    if (++cs->total > cs->nbuckets)
        grow(cs);
    memcpy(id, n->id, SIM_CHANNEL_ID_LEN + 1);
    return 0;
}

int sim_channels_create(sim_channels *cs, const char *bundle, size_t blen, int policy, char *id)
{
    pthread_rwlock_wrlock(&cs->lock);
    int rc = create_locked(cs, bundle, blen, policy, id);
    pthread_rwlock_unlock(&cs->lock);
    return rc;
}

int sim_channels_find(sim_channels *cs, const char *bundle, size_t blen, const char *id,
                      size_t idlen)
{
    pthread_rwlock_rdlock(&cs->lock);
    chan_node *n = node_find(cs, app_find(cs, bundle, blen), id, idlen, NULL);
    int policy = n ? n->policy : -1;
    pthread_rwlock_unlock(&cs->lock);
    return policy;
}

int sim_channels_delete(sim_channels *cs, const char *bundle, size_t blen, const char *id,
                        size_t idlen)
{
    pthread_rwlock_wrlock(&cs->lock);
    long a = app_find(cs, bundle, blen);
    chan_node **p = NULL, *n = node_find(cs, a, id, idlen, &p);
    if (n) {
        *p = n->next;
        chan_app *app = &cs->apps[a];
        for (uint32_t i = 0; i < app->n; i++) {
            if (app->list[i] == n) {
                memmove(&app->list[i], &app->list[i + 1], (app->n - i - 1) * sizeof n);
                app->n--;
                break;
            }
        }
        cs->total--;
        free(n);
    }
    pthread_rwlock_unlock(&cs->lock);
    return n ? 0 : -1;
}

char *sim_channels_list_json(sim_channels *cs, const char *bundle, size_t blen, size_t *len)
{
    static const char head[] = "{\"channels\":[", tail[] = "]}";
    pthread_rwlock_rdlock(&cs->lock);
    long a = app_find(cs, bundle, blen);
    uint32_t n = a < 0 ? 0 : cs->apps[a].n;
    size_t cap = sizeof head + sizeof tail + (size_t)n * (SIM_CHANNEL_ID_LEN + 3);
    char *buf = malloc(cap), *p = buf;
    if (buf) {
        memcpy(p, head, sizeof head - 1);
        p += sizeof head - 1;
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                *p++ = ',';
            *p++ = '"';
            memcpy(p, cs->apps[a].list[i]->id, SIM_CHANNEL_ID_LEN);
            p += SIM_CHANNEL_ID_LEN;
            *p++ = '"';
        }
        memcpy(p, tail, sizeof tail - 1);
        p += sizeof tail - 1;
        *len = (size_t)(p - buf);
    }
    pthread_rwlock_unlock(&cs->lock);
    return buf;
}

uint64_t sim_channels_total(sim_channels *cs)
{
    if (!cs)
        return 0;
    pthread_rwlock_rdlock(&cs->lock);
    uint64_t t = cs->total;
    pthread_rwlock_unlock(&cs->lock);
    return t;
}

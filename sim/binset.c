/*
 * binset.c - open addressing with linear probing at load factor <= 1/2;
 * tokens back to back in one arena. See binset.h.
 */
#include "binset.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint64_t hash; /* 0 = empty */
    uint32_t off;
    uint32_t len;
} slot;

struct sim_binset {
    slot *table;
    size_t mask, count;
    uint8_t *arena;
    size_t arena_len, arena_cap;
};

static uint64_t hash_token(const uint8_t *p, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h ? h : 1;
}

static int grow(sim_binset *s)
{
    size_t cap = s->table ? (s->mask + 1) * 2 : 256;
    slot *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    if (s->table) {
        for (size_t i = 0; i <= s->mask; i++) {
            if (!s->table[i].hash)
                continue;
            size_t j = s->table[i].hash & (cap - 1);
            while (t[j].hash)
                j = (j + 1) & (cap - 1);
            t[j] = s->table[i];
        }
        free(s->table);
    }
    s->table = t;
    s->mask = cap - 1;
    return 0;
}

sim_binset *sim_binset_new(void)
{
    sim_binset *s = calloc(1, sizeof *s);
    if (s && grow(s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void sim_binset_free(sim_binset *s)
{
    if (!s)
        return;
    free(s->table);
    free(s->arena);
    free(s);
}

int sim_binset_add(sim_binset *s, const uint8_t *token, size_t len)
{
    if (len == 0 || len > 255)
        return -1;
    if ((s->count + 1) * 2 > s->mask + 1 && grow(s) != 0)
        return -1;
    uint64_t h = hash_token(token, len);
    size_t j = h & s->mask;
    for (; s->table[j].hash; j = (j + 1) & s->mask) {
        const slot *e = &s->table[j];
        if (e->hash == h && e->len == len && memcmp(s->arena + e->off, token, len) == 0)
            return 0;
    }
    if (s->arena_len + len > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap * 2 : 4096;
        while (cap < s->arena_len + len)
            cap *= 2;
        uint8_t *a = realloc(s->arena, cap);
        if (!a)
            return -1;
        s->arena = a;
        s->arena_cap = cap;
    }
    memcpy(s->arena + s->arena_len, token, len);
    s->table[j] = (slot){h, (uint32_t)s->arena_len, (uint32_t)len};
    s->arena_len += len;
    s->count++;
    return 1;
}

int sim_binset_has(const sim_binset *s, const uint8_t *token, size_t len)
{
    if (!s || s->count == 0 || len == 0 || len > 255)
        return 0;
    uint64_t h = hash_token(token, len);
    for (size_t j = h & s->mask; s->table[j].hash; j = (j + 1) & s->mask) {
        const slot *e = &s->table[j];
        if (e->hash == h && e->len == len && memcmp(s->arena + e->off, token, len) == 0)
            return 1;
    }
    return 0;
}

void sim_binset_clear(sim_binset *s)
{
    memset(s->table, 0, (s->mask + 1) * sizeof *s->table);
    s->count = 0;
    s->arena_len = 0;
}

size_t sim_binset_size(const sim_binset *s)
{
    return s ? s->count : 0;
}

/*
 * tokenset.c - open-addressing hash set of device tokens (see tokenset.h).
 *
 * Tokens live back to back in one arena; the table holds (hash, offset,
 * length, timestamp) with linear probing at load factor <= 1/2, so a lookup
 * is one hash and usually one compare. 100k text tokens of 64 hex cost
 * about 6.4 MB arena + 4 MB table. The kind of key picks the hash and the
 * compare (one predictable branch each): a text set hashes FNV-1a folded to
 * lower case and stores keys lower-case; a binary set hashes eight bytes a
 * step and compares with memcmp.
 */
#include "tokenset.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 256 /* longer "tokens" are skipped: they can never match */

typedef struct entry {
    uint64_t hash; /* 0 = empty slot */
    int64_t ts_ms;
    uint32_t off;
    uint32_t len;
} entry;

struct sim_tokenset {
    entry *table;
    size_t mask; /* capacity - 1 */
    size_t count;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    sim_token_keys keys;
};

static uint64_t hash_lower(const uint8_t *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, folded to lower case */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)tolower(s[i]);
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return h ? h : 1;
}

static uint64_t hash_bytes(const uint8_t *p, size_t len)
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

static uint64_t hash_key(const sim_tokenset *s, const uint8_t *p, size_t len)
{
    return s->keys == SIM_TOKENS_TEXT ? hash_lower(p, len) : hash_bytes(p, len);
}

/* stored is a key of s (lower-case in a text set). */
static int same_key(const sim_tokenset *s, const uint8_t *stored, const uint8_t *p, size_t len)
{
    if (s->keys != SIM_TOKENS_TEXT)
        return memcmp(stored, p, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (stored[i] != (uint8_t)tolower(p[i]))
            return 0;
    return 1;
}

static int grow(sim_tokenset *s)
{
    size_t cap = s->table ? (s->mask + 1) * 2 : 1024;
    entry *t = calloc(cap, sizeof *t);
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

sim_tokenset *sim_tokenset_new(sim_token_keys keys)
{
    sim_tokenset *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->keys = keys;
    if (grow(s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int sim_tokenset_add(sim_tokenset *s, const void *token, size_t len, int64_t ts_ms)
{
    const uint8_t *tok = token;
    if (len == 0 || len > TOKEN_MAX)
        return -1;
    if ((s->count + 1) * 2 > s->mask + 1 && grow(s) != 0)
        return -1;
    uint64_t h = hash_key(s, tok, len);
    size_t j = h & s->mask;
    for (; s->table[j].hash; j = (j + 1) & s->mask) {
        entry *e = &s->table[j];
        if (e->hash == h && e->len == len && same_key(s, s->arena + e->off, tok, len)) {
            e->ts_ms = ts_ms; /* a repeated line: the last one wins */
            return 0;
        }
    }
    if (s->arena_len + len > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap * 2 : 65536;
        while (cap < s->arena_len + len)
            cap *= 2;
        uint8_t *a = realloc(s->arena, cap);
        if (!a)
            return -1;
        s->arena = a;
        s->arena_cap = cap;
    }
    uint8_t *dst = s->arena + s->arena_len;
    if (s->keys == SIM_TOKENS_TEXT) {
        for (size_t i = 0; i < len; i++)
            dst[i] = (uint8_t)tolower(tok[i]);
    } else {
        memcpy(dst, tok, len);
    }
    s->table[j] = (entry){h, ts_ms, (uint32_t)s->arena_len, (uint32_t)len};
    s->arena_len += len;
    s->count++;
    return 1;
}

/* One line: TOKEN [TIMESTAMP_MS]. Malformed timestamps fall back to the
 * default rather than dropping the token. */
static int parse_line(sim_tokenset *s, const char *p, const char *end, int64_t default_ms)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p == end || *p == '#')
        return 0;
    const char *tok = p;
    while (p < end && !isspace((unsigned char)*p))
        p++;
    size_t len = (size_t)(p - tok);
    while (p < end && isspace((unsigned char)*p))
        p++;
    int64_t ts = default_ms;
    if (p < end && isdigit((unsigned char)*p)) {
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p) && v < INT64_MAX / 10 - 10)
            v = v * 10 + (*p++ - '0');
        ts = v;
    }
    if (len > TOKEN_MAX)
        return 0;
    return sim_tokenset_add(s, tok, len, ts) < 0 ? -1 : 0;
}

int sim_tokenset_parse(sim_tokenset **out, const char *text, size_t len, int64_t default_ms)
{
    sim_tokenset *s = sim_tokenset_new(SIM_TOKENS_TEXT);
    if (!s)
        return -1;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (parse_line(s, p, eol, default_ms) != 0) {
            sim_tokenset_free(s);
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    *out = s;
    return 0;
}

int sim_tokenset_load(sim_tokenset **out, const char *path, int64_t default_ms, char *err,
                      size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = b;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    int rc = sim_tokenset_parse(out, buf, len, default_ms);
    free(buf);
    if (rc != 0)
        snprintf(err, errlen, "%s: out of memory", path);
    return rc;
}

void sim_tokenset_free(sim_tokenset *s)
{
    if (!s)
        return;
    free(s->table);
    free(s->arena);
    free(s);
}

int sim_tokenset_find(const sim_tokenset *s, const void *token, size_t len, int64_t *ts_ms)
{
    if (!s || s->count == 0 || len == 0 || len > TOKEN_MAX)
        return 0;
    uint64_t h = hash_key(s, token, len);
    for (size_t j = h & s->mask; s->table[j].hash; j = (j + 1) & s->mask) {
        const entry *e = &s->table[j];
        if (e->hash == h && e->len == len && same_key(s, s->arena + e->off, token, len)) {
            if (ts_ms)
                *ts_ms = e->ts_ms;
            return 1;
        }
    }
    return 0;
}

void sim_tokenset_clear(sim_tokenset *s)
{
    memset(s->table, 0, (s->mask + 1) * sizeof *s->table);
    s->count = 0;
    s->arena_len = 0;
}

size_t sim_tokenset_size(const sim_tokenset *s)
{
    return s ? s->count : 0;
}

int sim_tokenset_foreach(const sim_tokenset *s,
                         int (*fn)(const char *token, size_t len, int64_t ts_ms, void *ud),
                         void *ud)
{
    if (!s || !s->table)
        return 0;
    for (size_t i = 0; i <= s->mask; i++) {
        const entry *e = &s->table[i];
        if (!e->hash)
            continue;
        int rc = fn((const char *)s->arena + e->off, e->len, e->ts_ms, ud);
        if (rc != 0)
            return rc;
    }
    return 0;
}

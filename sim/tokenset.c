/*
 * tokenset.c - open-addressing hash set of device tokens.
 *
 * Tokens live back to back in one arena; the table holds (hash, offset,
 * length, timestamp) with linear probing at load factor <= 1/2, so a lookup
 * is one hash of at most 200 bytes and usually one compare. 100k tokens of
 * 64 hex cost about 6.4 MB arena + 4 MB table.
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
    char *arena;
    size_t arena_len, arena_cap;
};

static uint64_t hash_lower(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, folded to lower case */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)tolower((unsigned char)s[i]);
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return h ? h : 1;
}

static int same_lower(const char *stored, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (stored[i] != (char)tolower((unsigned char)s[i]))
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

static int insert(sim_tokenset *s, const char *tok, size_t len, int64_t ts)
{
    if (!s->table || (s->count + 1) * 2 > s->mask + 1) {
        if (grow(s) != 0)
            return -1;
    }
    uint64_t h = hash_lower(tok, len);
    size_t j = h & s->mask;
    for (; s->table[j].hash; j = (j + 1) & s->mask) {
        entry *e = &s->table[j];
        if (e->hash == h && e->len == len && same_lower(s->arena + e->off, tok, len)) {
            e->ts_ms = ts; /* a repeated line: the last one wins */
            return 0;
        }
    }
    if (s->arena_len + len > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap * 2 : 65536;
        while (cap < s->arena_len + len)
            cap *= 2;
        char *a = realloc(s->arena, cap);
        if (!a)
            return -1;
        s->arena = a;
        s->arena_cap = cap;
    }
    for (size_t i = 0; i < len; i++)
        s->arena[s->arena_len + i] = (char)tolower((unsigned char)tok[i]);
    s->table[j] = (entry){h, ts, (uint32_t)s->arena_len, (uint32_t)len};
    s->arena_len += len;
    s->count++;
    return 0;
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
    return insert(s, tok, len, ts);
}

int sim_tokenset_parse(sim_tokenset **out, const char *text, size_t len, int64_t default_ms)
{
    sim_tokenset *s = calloc(1, sizeof *s);
    if (!s || grow(s) != 0) {
        free(s);
        return -1;
    }
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

int sim_tokenset_find(const sim_tokenset *s, const char *token, size_t len, int64_t *ts_ms)
{
    if (!s || s->count == 0 || len > TOKEN_MAX)
        return 0;
    uint64_t h = hash_lower(token, len);
    for (size_t j = h & s->mask; s->table[j].hash; j = (j + 1) & s->mask) {
        const entry *e = &s->table[j];
        if (e->hash == h && e->len == len && same_lower(s->arena + e->off, token, len)) {
            if (ts_ms)
                *ts_ms = e->ts_ms;
            return 1;
        }
    }
    return 0;
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
        int rc = fn(s->arena + e->off, e->len, e->ts_ms, ud);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * queue_token.c - device tokens as the queue stores them (binary, packed
 * [len][bytes] records), chunk accessors, and the per-token apns-id. The
 * token rule and the hex conversion are common/'s.
 */
#include "queue.h"

#include "hex.h"   /* common/ */
#include "token.h" /* common/ */

#include "apns/fcm.h"

#include <stdlib.h>
#include <string.h>

void gw_token_list_init(gw_token_list *l)
{
    memset(l, 0, sizeof(*l));
}

void gw_token_list_cleanup(gw_token_list *l)
{
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

int gw_token_list_add_hex(gw_token_list *l, const char *hex, size_t len)
{
    size_t need;
    uint8_t *p;

    if (hex == NULL || common_token_check(hex, len, NULL) != COMMON_TOKEN_OK)
        return APNS_EBADTOKEN;
    if (l->count >= GW_JOB_TOKENS_MAX)
        return APNS_EINVAL;
    need = l->len + 1 + len / 2;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        p = realloc(l->buf, cap);
        if (p == NULL)
            return APNS_ENOMEM;
        l->buf = p;
        l->cap = cap;
    }
    p = l->buf + l->len;
    p[0] = (uint8_t)(len / 2);
    common_hex_to_bin_checked(hex, len, p + 1);
    l->len = need;
    l->count++;
    return 0;
}

int gw_token_list_add_raw(gw_token_list *l, const char *tok, size_t len)
{
    size_t need;
    uint8_t *p;

    if (tok == NULL || apns_fcm_token_check(tok, len, NULL, 0) != 0 || len > GW_TOKEN_RAW_MAX)
        return APNS_EFCMTOKEN;
    if (l->count >= GW_JOB_TOKENS_MAX)
        return APNS_EINVAL;
    need = l->len + 3 + len;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        p = realloc(l->buf, cap);
        if (p == NULL)
            return APNS_ENOMEM;
        l->buf = p;
        l->cap = cap;
    }
    p = l->buf + l->len;
    p[0] = 0;
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    memcpy(p + 3, tok, len);
    l->len = need;
    l->count++;
    return 0;
}

size_t gw_token_rec_text(const uint8_t *p, size_t avail, char out[GW_TOKEN_TEXT_MAX])
{
    size_t len, rl;
    int raw;

    if (avail == 0 || (p[0] == 0 && avail < 3))
        return 0;
    rl = gw_token_rec(p, &len, &raw);
    if (rl > avail || len == 0)
        return 0;
    if (raw) {
        memcpy(out, p + 3, len);
        out[len] = '\0';
    } else {
        gw_token_to_hex(p + 1, len, out);
    }
    return rl;
}

void gw_token_to_hex(const uint8_t *bin, size_t len, char *out)
{
    common_bin_to_hex(bin, len, out);
}

size_t gw_chunk_token(const gw_chunk *c, uint32_t i, const uint8_t **bin)
{
    const uint8_t *rec;

    if (c == NULL || i >= c->n_tokens)
        return 0;
    size_t len;
    int raw;
    rec = c->priv.tokens + c->priv.offset[i];
    gw_token_rec(rec, &len, &raw);
    if (bin != NULL)
        *bin = rec + (raw ? 3 : 1);
    return len;
}

int gw_chunk_token_raw(const gw_chunk *c, uint32_t i)
{
    size_t len;
    int raw;
    if (c == NULL || i >= c->n_tokens)
        return 0;
    gw_token_rec(c->priv.tokens + c->priv.offset[i], &len, &raw);
    return raw;
}

size_t gw_chunk_token_text(const gw_chunk *c, uint32_t i, char *out, size_t out_len)
{
    const uint8_t *bin;
    size_t len = gw_chunk_token(c, i, &bin);

    if (len == 0)
        return 0;
    if (gw_chunk_token_raw(c, i)) {
        if (len + 1 > out_len)
            return 0;
        memcpy(out, bin, len);
        out[len] = '\0';
        return len;
    }
    if (2 * len + 1 > out_len)
        return 0;
    gw_token_to_hex(bin, len, out);
    return 2 * len;
}

int gw_chunk_token_hex(const gw_chunk *c, uint32_t i, char out[APNS_TOKEN_HEX_MAX + 1])
{
    const uint8_t *bin;
    size_t len = gw_chunk_token(c, i, &bin);

    if (len == 0 || gw_chunk_token_raw(c, i))
        return APNS_EINVAL;
    gw_token_to_hex(bin, len, out);
    return 0;
}

int gw_chunk_token_due(const gw_chunk *c, uint32_t i, int64_t now_ms)
{
    if (c == NULL || i >= c->n_tokens || c->cancelled)
        return 0;
    if (c->state[i] == GW_TOKEN_PENDING)
        return 1;
    return c->state[i] == GW_TOKEN_RETRY && c->retry_at_ms[i] <= now_ms;
}

void gw_apns_id_derive(const char base[GW_JOB_ID_LEN + 1], uint64_t index,
                       char out[GW_JOB_ID_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t node = 0;

    for (int i = 0; i < GW_JOB_ID_LEN; i++)
        out[i] = (char)(base[i] >= 'A' && base[i] <= 'F' ? base[i] - 'A' + 'a' : base[i]);
    out[GW_JOB_ID_LEN] = '\0';
    if (index == 0)
        return;
    /* The last group is 12 hex digits: 48 bits. */
    for (int i = 24; i < 36; i++)
        node = node << 4 | (uint64_t)common_hex_val(out[i]);
    node = (node + index) & 0xffffffffffffull;
    for (int i = 35; i >= 24; i--) {
        out[i] = digits[node & 15];
        node >>= 4;
    }
}

/* The next id: the last 48 bits (12 lower-case hex digits) plus one, mod
 * 2^48, as gw_apns_id_derive(base, index + 1) gives it. */
static void apns_id_next(char id[GW_JOB_ID_LEN + 1])
{
    for (int i = GW_JOB_ID_LEN - 1; i >= GW_JOB_ID_LEN - 12; i--) {
        if (id[i] == 'f') {
            id[i] = '0'; /* carry */
        } else {
            id[i] = id[i] == '9' ? 'a' : (char)(id[i] + 1);
            return;
        }
    }
}

void gw_apns_id_at(gw_apns_id_cursor *cur, const char base[GW_JOB_ID_LEN + 1], uint64_t index,
                   char out[GW_JOB_ID_LEN + 1])
{
    if (cur->valid && index == cur->index + 1) {
        apns_id_next(cur->id);
        cur->index = index;
    } else if (!cur->valid || index != cur->index) {
        gw_apns_id_derive(base, index, cur->id);
        cur->index = index;
        cur->valid = 1;
    }
    memcpy(out, cur->id, GW_JOB_ID_LEN + 1);
}

void gw_chunk_apns_id(const gw_chunk *c, uint32_t i, char out[GW_JOB_ID_LEN + 1])
{
    gw_apns_id_derive(c->apns_id_base, (uint64_t)c->first + i, out);
}

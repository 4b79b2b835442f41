/*
 * queue_pack.c - packed job ids: the small device-token jobs of one request
 * that a backend stores together (JetStream: one chunk message, one header
 * and one outcome record for up to chunk_tokens tokens of several jobs;
 * jetstream/js_submit.c, issue 16's fleet target).
 *
 * Design note
 * -----------
 * A job id is a UUIDv7 (RFC 9562, 8-4-4-4-12 lower-case hex): 48 bits of
 * unix ms (chars 0-7, 9-12), the version '7' (char 14), 12 bits rand_a
 * (chars 15-17), the variant (the top two bits of char 19: 8, 9, a or b)
 * and 62 bits rand_b. The front end spends two of those random fields:
 *  - the top bit of rand_b (char 19 in {a, b}) marks a PACKED id; every
 *    other id gets it clear (char 19 in {8, 9}): 61 random bits are left,
 *    and ids stay unique per millisecond by far;
 *  - a packed id's rand_a is its member index (0..4095); the PACK id is its
 *    member 0's id, so "pack of" is rand_a := 000.
 * So a backend reads a packed job's header from its pack id without any
 * lookup, and an id never says "packed" by chance. The SQLite backend packs
 * nothing (its jobs cost rows, not operations) and ignores the mark.
 *
 * Who joins a pack: in a group (gw_queue_group_begin: a request of several
 * jobs, or one with an Idempotency-Key), on a backend with a pack limit
 * (q->pack_bytes > 0), a device-token job of at most chunk_tokens / 2
 * tokens and at most q->pack_bytes / 2 bytes of message (a larger job
 * gains little from company, and is stored alone) joins the group's open
 * pack when the pack keeps the same app and send_at, at most chunk_tokens
 * tokens, GW_PACK_MEMBERS_MAX members and q->pack_bytes bytes of message;
 * otherwise it opens a new pack. Members
 * of a pack are posted one after another, so they reach the backend's
 * batch in order and together (a group is one batch).
 */
#include "internal/queue_backend.h"

#include <stdio.h>
#include <string.h>

#define MARK_POS   19 /* variant + the top bit of rand_b */
#define MEMBER_POS 15 /* rand_a: three hex digits */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void gw_queue__id_unmark(char id[GW_JOB_ID_LEN + 1])
{
    int v = hexval(id[MARK_POS]);

    if (v >= 0)
        id[MARK_POS] = "0123456789abcdef"[v & ~2];
}

int gw_queue__pack_of(const char *id, char pack[GW_JOB_ID_LEN + 1])
{
    int v, k = 0;

    if (id == NULL || strlen(id) != GW_JOB_ID_LEN || id[14] != '7')
        return -1;
    v = hexval(id[MARK_POS]);
    if (v != 0xa && v != 0xb) /* the variant (10) with the mark */
        return -1;
    for (int i = 0; i < 3; i++) {
        int d = hexval(id[MEMBER_POS + i]);
        if (d < 0)
            return -1;
        k = k * 16 + d;
    }
    if (pack != NULL) {
        memcpy(pack, id, GW_JOB_ID_LEN + 1);
        memcpy(pack + MEMBER_POS, "000", 3);
    }
    return k;
}

/* The message bytes a member adds to its pack, with a margin for the
 * encoding's fixed fields. */
static size_t member_bytes(const gw_queue_chunk_fields *f, const gw_token_list *t)
{
    return 256 + f->app_len + f->topic_len + f->collapse_len + f->payload_len + t->len;
}

int gw_queue__pack_assign(gw_queue *q, const gw_queue_chunk_fields *f, const gw_token_list *t,
                          char id[GW_JOB_ID_LEN + 1])
{
    gw_queue_pack *p = &q->pack;
    size_t n = t->count, bytes = member_bytes(f, t);
    uint32_t ct = q->o.chunk_tokens;

    if (q->group == 0 || q->pack_bytes == 0 || f->channel != NULL || n == 0 || n > ct / 2 ||
        bytes > q->pack_bytes / 2 || f->app_len >= sizeof(p->app))
        return 0;
    if (p->group != q->group || p->members >= GW_PACK_MEMBERS_MAX || p->tokens + n > ct ||
        p->bytes + bytes > q->pack_bytes || p->send_at != f->send_at ||
        strcmp(p->app, f->app) != 0) {
        /* A new pack: this member's id is its id. */
        if (apns_uuid_generate_v7(p->id, gw_queue__now(q)) != 0)
            return 0;
        p->id[MARK_POS] = "0123456789abcdef"[hexval(p->id[MARK_POS]) | 2];
        memcpy(p->id + MEMBER_POS, "000", 3);
        p->group = q->group;
        p->members = p->tokens = 0;
        p->bytes = 0;
        p->send_at = f->send_at;
        memcpy(p->app, f->app, f->app_len + 1);
    }
    memcpy(id, p->id, GW_JOB_ID_LEN + 1);
    snprintf(id + MEMBER_POS, 4, "%03x", p->members);
    id[MEMBER_POS + 3] = '-';
    p->members++;
    p->tokens += (uint32_t)n;
    p->bytes += bytes;
    return 1;
}

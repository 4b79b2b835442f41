/*
 * js_token.c - one provider token (JWT) per team for the whole fleet.
 *
 * APNs answers TooManyProviderTokenUpdates when a team's token changes more
 * often than about every 20 minutes, and every process that mints its own
 * token changes it (two pods are enough: pushy#811, PyAPNs2#85). So the
 * fleet keeps ONE token per (team id, key id) in KV bucket P_TOKENS:
 *
 *   key "<team>.<key id>" -> issued (ms) + the JWT
 *
 * A node that needs the token reads the entry. Fresh (younger than
 * refresh_ms, and not the token APNs just called expired): use it. Else the
 * node mints one and stores it with a compare-and-set on the bucket
 * stream's last sequence (read before the entry): the write passes only if
 * nothing at all was written to the bucket since. Exactly one node's write
 * wins; a loser reads the winner's token and uses it, throwing its own away
 * (never sent). So APNs sees one token per window for the whole fleet
 * however many nodes race at the window's edge. (Why the stream's sequence
 * and not the key's revision: see the write in gw_js_op_token.) Token writes are rare (one per
 * team per window), so a conflict with another team's write only costs a
 * second look.
 *
 * This backend declares the token_store ability; the front end checks the
 * arguments of gw_queue_token_get and posts the request. The mint runs on
 * the queue's thread (signing is a few hundred microseconds), the answer on
 * the loop thread. The dispatcher keeps the
 * fleet's token in an external libapns token cache and asks here again
 * when the token reaches its refresh age or APNs calls it expired
 * (dispatch_fleet.c).
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bucket stream's last sequence (0 when empty). */
static int last_seq(gw_js *js, uint64_t *seq, char *detail, size_t dlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    char stream[96];
    natsStatus s;

    snprintf(stream, sizeof(stream), "KV_%s", js->bucket[JS_TOK]);
    atomic_fetch_add(&js->op_read, 1);
    s = js_GetStreamInfo(&si, js->js, stream, NULL, &code);
    if (s != NATS_OK)
        return gw_js_error(js, s, code, nats_GetLastError(NULL), "provider token", detail, dlen);
    *seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return 0;
}

int gw_js_op_token(gw_js *js, gw_queue_req *r)
{
    gw_queue_token_ask *t = r->u.token;
    char key[140], mine[GW_QUEUE_JWT_MAX] = "";
    int64_t mine_at = 0;
    int rc;

    snprintf(key, sizeof(key), "%s.%s", t->team, t->key_id);
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t *val = NULL;
        size_t len = 0;
        uint64_t rev = 0, last = 0;
        int found = 0, conflict = 0;
        int64_t issued = 0, now = gw_queue__now(js->q);
        char cur[GW_QUEUE_JWT_MAX] = "";

        /* The stream's last sequence first, then the entry: if the entry
         * is newer than `last`, a write came in between: look again. */
        rc = last_seq(js, &last, r->detail, sizeof(r->detail));
        if (rc == 0)
            rc = gw_js_kv_get(js, js->kv[JS_TOK], key, &val, &len, &rev, &found, "provider token",
                              r->detail, sizeof(r->detail));
        if (rc != 0)
            return rc;
        if (found && gw_js_tok_decode(val, len, &issued, cur, sizeof(cur)) != 0)
            issued = 0; /* unreadable: replace it */
        free(val);
        if (found && issued > 0 && now - issued < t->refresh_ms && strcmp(cur, t->stale) != 0) {
            snprintf(t->jwt, sizeof(t->jwt), "%s", cur);
            t->issued = issued;
            t->minted = strcmp(cur, mine) == 0;
            return 0;
        }
        if (rev > last)
            continue;
        if (mine[0] == '\0' || now - mine_at >= t->refresh_ms) {
            rc = t->mint(t->mint_ud, mine, sizeof(mine));
            if (rc != 0 || mine[0] == '\0') {
                snprintf(r->detail, sizeof(r->detail),
                         "provider token for team %s key %s: minting failed (%s)", t->team,
                         t->key_id, apns_strerror(rc ? rc : APNS_EINVAL));
                return rc ? rc : APNS_EINVAL;
            }
            mine_at = now;
        }
        /* Stored only if nothing was written to the bucket after `last`: a
         * compare-and-set on the STREAM's last sequence, which the servers
         * check against every write already proposed. (The per-key check is
         * checked only against applied writes by nats-server 2.9 in a
         * cluster: two concurrent updates of one key can both pass.) */
        if (gw_js_tok_encode(mine_at, mine, &val, &len) != 0) {
            snprintf(r->detail, sizeof(r->detail), "out of memory for the provider token");
            return APNS_ENOMEM;
        }
        rc = gw_js_kv_cas(js, js->bucket[JS_TOK], key, val, len, last, 1, NULL, &conflict,
                          "provider token", r->detail, sizeof(r->detail));
        free(val);
        if (rc != 0)
            return rc;
        if (!conflict) {
            snprintf(t->jwt, sizeof(t->jwt), "%s", mine);
            t->issued = mine_at;
            t->minted = 1;
            gw_queue__log(
                js->q, APNS_LOG_INFO,
                "queue jetstream: new provider token for team %s key %s stored for the fleet",
                t->team, t->key_id);
            return 0;
        }
        /* Another node stored one first (or wrote another team's): read again. */
    }
    snprintf(r->detail, sizeof(r->detail),
             "provider token for team %s key %s: the bucket keeps changing", t->team, t->key_id);
    return GW_QUEUE_ESTORE;
}

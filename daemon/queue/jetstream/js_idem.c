/*
 * js_idem.c - idempotency records and request commit records on JetStream
 * (GW_QUEUE_REQ_IDEM, and the groups of gw_queue_group_begin).
 *
 * Design note
 * -----------
 * nats-server 2.9 has no atomic multi-message publish, so a request whose
 * jobs are more than one job header (several notifications), or that holds
 * an idempotency key, gets a COMMIT RECORD written LAST, after every chunk
 * and job header of the request is stored:
 *
 *   KV P_JOBS  "<group>" -> "AJG1" state (committed / aborted), the answer's
 *              status and body (idempotent requests), the time. Same TTL as
 *              the job headers (retention), so it lives as long as the chunks.
 *   KV P_IDEM  "<H>.<g>" -> "AJI1" the body's SHA-256, when it was reserved,
 *              a nonce: the RESERVATION of an idempotency key (H = SHA-256 of
 *              "<scope>\n<key>", scope = the API key's digest; g = the
 *              generation, see below). TTL = [server] idempotency_ttl, at
 *              most idempotency_max entries for the fleet (discard old).
 *
 * The group's key is "g.<node>.<n>" for a request without a key and
 * "i.<H>.<nonce>" for one with a key; every chunk of the request carries it
 * (chunk format 3, js_codec.c: a node of an older format hands those chunks
 * back instead of sending what it cannot judge). A lease (js_lease.c,
 * job_committed) sends a chunk with a group only once the group's record
 * says committed; while it is missing the chunk is held (in-progress acks,
 * like a job without a header); past the commit grace time (gw_js_commit_grace_ms:
 * 3 x (op_timeout + 2 s) + 5 s of stream age) the node CREATES the record as aborted and drops the
 * chunk, counted as an orphan (gw_queue_stats.orphans, a warning once per
 * group), after rewriting its job's header as aborted (job_abort): the job
 * can never be sent, so its status is "no such job", as with SQLite, not
 * pending until retention. Commit and abort are both creates ("expected: no message"),
 * which nats-server 2.9 checks exactly even in a cluster (the per-key
 * compare-and-set of an update is not: queue_jetstream.c), so exactly one
 * wins: a request answered 202 is never dropped, one answered 429/503 is
 * never delivered.
 *
 * Idempotency. Begin creates "<H>.0" (one write for a new key). When it
 * exists: its commit record decides. Committed: same body hash -> REPLAY
 * (the stored answer, byte for byte), else MISMATCH. Aborted (a failed
 * request, or one given up): the key is free again at the next generation
 * "<H>.1", and so on. No record yet: the request is still being stored ->
 * BUSY (409), unless the reservation is older than the reservation grace
 * (the node that made it died): then this node aborts its group with the
 * same create and moves on to the next generation. Generations are created
 * in order and never deleted (they expire with the bucket's TTL), so two
 * retries racing after an abort meet on one create; a key retried after
 * many failures finds its last generation by a gallop over reads. The answer of the
 * request is its commit record (written with the jobs, in the group); a
 * failed request's finish (status 0) writes the abort, so a retry runs at
 * once. Which generation a request holds is kept in memory by the node
 * that reserved it (begin and finish run on its queue thread).
 */
#include "js_int.h"

#include "rng.h" /* common/ */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define RES_MAGIC     "AJI1"
#define COMMIT_MAGIC  "AJG1"
#define RES_LEN       (4 + GW_IDEM_HASH + 8 + 8)
#define GEN_MAX       32     /* steps of one begin (each a race lost or an aborted attempt) */
#define HELD_MAX      100000 /* reservations this node holds (finish forgets them) */
#define GROUP_CACHE_N 1024   /* committed groups remembered by the lease thread */

/* A reservation this node made: its key's digest, its group, the body's
 * hash and when it was made (real ms). */
typedef struct held {
    char h[2 * GW_IDEM_HASH + 1];
    char group[JS_GROUP_MAX + 1];
    uint8_t hash[GW_IDEM_HASH];
    int64_t at;
} held;

struct gw_js_idem {
    /* queue thread */
    kvStore *kv; /* P_IDEM, created at the first begin */
    char bucket[64];
    held *held;
    size_t n_held, cap_held;
    /* lease thread */
    char (*groups)[JS_GROUP_MAX + 1];
    size_t groups_pos;
};

static int64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reservation nobody answered for this long is given up: longer than the
 * commit grace (its request may still commit until then), and its request
 * also waits for channel lookups and the queue thread's backlog. */
static int64_t reservation_grace(const gw_js *js)
{
    return gw_js_commit_grace_ms(js) + js->jo.op_timeout_ms + 5000;
}

int gw_js_idem_init(gw_js *js)
{
    js->idem = calloc(1, sizeof(*js->idem));
    if (js->idem == NULL)
        return APNS_ENOMEM;
    js->idem->groups = calloc(GROUP_CACHE_N, sizeof(*js->idem->groups));
    if (js->idem->groups == NULL)
        return APNS_ENOMEM; /* js->idem freed by gw_js_idem_free */
    snprintf(js->idem->bucket, sizeof(js->idem->bucket), "%s_IDEM", js->prefix);
    return 0;
}

/* Set at open (gw_js_idem_init), before the storage threads start. */
static gw_js_idem *state(gw_js *js)
{
    return js->idem;
}

void gw_js_idem_free(gw_js *js)
{
    if (js->idem == NULL)
        return;
    if (js->idem->kv != NULL)
        kvStore_Destroy(js->idem->kv);
    free(js->idem->held);
    free(js->idem->groups);
    free(js->idem);
    js->idem = NULL;
}

/* ---- records ------------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* "AJG1" state(1) status(4) created(8) body-len(4) body. */
static uint8_t *commit_encode(int st, int status, const char *body, size_t *len)
{
    size_t bl = body != NULL ? strlen(body) : 0;
    uint8_t *p = malloc(4 + 1 + 4 + 8 + 4 + bl);

    if (p == NULL)
        return NULL;
    memcpy(p, COMMIT_MAGIC, 4);
    p[4] = (uint8_t)st;
    for (int i = 0; i < 4; i++)
        p[5 + i] = (uint8_t)((uint32_t)status >> (24 - 8 * i));
    put64(p + 9, (uint64_t)real_ms());
    for (int i = 0; i < 4; i++)
        p[17 + i] = (uint8_t)((uint32_t)bl >> (24 - 8 * i));
    memcpy(p + 21, body != NULL ? body : "", bl);
    *len = 21 + bl;
    return p;
}

/* 0 with *st (JS_JOB_*), *status and *body (malloc'd, NUL-terminated, may
 * be NULL when body is NULL); GW_JS_ENEWER; APNS_EINVAL; APNS_ENOMEM. */
static int commit_decode(const uint8_t *p, size_t len, int *st, int *status, char **body)
{
    uint32_t bl = 0, s = 0;

    if (len >= 4 && memcmp(p, "AJG", 3) == 0 && p[3] > '1' && p[3] <= '9')
        return GW_JS_ENEWER;
    if (len < 21 || memcmp(p, COMMIT_MAGIC, 4) != 0)
        return APNS_EINVAL;
    for (int i = 0; i < 4; i++) {
        s = s << 8 | p[5 + i];
        bl = bl << 8 | p[17 + i];
    }
    if (21 + (size_t)bl != len || (p[4] != JS_JOB_COMMITTED && p[4] != JS_JOB_ABORTED))
        return APNS_EINVAL;
    *st = p[4];
    *status = (int)s;
    if (body != NULL) {
        *body = malloc(bl + 1);
        if (*body == NULL)
            return APNS_ENOMEM;
        memcpy(*body, p + 21, bl);
        (*body)[bl] = '\0';
    }
    return 0;
}

/* Reads group's commit record: 0 with *found and, when found, *st,
 * *status, *body (may be NULL); or a mapped code (detail written). */
static int commit_read(gw_js *js, const char *group, int *found, int *st, int *status, char **body,
                       const char *what, char *detail, size_t dlen)
{
    uint8_t *val = NULL;
    size_t len = 0;
    int rc = gw_js_kv_get(js, js->kv[JS_JOBS], group, &val, &len, NULL, found, what, detail, dlen);

    if (rc != 0 || !*found)
        return rc;
    rc = commit_decode(val, len, st, status, body);
    if (rc == GW_JS_ENEWER) {
        snprintf(detail, dlen,
                 "queue jetstream: commit record %s has format version %d; this apnsd reads "
                 "version 1: upgrade this node",
                 group, gw_js_format_version(val, len));
        rc = GW_QUEUE_ESTORE;
    } else if (rc == APNS_EINVAL) {
        snprintf(detail, dlen, "queue jetstream: commit record %s is unreadable", group);
        rc = GW_QUEUE_ECORRUPT;
    }
    free(val);
    return rc;
}

/* Creates group's commit record (st, status, body). *conflict = 1 when it
 * exists already. 0 or a mapped code. */
static int commit_create(gw_js *js, const char *group, int st, int status, const char *body,
                         int *conflict, const char *what, char *detail, size_t dlen)
{
    size_t len = 0;
    uint8_t *enc = commit_encode(st, status, body, &len);
    int rc;

    if (enc == NULL) {
        snprintf(detail, dlen, "out of memory while writing a commit record");
        return APNS_ENOMEM;
    }
    rc = gw_js_kv_cas(js, js->bucket[JS_JOBS], group, enc, len, 0, 0, NULL, conflict, what, detail,
                      dlen);
    free(enc);
    return rc;
}

/* ---- reservations ---------------------------------------------------------------- */

/* The bucket: a KV bucket whose stream drops its oldest entries past max
 * (the per-key bound of the SQLite table, here for the fleet). */
static int ensure_bucket(gw_js *js, gw_js_idem *s, int64_t ttl_ms, uint64_t max, char *detail,
                         size_t dlen)
{
    char name[96], subj[96];
    const char *subjects[1] = {subj};
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode code = 0;
    natsStatus st;

    if (s->kv != NULL)
        return 0;
    snprintf(name, sizeof(name), "KV_%s", s->bucket);
    snprintf(subj, sizeof(subj), "$KV.%s.>", s->bucket);
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.MaxMsgsPerSubject = 1;
    sc.MaxMsgs = max > 0 && max < INT64_MAX ? (int64_t)max : -1;
    sc.MaxAge = ttl_ms * 1000000LL;
    sc.Duplicates = ttl_ms < 120000 ? ttl_ms * 1000000LL : 120LL * 1000000000LL;
    sc.Discard = js_DiscardOld;
    sc.AllowRollup = true;
    sc.DenyDelete = true;
    sc.AllowDirect = true;
    sc.Replicas = js->jo.replicas;
    sc.Storage = js_FileStorage;
    atomic_fetch_add(&js->op_read, 1);
    st = js_AddStream(&si, js->js, &sc, NULL, &code);
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK && code == JSStreamNameExistErr) /* else js_KeyValue says what failed */
        gw_queue__log(js->q, APNS_LOG_WARN,
                      "queue jetstream: bucket %s exists with another configuration (another "
                      "idempotency_ttl or idempotency_max?); using it as it is",
                      s->bucket);
    st = js_KeyValue(&s->kv, js->js, s->bucket);
    if (st != NATS_OK) {
        s->kv = NULL;
        return gw_js_error(js, st, 0, nats_GetLastError(NULL), "idempotency bucket setup", detail,
                           dlen);
    }
    return 0;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* H = hex SHA-256 of "<scope>\n<key>". */
static void key_digest(const gw_queue_req *r, char out[2 * GW_IDEM_HASH + 1])
{
    uint8_t d[GW_IDEM_HASH] = {0};
    unsigned n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, r->u.idem.scope, strlen(r->u.idem.scope)) != 1 ||
        EVP_DigestUpdate(c, "\n", 1) != 1 ||
        EVP_DigestUpdate(c, r->u.idem.key, strlen(r->u.idem.key)) != 1 ||
        EVP_DigestFinal_ex(c, d, &n) != 1)
        memset(d, 0, sizeof(d));
    EVP_MD_CTX_free(c);
    hex(d, sizeof(d), out);
}

static held *held_find(gw_js_idem *s, const char *h)
{
    for (size_t i = s->n_held; i-- > 0;)
        if (strcmp(s->held[i].h, h) == 0)
            return &s->held[i];
    return NULL;
}

static void held_drop(gw_js_idem *s, held *e)
{
    size_t i = (size_t)(e - s->held);

    memmove(&s->held[i], &s->held[i + 1], (s->n_held - i - 1) * sizeof(*e));
    s->n_held--;
}

static int held_add(gw_js_idem *s, const char *h, const char *group, const uint8_t *hash)
{
    held *e = held_find(s, h);

    if (e == NULL && s->n_held == HELD_MAX)
        held_drop(s, &s->held[0]); /* its finish never came: forget the oldest */
    if (e == NULL && s->n_held == s->cap_held) {
        size_t cap = s->cap_held ? 2 * s->cap_held : 64;
        held *v = realloc(s->held, cap * sizeof(*v));
        if (v == NULL)
            return APNS_ENOMEM;
        s->held = v;
        s->cap_held = cap;
    }
    if (e == NULL)
        e = &s->held[s->n_held++];
    snprintf(e->h, sizeof(e->h), "%s", h);
    snprintf(e->group, sizeof(e->group), "%s", group);
    memcpy(e->hash, hash, GW_IDEM_HASH);
    e->at = real_ms();
    return 0;
}

/* A request of this node still holds the key's reservation (its finish or
 * its group's commit has not come): a duplicate here waits for it, however
 * old the reservation looks, because the reservation table is keyed by the
 * key alone and a second reservation would take the first request's place
 * (it would commit the other's group). Only an entry older than this
 * (its finish lost) is replaced. */
static int64_t held_stale(const gw_js *js)
{
    return 10 * reservation_grace(js);
}

/* Reads reservation "<h>.<g>": 0 with *found (and, when found and val is
 * not NULL, *val malloc'd), or a mapped code. */
static int res_get(gw_js *js, gw_js_idem *s, const char *h, uint64_t g, uint8_t **val, size_t *len,
                   int *found, gw_queue_req *r)
{
    char key[2 * GW_IDEM_HASH + 24];
    uint8_t *v = NULL;
    size_t l = 0;
    int rc;

    snprintf(key, sizeof(key), "%s.%llu", h, (unsigned long long)g);
    rc = gw_js_kv_get(js, s->kv, key, &v, &l, NULL, found, "idempotency record", r->detail,
                      sizeof(r->detail));
    if (rc == 0 && *found && val != NULL) {
        *val = v;
        *len = l;
    } else {
        free(v);
    }
    return rc;
}

/* The last generation of h that exists, from g (which exists): generations
 * are created in order, each only once the one before was aborted, so a
 * gallop and a binary search over reads find it in O(log n). */
static int last_gen(gw_js *js, gw_js_idem *s, const char *h, uint64_t g, uint64_t *out,
                    gw_queue_req *r)
{
    uint64_t lo = g, hi, step = 1;
    int found = 0, rc;

    for (;;) {
        rc = res_get(js, s, h, lo + step, NULL, NULL, &found, r);
        if (rc != 0)
            return rc;
        if (!found || step >= (1u << 20))
            break;
        lo += step;
        step <<= 1;
    }
    hi = lo + step; /* lo exists, hi not */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        rc = res_get(js, s, h, mid, NULL, NULL, &found, r);
        if (rc != 0)
            return rc;
        if (found)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

/* Begin: see the design note. */
static int begin(gw_js *js, gw_js_idem *s, gw_queue_req *r)
{
    char h[2 * GW_IDEM_HASH + 1], key[2 * GW_IDEM_HASH + 24], group[JS_GROUP_MAX + 1];
    uint64_t g = 0;
    int rc, create = 1;

    rc = ensure_bucket(js, s, r->u.idem.ttl_ms, r->u.idem.max, r->detail, sizeof(r->detail));
    if (rc != 0)
        return rc;
    key_digest(r, h);
    {
        const held *mine = held_find(s, h);
        if (mine != NULL && real_ms() - mine->at < held_stale(js)) {
            r->u.idem.state = memcmp(mine->hash, r->u.idem.hash, GW_IDEM_HASH) == 0
                                  ? GW_IDEM_BUSY
                                  : GW_IDEM_MISMATCH;
            return 0;
        }
    }
    for (int tries = 0; tries < GEN_MAX; tries++) {
        uint8_t res[RES_LEN], *val = NULL, nonce[8];
        size_t len = 0;
        int conflict = 0, found = 0, st = 0, status = 0, same;
        char *body = NULL, nx[17];
        int64_t created;

        snprintf(key, sizeof(key), "%s.%llu", h, (unsigned long long)g);
        if (create) {
            put64(nonce, common_rng_seed());
            memcpy(res, RES_MAGIC, 4);
            memcpy(res + 4, r->u.idem.hash, GW_IDEM_HASH);
            put64(res + 4 + GW_IDEM_HASH, (uint64_t)real_ms());
            memcpy(res + 4 + GW_IDEM_HASH + 8, nonce, 8);
            rc = gw_js_kv_cas(js, s->bucket, key, res, sizeof(res), 0, 0, NULL, &conflict,
                              "idempotency record", r->detail, sizeof(r->detail));
            if (rc != 0)
                return rc;
            if (!conflict) { /* ours */
                hex(nonce, 8, nx);
                snprintf(group, sizeof(group), "i.%s.%s", h, nx);
                if (held_add(s, h, group, r->u.idem.hash) != 0) {
                    snprintf(r->detail, sizeof(r->detail), "out of memory");
                    return APNS_ENOMEM;
                }
                r->u.idem.state = GW_IDEM_NEW;
                return 0;
            }
        }
        create = 1;
        rc = res_get(js, s, h, g, &val, &len, &found, r);
        if (rc != 0)
            return rc;
        if (!found) /* expired meanwhile: create it again */
            continue;
        if (len != RES_LEN || memcmp(val, RES_MAGIC, 4) != 0) {
            snprintf(r->detail, sizeof(r->detail),
                     "queue jetstream: idempotency record %s of %s is %s", key, s->bucket,
                     len >= 4 && memcmp(val, "AJI", 3) == 0 ? "of a newer format: upgrade this node"
                                                            : "unreadable");
            free(val);
            return GW_QUEUE_ESTORE;
        }
        hex(val + 4 + GW_IDEM_HASH + 8, 8, nx);
        snprintf(group, sizeof(group), "i.%s.%s", h, nx);
        created = (int64_t)get64(val + 4 + GW_IDEM_HASH);
        same = memcmp(val + 4, r->u.idem.hash, GW_IDEM_HASH) == 0;
        free(val);
        rc = commit_read(js, group, &found, &st, &status, &body, "idempotency record", r->detail,
                         sizeof(r->detail));
        if (rc != 0)
            return rc;
        if (found && st == JS_JOB_COMMITTED) {
            if (!same) {
                free(body);
                r->u.idem.state = GW_IDEM_MISMATCH;
                return 0;
            }
            r->u.idem.state = GW_IDEM_REPLAY;
            r->u.idem.status = status;
            r->u.idem.body = body; /* freed with r */
            return 0;
        }
        free(body);
        if (!found && real_ms() - created < reservation_grace(js)) {
            r->u.idem.state = same ? GW_IDEM_BUSY : GW_IDEM_MISMATCH;
            return 0;
        }
        if (!found) {
            /* Its node died before answering: give its request up (exactly
             * one of its commit and this abort wins). */
            rc = commit_create(js, group, JS_JOB_ABORTED, 0, NULL, &conflict, "idempotency record",
                               r->detail, sizeof(r->detail));
            if (rc != 0)
                return rc;
            if (conflict) { /* it committed (or was aborted) meanwhile: look again */
                create = 0;
                continue;
            }
            gw_queue__log(js->q, APNS_LOG_WARN,
                          "queue jetstream: idempotency key reservation %s was never answered "
                          "(its node stopped); given up, the key is stored anew",
                          key);
        }
        /* Aborted: the key is free at the generation after the last one. */
        {
            uint64_t last = g;
            rc = last_gen(js, s, h, g, &last, r);
            if (rc != 0)
                return rc;
            if (last == g) {
                g++;
            } else {
                g = last; /* look at the latest attempt */
                create = 0;
            }
        }
    }
    snprintf(r->detail, sizeof(r->detail),
             "queue jetstream: idempotency key %s of %s: %d attempts raced with other requests "
             "with the same key",
             key, s->bucket, GEN_MAX);
    return GW_QUEUE_ESTORE;
}

/* A finish outside a group: status 0 releases the reservation (aborts its
 * group: a retry runs anew at once), else stores the answer as its commit. */
static int finish(gw_js *js, gw_js_idem *s, gw_queue_req *r)
{
    char h[2 * GW_IDEM_HASH + 1];
    held *e;
    int conflict = 0, rc;

    key_digest(r, h);
    e = held_find(s, h);
    if (e == NULL)
        return 0; /* not reserved here (forgotten): it is given up after the grace */
    rc = commit_create(js, e->group, r->u.idem.status > 0 ? JS_JOB_COMMITTED : JS_JOB_ABORTED,
                       r->u.idem.status, r->u.idem.body, &conflict, "idempotency record", r->detail,
                       sizeof(r->detail));
    /* The request is over either way: when its record could not be written
     * the reservation is given up after the grace, as a dead node's. */
    held_drop(s, e);
    return rc;
}

int gw_js_op_idem(gw_js *js, gw_queue_req *r)
{
    gw_js_idem *s = state(js);

    if (s == NULL) {
        snprintf(r->detail, sizeof(r->detail), "out of memory");
        return APNS_ENOMEM;
    }
    return r->u.idem.finish ? finish(js, s, r) : begin(js, s, r);
}

/* ---- groups (js_submit.c) ---------------------------------------------------------- */

/* v[i..*end) is the run of v[i]'s group (contiguous: posted while the
 * worker was held). */
static size_t run_end(gw_queue_req **v, size_t n, size_t i)
{
    size_t j = i + 1;

    while (v[i]->group != 0 && j < n && v[j]->group == v[i]->group)
        j++;
    return j;
}

void gw_js_groups_fail(gw_queue_req **v, size_t n)
{
    for (size_t i = 0, j; i < n; i = j) {
        const gw_queue_req *bad = NULL;

        j = run_end(v, n, i);
        for (size_t k = i; k < j && bad == NULL; k++)
            if (v[k]->err != 0)
                bad = v[k];
        for (size_t k = i; bad != NULL && k < j; k++)
            gw_queue__fail(v[k], bad->err, bad->detail);
    }
}

/* 1 when every submit of v[i..j) is a job of one pack (queue_pack.c): its
 * pack header, created last, commits them all at once. */
static int one_pack(gw_queue_req **v, size_t i, size_t j)
{
    char first[GW_JOB_ID_LEN + 1] = "", pack[GW_JOB_ID_LEN + 1];

    for (size_t k = i; k < j; k++) {
        if (v[k]->kind != GW_QUEUE_REQ_SUBMIT)
            continue;
        if (gw_queue__pack_of(v[k]->u.submit.f.job_id, pack) < 0)
            return 0;
        if (first[0] == '\0')
            memcpy(first, pack, sizeof(first));
        else if (strcmp(first, pack) != 0)
            return 0;
    }
    return first[0] != '\0';
}

void gw_js_groups_name(gw_js *js, gw_queue_req **v, size_t n, char (*group)[JS_GROUP_MAX + 1])
{
    gw_js_idem *s = state(js);

    for (size_t i = 0, j; i < n; i = j) {
        const gw_queue_req *fin = NULL;
        size_t subs = 0;
        char name[JS_GROUP_MAX + 1] = "";

        j = run_end(v, n, i);
        for (size_t k = i; k < j; k++) {
            group[k][0] = '\0';
            if (v[k]->kind == GW_QUEUE_REQ_SUBMIT)
                subs++;
            else if (v[k]->kind == GW_QUEUE_REQ_IDEM)
                fin = v[k];
        }
        if (v[i]->group == 0 || (fin == NULL && (subs < 2 || one_pack(v, i, j))))
            continue; /* one job, or one pack: its header is its commit record */
        if (fin != NULL) {
            char h[2 * GW_IDEM_HASH + 1];
            const held *e;
            key_digest(fin, h);
            e = s != NULL ? held_find(s, h) : NULL;
            if (e == NULL) {
                for (size_t k = i; k < j; k++)
                    gw_queue__fail(v[k], GW_QUEUE_ESTORE,
                                   "queue jetstream: the request's idempotency key is not "
                                   "reserved by this node");
                continue;
            }
            snprintf(name, sizeof(name), "%s", e->group);
        } else {
            snprintf(name, sizeof(name), "g.%llx.%llu", (unsigned long long)js->node,
                     (unsigned long long)v[i]->group);
        }
        for (size_t k = i; k < j; k++)
            memcpy(group[k], name, sizeof(name));
    }
}

void gw_js_groups_commit(gw_js *js, gw_queue_req **v, size_t n, char (*group)[JS_GROUP_MAX + 1])
{
    gw_js_idem *s = state(js);
    long *slot = malloc((n ? n : 1) * sizeof(*slot));

    gw_js_groups_fail(v, n);
    if (slot == NULL) {
        for (size_t i = 0; i < n; i++)
            if (group[i][0] != '\0')
                gw_queue__fail(v[i], APNS_ENOMEM, "out of memory while committing a request");
        return;
    }
    gw_js_pg_begin(js);
    for (size_t i = 0, j; i < n; i = j) {
        const gw_queue_req *fin = NULL;
        char subj[160];
        uint8_t *enc;
        size_t len = 0;

        j = run_end(v, n, i);
        slot[i] = -1;
        if (group[i][0] == '\0' || v[i]->err != 0)
            continue;
        for (size_t k = i; k < j; k++)
            if (v[k]->kind == GW_QUEUE_REQ_IDEM)
                fin = v[k];
        enc = commit_encode(JS_JOB_COMMITTED, fin != NULL ? fin->u.idem.status : 0,
                            fin != NULL ? fin->u.idem.body : NULL, &len);
        if (enc == NULL) {
            for (size_t k = i; k < j; k++)
                gw_queue__fail(v[k], APNS_ENOMEM, "out of memory while committing a request");
            continue;
        }
        snprintf(subj, sizeof(subj), "$KV.%s.%s", js->bucket[JS_JOBS], group[i]);
        slot[i] = gw_js_pg_add(js, subj, enc, len, NULL, JS_EXPECT_NONE);
        free(enc);
    }
    gw_js_pg_wait(js);
    for (size_t i = 0, j; i < n; i = j) {
        const gw_js_pub *p;
        char detail[384];
        int err = 0;

        j = run_end(v, n, i);
        if (group[i][0] == '\0' || v[i]->err != 0)
            continue;
        if (slot[i] < 0) {
            err = (int)slot[i];
            gw_js_error(js, NATS_ERR, 0, NULL, "submit (request commit)", detail, sizeof(detail));
        } else if ((p = gw_js_pg_get(js, (size_t)slot[i]))->st == NATS_OK) {
            for (size_t k = i; s != NULL && k < j; k++) {
                char h[2 * GW_IDEM_HASH + 1];
                held *e;
                if (v[k]->kind != GW_QUEUE_REQ_IDEM)
                    continue;
                key_digest(v[k], h);
                if ((e = held_find(s, h)) != NULL)
                    held_drop(s, e);
            }
            continue;
        } else if (p->code == JSStreamWrongLastSequenceErr) {
            err = GW_QUEUE_EIO;
            snprintf(detail, sizeof(detail),
                     "queue jetstream %s: request %s took longer than the commit grace time and "
                     "was given up by another node during submit",
                     js->servers_text, group[i]);
        } else {
            err = gw_js_error(js, p->st, p->code, p->text, "submit (request commit)", detail,
                              sizeof(detail));
        }
        for (size_t k = i; k < j; k++)
            gw_queue__fail(v[k], err, detail);
    }
    free(slot);
}

/* ---- status reads (js_status.c) ------------------------------------------------------- */

int gw_js_group_status(gw_js *js, const char *group, int64_t age_ms, char *detail, size_t dlen)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int found = 0, st = 0, status = 0, conflict = 0;
        int rc = commit_read(js, group, &found, &st, &status, NULL, "status (request commit)",
                             detail, dlen);

        if (rc != 0)
            return rc < -1 ? rc : GW_QUEUE_ESTORE;
        if (found)
            return st == JS_JOB_COMMITTED;
        if (age_ms < gw_js_commit_grace_ms(js))
            return 0; /* its request is still being stored: not answered yet */
        /* Never committed (its chunks may never have been stored, so no
         * lease settles it): settled here with the lease path's create,
         * so the answer cannot change after a 404. */
        rc = commit_create(js, group, JS_JOB_ABORTED, 0, NULL, &conflict, "status (request abort)",
                           detail, dlen);
        if (rc != 0)
            return rc < -1 ? rc : GW_QUEUE_ESTORE;
        if (!conflict)
            return 0;
    }
    return 0;
}

/* ---- the lease thread ---------------------------------------------------------------- */

/* An orphan chunk's job can never be sent: its header (written before the
 * request's commit record, so it says committed) is rewritten as aborted
 * with a compare-and-set on its revision, so a status read answers "no
 * such job" (404, as SQLite, which never stores a failed request's jobs)
 * instead of pending until retention; a cancel and the lease of the job's
 * other chunks read it the same way. 0 (also when the header is missing
 * or aborted already), or a mapped code (detail written): the chunk is
 * then held and looked at again. */
static int job_abort(gw_js *js, const gw_js_chunk_msg *c, char *detail, size_t dlen)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        uint8_t *val = NULL, *enc = NULL;
        size_t len = 0, elen = 0;
        uint64_t rev = 0;
        int found = 0, conflict = 0, rc;
        gw_js_job j;

        rc = gw_js_kv_get(js, js->kv[JS_JOBS], c->job_id, &val, &len, &rev, &found,
                          "lease (orphan job)", detail, dlen);
        if (rc != 0 || !found)
            return rc;
        memset(&j, 0, sizeof(j));
        rc = gw_js_job_decode(&j, val, len);
        free(val);
        if (rc != 0 || j.state != JS_JOB_COMMITTED) {
            gw_js_job_cleanup(&j);
            return 0; /* aborted already, or not ours to judge (a newer format) */
        }
        j.state = JS_JOB_ABORTED;
        rc = gw_js_job_encode(&j, &enc, &elen);
        gw_js_job_cleanup(&j);
        if (rc != 0) {
            snprintf(detail, dlen, "out of memory while dropping an orphan");
            return APNS_ENOMEM;
        }
        rc = gw_js_kv_cas(js, js->bucket[JS_JOBS], c->job_id, enc, elen, rev, 0, NULL, &conflict,
                          "lease (orphan job)", detail, dlen);
        free(enc);
        if (rc != 0 || !conflict)
            return rc;
    }
    return 0; /* it keeps moving: the next chunk of the job tries again */
}

/* Drops an orphan chunk: its job's header is marked aborted, then it is
 * counted. -1, or a mapped code (the chunk is held, looked at again). */
static int orphan(gw_js *js, const gw_js_chunk_msg *c, char *detail, size_t dlen)
{
    int rc = job_abort(js, c, detail, dlen);

    if (rc != 0)
        return rc < -1 ? rc : GW_QUEUE_ESTORE;
    atomic_fetch_add(&js->q->orphans, 1);
    return -1;
}

int gw_js_group_committed(gw_js *js, const gw_js_chunk_msg *c, int64_t stored_ms, char *detail,
                          size_t dlen)
{
    gw_js_idem *s = state(js);
    char group[JS_GROUP_MAX + 1];

    if (s == NULL || s->groups == NULL) {
        snprintf(detail, dlen, "out of memory while leasing");
        return APNS_ENOMEM;
    }
    snprintf(group, sizeof(group), "%.*s", (int)c->group_len, c->group);
    for (size_t i = 0; i < GROUP_CACHE_N; i++)
        if (strcmp(s->groups[i], group) == 0)
            return 1;
    for (int attempt = 0; attempt < 3; attempt++) {
        int found = 0, st = 0, status = 0, conflict = 0;
        int rc = commit_read(js, group, &found, &st, &status, NULL, "lease (request commit)",
                             detail, dlen);

        if (rc != 0)
            return rc < -1 ? rc : GW_QUEUE_ESTORE;
        if (found && st == JS_JOB_COMMITTED) {
            snprintf(s->groups[s->groups_pos], sizeof(s->groups[0]), "%s", group);
            s->groups_pos = (s->groups_pos + 1) % GROUP_CACHE_N;
            return 1;
        }
        if (found) /* aborted: an orphan */
            return orphan(js, c, detail, dlen);
        if (real_ms() - stored_ms < gw_js_commit_grace_ms(js))
            return 0; /* its request is still being stored: held */
        rc = commit_create(js, group, JS_JOB_ABORTED, 0, NULL, &conflict, "lease (request abort)",
                           detail, dlen);
        if (rc != 0)
            return rc < -1 ? rc : GW_QUEUE_ESTORE;
        if (!conflict) {
            gw_queue__log(js->q, APNS_LOG_WARN,
                          "queue jetstream: request %s was never committed (cut off before its "
                          "commit record): its stored chunks are dropped as orphans",
                          group);
            return orphan(js, c, detail, dlen);
        }
    }
    return 0;
}

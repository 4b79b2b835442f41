/*
 * js_int.h - internals of the JetStream queue backend, shared by
 * queue_jetstream.c (the ops table, the batch, open/free) and the js_*.c
 * files (one per concern; all of their NATS work runs on the queue's
 * storage and lease threads).
 *
 * Ownership is the SQLite backend's (store_sqlite.h): the front end builds
 * a request (gw_queue_req, internal/queue_backend.h) on the loop thread,
 * a batch runs it here on a storage thread, the front end delivers and
 * frees it. A leased chunk has two halves: the gw_chunk the dispatcher owns
 * (loop thread) and a gw_js_lease this backend owns (the JetStream message,
 * the durable per-token record and its KV revision), joined by
 * gw_chunk.priv.handle.
 */
#ifndef GW_JS_INT_H
#define GW_JS_INT_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "queue_backend.h"
#include "queue_jetstream.h"

#define JS_REASON_MAX 47

/*
 * Format versions. Every record and chunk message starts with a 4-byte
 * magic: "AJ", its kind (R outcome record, J job, C chunk, D dead token,
 * T provider token) and its format version as one digit. This apnsd writes
 * version JS_FORMAT_VERSION and reads every version up to it; a record of a
 * NEWER version decodes to GW_JS_ENEWER (never to garbage, never to
 * APNS_EINVAL), and the backend then leaves it alone: a chunk message is
 * not terminated but handed back for an upgraded node, an outcome record is
 * not rewritten (the request fails with GW_QUEUE_ESTORE and a detail naming
 * both versions). Nodes are upgraded one by one (docs/operations.md); a
 * format change must keep JS_FORMAT_VERSION until every node reads the new
 * one.
 */
#define JS_FORMAT_VERSION 1
/* The chunk message reads versions up to 3, the job header up to 3:
 * version 2 adds a channel publish's channel id. It is written only for
 * channel publishes (device pushes stay version 1), so a node of version 1
 * hands back those chunks alone (GW_JS_ENEWER) and sends every device push.
 * Version 3 (chunk only) adds the key of the request's commit record
 * (js_idem.c): written only for requests of several jobs or with an
 * idempotency key, which a node of version 2 hands back, as it cannot
 * tell whether their request was committed. */
#define JS_CHUNK_FORMAT   3
#define JS_CHUNK_FORMAT_S "3"
/* Version 3 (job header only) adds the key of the request's commit record,
 * written only for the jobs of a request that has one: a status read asks
 * that record whether the job was ever committed (js_status.c). A node of
 * version 2 cannot read those headers and answers "no such job" for them
 * until it is upgraded (docs/operations.md). */
#define JS_JOB_FORMAT_S   "3"
#define JS_GROUP_MAX      96 /* bytes of a commit record's key (js_idem.c) */
/* The outcome record reads versions up to 2: version 2 (the same layout)
 * may hold GW_TOKEN_CANCELLED. It is written only for a record with a
 * cancelled token, so a node of version 1 leaves those records alone
 * (GW_JS_ENEWER) and reads every other one. */
#define JS_REC_FORMAT     2
#define JS_REC_FORMAT_S   "2"
#define GW_JS_ENEWER      (-1101) /* below every APNS_E* and GW_QUEUE_E* code */
/* The format version of a record (its 4th byte as a digit), 0 when none. */
int gw_js_format_version(const uint8_t *p, size_t len);

/* ---- the durable per-chunk record (KV <P>_OUT, key "<job>.<seq>") ---- */

typedef struct gw_js_rej {
    uint32_t idx;
    int16_t status;
    int64_t apns_ts;
    char reason[JS_REASON_MAX + 1];
} gw_js_rej;

typedef struct gw_js_rec {
    uint32_t n;
    uint32_t rel;      /* clean hand-backs (release with open tokens, deferrals) */
    int64_t held_at;   /* ms: a holder recorded answers; 0 after a hand-back */
    int64_t done_ms;   /* ms: when the last open token became final; 0 while open */
    uint8_t *state;    /* n */
    uint8_t *attempts; /* n */
    int64_t *retry_at; /* n */
    gw_js_rej *rej;
    size_t n_rej, cap_rej;
} gw_js_rec;

int gw_js_rec_init(gw_js_rec *r, uint32_t n);
void gw_js_rec_cleanup(gw_js_rec *r);
/* Encodes into a malloc'd buffer. Returns 0 or APNS_ENOMEM. */
int gw_js_rec_encode(const gw_js_rec *r, uint8_t **out, size_t *len);
/* Decodes (r initialised by this call). Returns 0, APNS_EINVAL, APNS_ENOMEM. */
int gw_js_rec_decode(gw_js_rec *r, const uint8_t *p, size_t len);
/* Counts: c[0..3] accepted, rejected, expired, failed; *retry; *open
 * (pending + retry); *min_retry (0 when none). Cancelled tokens are the
 * rest (n minus those). */
void gw_js_rec_counts(const gw_js_rec *r, uint64_t c[4], uint64_t *retry, uint64_t *open,
                      int64_t *min_retry);
/* 1 when a token of r in [off, off + n) is open (not final), else 0. */
int gw_js_rec_open_in(const gw_js_rec *r, uint32_t off, uint32_t n);
/* The tokens [off, off + n) of src as a record of their own (a pack
 * member's part; its rejections renumbered). 0, APNS_EINVAL (out of
 * range), APNS_ENOMEM. */
int gw_js_rec_slice(const gw_js_rec *src, uint32_t off, uint32_t n, gw_js_rec *out);
/* Merges `theirs` (a concurrent writer's) into `ours`: a final state wins
 * over a non-final one (the first final answer stays), retry over pending. */
void gw_js_rec_merge(gw_js_rec *ours, const gw_js_rec *theirs);
/* Applies one outcome (gw_queue__token_apply's rules). Returns 1 when the
 * token became final. */
int gw_js_rec_apply(gw_js_rec *r, uint32_t idx, int state, int status, const char *reason,
                    int64_t apns_ts, int64_t retry_at);
const gw_js_rej *gw_js_rec_rej(const gw_js_rec *r, uint32_t idx);

/* ---- the job header (KV <P>_JOBS, key "<job>"): the commit record ---- */

enum { JS_JOB_COMMITTED = 1, JS_JOB_ABORTED = 2 };

typedef struct gw_js_job {
    int state; /* JS_JOB_* */
    char id[GW_JOB_ID_LEN + 1];
    char apns_id[GW_JOB_ID_LEN + 1];
    char app[128];
    uint32_t n, n_chunks, per; /* tokens, chunks, tokens per chunk */
    int64_t created, send_at;
    /* Small jobs: the packed tokens, for per-token status. */
    uint8_t *tokens;
    size_t tokens_len;
    char channel[APNS_CHANNEL_ID_MAX + 1]; /* a channel publish; "" for tokens (version 2) */
    char group[JS_GROUP_MAX + 1];          /* its request's commit record; "" none (version 3) */
    /* Not stored: gw_js_job_read of a packed job (queue_pack.c) */
    int packed;        /* read from its pack's header */
    uint32_t pack_off; /* its first token in the pack's record "<pack>.0" */
} gw_js_job;

int gw_js_job_encode(const gw_js_job *j, uint8_t **out, size_t *len);
int gw_js_job_decode(gw_js_job *j, const uint8_t *p, size_t len); /* tokens malloc'd */
void gw_js_job_cleanup(gw_js_job *j);

/* ---- the chunk message (stream <P>_CHUNKS, subject <P>.chunk.<n>) ---- */

/* Decoded view: pointers into the message data (not NUL-terminated). */
typedef gw_queue_chunk_fields gw_js_chunk_msg;

int gw_js_chunk_encode(const gw_js_chunk_msg *c, uint8_t **out, size_t *len);
int gw_js_chunk_decode(gw_js_chunk_msg *c, const uint8_t *p, size_t len);

/* ---- packs (queue_pack.c; js_submit.c): the small jobs of one request
 * in one chunk message (stream <P>_CHUNKS, Msg-Id "<pack>.0") and one
 * header (KV <P>_JOBS, key "<pack>"), with one outcome record (KV <P>_OUT,
 * key "<pack>.0") whose tokens are the members' in order ---- */
#define JS_PACK_MAGIC    "AJC4"
#define JS_PACKHDR_MAGIC "AJK1"
/* The pack's key "<pack>.0" (its record, its message's Msg-Id) from the
 * id of any of its jobs (queue_pack.c); an id that is not packed is taken
 * as the pack's own. */
void gw_js_pack_key(const char *job_id, char out[GW_JOB_ID_LEN + 3]);
/* 1 when p is a pack message (its magic), else 0. */
int gw_js_is_pack(const uint8_t *p, size_t len);
/* Encodes members v[0..n) (chunk messages of seq 0, first 0, all naming
 * their request's commit record, or none when the pack's header is the
 * commit) into one message. 0 or APNS_ENOMEM. */
int gw_js_pack_encode(const gw_js_chunk_msg *v, size_t n, uint8_t **out, size_t *len);
/* Decodes a pack message: *v malloc'd (free it), pointing into p. 0,
 * APNS_EINVAL, APNS_ENOMEM, or GW_JS_ENEWER (a member or the pack of a
 * newer version). */
int gw_js_pack_decode(const uint8_t *p, size_t len, gw_js_chunk_msg **v, size_t *n);
/* The pack header: the state (JS_JOB_*) and the members' job headers. */
int gw_js_packhdr_encode(int state, const gw_js_job *v, size_t n, uint8_t **out, size_t *len);
/* Decodes every member of a pack header: *v malloc'd (gw_js_job_cleanup
 * each, then free), in the pack's token order. 0, APNS_EINVAL,
 * APNS_ENOMEM, GW_JS_ENEWER. */
int gw_js_packhdr_jobs(const uint8_t *p, size_t len, int *state, gw_js_job **v, size_t *n);
/* Finds member id in a pack header: 0 with *state, *j (gw_js_job_cleanup)
 * and *off (its first token in the pack's record); GW_QUEUE_ENOTFOUND (no
 * such member), APNS_EINVAL, APNS_ENOMEM, GW_JS_ENEWER. */
int gw_js_packhdr_find(const uint8_t *p, size_t len, const char *id, int *state, gw_js_job *j,
                       uint32_t *off);

/* ---- the dead-token entry (KV <P>_DEAD, key gw_js_dead_key) and the fleet's
 * provider token (KV <P>_TOKENS, key "<team>.<key id>"): encode into a
 * malloc'd buffer (0 or APNS_ENOMEM); decode: 0 or APNS_EINVAL ---- */

int gw_js_dead_encode(const gw_dead_token *d, uint8_t **out, size_t *len);
int gw_js_dead_decode(gw_dead_token *d, const uint8_t *p, size_t len);
int gw_js_tok_encode(int64_t issued, const char *jwt, uint8_t **out, size_t *len);
int gw_js_tok_decode(const uint8_t *p, size_t len, int64_t *issued, char *jwt, size_t jwt_len);

/* ---- the backend ---- */

typedef struct gw_js_lease gw_js_lease;

/* One job's part of a leased message: what gw_chunk.priv.handle points at.
 * A chunk message has one (gw_js_lease.one); a pack (queue_pack.c) one per
 * member job, each handed out as a gw_chunk of its own, all sharing the
 * lease: its message, its record (the member's tokens at off .. off+n)
 * and its hand-back, made when the last member handed out is released. */
typedef struct gw_js_member {
    gw_js_lease *l;
    uint32_t off, n; /* its tokens in l->rec */
    char job_id[GW_JOB_ID_LEN + 1];
    int out; /* handed out, not released yet */
} gw_js_member;

struct gw_js_lease {
    common_list node; /* gw_js.leases or gw_js.waiting */
    natsMsg *msg;
    uint64_t sseq; /* stream sequence of the chunk message */
    char key[GW_JOB_ID_LEN + 16];
    uint64_t rev;        /* KV revision of rec (0: not stored yet) */
    gw_js_rec rec;       /* durable view (as of rev) plus applied outcomes */
    int dirty;           /* rec has changes not yet stored */
    int queued;          /* gw_js_op_outcomes: on its list of leases to store */
    uint32_t new_finals; /* tokens made final in rec, not yet stored */
    int releasing;
    int64_t not_before;
    int64_t progress_ms; /* mono: last lease, record or touch */
    int64_t wpi_ms;      /* mono: last in-progress ack */
    int64_t send_at;
    uint32_t first;
    char app[128];
    int lost;           /* the in-progress ack failed: another node may have it */
    int lapsed;         /* its lease may have lapsed (an in-progress ack failed or came
                           ack_wait late): the release reads the record back first */
    int64_t hold_until; /* mono: on gw_js.waiting, a lapsed lease held until then
                           (js_lease.c, Lapsed leases); 0: a job not committed yet */
    int err;            /* the last batch's failure to store rec, with its sentence */
    char detail[384];
    gw_js_member one;  /* a chunk message's member */
    gw_js_member *mem; /* &one, or a pack's members (malloc'd) */
    uint32_t n_mem;    /* members */
    uint32_t n_out;    /* members handed out and not released */
    int pack;          /* a pack message (key "<pack>.0") */
};

/* One asynchronous publish of a group (js_conn.c). */
typedef struct gw_js_pub {
    int done;
    natsStatus st;
    jsErrCode code;
    char text[96];
    uint64_t seq;
} gw_js_pub;

/* The on_work notice box: outlives the backend until the subscription is
 * complete, so the NATS delivery thread never sees freed memory. */
/* Which chunk consumers new work is on: a request's `work` (gw_queue_req)
 * and the P.work notices ("<node hex> <bits>"; a notice of an earlier
 * release has no bits and means both). */
#define JS_WORK_FIRST 1 /* jobs' first chunks (P.first.*) */
#define JS_WORK_REST  2 /* later chunks (P.chunk.*) */
#define JS_WORK_ANY   (JS_WORK_FIRST | JS_WORK_REST)

typedef struct gw_js_notice_box {
    pthread_mutex_t mu;
    gw_queue *q; /* set once the queue runs; NULL once closing */
    uint64_t node;
    atomic_int *hint; /* gw_js.hint */
} gw_js_notice_box;

/* The webhook outbox's state (js_outbox.c): per app, the consumer's pull
 * subscription and the messages fetched and not yet acknowledged. Storage
 * thread. */
typedef struct gw_js_outbox gw_js_outbox;

/* Idempotency records and request commit records (js_idem.c). */
typedef struct gw_js_idem gw_js_idem;

/* Redelivered chunks a node holds once before sending (js_lease.c,
 * "Lapsed leases"). */
#define JS_PUT_OFF_MAX      4096
#define JS_PUT_OFF_DELAY_MS 3000

/* The KV buckets, indexes of gw_js.bucket and gw_js.kv. */
enum { JS_JOBS, JS_OUT, JS_DEAD, JS_TOK, JS_CHAN, JS_CANCEL, JS_BUCKETS };

typedef struct gw_js {
    gw_queue *q; /* the front end; q->o: the options */
    gw_queue_jetstream_opts jo;
    const char **servers; /* in strings */
    char *servers_text;   /* "nats://a:4222, nats://b:4222" for details; in strings */
    char *strings;        /* one block: copies of jo's strings (copy_strings) */
    char prefix[48];
    char stream[64], consumer[64], subj_chunk[64], subj_work[64];
    char consumer_first[64], subj_first[64]; /* jobs' first chunks (js_lease.c: leased first) */
    char bucket[JS_BUCKETS][64]; /* <P>_JOBS, <P>_OUT, <P>_DEAD, <P>_TOKENS, <P>_CHANNELS,
                                    <P>_CANCEL */
    uint64_t node;

    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *pull;       /* later chunks (P.chunk.*) */
    natsSubscription *pull_first; /* first chunks (P.first.*) */
    unsigned lease_turn;          /* lease thread: a one-chunk lease's turn (js_lease.c) */
    size_t lease_msgs;            /* lease thread: messages handed out by the running lease */
    atomic_int hint;              /* JS_WORK_*: consumers that may hold chunks (js_lease.c) */
    int64_t look_due;             /* lease thread: mono ms of the next unhinted look at both */
    natsSubscription *work_sub;
    gw_js_notice_box *box;
    kvStore *kv[JS_BUCKETS];
    pthread_mutex_t lease_mu; /* leases: the queue and lease threads */

    /* publish groups (js_conn.c): written by the ack handler thread */
    pthread_mutex_t pg_mu;
    pthread_cond_t pg_cv;
    gw_js_pub *pg;
    size_t pg_n, pg_cap, pg_done;
    uint64_t pg_gen;
    int nc_closed; /* pg_mu: the connection's closed callback ran */

    atomic_uint_least64_t op_pub, op_ack, op_read, op_fetch;
    atomic_int closing; /* no disconnect log while closing */

    /* leases handed out (lease_mu): linked by the lease thread, unlinked
     * by the queue thread at release; their contents are the queue
     * thread's */
    common_list leases;
    /* lease thread only */
    common_list waiting;                  /* fetched, job not committed yet: held, not handed out */
    char (*committed)[GW_JOB_ID_LEN + 1]; /* ring of job ids known committed */
    size_t n_committed, committed_pos;
    /* Stream sequences of redelivered chunks this node put off once
     * (js_lease.c, "Lapsed leases"): a ring, the oldest forgotten. */
    uint64_t put_off[JS_PUT_OFF_MAX];
    size_t put_off_pos;
    /* queue thread only */
    int64_t depth_due, hb_due; /* mono ms */
    common_list held_back;     /* a paused app's hand-backs, kept until due (js_held.c) */
    size_t n_held_back;
    int64_t probe_due; /* mono ms: the next write probe while failing (js_probe.c) */
    gw_js_outbox *ob;  /* the webhook outbox (js_outbox.c) */
    gw_js_idem *idem;  /* js_idem.c: reservations (queue thread), committed requests (lease) */
    struct gw_js_cancels *cancels; /* jobs known cancelled (js_cancel.c) */
} gw_js;

/* A pipelined publish group waits for its acks this long past op_timeout
 * (gw_js_pg_wait): the library's own margin to report the timeouts. */
#define JS_PG_SLACK_MS 2000

/* The commit grace (docs/queue.md): how long after its chunks were stored a
 * request may still be committed; past it a node that finds no commit
 * record creates it as aborted (js_lease.c job_committed, js_idem.c,
 * js_status.c). A submit stores its chunks, then its job headers, then its
 * commit record, each step waiting at most op_timeout + JS_PG_SLACK_MS, so
 * a submit not committed within three such waits never will be; 5 s more
 * for the queue thread's own delay and clocks between nodes. (Giving up a
 * slow submit loses nothing: exactly one of its commit and the abort is
 * created, and its client gets 503; this bound only keeps that rare.) */
static inline int64_t gw_js_commit_grace_ms(const gw_js *js)
{
    return 3 * (js->jo.op_timeout_ms + JS_PG_SLACK_MS) + 5000;
}

/* ---- js_conn.c: connection, setup, errors, publish groups ---- */
int gw_js_connect(gw_js *js, char *detail, size_t detail_len);
void gw_js_disconnect(gw_js *js);
/* Maps a NATS status (and JetStream error code) to a GW_QUEUE_* / APNS_*
 * code and writes "queue jetstream SERVERS: TEXT (NATS_X[, jetstream error
 * N]) during WHAT". */
int gw_js_error(gw_js *js, natsStatus s, jsErrCode code, const char *text, const char *what,
                char *detail, size_t detail_len);
/* 0 when connected; else the error (written to detail). */
int gw_js_check_conn(gw_js *js, const char *what, char *detail, size_t detail_len);
/* Tells the other nodes that new work is due (core NATS on P.work).
 * work: JS_WORK_* bits, which consumers have it. */
void gw_js_notify_work(void *be, int work);

void gw_js_pg_begin(gw_js *js);
/* Adds an async publish; returns its slot index or a negative code (the
 * slot is then already marked done with the error). expect: 0 = none,
 * JS_EXPECT_NONE = the subject must have no message, else the subject's
 * last sequence. */
#define JS_EXPECT_NONE UINT64_MAX
long gw_js_pg_add(gw_js *js, const char *subj, const void *data, size_t len, const char *msg_id,
                  uint64_t expect);
/* Waits until every slot is done (each has its own deadline). */
void gw_js_pg_wait(gw_js *js);
const gw_js_pub *gw_js_pg_get(gw_js *js, size_t slot);

/* KV helpers returning mapped codes. get: *found 0/1; value malloc'd. */
int gw_js_kv_get(gw_js *js, kvStore *kv, const char *key, uint8_t **val, size_t *len, uint64_t *rev,
                 int *found, const char *what, char *detail, size_t dlen);
/* The same from the bucket stream's leader (never a lagging replica):
 * for reads that decide whether tokens are still open. */
int gw_js_kv_get_leader(gw_js *js, const char *bucket, const char *key, uint8_t **val, size_t *len,
                        uint64_t *rev, int *found, const char *what, char *detail, size_t dlen);
/* Compare-and-set write: rev 0 = create; else rev is the key's revision,
 * or with whole_stream the bucket stream's last sequence. *conflict = 1
 * when it moved (no error then). */
int gw_js_kv_cas(gw_js *js, const char *bucket, const char *key, const void *val, size_t len,
                 uint64_t rev, int whole_stream, uint64_t *new_rev, int *conflict, const char *what,
                 char *detail, size_t dlen);

/*
 * A scan of a bucket's stream: each message on `filter` after sequence
 * `after` but KV delete markers goes to visit (1 = stop). An ordered
 * consumer reads it (from stream time start_ms when > 0; only each key's
 * latest value with last_per_subject); with `direct`, or when the consumer
 * fails while connected (an ephemeral consumer may sit on a server that
 * was killed: nats-server 2.9 takes minutes to notice, and it never
 * answers; tests/integration/gw_fleet.c kill_nats), direct gets read it,
 * one per message, from any live replica: visit(ud, NULL, 0) first says
 * "start again". Returns 0 or a mapped code ("... during WHAT").
 */
typedef struct gw_js_scan {
    const char *stream, *filter, *what;
    uint64_t after;
    int64_t start_ms;
    int last_per_subject, direct;
    int (*visit)(void *ud, natsMsg *m, uint64_t seq);
    void *ud;
} gw_js_scan;
int gw_js_scan_run(gw_js *js, const gw_js_scan *sc, char *detail, size_t dlen);

/* ---- operations (the queue's storage and lease threads) ---- */
int64_t gw_js_idle(void *be); /* js_lease.c: heartbeats, depth */

void gw_js_op_submit_batch(gw_js *js, gw_queue_req **v, size_t n); /* js_submit.c */
int gw_js_op_lease(gw_js *js, gw_queue_req *r);                    /* js_lease.c */
void gw_js_op_outcomes(gw_js *js, gw_queue_req **v, size_t n);     /* js_lease.c: record+release */
int gw_js_op_touch(gw_js *js, gw_queue_req *r);                    /* js_lease.c */
void gw_js_forget_leases(gw_js *js);                               /* js_lease.c */

/* js_lease.c: unlinks (when linked) and frees a lease. */
void gw_js_lease_free(gw_js_lease *l);

/* ---- js_held.c: a paused app's hand-backs, kept until due or woken ---- */
/* Keeps l (unlinked, its hand-back stored) held back until due (the queue's
 * clock), when it is at least 2 s away and fewer than 4096 are held back:
 * returns 1 (l is held back); else 0 (the caller naks with a delay). */
int gw_js_hold(gw_js *js, gw_js_lease *l, int64_t due, int64_t now);
/* Naks at once every held-back chunk of app due by until; returns how many. */
uint64_t gw_js_wake_held(gw_js *js, const char *app, int64_t until);
/* ops->idle: naks the due ones, keeps the others alive (in-progress acks
 * every hb ms); returns the ms until the next due one (at most hb). */
int64_t gw_js_held_tick(gw_js *js, int64_t hb);
/* Drops every held-back message without an ack (back after ack_wait). */
void gw_js_held_forget(gw_js *js);

/* ---- js_probe.c ---- */
/* ops->idle: while the queue is failing, a small write every second whose
 * result clears or keeps last_err. Returns the ms until the next probe,
 * or -1 when not failing. */
int64_t gw_js_write_probe(gw_js *js);
void gw_js_refresh_depth(gw_js *js);             /* js_lease.c */
int gw_js_op_status(gw_js *js, gw_queue_req *r); /* js_status.c */
/* js_status.c: the header of a job that exists (committed, and when it
 * names a request's commit record, that record says committed):
 * 0 (job filled; gw_js_job_cleanup), GW_QUEUE_ENOTFOUND, or a mapped code
 * ("... during WHAT"); detail written. */
int gw_js_job_read(gw_js *js, const char *id, gw_js_job *job, const char *what, char *detail,
                   size_t dlen);
int gw_js_op_dead_add(gw_js *js, gw_queue_req *r);    /* js_dead.c */
int gw_js_op_dead_list(gw_js *js, gw_queue_req *r);   /* js_dead.c */
int gw_js_op_dead_delete(gw_js *js, gw_queue_req *r); /* js_dead.c */
/* Registry upsert. async: added to the current publish group, returns the
 * slot (or a negative code); else a synchronous put returning 0 or a code. */
long gw_js_dead_put(gw_js *js, const char *app, const char *hex, int source, const char *reason,
                    int64_t apns_ts, int async, char *detail, size_t dlen);
/* The same for a token of either kind: raw 1 for an FCM registration token
 * (hex is then the token itself; key gw_js_dead_key_raw). msg_id (async
 * only; NULL for none): the publish's Nats-Msg-Id, so that the same answer
 * stored again within the bucket's duplicate window writes nothing. */
long gw_js_dead_put2(gw_js *js, const char *app, const char *hex, int raw, int source,
                     const char *reason, int64_t apns_ts, int async, const char *msg_id,
                     char *detail, size_t dlen);  /* js_dead.c */
int gw_js_op_token(gw_js *js, gw_queue_req *r);   /* js_token.c */
int gw_js_op_channel(gw_js *js, gw_queue_req *r); /* js_channel.c */

/* ---- js_outbox.c: the webhook outbox ---- */
/* Creates (or binds) the stream <P>_EVENTS. 0 or a mapped code. */
int gw_js_outbox_setup(gw_js *js, char *detail, size_t dlen);
/* Frees the subscriptions and held messages (before the connection). */
void gw_js_outbox_free(gw_js *js);
/* "<P>.events.<app with '.' as '='>". */
void gw_js_outbox_subject(const gw_js *js, const char *app, char *out, size_t len);
int gw_js_op_outbox(gw_js *js, gw_queue_req *r);

/* ---- js_idem.c: idempotency records and request commit records ---- */
/* GW_QUEUE_REQ_IDEM: a begin, or a finish outside a group. */
int gw_js_op_idem(gw_js *js, gw_queue_req *r);
/* Submit batch (v: its submits and group finishes, in posting order):
 * one member's failure fails its whole group; the commit record's key of
 * each request that needs one (group[i], "" for none); the commit records,
 * last (a failure fails the group). */
void gw_js_groups_fail(gw_queue_req **v, size_t n);
void gw_js_groups_name(gw_js *js, gw_queue_req **v, size_t n, char (*group)[JS_GROUP_MAX + 1]);
void gw_js_groups_commit(gw_js *js, gw_queue_req **v, size_t n, char (*group)[JS_GROUP_MAX + 1]);
/* Lease thread, for a chunk with a group: 1 committed, 0 not yet (hold
 * it), -1 never committed (drop it: counted as an orphan), or a code
 * below -1 (detail written). */
int gw_js_group_committed(gw_js *js, const gw_js_chunk_msg *c, int64_t stored_ms, char *detail,
                          size_t dlen);
/* A status read of a job of a group (its header names it, version 3): 1
 * when the group's commit record says committed; 0 when it says aborted,
 * or when there is none: within the commit grace of the job's submit
 * (age_ms) its request is not answered yet, past it this node writes the
 * abort (the lease path's create: exactly one of it and a late commit
 * wins). Or a code below -1 (detail written). Any storage thread. */
int gw_js_group_status(gw_js *js, const char *group, int64_t age_ms, char *detail, size_t dlen);
/* At open, before the storage threads: 0 or APNS_ENOMEM. */
int gw_js_idem_init(gw_js *js);
void gw_js_idem_free(gw_js *js);
/* ---- js_cancel.c: cancels (KV <P>_CANCEL, key "<job>") ---- */
/* A job cancelled less than this long ago (queue clock) with tokens left
 * is in flight in a status, counted as its records say (js_status.c):
 * every node has looked at its marks by then. */
#define JS_CANCEL_SETTLE_MS 3000
/* Allocates / frees js->cancels (open / free). 0 or APNS_ENOMEM. */
int gw_js_cancel_init(gw_js *js);
void gw_js_cancel_free(gw_js *js);
/* GW_QUEUE_REQ_CANCEL (queue thread). */
int gw_js_op_cancel(gw_js *js, gw_queue_req *r);
/* The job's cancel time (*ms, 0 = none): a cache of jobs known cancelled,
 * else a KV read. 0 or a mapped code. Any storage thread. */
int gw_js_cancel_get(gw_js *js, const char *job_id, int64_t *ms, char *detail, size_t dlen);
/* Lease thread, for a chunk about to be handed out (l's record read):
 * when its job is cancelled its open tokens are recorded CANCELLED and the
 * message acked (or, when that record cannot be stored, left to come back
 * after ack_wait); when the mark cannot be read, l is handed out (the
 * once-a-second look stops it). A pack reads its pack's flag first, and
 * its members' marks only when the flag is set: the open tokens of the
 * cancelled members are recorded CANCELLED, and the message is acked when
 * nothing is left open. Returns 1 when l must not be handed out (the
 * caller frees it), else 0. */
int gw_js_cancel_take(gw_js *js, gw_js_lease *l, int64_t now);
/* js_lease.c: stores l's record by compare-and-set, merging a concurrent
 * writer's record (a newer node's format is never overwritten: an error);
 * merged (may be NULL) is called after each merge with theirs, to redo the
 * caller's change. 0, or a mapped code (detail written). Lease thread. */
typedef void (*gw_js_rec_merged_cb)(gw_js_lease *l, const gw_js_rec *theirs, void *ud);
int gw_js_rec_store(gw_js *js, gw_js_lease *l, int read_first, gw_js_rec_merged_cb merged, void *ud,
                    char *detail, size_t dlen);
/* Queue thread, for the hand-back r of l (its last member released): the
 * open tokens of its cancelled jobs become CANCELLED (stored with the
 * release's record; counted in r->cancelled). */
void gw_js_cancel_release(gw_js *js, gw_js_lease *l, gw_queue_req *r, int64_t now);
/* The key of a pack's cancel flag: "p.<pack id>" (js_cancel.c). */
void gw_js_cancel_flag_key(const char *pack_id, char out[GW_JOB_ID_LEN + 3]);
/* ops->idle: tells the front end (gw_queue__cancel_notice) about jobs of
 * leases this node holds that another node cancelled, once a second. */
void gw_js_cancel_tick(gw_js *js);

/* Key of a dead token: "<app with '.' as '='>.<hex>". */
void gw_js_dead_key(const char *app, const char *hex, char *out, size_t len);
void gw_js_dead_key_raw(const char *app, const char *tok, char *out, size_t len);

#endif

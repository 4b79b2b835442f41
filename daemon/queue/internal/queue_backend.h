/*
 * queue_backend.h - the contract between the queue's front end (queue.c,
 * queue_req.c) and its storage backends (sqlite/, jetstream/). Callers of
 * the queue never see it: they use queue.h. A backend includes it (the
 * layout lets a sub-module include its parent's internal/ headers).
 *
 * Design note
 * -----------
 * The split follows curl's TLS layer (lib/vtls/vtls.c and struct Curl_ssl):
 * one front end does everything that does not depend on where the queue is
 * stored, and a backend is a table of functions plus a few declared
 * abilities.
 *
 * The FRONT END owns every gw_queue_* call: it checks the arguments, builds
 * one request object (gw_queue_req) per call with copies of the caller's
 * strings, bounds the API's requests (max_requests: GW_QUEUE_EBACKLOG),
 * posts them to the storage thread (store_worker.c), and delivers each
 * result and callback on the loop thread in posting order. It also keeps
 * the chunks leased out (and frees them at gw_queue_free), the depth
 * counter, the statistics, the shared token-store request with its
 * GW_QUEUE_ECLOSED answer at free, and, for a backend whose leases do not
 * expire, the re-posting of releases the storage refused.
 *
 * A BACKEND does storage work only. Its batch function runs on the storage
 * thread with every request waiting at that moment, linked in posting order
 * (group commit), and fills in each request's results, err and detail. It
 * never calls a callback and never touches the loop. Its ops table says
 * what it can do: a token store, a lease thread of its own (long polls),
 * operation counters, leases that expire by themselves, format limits.
 *
 * Threads. Loop thread: every gw_queue_* call, the delivery of results,
 * the leased list. Storage thread(s): ops->batch, ops->lease_batch,
 * ops->idle. Any thread: gw_queue__log, gw_queue__now, gw_queue__depth_*,
 * gw_queue__result, gw_queue__notice.
 */
#ifndef GW_QUEUE_BACKEND_H
#define GW_QUEUE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clock.h" /* common/: common_mono_ms, CLOCK_MONOTONIC in ms */
#include "queue.h"
#include "store_worker.h"

struct event;

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

typedef enum gw_queue_kind {
    GW_QUEUE_REQ_SUBMIT,
    GW_QUEUE_REQ_LEASE,
    GW_QUEUE_REQ_RECORD,
    GW_QUEUE_REQ_RELEASE,
    GW_QUEUE_REQ_TOUCH, /* only for backends with leases_expire */
    GW_QUEUE_REQ_STATUS,
    GW_QUEUE_REQ_DEAD_ADD,
    GW_QUEUE_REQ_DEAD_LIST,
    GW_QUEUE_REQ_DEAD_DELETE,
    GW_QUEUE_REQ_PURGE,
    GW_QUEUE_REQ_WAKE,    /* a backend without it answers count 0 */
    GW_QUEUE_REQ_TOKEN,   /* only for backends with token_store */
    GW_QUEUE_REQ_CONTROL, /* a backend's own operation (gw_queue__control) */
    GW_QUEUE_REQ_NOTICE,  /* never reaches a backend: wakes the loop (gw_queue__notice) */
    GW_QUEUE_REQ_CHANNEL, /* a channel-record operation (u.channel.op) */
    GW_QUEUE_REQ_OUTBOX,  /* a webhook-outbox read or ack (u.outbox.ack) */
    GW_QUEUE_REQ_IDEM,    /* an idempotency record (u.idem; only for backends with idempotency) */
    GW_QUEUE_REQ_CANCEL,  /* a job's cancel (u.status: stores the mark, then reads the status) */
} gw_queue_kind;

/*
 * The webhook events of a record request (queue_outbox.c), for the answers
 * that write one: at[i] is 0 when answer i writes none, else 1 + the offset
 * in buf of "<app>\0<event JSON>\0". A backend writes the event of an
 * answer only when that answer makes its token final (in the same commit).
 */
typedef struct gw_queue_events {
    uint32_t *at; /* one per answer */
    char *buf;
    size_t len, cap;
} gw_queue_events;

/* One event a backend read (u.outbox.v): json points into u.outbox.buf. */
typedef struct gw_queue_outbox_item {
    uint64_t id;
    size_t off, len; /* of the JSON in u.outbox.buf */
} gw_queue_outbox_item;

/* The operations of GW_QUEUE_REQ_CHANNEL. */
typedef enum gw_channel_op {
    GW_CHANNEL_OP_PUT,
    GW_CHANNEL_OP_GET,
    GW_CHANNEL_OP_LIST,
    GW_CHANNEL_OP_DELETE,
    GW_CHANNEL_OP_SYNC,
} gw_channel_op;

/*
 * One recorded answer on its way to the storage thread (compact: a million
 * of them is 40 MB). The token and reason of a rejection or a failure travel
 * in the record request's `extra` (gw_queue__answer_extra).
 */
typedef struct gw_queue_answer {
    uint64_t chunk; /* gw_chunk.priv.handle */
    int64_t apns_ts;
    int64_t retry_at;
    uint32_t idx;   /* token index within the chunk */
    uint32_t extra; /* REJECTED: offset of [len][token][len][reason] in extra */
    int16_t status;
    uint8_t state; /* a gw_token_state other than PENDING */
    uint8_t dead;  /* a gw_dead_source; GW_DEAD_NONE unless REJECTED */
} gw_queue_answer;

/*
 * A chunk's fields: a submit's job (seq, first, n, n_chunks, created and
 * tokens unset; strings NUL-terminated), and what a backend read back for
 * gw_queue__chunk_new (strings need not be NUL-terminated; n_chunks is not
 * copied). topic, collapse_id, channel: NULL = none (channel set: a channel
 * publish, one entry holding the placeholder token).
 */
typedef struct gw_queue_chunk_fields {
    char job_id[GW_JOB_ID_LEN + 1];
    char apns_id[GW_JOB_ID_LEN + 1]; /* lower case */
    int push_type, priority;
    int64_t expiration, send_at, created;
    uint32_t seq, first, n, job_tokens, n_chunks;
    const char *app, *topic, *collapse_id, *payload, *channel;
    size_t app_len, topic_len, collapse_len, payload_len, channel_len;
    const uint8_t *tokens; /* packed [len][bytes] */
    size_t tokens_len;
    const char *group; /* JetStream: the request's commit record ("" / NULL = none) */
    size_t group_len;
} gw_queue_chunk_fields;

/* What gw_queue_token_get asks (allocated apart: it is large). */
typedef struct gw_queue_token_ask {
    char team[64], key_id[64];
    int64_t refresh_ms;
    char stale[GW_QUEUE_JWT_MAX]; /* "" = none */
    gw_queue_mint_fn mint;
    void *mint_ud;
    /* results */
    char jwt[GW_QUEUE_JWT_MAX];
    int64_t issued;
    int minted;
} gw_queue_token_ask;

/*
 * A request. Built and freed by the front end on the loop thread; between
 * posting and completion it belongs to the storage thread, where the
 * backend reads the arguments and writes the results. Memory a backend
 * hangs on a result (leased chunks, status outcomes, a dead-token page) is
 * freed by the front end with the request, except leased chunks that were
 * handed to the caller. A request that ends with err != 0 has its work and
 * depth_add ignored and the chunks its lease built freed, not handed out.
 */
typedef struct gw_queue_req {
    gw_req base;
    gw_queue *q;
    gw_queue_kind kind;
    int err;          /* backend: 0 or the request's error */
    char detail[384]; /* backend: the sentence for err */
    void (*cb)(void); /* the caller's callback, cast to its type */
    void *ud;
    int work;           /* backend: nonzero when new work is leasable now (on_work once
                           delivered; the batch's values OR-ed go to ops->notify_work,
                           whose backend may give them meaning) */
    int64_t depth_add;  /* backend: unfinished tokens added (< 0: made final), applied
                           by the front end when the batch returns with err == 0 */
    uint64_t cancelled; /* backend: tokens made GW_TOKEN_CANCELLED; counted (gw_queue_stats)
                           like depth_add */
    uint64_t group;     /* 0, or the gw_queue_group_begin() it was posted in: a backend
                           with `idempotency` commits a group whole or not at all */
    union {
        struct {
            char *strings; /* f's app, topic, collapse_id, payload, channel in one allocation */
            gw_queue_chunk_fields f;
            gw_token_list tokens;
        } submit;
        struct {
            size_t max;
            gw_chunk **chunks; /* backend: chunks[0..n) built with gw_queue__chunk_new */
            size_t n;
            int64_t next_at;
        } lease;
        struct {
            gw_queue_answer *v;
            size_t n;
            uint8_t *extra;
            gw_queue_events *ev; /* NULL when no answer writes an event */
        } record;
        struct {
            uint64_t chunk; /* gw_chunk.priv.handle; also for TOUCH */
            int64_t not_before;
        } release;
        struct { /* STATUS and CANCEL */
            char id[GW_JOB_ID_LEN + 1];
            gw_job_status st;           /* backend: all but pending, state, outcomes */
            gw_token_outcome *outcomes; /* backend: calloc'd for small jobs */
            int leased, finished;       /* backend: a chunk is leased; every token is final */
        } status;
        struct {
            char *app;
            uint8_t tok[GW_TOKEN_BIN_MAX]; /* the token, binary ... */
            size_t tok_len;
            char hex[APNS_TOKEN_HEX_MAX + 1]; /* ... and lower-case hex */
            char *raw; /* DEAD_DELETE of an FCM token: the token (owned), else NULL */
            int source;
            char reason[48];
            int64_t apns_ts;
            int64_t since;
            int64_t after[2]; /* the cursor, parsed by ops->dead_cursor */
            size_t limit;
            gw_dead_token *v; /* backend: calloc'd page */
            size_t n;
            char next[GW_DEAD_CURSOR_MAX];
            int has_next;
            uint64_t count;
        } dead;
        gw_queue_token_ask *token;
        struct {
            gw_channel_op op;
            char *app;
            char env[GW_CHANNEL_ENV_MAX + 1];
            gw_channel c; /* put: the record; get, delete: c.id */
            uint32_t max; /* put, sync: the bound */
            char **ids;   /* sync: nids ids (one allocation with the strings) */
            size_t nids;
            gw_channel *v; /* backend: get, list: calloc'd records */
            size_t n;
            uint64_t count;   /* backend: delete: 1 or 0; sync: added */
            uint64_t removed; /* backend: sync */
        } channel;
        struct {
            size_t max_jobs;
            uint64_t count;
        } purge;
        struct {
            char app[GW_QUEUE_WAKE_APP_MAX + 1];
            int64_t until;
            uint64_t count; /* backend: chunks made due now */
        } wake;
        struct {
            int op;
            int64_t value;
        } control;
        struct {
            int ack;   /* 0: read; 1: ack ids[0..n_ids) */
            char *app; /* strdup'd */
            size_t max;
            uint64_t max_events;
            int64_t max_age;
            uint64_t *ids;
            size_t n_ids;
            /* backend: the read's results (freed with the request; a backend
             * clears them first, as a retried read runs again) */
            gw_queue_outbox_item *v;
            size_t n;
            char *buf;
            size_t buf_len;
            uint64_t depth, dropped;
        } outbox;
        struct {
            int finish; /* 0: begin; 1: finish (status 0: remove) */
            char scope[GW_IDEM_SCOPE_MAX + 1];
            char key[GW_IDEM_KEY_MAX + 1];
            uint8_t hash[GW_IDEM_HASH];
            int64_t ttl_ms;
            uint64_t max;
            int status; /* finish: the answer; backend: begin's REPLAY */
            char *body; /* finish: the answer (malloc'd); backend: begin's REPLAY (malloc'd) */
            int state;  /* backend: begin's gw_idem_state */
        } idem;
    } u;
} gw_queue_req;

/* 1 when an answer in state s carries its token and reason in `extra`:
 * REJECTED and FAILED (a backend keeps the reason of both). */
#define gw_queue__has_extra(s) ((s) == GW_TOKEN_REJECTED || (s) == GW_TOKEN_FAILED)

/* The binary token and reason (not NUL-terminated) of an answer for which
 * gw_queue__has_extra(a->state). */
void gw_queue__answer_extra(const gw_queue_req *r, const gw_queue_answer *a, const uint8_t **tok,
                            size_t *tok_len, const char **reason, size_t *reason_len);
/* 1 when that token is an FCM registration token (its bytes are its text). */
int gw_queue__answer_raw(const gw_queue_req *r, const gw_queue_answer *a);

/* The webhook event of answer i of record r: 1 with *app and *json set
 * (NUL-terminated, in r), or 0 when it writes none. */
int gw_queue__answer_event(const gw_queue_req *r, size_t i, const char **app, const char **json);

/* Gives r the error err (when not 0) with a copy of detail, unless r
 * already failed. */
void gw_queue__fail(gw_queue_req *r, int err, const char *detail);

/* Frees the chunks a lease built and did not hand out (lease.n = 0). */
void gw_queue__lease_discard(gw_queue_req *r);

/* ------------------------------------------------------------------------ */
/* The backend's table                                                       */

typedef struct gw_queue_ops {
    const char *name; /* "sqlite", "jetstream" */

    /* Opening (caller's thread). check: validates o (may be NULL) and the
     * backend's options bo, writing what is wrong to detail; returns 0 or
     * APNS_EINVAL. open: sets q->be (also when it fails, for free) and
     * opens the storage; it may set q->first_idle_ms. opened: the storage
     * threads started (err 0) or could not (err: write detail). */
    int (*check)(const gw_queue_opts *o, const void *bo, char *detail, size_t detail_len);
    int (*open)(gw_queue *q, const void *bo, char *detail, size_t detail_len);
    void (*opened)(void *be, int err, char *detail, size_t detail_len);
    /* Closing (loop thread). stop (optional): before the storage threads
     * stop, end whatever posts to the queue from elsewhere. free: after
     * they stopped (every request completed); be may be half open. */
    void (*stop)(void *be);
    void (*free)(void *be);

    /* Storage thread. batch: runs a list of requests (posting order,
     * linked by base.next) and sets their results. lease_batch (optional):
     * leases run on a thread of their own (a long poll never holds up the
     * rest). A request is ((gw_queue_req *)g). idle (optional): periodic
     * work between batches; returns ms until it is due again (< 0 never). */
    void (*batch)(gw_req *head, void *be);
    void (*lease_batch)(gw_req *head, void *be);
    int64_t (*idle)(void *be);
    /* Optional, storage thread: after a batch in which a request succeeded
     * with `work` set, tell the other processes on the same storage.
     * work: the batch's `work` values OR-ed (never 0). */
    void (*notify_work)(void *be, int work);

    /* Loop thread. dead_cursor: parses a dead-token cursor (NULL or "" =
     * the first page) into after[2]; 0 or APNS_EINVAL. */
    int (*dead_cursor)(const char *cursor, int64_t after[2]);
    /* Optional, any thread: operation counters (gw_queue_op_counts). */
    size_t (*op_counts)(void *be, gw_queue_op_count *v, size_t max);

    /* Abilities and limits. */
    unsigned token_store : 1;   /* runs GW_QUEUE_REQ_TOKEN (gw_queue_token_get) */
    unsigned idempotency : 1;   /* runs GW_QUEUE_REQ_IDEM (gw_queue_idem_begin/_finish) */
    unsigned leases_expire : 1; /* a lease nobody touches ends by itself (JetStream's
                                   ack_wait): touch posts GW_QUEUE_REQ_TOUCH and a
                                   refused release is left to expire; otherwise touch
                                   is a no-op and a refused release is posted again
                                   every second until the storage takes it */
    size_t lease_max;           /* chunks per lease request; 0 = any */
    int64_t record_window_ms;   /* > 0: outcomes and releases wait up to this long on the
                                   storage thread for other requests to share their
                                   transaction (gw_worker_set_window); 0 = never wait */
    size_t app_max;             /* longest app name; 0 = any */
    size_t field_max;           /* longest topic or collapse id; 0 = any */
} gw_queue_ops;

/* ------------------------------------------------------------------------ */
/* Packed job ids (queue_pack.c: the design note)                           */

#define GW_PACK_MEMBERS_MAX 4096 /* rand_a: 12 bits */

typedef struct gw_queue_pack {
    uint64_t group; /* the group it belongs to (0: none open) */
    char id[GW_JOB_ID_LEN + 1];
    char app[128];
    int64_t send_at;
    uint32_t members, tokens;
    size_t bytes;
} gw_queue_pack;

/* Loop thread, in gw_queue_submit: 1 when the job (its fields f and
 * tokens t) joins a pack of the open group (id is then its packed id),
 * else 0 (id untouched). */
int gw_queue__pack_assign(gw_queue *q, const gw_queue_chunk_fields *f, const gw_token_list *t,
                          char id[GW_JOB_ID_LEN + 1]);
/* The member index of a packed id, with its pack's id in pack (may be
 * NULL); -1 for an id that is not packed. */
int gw_queue__pack_of(const char *id, char pack[GW_JOB_ID_LEN + 1]);
/* Clears the packed mark of a new id that is not packed. */
void gw_queue__id_unmark(char id[GW_JOB_ID_LEN + 1]);

/* ------------------------------------------------------------------------ */
/* The front end's state                                                     */

struct gw_queue {
    const gw_queue_ops *ops;
    void *be;
    gw_queue_opts o;       /* the caller's options with the defaults filled in */
    int64_t first_idle_ms; /* ops->open: delay before the first ops->idle; < 0 = never */
    gw_worker *w;          /* the storage thread */
    gw_worker *lw;         /* the lease thread (ops->lease_batch) */

    /* depth = max(0, base + local) + reserved */
    atomic_llong depth_base, depth_local, depth_reserved;
    atomic_uint_least64_t commits, failures;
    atomic_uint_least64_t orphans;   /* gw_queue_stats.orphans: backends add to it */
    atomic_uint_least64_t cancelled; /* tokens made GW_TOKEN_CANCELLED (gw_queue__cancelled_add) */
    atomic_int last_err;
    atomic_int notice_pending;
    /* Jobs a backend saw cancelled (gw_queue__cancel_notice), for the loop
     * thread to mark at the next notice. */
    pthread_mutex_t cancel_mu;
    char (*cancel_ids)[GW_JOB_ID_LEN + 1];
    size_t n_cancel_ids, cap_cancel_ids;
    uint64_t group, groups;        /* the open group (0 = none), the last group id */
    size_t pack_bytes;             /* backend (open): > 0 packs small jobs of a group
                                      (queue_pack.c), at most this many message bytes */
    gw_queue_pack pack;            /* the open group's open pack (loop thread) */
    struct gw_queue_req **group_v; /* the open group's requests (loop thread) */
    size_t group_n, group_cap;

    /* Loop thread only: chunks leased out and not yet released
     * (gw_chunk.priv.node), and releases the storage refused. */
    common_clist leased;
    struct gw_queue_refused {
        uint64_t chunk;
        int64_t not_before;
    } * refused;
    size_t n_refused, cap_refused;
    struct event *refused_ev;

    /* Loop thread only: the apps whose outcomes write webhook events
     * (gw_queue_outbox_apps; names in one allocation with the table). */
    gw_outbox_app *outbox;
    size_t n_outbox;
};

/*
 * Opens a queue on a backend: checks the arguments, fills in the options'
 * defaults, calls ops->check and ops->open, starts the storage threads.
 * detail may be NULL. Returns 0 with *out set, or the error of a failing
 * step (APNS_EINVAL, APNS_ENOMEM, the backend's codes) with *out NULL.
 */
int gw_queue__open(gw_queue **out, const gw_queue_ops *ops, const gw_queue_opts *o, const void *bo,
                   char *detail, size_t detail_len);

/* Posts a backend's own operation (GW_QUEUE_REQ_CONTROL with op and value;
 * cb may be NULL), ordered with the other requests. Returns 0, APNS_EINVAL
 * (q is not a queue of `ops`), GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue__control(gw_queue *q, const gw_queue_ops *ops, int op, int64_t value, gw_done_cb cb,
                      void *ud);

/* New work may be due (another process said so): calls on_work on the loop
 * thread soon, once however often it is called meanwhile. Any thread, while
 * the queue is open (ops->opened .. ops->stop). */
void gw_queue__notice(gw_queue *q);

/* ------------------------------------------------------------------------ */
/* Helpers for backends (any thread)                                         */

/* The queue's clock (opts.clock_ms, else the system's) in UNIX ms. */
int64_t gw_queue__now(const gw_queue *q);
/* CLOCK_REALTIME ms from now, for pthread_cond_timedwait. */
struct timespec gw_queue__abstime(int64_t ms);
/* One line to opts.on_log (printf format; at most 511 bytes). */
void gw_queue__log(const gw_queue *q, apns_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The depth: add to the local count; or replace the base (the storage's
 * own count) and start the local count again from 0. */
void gw_queue__depth_add(gw_queue *q, int64_t delta);
void gw_queue__depth_rebase(gw_queue *q, int64_t base);
/* Counts n tokens a backend made GW_TOKEN_CANCELLED (gw_queue_stats). */
void gw_queue__cancelled_add(gw_queue *q, uint64_t n);
/* The job's cancel is stored (a cancel of this process, or one another
 * process stored, seen by the backend): marks the chunks of job_id this
 * process holds (gw_chunk.cancelled) so the dispatcher sends nothing more of
 * them. Loop thread. */
void gw_queue__cancel_mark(gw_queue *q, const char *job_id);
/* The same from any thread while the queue is open (a backend that learns
 * of another process's cancel): the mark follows on the loop thread soon,
 * with a notice (on_work). */
void gw_queue__cancel_notice(gw_queue *q, const char *job_id);

/* After a storage attempt: committed counts a commit; err (a storage error,
 * gw_queue_err_unavailable) counts a failure and becomes last_err; a
 * commit without one that wrote to the storage (wrote: a change was
 * stored, not only read) clears last_err. A read that succeeds while
 * writes fail leaves the store failing (/readyz stays 503). */
void gw_queue__result(gw_queue *q, int committed, int wrote, int err);
/* 1 when r asks the storage to store something (a submit, an outcome, a
 * release, a dead-token change, a shared token, a channel change); 0 for
 * reads, leases, touches and the rest. */
int gw_queue__req_writes(const gw_queue_req *r);
/* 1 while the last storage attempt failed (last_err != 0): a backend may
 * then probe with a write of its own from ops->idle. */
int gw_queue__failing(const gw_queue *q);

/* One token's transition (queue.h): a final state never changes; RETRY
 * counts an attempt (up to 255) and sets the retry-at; any other state
 * clears it. Returns 1 when the token became final. */
int gw_queue__token_apply(uint8_t *state, uint8_t *attempts, int64_t *retry_at, int s, int64_t at);

/*
 * Allocates the chunk of f (f->n tokens) as one block (free() frees it):
 * the gw_chunk with f's fields, its zeroed state / attempts / retry-at
 * arrays, a copy of the tokens with an index (tokens missing from a short
 * buffer read as zero-length) and of the strings. NULL when out of memory.
 */
gw_chunk *gw_queue__chunk_new(const gw_queue_chunk_fields *f);

/* 1 when s is 1..max bytes of [A-Za-z0-9_-] (a name that can be part of a
 * storage key or subject), else 0 (also for NULL). */
int gw_queue__name_ok(const char *s, size_t max);

/* Copies n bytes of s and a NUL to *p and moves *p past them; returns the
 * copy. */
const char *gw_queue__copy_str(char **p, const void *s, size_t n);

/* ------------------------------------------------------------------------ */
/* The front end's own (queue.c <-> queue_req.c); backends do not call them. */

/* queue_outbox.c: the events of a record (r->u.record.ev; 0 or
 * APNS_ENOMEM), an outbox request's delivery and its memory, the apps
 * table at free. */
int gw_queue__outbox_events(gw_queue *q, gw_queue_req *r, const gw_outcome *v, size_t n);
void gw_queue__outbox_deliver(gw_queue_req *r);
void gw_queue__outbox_req_free(gw_queue_req *r);
/* queue_idem.c: GW_QUEUE_REQ_IDEM's callback and its memory. */
void gw_queue__idem_deliver(gw_queue_req *r, const char *detail);
void gw_queue__idem_free(gw_queue_req *r);
void gw_queue__outbox_free(gw_queue *q);

/* A request of `kind` for callback cb; bounded: counts against
 * max_requests. NULL when out of memory. */
gw_queue_req *gw_queue__req_new(gw_queue *q, gw_queue_kind kind, int bounded, void (*cb)(void),
                                void *ud);
/* Posts r (a lease to the lease thread when there is one). On failure r is
 * freed and the code returned: GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED. */
int gw_queue__post(gw_queue *q, gw_queue_req *r);
void gw_queue__req_free(gw_queue_req *r);

#endif

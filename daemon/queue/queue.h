/*
 * queue.h - the gateway's durable queue as its callers (the API, the
 * dispatcher, main) see it: jobs, chunks, per-token outcomes, job status,
 * the dead-token registry, the depth counter and the optional abilities of
 * a backend. Open a queue with a backend's open function (queue_sqlite.h:
 * the embedded SQLite file; queue_jetstream.h: a NATS JetStream cluster
 * shared by a fleet); every call after that is the same for both.
 *
 * The front end (queue.c, queue_req.c) implements these calls once for
 * every backend: argument checks, copies, the bound on waiting requests,
 * the storage thread, delivering results. A backend does storage work only
 * (internal/queue_backend.h is that contract; callers never include it).
 *
 * Daemon naming: everything in daemon/ uses the prefix `gw_` (types
 * gw_<object>, functions gw_<object>_<verb>, constants GW_*), the way libapns
 * uses apns_.
 *
 * Design note
 * -----------
 * The unit of storage is a JOB: one app, the push fields (push type,
 * priority, expiration, collapse id, topic, apns-id base, payload, send_at)
 * and 1..N device tokens (N up to 1,000,000 for a broadcast). A job's tokens
 * are packed into CHUNKS of `chunk_tokens` (default 1000) binary tokens, so a
 * 1M-token broadcast is one job and ~1000 chunk records written in one
 * transaction, not a million rows. The chunk is also the unit of work: the
 * dispatcher LEASES chunks, sends their due tokens, RECORDS per-token
 * outcomes, and RELEASES the chunk. JetStream uses exactly this chunk as
 * its work-queue message (lease = delivery, release = ack, touch = in-progress
 * ack). The dispatcher therefore only talks in jobs, chunks and outcomes.
 *
 * Every token of a chunk has a state: pending, accepted, rejected, expired,
 * failed (no answer after the retry budget), retry (with a durable
 * retry-at time and an attempt count), or cancelled (its job's cancel,
 * gw_queue_cancel, was stored before it was sent). All but pending and
 * retry are final. A chunk is leasable when it is not leased and its `next_at` has
 * come: send_at for a new chunk, now for a chunk with pending tokens, the
 * earliest retry-at when only retry tokens are left.
 *
 * What a crash does (the promise, also in docs/queue.md):
 *  - A job is ACKNOWLEDGED (the submit callback says 0) only after the COMMIT
 *    that stored it returned with synchronous=FULL: it survives kill -9 and
 *    power loss.
 *  - Outcomes are durable once the record callback says 0. On restart every
 *    token without a durable final outcome is pending again (or waits for its
 *    durable retry-at) and is sent again: AT-LEAST-ONCE.
 *  - The one duplicate window: APNs accepted (or rejected) a token and the
 *    process died before the outcome batch holding that answer committed. The
 *    token is then sent again after restart. Each token's apns-id is derived
 *    from the job's apns-id base and the token's index (gw_apns_id_derive),
 *    so the resend carries the SAME apns-id and an app can drop the
 *    duplicate by apns-id.
 *  - Leases are not durable: after a restart no chunk is leased.
 *
 * Threading. Every function here is called on the thread of the event_base
 * given at open (the "loop thread"); storage work runs on the backend's own
 * thread and never blocks the loop. Each call that takes a callback posts a
 * request and returns at once; the callback runs later on the loop thread
 * (never from inside the posting call). A call that fails returns a negative
 * code and never calls its callback. Callbacks may call gw_queue_* again but
 * must not call gw_queue_free().
 *
 * Errors. 0 or a negative code: APNS_E* from apns/error.h, or one of the
 * GW_QUEUE_E* codes below (their values do not overlap). Storage failures
 * arrive in the callback as a code plus a detail sentence naming the database
 * and the storage engine's message, e.g. "queue database /var/lib/apnsd/q.db:
 * database or disk is full (SQLITE_FULL) during submit". The API answers 503
 * for every code gw_queue_err_unavailable() accepts. Nothing committed is
 * lost by a failure, and the queue serves again once the condition clears.
 */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "apns/client.h"
#include "apns/error.h"
#include "apns/notification.h"
#include "apns/reason.h"
#include "list.h" /* common/ */

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* XX(NAME, value, message); values below every APNS_E* code. */
#define GW_QUEUE_ERRNO_MAP(XX)                                                                     \
    XX(EFULL, -1001, "queue storage is full (disk full or size limit)")                            \
    XX(EIO, -1002, "queue storage I/O error")                                                      \
    XX(ECORRUPT, -1003, "queue database is corrupt")                                               \
    XX(EREADONLY, -1004, "queue database is read-only")                                            \
    XX(EBUSY, -1005, "queue database is locked by another process")                                \
    XX(ESTORE, -1006, "queue storage error")                                                       \
    XX(EBACKLOG, -1007, "too many storage requests waiting")                                       \
    XX(EDEPTH, -1008, "queue depth limit reached")                                                 \
    XX(ECLOSED, -1009, "queue is closed")                                                          \
    XX(ENOTFOUND, -1010, "no such job")                                                            \
    XX(ELEASE, -1011, "chunk is not leased by this queue")                                         \
    XX(ELIMIT, -1012, "record limit reached")

enum gw_queue_errno {
#define GW_QUEUE_ERRNO_ENUM(name, val, msg) GW_QUEUE_##name = (val),
    GW_QUEUE_ERRNO_MAP(GW_QUEUE_ERRNO_ENUM)
#undef GW_QUEUE_ERRNO_ENUM
};

/* Message for a GW_QUEUE_E* or APNS_E* code. Static; never NULL. */
const char *gw_queue_strerror(int err);
/* "GW_QUEUE_EFULL", or apns_err_name() for other codes. Static; never NULL. */
const char *gw_queue_err_name(int err);
/* 1 when the API should answer 503 (storage unavailable: EFULL, EIO,
 * ECORRUPT, EREADONLY, EBUSY, ESTORE, ECLOSED, APNS_ENOMEM), else 0. */
int gw_queue_err_unavailable(int err);
/* 1 when the API should answer 429 (EDEPTH, EBACKLOG), else 0. */
int gw_queue_err_overloaded(int err);

/* ------------------------------------------------------------------------ */
/* Token lists, token states, apns-ids                                       */

#define GW_JOB_ID_LEN     APNS_UUID_LEN /* a job id is a UUID string */
#define GW_TOKEN_BIN_MAX  (APNS_TOKEN_HEX_MAX / 2)
#define GW_JOB_TOKENS_MAX 1000000u /* tokens in one job */
/* The scheduling age rule (docs/queue.md, Scheduling): a chunk due for
 * longer than this is leased, and fed by the dispatcher, as if it were in
 * the first turn, so a steady stream of new first chunks never keeps the
 * later chunks of a broadcast back for longer. */
#define GW_QUEUE_AGE_MS   5000

/*
 * A growable list of device tokens packed as records, filled by the API
 * while it parses a request and handed to gw_queue_submit(), which takes the
 * buffer over. Embedded: _init / _cleanup.
 *
 * Two kinds of record (gw_token_rec reads either):
 *   [len:1][bytes]              an APNs token, binary (len 8..100, never 0)
 *   [0][len_hi][len_lo][bytes]  an FCM registration token, verbatim text
 *                               (len 1..GW_TOKEN_RAW_MAX)
 * The first byte 0 marks the second kind, so every list and chunk written
 * before FCM tokens existed reads the same as before.
 */
#define GW_TOKEN_RAW_MAX  4096 /* APNS_FCM_TOKEN_MAX */
#define GW_TOKEN_TEXT_MAX (GW_TOKEN_RAW_MAX + 1)

/* The record at p: its token length (*len), whether it is an FCM token
 * (*raw), and the record's size. */
static inline size_t gw_token_rec(const uint8_t *p, size_t *len, int *raw)
{
    if (p[0] != 0) {
        *len = p[0];
        *raw = 0;
        return 1 + (size_t)p[0];
    }
    *len = (size_t)p[1] << 8 | p[2];
    *raw = 1;
    return 3 + *len;
}
typedef struct gw_token_list {
    uint8_t *buf;
    size_t len, cap;
    size_t count;
} gw_token_list;

void gw_token_list_init(gw_token_list *l);
void gw_token_list_cleanup(gw_token_list *l);
/* Appends a hex token (16..200 hex digits, even length, either case).
 * Returns 0, APNS_EBADTOKEN, APNS_EINVAL (list already holds
 * GW_JOB_TOKENS_MAX), APNS_ENOMEM. */
int gw_token_list_add_hex(gw_token_list *l, const char *hex, size_t len);
/* Appends an FCM registration token verbatim (1..GW_TOKEN_RAW_MAX printable
 * non-space bytes, libapns's apns_fcm_token_check). Returns 0,
 * APNS_EFCMTOKEN, APNS_EINVAL (full), APNS_ENOMEM. */
int gw_token_list_add_raw(gw_token_list *l, const char *tok, size_t len);

/* The record at p (avail bytes left) as text into out (GW_TOKEN_TEXT_MAX
 * bytes): hex of an APNs token, an FCM token verbatim. Returns the record's
 * size, or 0 when it does not fit in avail. */
size_t gw_token_rec_text(const uint8_t *p, size_t avail, char out[GW_TOKEN_TEXT_MAX]);

/* Writes 2*len lower-case hex digits and a NUL into out. */
void gw_token_to_hex(const uint8_t *bin, size_t len, char *out);

typedef enum gw_token_state {
    GW_TOKEN_PENDING = 0, /* not yet answered by APNs */
    GW_TOKEN_ACCEPTED,    /* final: APNs said 200 */
    GW_TOKEN_REJECTED,    /* final: APNs answered an error that is not retried */
    GW_TOKEN_EXPIRED,     /* final: expiration passed before it could be sent */
    GW_TOKEN_FAILED,      /* final: no usable answer within the retry budget */
    GW_TOKEN_RETRY,       /* waiting for its durable retry-at (429 / 5xx backoff) */
    GW_TOKEN_CANCELLED,   /* final: its job was cancelled before it was sent (gw_queue_cancel) */
    GW_TOKEN_STATE_COUNT
} gw_token_state;

/* "pending", "accepted", ...; "?" when out of range. Static. */
const char *gw_token_state_name(gw_token_state s);
/* 1 for accepted, rejected, expired, failed, cancelled. */
int gw_token_state_final(gw_token_state s);

/* The apns-id of token number `index` (0-based, job-wide) of a job whose
 * apns-id base is `base`: index 0 is the base itself, index i adds i to the
 * last 48 bits. The same (base, index) always gives the same id, so a resend
 * after a crash carries the id of the first send. */
void gw_apns_id_derive(const char base[GW_JOB_ID_LEN + 1], uint64_t index,
                       char out[GW_JOB_ID_LEN + 1]);

/* The last id made for one base, so that ids asked for in index order cost
 * one hex increment each instead of a derivation (the dispatcher asks for
 * token i, i + 1, ... of a chunk). Zero it ({0}) before the first use; one
 * cursor serves one base. */
typedef struct gw_apns_id_cursor {
    uint64_t index;
    int valid;
    char id[GW_JOB_ID_LEN + 1];
} gw_apns_id_cursor;

/* gw_apns_id_derive(base, index, out), through the cursor. */
void gw_apns_id_at(gw_apns_id_cursor *cur, const char base[GW_JOB_ID_LEN + 1], uint64_t index,
                   char out[GW_JOB_ID_LEN + 1]);

/* ------------------------------------------------------------------------ */
/* Jobs                                                                      */

/* The latest time a job may name, in UNIX seconds (9999-12-31T23:59:59Z):
 * `expiration` and `send_at_ms / 1000` stay within it, so that no time in
 * milliseconds derived from them can overflow an int64_t anywhere. */
#define GW_JOB_TIME_MAX 253402300799LL

/* 1 when e is an expiration a job may hold: APNS_EXPIRATION_NONE, 0, or
 * 1..GW_JOB_TIME_MAX. */
int gw_job_expiration_ok(int64_t e);

/* What the API submits. Strings are borrowed for the duration of
 * gw_queue_submit() (copied); `tokens` is taken over (left empty). */
typedef struct gw_job {
    const char *app;   /* required: the app section name */
    const char *topic; /* NULL = none */
    apns_push_type push_type;
    int priority;            /* 0, 10, 5 or 1 */
    int64_t expiration;      /* APNS_EXPIRATION_NONE, 0, or UNIX seconds (gw_job_expiration_ok) */
    const char *collapse_id; /* NULL = none */
    const char *apns_id;     /* NULL or "" = the job id; else a canonical UUID */
    const char *payload;     /* required: raw JSON */
    size_t payload_len;
    int64_t send_at_ms;   /* 0 = now; else UNIX ms, at most GW_JOB_TIME_MAX * 1000 */
    gw_token_list tokens; /* 1..GW_JOB_TOKENS_MAX tokens; empty for a channel publish */
    /* A channel publish (iOS 18 Live Activity broadcast): NULL = a device
     * push; else the base64 channel id (gw_channel_id_ok) the one
     * notification is published to, with no tokens. The queue keeps it as
     * a job of one entry (index 0) whose token is GW_CHANNEL_SLOT_TOKEN. */
    const char *channel;
} gw_job;

/* The placeholder token a channel publish's one entry holds in storage
 * (8 zero bytes): never sent, never shown, never entered as a dead token. */
#define GW_CHANNEL_SLOT_TOKEN_LEN 8

/* Defaults: push type alert, priority 0, expiration none, everything else
 * empty; tokens initialised. */
void gw_job_init(gw_job *j);

typedef enum gw_job_state {
    GW_JOB_QUEUED = 0, /* nothing sent yet */
    GW_JOB_IN_FLIGHT,  /* leased, or partly answered with tokens still pending */
    GW_JOB_RETRYING,   /* only tokens waiting for a retry-at are left */
    GW_JOB_DONE,       /* finished: every token accepted */
    GW_JOB_PARTIAL,    /* finished: some accepted, some not */
    GW_JOB_FAILED,     /* finished: none accepted (rejected / failed / some expired) */
    GW_JOB_EXPIRED,    /* finished: every token expired */
    GW_JOB_CANCELLED,  /* finished after a cancel that stopped at least one token */
    GW_JOB_STATE_COUNT
} gw_job_state;

/* "queued", "in_flight", "retrying", "done", "partially_failed", "failed",
 * "expired", "cancelled"; "?" out of range. Static. */
const char *gw_job_state_name(gw_job_state s);

/* One token's outcome in a status answer (small jobs only). */
typedef struct gw_token_outcome {
    char token[GW_TOKEN_TEXT_MAX]; /* lower-case hex, or an FCM token verbatim */
    gw_token_state state;
    int status;          /* HTTP status of a rejection; 0 otherwise */
    char reason[48];     /* APNs reason string of a rejection; "" otherwise */
    int64_t apns_ts_ms;  /* 410: when APNs says the token became invalid */
    int64_t retry_at_ms; /* RETRY: when it is sent again */
    int attempts;        /* retryable answers so far */
} gw_token_outcome;

typedef struct gw_job_status {
    char job_id[GW_JOB_ID_LEN + 1];
    char apns_id[GW_JOB_ID_LEN + 1]; /* the base; token i: gw_apns_id_derive() */
    char app[128];
    gw_job_state state;
    uint64_t tokens; /* total */
    uint64_t pending, accepted, rejected, expired, failed, retrying, cancelled;
    int64_t next_retry_ms; /* earliest retry-at; 0 when none */
    int64_t cancelled_ms;  /* when the job's cancel was stored (gw_queue_cancel); 0 = none */
    int64_t created_ms, send_at_ms, finished_ms; /* finished_ms 0 while open */
    /* A channel publish: its channel id ("" for a device push); its one
     * outcome's token is then the placeholder, not a device token. */
    char channel[APNS_CHANNEL_ID_MAX + 1];
    /* Per-token outcomes when tokens <= small_job_tokens; else NULL / 0. */
    const gw_token_outcome *outcomes;
    size_t n_outcomes;
} gw_job_status;

/* ------------------------------------------------------------------------ */
/* Chunks and outcomes (the dispatcher's side)                               */

/*
 * A leased chunk. Owned by the dispatcher from the lease callback until it
 * hands it back with gw_queue_release() (which frees it). Strings and arrays
 * stay valid until then. `state`, `attempts` and `retry_at_ms` are the
 * dispatcher's view: gw_queue_record() updates them at once (the durable
 * copy follows when the record callback says 0).
 */
typedef struct gw_chunk {
    char job_id[GW_JOB_ID_LEN + 1];
    char apns_id_base[GW_JOB_ID_LEN + 1];
    uint32_t seq;      /* chunk number within the job, from 0 */
    uint32_t first;    /* job-wide index of token 0 of this chunk */
    uint32_t n_tokens; /* tokens in this chunk */
    uint32_t job_tokens;

    const char *app;
    const char *topic;       /* NULL = none */
    const char *collapse_id; /* NULL = none */
    const char *channel;     /* NULL = device tokens; else a channel publish (gw_job) */
    const char *payload;
    size_t payload_len;
    apns_push_type push_type;
    int priority;
    int64_t expiration;
    int64_t send_at_ms, created_ms;
    /* 1 once the queue knows the job's cancel is stored (gw_queue_cancel
     * here or on another node of the fleet): gw_chunk_token_due() is then 0
     * for every token, so nothing more of it is sent; answers for tokens
     * already sent are recorded as usual, and the release turns the tokens
     * still open into GW_TOKEN_CANCELLED. Set by the queue only. */
    int cancelled;

    uint8_t *state;       /* n_tokens gw_token_state values */
    uint8_t *attempts;    /* n_tokens: retryable answers so far */
    int64_t *retry_at_ms; /* n_tokens: retry time for RETRY tokens, else 0 */

    struct gw_chunk_priv {      /* the queue's; do not touch */
        const uint8_t *tokens;  /* packed [len][bytes] records */
        const uint32_t *offset; /* n_tokens offsets into tokens */
        uint64_t handle;        /* backend's id for the chunk */
        const void *owner;      /* the queue that leased it */
        common_list node;       /* the queue's list of leased chunks */
    } priv;
} gw_chunk;

/* Binary token i of c: sets *bin (borrowed, lifetime of c) and returns its
 * length; 0 when i is out of range. */
size_t gw_chunk_token(const gw_chunk *c, uint32_t i, const uint8_t **bin);
/* 1 when token i is an FCM registration token (its bytes are its text). */
int gw_chunk_token_raw(const gw_chunk *c, uint32_t i);
/* Token i as text: lower-case hex of an APNs token, an FCM token verbatim;
 * NUL-terminated into out (GW_TOKEN_TEXT_MAX bytes always suffice). Returns
 * its length, or 0 (no such token, out too small). */
size_t gw_chunk_token_text(const gw_chunk *c, uint32_t i, char *out, size_t out_len);
/* Hex of token i into out (APNS_TOKEN_HEX_MAX + 1 bytes). Returns 0 or
 * APNS_EINVAL. */
int gw_chunk_token_hex(const gw_chunk *c, uint32_t i, char out[APNS_TOKEN_HEX_MAX + 1]);
/* 1 when token i should be sent at now_ms: pending, or retry with
 * retry_at_ms <= now_ms, and the chunk's job is not cancelled. */
int gw_chunk_token_due(const gw_chunk *c, uint32_t i, int64_t now_ms);
/* apns-id of token i (gw_apns_id_derive of the base and first + i). */
void gw_chunk_apns_id(const gw_chunk *c, uint32_t i, char out[GW_JOB_ID_LEN + 1]);

typedef enum gw_dead_source {
    GW_DEAD_NONE = 0,         /* not a dead token */
    GW_DEAD_UNREGISTERED,     /* 410 Unregistered / ExpiredToken, with Apple's timestamp */
    GW_DEAD_BAD_DEVICE_TOKEN, /* 400 BadDeviceToken */
    GW_DEAD_NOT_FOR_TOPIC,    /* 400 DeviceTokenNotForTopic */
    GW_DEAD_FEEDBACK,         /* legacy feedback service */
    GW_DEAD_SOURCE_COUNT
} gw_dead_source;

/* "410", "BadDeviceToken", "DeviceTokenNotForTopic", "feedback"; "" for
 * NONE; "?" out of range. Static. */
const char *gw_dead_source_name(gw_dead_source s);

/* One answer for one token of a leased chunk. */
typedef struct gw_outcome {
    gw_chunk *chunk;        /* leased, not yet released */
    uint32_t token;         /* index within the chunk */
    gw_token_state state;   /* ACCEPTED, REJECTED, EXPIRED, FAILED or RETRY */
    int status;             /* HTTP status (REJECTED) */
    apns_reason reason;     /* REJECTED */
    const char *reason_str; /* NULL = apns_reason_name(reason); copied */
    int64_t apns_ts_ms;     /* 410 timestamp; 0 if none */
    int64_t retry_at_ms;    /* RETRY: when to send again (UNIX ms) */
    gw_dead_source dead;    /* REJECTED: also enter the dead-token registry */
} gw_outcome;

/* ------------------------------------------------------------------------ */
/* Dead-token registry                                                       */

#define GW_DEAD_CURSOR_MAX 64

typedef struct gw_dead_token {
    char token[GW_TOKEN_TEXT_MAX]; /* lower-case hex, or an FCM token verbatim */
    gw_dead_source source;
    char reason[48];     /* APNs reason string ("Unregistered"); "" for feedback */
    int64_t apns_ts_ms;  /* Apple's timestamp (410, feedback); 0 if none */
    int64_t recorded_ms; /* when the gateway recorded it */
} gw_dead_token;

/* ------------------------------------------------------------------------ */
/* Broadcast channel records                                                 */

/* apnsd's own record of a Live Activity broadcast channel (iOS 18) it
 * created at APNs, or found there by a sync: per (app, environment name),
 * at most the caller's bound (Apple's APNS_CHANNEL_LIMIT per app and
 * environment). Both backends keep them, so every node of a fleet sees the
 * same records. A deleted record is removed at once (nothing is kept). */
#define GW_CHANNEL_LABEL_MAX 128
#define GW_CHANNEL_ENV_MAX   15

typedef struct gw_channel {
    char id[APNS_CHANNEL_ID_MAX + 1];     /* APNs' base64 channel id */
    int storage_policy;                   /* 0, 1; -1 unknown (found by a sync) */
    char label[GW_CHANNEL_LABEL_MAX + 1]; /* the caller's; "" none */
    int64_t created_ms;                   /* when the record was made */
} gw_channel;

/* ------------------------------------------------------------------------ */
/* Callbacks (all on the loop thread; `detail` is "" on success and borrowed
 * for the call, like every pointer argument)                                */

typedef void (*gw_done_cb)(int err, const char *detail, void *ud);
typedef void (*gw_count_cb)(int err, const char *detail, uint64_t count, void *ud);
typedef void (*gw_submit_cb)(int err, const char *detail, const char *job_id, void *ud);
/* chunks[0..n) are handed over: release each with gw_queue_release(). On
 * error n is 0. next_at_ms: when more work becomes due (now when the lease
 * was cut at max_chunks; INT64_MAX when nothing is waiting). */
typedef void (*gw_lease_cb)(int err, const char *detail, gw_chunk **chunks, size_t n,
                            int64_t next_at_ms, void *ud);
typedef void (*gw_status_cb)(int err, const char *detail, const gw_job_status *st, void *ud);
/* Channel records v[0..n) (get: one; list: every record, oldest first). */
typedef void (*gw_channel_cb)(int err, const char *detail, const gw_channel *v, size_t n, void *ud);
/* A sync: records added (ids APNs listed that had none) and removed (records
 * of ids APNs no longer lists). */
typedef void (*gw_channel_sync_cb)(int err, const char *detail, uint64_t added, uint64_t removed,
                                   void *ud);
/* v[0..n); next_cursor is NULL on the last page, else the cursor for the
 * next call. */
typedef void (*gw_dead_list_cb)(int err, const char *detail, const gw_dead_token *v, size_t n,
                                const char *next_cursor, void *ud);

/* ------------------------------------------------------------------------ */
/* The queue                                                                 */

typedef struct gw_queue_opts {
    struct event_base *base;   /* required: callbacks run on its thread */
    uint32_t chunk_tokens;     /* tokens per chunk; 0 = 1000 */
    uint32_t small_job_tokens; /* per-token status up to this many; 0 = 100 */
    uint64_t max_depth;        /* unfinished tokens before EDEPTH; 0 = no limit */
    size_t max_requests;       /* API requests waiting for storage; 0 = 10000 */
    int64_t retention_ms;      /* keep finished jobs this long; 0 = 7 days; <0 forever */
    int64_t purge_interval_ms; /* background retention pass; 0 = 60000; <0 never */
    int64_t lease_ttl_ms;      /* lease expiry for multi-node backends; 0 = 300000 */
    /* New work became leasable now (a submit or a release committed). */
    void (*on_work)(void *ud);
    /* Clock in UNIX ms; NULL = the system clock. Called on any thread. */
    int64_t (*clock_ms)(void *ud);
    apns_log_cb on_log; /* optional; called on the storage thread too: must be
                           thread-safe (one line per call) */
    void *ud;           /* for on_work, clock_ms, on_log */
} gw_queue_opts;

void gw_queue_opts_init(gw_queue_opts *o);

typedef struct gw_queue_stats {
    uint64_t depth;     /* unfinished tokens, including submits not yet committed */
    uint64_t requests;  /* requests waiting for or in storage */
    uint64_t commits;   /* transactions committed */
    uint64_t failures;  /* transactions that failed */
    uint64_t leased;    /* chunks leased right now */
    uint64_t cancelled; /* tokens this process's storage work made GW_TOKEN_CANCELLED */
    int last_err;       /* code of the last failure; 0 after a later success */
    uint64_t orphans;   /* stored chunks of requests never committed, dropped (JetStream) */
} gw_queue_stats;

typedef struct gw_queue gw_queue;

/* ------------------------------------------------------------------------ */
/* Optional abilities. A backend declares them (internal/queue_backend.h);
 * callers ask gw_queue_has_*(), never the backend's type.                   */

/*
 * Token store: one provider token per team shared by every process that
 * opens the same queue (a fleet). The mint function runs on the backend's
 * thread: it must be thread-safe and not touch the event loop. It writes a
 * NUL-terminated JWT into jwt (jwt_len bytes) and returns 0 or an APNS_E*
 * code.
 */
typedef int (*gw_queue_mint_fn)(void *mint_ud, char *jwt, size_t jwt_len);
/* jwt: borrowed for the call. issued_ms: when the shared token was stored.
 * minted: 1 when this call's mint is the one the fleet uses. */
typedef void (*gw_queue_token_cb)(int err, const char *detail, const char *jwt, int64_t issued_ms,
                                  int minted, void *ud);

/* A shared token fits a token cache (apns_token_cache_put): APNs JWTs are
 * ~190 bytes, FCM access tokens up to 2048 (apns/jwt.h). */
#define GW_QUEUE_JWT_MAX APNS_JWT_MAX

/* Operation counters a backend may keep (e.g. JetStream publishes, acks,
 * reads, fetches), for metrics. kind is static. */
typedef struct gw_queue_op_count {
    const char *kind;
    uint64_t n;
} gw_queue_op_count;

#define GW_QUEUE_OP_KINDS_MAX 8

/*
 * Idempotency records (queue_idem.c): one per (scope, key), scope being the
 * caller's (the API: a hex digest of the API key), holding the SHA-256 of
 * the request body and, once the request is answered, its status and body.
 * Backends that keep them say so (gw_queue_has_idempotency); the others
 * refuse them (APNS_EINVAL): callers ask first.
 */
#define GW_IDEM_KEY_MAX   255 /* bytes of a key */
#define GW_IDEM_SCOPE_MAX 64  /* bytes of a scope */
#define GW_IDEM_HASH      32  /* SHA-256 */

typedef enum gw_idem_state {
    GW_IDEM_NEW = 0,  /* reserved now for this caller: go on, then finish or abort */
    GW_IDEM_REPLAY,   /* answered before: status and body are the first answer */
    GW_IDEM_MISMATCH, /* the key was used with another body */
    GW_IDEM_BUSY      /* reserved by a request not answered yet */
} gw_idem_state;

/* state is a gw_idem_state (err == 0); body is borrowed for the call (NULL
 * unless REPLAY). */
typedef void (*gw_idem_cb)(int err, const char *detail, int state, int status, const char *body,
                           void *ud);

/*
 * Groups: the requests posted between gw_queue_group_begin() and
 * gw_queue_group_end() (on the loop thread, with nothing else between)
 * reach the storage in one batch, and a backend with idempotency records
 * commits them whole: all or none (each callback then carries the group's
 * error). SQLite: one transaction; JetStream: a commit record written after
 * the rest, without which no node sends any of it (jetstream/js_idem.c).
 * gw_queue_group_end(q, err) with err != 0 abandons the group: every
 * request posted in it fails with err (its callback says so) and nothing
 * of it is stored. begin returns 0, or APNS_EINVAL (a group is open, or the
 * backend has no idempotency records: groups are its ability).
 */
int gw_queue_group_begin(gw_queue *q);
void gw_queue_group_end(gw_queue *q, int err, const char *detail);

/* 1 when the backend keeps idempotency records (SQLite, JetStream). */
int gw_queue_has_idempotency(const gw_queue *q);

/* Looks up (scope, key) and reserves it when absent or older than ttl_ms
 * (then answers NEW). At most max records are kept per scope (0 = no
 * bound): past it the oldest are removed. Returns 0, APNS_EINVAL (a NULL
 * or empty argument, a scope or key too long, no ability), APNS_ENOMEM,
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED; cb fires once (storage errors). */
int gw_queue_idem_begin(gw_queue *q, const char *scope, const char *key,
                        const uint8_t hash[GW_IDEM_HASH], int64_t ttl_ms, uint64_t max,
                        gw_idem_cb cb, void *ud);

/* Ends a reservation: status > 0 stores the answer (status, body) that
 * repeats replay; status 0 removes the record (nothing was stored: a repeat
 * runs anew). cb (may be NULL) fires once it is durable (state unused).
 * Returns as gw_queue_idem_begin. */
int gw_queue_idem_finish(gw_queue *q, const char *scope, const char *key, int status,
                         const char *body, gw_idem_cb cb, void *ud);

/*
 * Stores a job. Takes over job->tokens (left empty, also on failure); copies
 * the rest. The job id is generated now and written to job_id (may be NULL).
 * cb(0, "", id) fires once the job is durable; only then may the API answer
 * 202. A channel publish (job->channel) holds no tokens and counts as one.
 * Returns 0, APNS_EINVAL (no app / payload / tokens, tokens with a channel,
 * a channel that fails gw_channel_id_ok, more than
 * GW_JOB_TOKENS_MAX, bad apns_id, an expiration or send_at past
 * GW_JOB_TIME_MAX, an app name, topic or collapse id longer
 * than the backend stores: JetStream 127 / 65000 bytes), GW_QUEUE_EDEPTH (max_depth would be
 * exceeded: answer 429), GW_QUEUE_EBACKLOG (too many requests waiting:
 * 429), GW_QUEUE_ECLOSED, APNS_ENOMEM. Callback errors: the storage codes.
 */
int gw_queue_submit(gw_queue *q, gw_job *job, char job_id[GW_JOB_ID_LEN + 1], gw_submit_cb cb,
                    void *ud);

/* Leases up to max_chunks (>= 1) due chunks. Order: the SQLite backend by
 * turn (the chunk's position in its job: every job's first chunk before any
 * second chunk, ...), then earliest next_at (docs/queue.md, Scheduling); the
 * JetStream backend in stream order. The queue does not judge expiration: the dispatcher compares
 * chunk->expiration with the clock and records GW_TOKEN_EXPIRED. Returns 0,
 * APNS_EINVAL, GW_QUEUE_ECLOSED, APNS_ENOMEM. Lease, record and release are
 * not bounded by max_requests (their volume is bounded by what is leased). */
int gw_queue_lease(gw_queue *q, size_t max_chunks, gw_lease_cb cb, void *ud);

/* Records answers for tokens of leased chunks (any mix of chunks). Updates
 * the chunks' state arrays at once; cb (may be NULL) says when they are
 * durable. A final state is never changed again (a later answer for the
 * same token is ignored). Returns 0, APNS_EINVAL (a state that is not an
 * outcome, index out of range), GW_QUEUE_ELEASE, GW_QUEUE_ECLOSED,
 * APNS_ENOMEM; on error nothing of the batch is applied. */
int gw_queue_record(gw_queue *q, const gw_outcome *v, size_t n, gw_done_cb cb, void *ud);

/* Extends a lease (JetStream: in-progress ack). Returns 0 or
 * GW_QUEUE_ELEASE. No callback. */
int gw_queue_touch(gw_queue *q, gw_chunk *c);

/* Hands a leased chunk back and frees it (also when an error other than
 * GW_QUEUE_ELEASE is returned).
 * Tokens still pending become leasable at max(now, not_before_ms) (0 = now;
 * a later time pauses them, e.g. an app with bad credentials); retry tokens
 * at their retry-at. Ordered after every earlier record(). cb may be NULL.
 * Returns 0, GW_QUEUE_ELEASE, GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue_release(gw_queue *q, gw_chunk *c, int64_t not_before_ms, gw_done_cb cb, void *ud);

/* Status of a job. Callback errors: GW_QUEUE_ENOTFOUND, storage codes.
 * Returns 0, APNS_EINVAL, GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue_status(gw_queue *q, const char *job_id, gw_status_cb cb, void *ud);

/*
 * Cancels a job: every token of it that is not final and not in the hands
 * of a dispatcher (queued, scheduled, waiting for a retry) becomes
 * GW_TOKEN_CANCELLED in the same commit that stores the job's durable
 * cancel mark; a chunk leased at that moment is marked (gw_chunk.cancelled,
 * on every node that holds one, within a bounded time on JetStream) and its
 * tokens still open become cancelled when it is released, while answers for
 * tokens already sent are recorded as they come. Accepted, rejected,
 * expired and failed tokens keep their state. Idempotent: a second cancel
 * changes nothing (cancelled_ms stays the first one's).
 * cb gets the job's status after the cancel (cancelled_ms set; state
 * "in_flight" while sent tokens are still being answered). Callback errors:
 * GW_QUEUE_ENOTFOUND, the storage codes. Returns 0, APNS_EINVAL,
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM.
 */
int gw_queue_cancel(gw_queue *q, const char *job_id, gw_status_cb cb, void *ud);

/* Enters a dead token (feedback service, or an operator). An existing entry
 * for (app, token) is replaced. Returns 0, APNS_EINVAL, APNS_EBADTOKEN,
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue_dead_add(gw_queue *q, const char *app, const char *token_hex, gw_dead_source src,
                      const char *reason, int64_t apns_ts_ms, gw_done_cb cb, void *ud);

/* One page of an app's dead tokens recorded at or after since_ms, oldest
 * first (keyset paging: a page never repeats or skips entries that did not
 * change). cursor: NULL for the first page, else next_cursor of the previous
 * page. limit 1..1000 (0 = 100). Returns 0, APNS_EINVAL (bad cursor),
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue_dead_list(gw_queue *q, const char *app, int64_t since_ms, const char *cursor,
                       size_t limit, gw_dead_list_cb cb, void *ud);

/* Deletes one entry (an app re-registered the token); count is 1 or 0. */
int gw_queue_dead_delete(gw_queue *q, const char *app, const char *token_hex, gw_count_cb cb,
                         void *ud);
/* The same for an FCM app's registration token (1..GW_TOKEN_RAW_MAX bytes,
 * compared verbatim; an APNs token never matches it). Returns 0 (cb runs
 * later), APNS_EFCMTOKEN (bad length), APNS_EINVAL, APNS_ENOMEM; the token is
 * copied. */
int gw_queue_dead_delete_raw(gw_queue *q, const char *app, const char *token, gw_count_cb cb,
                             void *ud);

/*
 * Channel records of (app, env): env is the app's environment name
 * ("production", "sandbox", "custom"; at most GW_CHANNEL_ENV_MAX bytes of
 * [A-Za-z0-9_-]). Every call returns 0, APNS_EINVAL (no app or env, a bad
 * env, an app name longer than the backend stores, an id that is not
 * 1..APNS_CHANNEL_ID_MAX printable ASCII bytes without space, a label over
 * GW_CHANNEL_LABEL_MAX bytes, a policy other than -1, 0, 1, max 0),
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM; callback errors: the
 * storage codes and those named here.
 *
 * put: stores c (created_ms 0: now); an existing record of the id is
 * replaced. GW_QUEUE_ELIMIT in the callback when (app, env) already holds
 * `max` records and none of them is c->id.
 * get: one record; GW_QUEUE_ENOTFOUND when there is none.
 * list: every record (at most the largest max ever given to put or sync).
 * delete: count 1, or 0 when there was no record.
 * sync: makes the records of (app, env) exactly ids[0..n) (APNs' list):
 * removes the others, adds a record (policy -1, no label) for each id
 * without one. n at most max (else APNS_EINVAL); ids are copied.
 */
int gw_queue_channel_put(gw_queue *q, const char *app, const char *env, const gw_channel *c,
                         uint32_t max, gw_done_cb cb, void *ud);
int gw_queue_channel_get(gw_queue *q, const char *app, const char *env, const char *id,
                         gw_channel_cb cb, void *ud);
int gw_queue_channel_list(gw_queue *q, const char *app, const char *env, gw_channel_cb cb,
                          void *ud);
int gw_queue_channel_delete(gw_queue *q, const char *app, const char *env, const char *id,
                            gw_count_cb cb, void *ud);
int gw_queue_channel_sync(gw_queue *q, const char *app, const char *env, const char *const *ids,
                          size_t n, uint32_t max, gw_channel_sync_cb cb, void *ud);

/* 1 when id could be a channel id the records hold (1..APNS_CHANNEL_ID_MAX
 * bytes of printable ASCII without space). */
int gw_channel_id_ok(const char *id);

/* One bounded retention pass: deletes up to max_jobs (0 = 100) finished jobs
 * older than retention_ms; count = jobs deleted. The backend also runs this
 * by itself every purge_interval_ms, in small transactions. */
int gw_queue_purge(gw_queue *q, size_t max_jobs, gw_count_cb cb, void *ud);

/* Unfinished tokens (pending + retry + submits not yet committed). Cheap;
 * any thread. The API compares it with its limit for 429. */
uint64_t gw_queue_depth(gw_queue *q);

/*
 * Undoes a hold-back: the chunks of `app`'s jobs that are not leased, hold
 * a pending token and were handed back with a not_before in (now,
 * until_ms] (a paused app's work: gw_queue_release) become leasable now.
 * Jobs whose send_at is still ahead keep their time. The dispatcher calls
 * it when a reload gives a paused app new credentials. cb(err, detail,
 * chunks made due, ud) may be NULL. Returns 0, APNS_EINVAL (no app, or a
 * name over GW_QUEUE_WAKE_APP_MAX bytes), GW_QUEUE_ECLOSED, APNS_ENOMEM.
 * The JetStream backend wakes the hand-backs this node holds back
 * (js_held.c: at least 2 s away, at most 4096); any other hand-back there
 * is a delayed nak, which cannot be called back (it comes at its time).
 * Chunks made due announce work (opts.on_work), on both backends.
 */
#define GW_QUEUE_WAKE_APP_MAX 255
int gw_queue_wake(gw_queue *q, const char *app, int64_t until_ms, gw_count_cb cb, void *ud);

/* Counters for metrics and /readyz (last_err != 0: storage is failing).
 * Loop thread. */
void gw_queue_stats_get(gw_queue *q, gw_queue_stats *s);

/* 1 when the backend shares one provider token per team (gw_queue_token_get). */
int gw_queue_has_token_store(const gw_queue *q);

/*
 * The shared provider token for (team_id, key_id): the stored one while it
 * is younger than refresh_ms and is not stale_jwt (the token APNs just
 * answered ExpiredProviderToken for; NULL = none); otherwise this process
 * mints one and stores it unless another process stored one first (then
 * that one is used and ours is thrown away), so the fleet presents exactly
 * one token per refresh window. cb runs on the loop thread exactly once when
 * this returns 0, also from gw_queue_free() (GW_QUEUE_ECLOSED) for a call
 * still in progress, so ud can always be freed by it. Returns 0, APNS_EINVAL
 * (no token store, a team or key id that is not 1..63 of [A-Za-z0-9_-],
 * no mint or cb, refresh_ms <= 0, stale_jwt too long),
 * GW_QUEUE_EBACKLOG, GW_QUEUE_ECLOSED, APNS_ENOMEM; callback errors: the
 * mint's code, or the storage codes.
 */
int gw_queue_token_get(gw_queue *q, const char *team_id, const char *key_id, int64_t refresh_ms,
                       const char *stale_jwt, gw_queue_mint_fn mint, void *mint_ud,
                       gw_queue_token_cb cb, void *ud);

/* The backend's operation counters into v[0..max); returns how many (0 when
 * it keeps none). Any thread. */
size_t gw_queue_op_counts(gw_queue *q, gw_queue_op_count *v, size_t max);

/* ------------------------------------------------------------------------ */
/* Webhook outbox                                                            */

/*
 * The durable outbox of webhook events. For the apps named by
 * gw_queue_outbox_apps(), every answer that makes a token final (and
 * passes the app's filter) also writes one EVENT in the same commit as the
 * outcome (SQLite: a row of the outbox table in the record transaction;
 * JetStream: a message on <prefix>.events.<app> of the stream
 * <prefix>_EVENTS, published before the outcome record is stored). So an
 * outcome that is durable has its event durable too; an outcome recorded
 * twice (a resend after a crash) never writes a second event, except on
 * JetStream when the record store failed after the event was published
 * (at least once). An event is one JSON object, the webhook's result
 * (webhook.h), without its event_id; its id is the storage's (SQLite's
 * AUTOINCREMENT row id, JetStream's stream sequence): unique per queue,
 * never reused, the same at every read.
 *
 * The webhook module reads an app's oldest events in batches, delivers
 * them, and acknowledges them (deleted) after a 2xx. Events read and not
 * acknowledged are read again (SQLite: at the next read; JetStream: after
 * the consumer's ack wait, lease_ttl_ms, by any node of the fleet: the
 * durable consumer "<prefix>_EV_<app>" is shared). Retention: each read
 * first drops the app's oldest events beyond max_events and older than
 * max_age_ms (reported as `dropped`).
 */
typedef enum gw_outbox_filter {
    GW_OUTBOX_ALL = 0,    /* every final outcome */
    GW_OUTBOX_REJECTIONS, /* only REJECTED ones (every dead token is one) */
} gw_outbox_filter;

typedef struct gw_outbox_app {
    const char *app; /* 1..GW_QUEUE_WAKE_APP_MAX bytes of [A-Za-z0-9_-.] */
    gw_outbox_filter filter;
} gw_outbox_app;

typedef struct gw_outbox_event {
    uint64_t id;      /* the storage's id (> 0) */
    const char *json; /* the event object, NUL-terminated; borrowed for the callback */
    size_t len;
} gw_outbox_event;

/* v[0..n): the app's oldest events (n 0 when none or on error); depth:
 * events of the app still stored after the read's retention step (a
 * JetStream estimate: the consumer's pending count); dropped: events this
 * read's retention step removed. */
typedef void (*gw_outbox_read_cb)(int err, const char *detail, const gw_outbox_event *v, size_t n,
                                  uint64_t depth, uint64_t dropped, void *ud);

/* Replaces the apps whose outcomes write events (v copied; n 0 = none).
 * Applies to records posted after the call. Returns 0, APNS_EINVAL,
 * APNS_ENOMEM (nothing changed). */
int gw_queue_outbox_apps(gw_queue *q, const gw_outbox_app *v, size_t n);

/* Reads up to max (0..10000; 0 = retention and depth only) of app's oldest
 * events, after dropping those beyond max_events (0 = no bound) or older
 * than max_age_ms (0 = no bound). Returns 0, APNS_EINVAL, GW_QUEUE_ECLOSED,
 * APNS_ENOMEM; callback errors: the storage codes. */
int gw_queue_outbox_read(gw_queue *q, const char *app, size_t max, uint64_t max_events,
                         int64_t max_age_ms, gw_outbox_read_cb cb, void *ud);

/* Acknowledges (deletes) events ids[0..n) of app (copied) after their
 * delivery; an id already gone is ignored. cb may be NULL. Returns 0,
 * APNS_EINVAL, GW_QUEUE_ECLOSED, APNS_ENOMEM. */
int gw_queue_outbox_ack(gw_queue *q, const char *app, const uint64_t *ids, size_t n, gw_done_cb cb,
                        void *ud);

/* Finishes every posted request (their work is committed), stops the
 * storage thread and frees the queue. No callback runs after (or during)
 * this call. Chunks still leased are freed too (their leases end; the
 * dispatcher must drop its pointers). NULL is a no-op. Call it from the loop
 * thread, outside callbacks. */
void gw_queue_free(gw_queue *q);

#ifdef __cplusplus
}
#endif
#endif

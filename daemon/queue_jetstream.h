/*
 * queue_jetstream.h - the NATS JetStream queue backend (queue_jetstream.c
 * and js_*.c) and the fleet's shared provider-token store (js_token.c).
 *
 * The queue behaves like the SQLite backend behind the same gw_queue vtable
 * (queue.h), but many apnsd processes ("nodes") can open it against the same
 * NATS cluster: they share one work queue, take over each other's chunks
 * when one dies, and answer status and dead-token queries for every job.
 * The design note at the top of queue_jetstream.c says what is stored where
 * and what a crash does; docs/scaling.md is the operator's version.
 */
#ifndef GW_QUEUE_JETSTREAM_H
#define GW_QUEUE_JETSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gw_queue_jetstream_opts {
    const char *const *servers; /* required: n_servers URLs "nats://host:port" (tls:// too) */
    size_t n_servers;
    const char *creds_file;    /* NATS user credentials (JWT + nkey seed); NULL = none */
    const char *tls_ca_file;   /* CA for the servers' certificates; NULL = system / no TLS */
    const char *tls_cert_file; /* client certificate (with tls_key_file); NULL = none */
    const char *tls_key_file;
    const char *prefix;  /* names: stream <P>_CHUNKS, buckets <P>_JOBS, <P>_OUT,
                            <P>_DEAD, <P>_TOKENS; subjects <P>.chunk.N; NULL = "apnsd" */
    int replicas;        /* stream and bucket replicas (1..5); 0 = 3 */
    int64_t ack_wait_ms; /* a silent node's chunks come back after this; 0 = 30000 */
    /* A chunk delivered this many times without being handed back (its
     * holders died or stalled) is parked: its open tokens are recorded
     * FAILED and it is removed. 0 = never park. */
    uint32_t max_deliveries;
    int64_t op_timeout_ms;      /* one NATS request or publish batch; 0 = 5000 */
    int64_t connect_timeout_ms; /* open: reach a server and set up; 0 = 10000 */
    int64_t poll_ms;            /* lease next_at when the lease was not cut; 0 = 1000 */
    const char *node_name;      /* connection name shown by the servers; NULL = host.pid */
} gw_queue_jetstream_opts;

void gw_queue_jetstream_opts_init(gw_queue_jetstream_opts *jo);

/*
 * Connects (trying every server, up to connect_timeout_ms), creates or binds
 * the stream, the shared durable consumer and the KV buckets, and starts the
 * backend's thread. Runs on the caller's thread; call it before serving.
 * After open, lost connections are re-established by the client library on
 * its own (forever); meanwhile requests fail with GW_QUEUE_EIO (503).
 * Returns 0, APNS_EINVAL (no servers, bad prefix, replicas out of range),
 * GW_QUEUE_EIO (no server reachable, no JetStream quorum), GW_QUEUE_ESTORE
 * (the stream exists with an incompatible configuration), GW_QUEUE_EREADONLY
 * (permission denied), APNS_ENOMEM; `detail` names the servers and the NATS
 * error. Free with gw_queue_free().
 *
 * gw_queue_opts: lease_ttl_ms bounds how long a node keeps a chunk alive
 * (in-progress acks every ack_wait/3) without a record() or touch() on it;
 * retention_ms is the age limit (bucket TTL) of job status; purge is a
 * no-op (the servers expire entries); max_requests bounds API requests.
 */
int gw_queue_jetstream_open(gw_queue **out, const gw_queue_opts *o,
                            const gw_queue_jetstream_opts *jo, char *detail, size_t detail_len);

/* 1 when q came from gw_queue_jetstream_open. */
int gw_queue_is_jetstream(const gw_queue *q);

/* Counters of JetStream operations this queue issued (publishes, acks,
 * KV reads and writes, fetches, API requests), for BENCHMARKS.md's
 * "operations per notification". Any thread. */
typedef struct gw_js_op_stats {
    uint64_t publishes; /* chunk messages and KV writes (stored: each is a RAFT entry) */
    uint64_t acks;      /* ack, nak, in-progress, term */
    uint64_t reads;     /* KV gets, watches, stream/consumer info */
    uint64_t fetches;   /* pull requests */
} gw_js_op_stats;
void gw_queue_jetstream_op_stats(gw_queue *q, gw_js_op_stats *s);

/* ------------------------------------------------------------------------ */
/* The fleet's provider tokens (js_token.c)                                  */

/*
 * Mints a new provider token (an ES256 JWT) for one team. Runs on the
 * queue's thread: it must be thread-safe and not touch the event loop.
 * Writes a NUL-terminated JWT into jwt (jwt_len bytes) and returns 0, or a
 * negative APNS_E* code.
 */
typedef int (*gw_js_mint_fn)(void *mint_ud, char *jwt, size_t jwt_len);

/* jwt: borrowed for the call. issued_ms: when the fleet's token was stored.
 * minted: 1 when this call's mint is the one the fleet uses. */
typedef void (*gw_js_token_cb)(int err, const char *detail, const char *jwt, int64_t issued_ms,
                               int minted, void *ud);

#define GW_JS_JWT_MAX 1024

/*
 * The fleet's current provider token for (team_id, key_id): the stored one
 * while it is younger than refresh_ms and is not stale_jwt (the token APNs
 * just answered ExpiredProviderToken for; NULL = none); otherwise this node
 * mints one and stores it with a compare-and-set on the entry's revision.
 * When another node stored one first, its token is used and ours is thrown
 * away, so the fleet presents exactly one token per refresh window.
 * cb runs on the loop thread, exactly once when this returns 0: also from
 * gw_queue_free() (GW_QUEUE_ECLOSED) for a call still in progress, so ud
 * can always be freed by it. Returns 0, APNS_EINVAL, GW_QUEUE_EBACKLOG,
 * GW_QUEUE_ECLOSED, APNS_ENOMEM; callback errors: the mint's code, or the
 * storage codes (GW_QUEUE_EIO when the cluster is unreachable).
 */
int gw_js_token_get(gw_queue *q, const char *team_id, const char *key_id, int64_t refresh_ms,
                    const char *stale_jwt, gw_js_mint_fn mint, void *mint_ud, gw_js_token_cb cb,
                    void *ud);

#ifdef __cplusplus
}
#endif
#endif

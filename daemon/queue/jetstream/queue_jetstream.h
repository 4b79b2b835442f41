/*
 * queue_jetstream.h - the NATS JetStream queue backend (queue_jetstream.c
 * and js_*.c) and the fleet's shared provider-token store (js_token.c).
 *
 * The queue behaves like the SQLite backend behind the same calls
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

/* Abilities (queue.h): the fleet's provider tokens (gw_queue_token_get;
 * js_token.c: one token per team and key id in the <prefix>_TOKENS
 * bucket, replaced with a compare-and-set) and operation counters
 * (gw_queue_op_counts: publishes, acks, KV reads, fetches). */

#ifdef __cplusplus
}
#endif
#endif

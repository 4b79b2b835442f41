/*
 * queue_keys.h - the [queue] section: the durable queue's keys (both
 * backends), read at start only (a change needs a restart).
 *
 * Keys, defaults and rules: queue_keys.c; the reference in
 * docs/configuration.md.
 */
#ifndef GW_QUEUE_KEYS_H
#define GW_QUEUE_KEYS_H

#include <stdint.h>

#include "config.h"

typedef enum gw_queue_backend {
    GW_QUEUE_BACKEND_SQLITE = 0,
    GW_QUEUE_BACKEND_JETSTREAM, /* NATS JetStream (queue/jetstream/queue_jetstream.h) */
} gw_queue_backend;

typedef enum gw_queue_sync {
    GW_QUEUE_SYNC_NORMAL = 0, /* outcome batches with synchronous=NORMAL (jobs are always FULL) */
    GW_QUEUE_SYNC_FULL,       /* outcome batches with synchronous=FULL too */
} gw_queue_sync;

/* Field names follow gw_queue_opts and the backends' options. */
typedef struct gw_queue_config {
    int backend; /* gw_queue_backend */
    char *path;  /* sqlite database file */
    uint32_t chunk_tokens;
    uint32_t small_job_tokens;
    uint64_t max_depth; /* unfinished tokens before 429; 0 = unlimited */
    uint32_t max_requests;
    int64_t retention_ms;
    int64_t purge_interval_ms;
    uint64_t max_db_bytes; /* 0 = no limit */
    int sync;              /* gw_queue_sync: GW_QUEUE_SYNC_FULL = outcome_sync_full */
    /* backend = jetstream: gw_queue_jetstream_opts */
    gw_strv servers; /* "nats://host:4222", "tls://host:4222" */
    char *creds_file;
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    char *prefix; /* stream and bucket names: <prefix>_CHUNKS, ... */
    uint32_t replicas;
    int64_t ack_wait_ms;
    int64_t lease_ttl_ms; /* gw_queue_opts.lease_ttl_ms */
    uint32_t max_deliveries;
    int64_t op_timeout_ms;
} gw_queue_config;

extern const gw_config_section gw_queue_section;
extern const gw_config_part gw_queue_part;

/* The [queue] section of c (loaded with gw_queue_part). Borrowed from c. */
const gw_queue_config *gw_queue_config_of(const gw_config *c);

#endif

/*
 * queue_keys.c - the [queue] section: its keys (one table: name, type,
 * default, range, check, doc line) and its rules. The SQLite keys are
 * checked against the file system (the database or its directory); with
 * backend = jetstream the cluster's addresses and the client's TLS pair
 * are checked, but the servers are not contacted (apnsd --check-config must
 * work where the cluster is not reachable). Keys of the other backend draw
 * a warning, not an error.
 */
#include "queue_keys.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define F(f) offsetof(gw_queue_config, f)

static int check_nats_url(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_url_ok(v, "nats|tls", 512, ","), why, len,
                         "must be a nats:// or tls:// URL with a host, like nats://10.0.0.1:4222");
}

static int check_nats_prefix(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_chars_ok(v, 1, 32, GW_CONFIG_ALNUM "_-"), why, len,
                         "must be 1..32 of A-Z a-z 0-9 _ -");
}

static const gw_config_key keys[] = {
    {.name = "backend",
     .type = GW_CONFIG_T_ENUM,
     .def = "sqlite",
     .off = F(backend),
     .choices = "sqlite|jetstream",
     .aka = "type driver",
     .doc = "Where jobs are stored. `sqlite`: one embedded database (WAL), one gateway. "
            "`jetstream`: a NATS JetStream cluster shared by a fleet of gateways "
            "(docs/scaling.md)."},
    {.name = "path",
     .type = GW_CONFIG_T_PATH,
     .def = "apnsd.db",
     .off = F(path),
     .aka = "database db file db_path",
     .doc = "SQLite database file (created if missing; its directory must exist and be "
            "writable). Relative paths are relative to the working directory."},
    {.name = "chunk_tokens",
     .type = GW_CONFIG_T_COUNT,
     .def = "1000",
     .off = F(chunk_tokens),
     .min = 1,
     .max = 100000,
     .aka = "chunk_size chunk batch_size",
     .doc = "Device tokens per chunk: a job (a broadcast to 1,000,000 tokens is one job) is "
            "stored, leased and answered in chunks of this many tokens."},
    {.name = "small_job_tokens",
     .type = GW_CONFIG_T_COUNT,
     .def = "100",
     .off = F(small_job_tokens),
     .min = 0,
     .max = 100000,
     .doc = "Jobs with at most this many tokens report per-token outcomes in "
            "`GET /v1/notifications/{id}`; larger jobs report counts."},
    {.name = "max_depth",
     .type = GW_CONFIG_T_COUNT64,
     .def = "10000000",
     .off = F(max_depth),
     .min = 0,
     .max = 1000000000000,
     .aka = "max_queue depth queue_limit",
     .doc = "Unfinished notifications (one per device token) above which new pushes get 429 "
            "with Retry-After; `0` = unlimited. Nothing accepted is ever dropped. Must be at "
            "least `[server] max_tokens` (a request that large could never be queued)."},
    {.name = "max_requests",
     .type = GW_CONFIG_T_COUNT,
     .def = "10000",
     .off = F(max_requests),
     .min = 1,
     .max = 1000000,
     .aka = "backlog",
     .doc = "API requests waiting for storage above which new pushes get 429."},
    {.name = "retention",
     .type = GW_CONFIG_T_DURATION,
     .def = "7d",
     .off = F(retention_ms),
     .min = 1 * GW_CONFIG_MIN,
     .max = 3650 * GW_CONFIG_DAY,
     .aka = "keep retain ttl",
     .doc = "How long finished jobs, their per-token outcomes and status stay queryable."},
    {.name = "purge_interval",
     .type = GW_CONFIG_T_DURATION,
     .def = "1m",
     .off = F(purge_interval_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_DAY,
     .doc = "How often jobs past `retention` are deleted."},
    {.name = "max_size",
     .type = GW_CONFIG_T_SIZE,
     .def = "0",
     .off = F(max_db_bytes),
     .min = 0,
     .max = 1024 * GW_CONFIG_GIB,
     .aka = "max_db_size max_db_bytes",
     .doc = "Size limit of the database file; past it pushes get 503 (nothing accepted is "
            "lost). `0` = no limit (the disk is the limit)."},
    {.name = "sync",
     .type = GW_CONFIG_T_ENUM,
     .def = "normal",
     .off = F(sync),
     .choices = "normal|full",
     .aka = "synchronous fsync",
     .doc = "Jobs are always committed with SQLite `synchronous=FULL` before the API answers "
            "(they survive power loss). This sets outcome batches: `normal` (a power loss may "
            "lose the last outcomes: those tokens are sent again) or `full`."},
    /* backend = jetstream (queue/jetstream/queue_jetstream.h) */
    {.name = "servers",
     .type = GW_CONFIG_T_LIST,
     .def_doc = "none",
     .off = F(servers),
     .check = check_nats_url,
     .aka = "urls nats url nats_url nats_servers",
     .doc = "`backend = jetstream`: NATS server URLs (`nats://host:4222`, `tls://host:4222`), "
            "comma-separated; list several members of the cluster, the client fails over "
            "between them and reconnects by itself."},
    {.name = "creds_file",
     .type = GW_CONFIG_T_PATH,
     .off = F(creds_file),
     .aka = "credentials nats_creds",
     .doc = "`backend = jetstream`: NATS user credentials file (JWT and NKey seed)."},
    {.name = "tls_ca_file",
     .type = GW_CONFIG_T_PATH,
     .off = F(tls_ca_file),
     .aka = "ca_file nats_ca",
     .doc = "`backend = jetstream`: CA certificates (PEM) that sign the NATS servers' "
            "certificates; setting it turns TLS on."},
    {.name = "tls_cert_file",
     .type = GW_CONFIG_T_PATH,
     .off = F(tls_cert_file),
     .doc = "`backend = jetstream`: client certificate (PEM) for NATS servers that verify "
            "clients; needs `tls_key_file`."},
    {.name = "tls_key_file",
     .type = GW_CONFIG_T_PATH,
     .off = F(tls_key_file),
     .doc = "`backend = jetstream`: the client certificate's private key (PEM)."},
    {.name = "prefix",
     .type = GW_CONFIG_T_STR,
     .def = "apnsd",
     .off = F(prefix),
     .check = check_nats_prefix,
     .aka = "stream stream_prefix bucket_prefix",
     .doc = "`backend = jetstream`: names of the stream (`PREFIX_CHUNKS`), its consumer and the "
            "KV buckets (`PREFIX_JOBS`, `PREFIX_OUT`, `PREFIX_DEAD`, `PREFIX_TOKENS`, "
            "`PREFIX_CHANNELS`). Every "
            "node of one fleet uses the same prefix; another prefix is another queue."},
    {.name = "replicas",
     .type = GW_CONFIG_T_COUNT,
     .def = "3",
     .off = F(replicas),
     .min = 1,
     .max = 5,
     .aka = "replication num_replicas",
     .doc = "`backend = jetstream`: copies of the stream and buckets (RAFT). 3 survives one "
            "server down; needs that many JetStream servers in the cluster."},
    {.name = "ack_wait",
     .type = GW_CONFIG_T_DURATION,
     .def = "30s",
     .off = F(ack_wait_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_HOUR,
     .aka = "ack_timeout",
     .doc = "`backend = jetstream`: a chunk held by a node that stopped answering (killed, hung, "
            "cut off) goes to another node after this long. Live nodes keep theirs with "
            "in-progress acks every third of it."},
    {.name = "lease_ttl",
     .type = GW_CONFIG_T_DURATION,
     .def = "5m",
     .off = F(lease_ttl_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_DAY,
     .aka = "lease_timeout",
     .doc = "`backend = jetstream`: a node keeps a chunk alive only while its dispatcher "
            "records answers for it at least this often; a chunk stuck longer goes back to "
            "the fleet (after `ack_wait`)."},
    {.name = "max_deliveries",
     .type = GW_CONFIG_T_COUNT,
     .def = "20",
     .off = F(max_deliveries),
     .min = 0,
     .max = 100000,
     .aka = "max_deliver max_redeliveries",
     .doc = "`backend = jetstream`: a chunk taken this many times by nodes that never handed it "
            "back (they died or hung with it) is parked: its open tokens are recorded failed "
            "and an error is logged. Hand-backs for retries and pauses do not count. `0` = "
            "never park."},
    {.name = "op_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "5s",
     .off = F(op_timeout_ms),
     .min = 100,
     .max = 1 * GW_CONFIG_MIN,
     .aka = "nats_timeout request_timeout",
     .doc = "`backend = jetstream`: how long one NATS request or batch of publishes may take "
            "before the request fails with 503 (while disconnected, requests fail at once)."},
};

/* backend = jetstream: the cluster's addresses and the client's TLS pair;
 * the SQLite file keys do not apply. */
static void rules_jetstream(gw_config_rules *r, const gw_queue_config *q)
{
    if (q->servers.n == 0 && gw_config_has(r, "servers") >= 0)
        gw_config_fail(r, "servers",
                       "required with backend = jetstream: the NATS URLs of the cluster, e.g. "
                       "nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222");
    if ((q->tls_cert_file == NULL) != (q->tls_key_file == NULL)) /* paths: never refused */
        gw_config_fail(r, q->tls_cert_file ? "tls_cert_file" : "tls_key_file",
                       "tls_cert_file and tls_key_file go together (the client certificate and "
                       "its key)");
    if (q->servers.n > 0 && (int64_t)q->replicas > (int64_t)q->servers.n &&
        gw_config_has(r, "replicas") >= 0)
        gw_config_warn(r, "replicas",
                       "%u replicas but only %zu server URL(s) listed: fine if the others are "
                       "found by the cluster's gossip, otherwise the stream cannot be created",
                       (unsigned)q->replicas, q->servers.n);
    gw_config_each(r, GW_CONFIG_WARNING, "path max_size sync purge_interval",
                   "ignored with backend = jetstream (a SQLite setting)");
}

/* backend = sqlite: the database file, or the directory it will be created in. */
static void rules_sqlite_path(gw_config_rules *r, const char *path)
{
    char qb[96], dir[4096];
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            gw_config_fail(r, "path", "%s exists and is not a regular file",
                           gw_config_quote(path, qb, sizeof qb));
        else if (access(path, R_OK | W_OK) != 0)
            gw_config_fail(r, "path", "%s is not readable and writable: %s",
                           gw_config_quote(path, qb, sizeof qb), strerror(errno));
        return;
    }
    const char *slash = strrchr(path, '/'); /* the directory: ".", "/" or up to the last '/' */
    snprintf(dir, sizeof dir, "%.*s", slash == NULL || slash == path ? 1 : (int)(slash - path),
             slash ? path : ".");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        gw_config_fail(r, "path", "directory %s does not exist",
                       gw_config_quote(dir, qb, sizeof qb));
    else if (access(dir, W_OK | X_OK) != 0)
        gw_config_fail(r, "path", "directory %s is not writable: %s",
                       gw_config_quote(dir, qb, sizeof qb), strerror(errno));
}

static void rules(gw_config_rules *r, void *part)
{
    const gw_queue_config *q = part;

    if (gw_config_has(r, "backend") < 0)
        return;
    if (q->backend == GW_QUEUE_BACKEND_JETSTREAM) {
        rules_jetstream(r, q);
        return;
    }
    gw_config_each(r, GW_CONFIG_WARNING,
                   "servers creds_file tls_ca_file tls_cert_file tls_key_file prefix replicas "
                   "ack_wait lease_ttl max_deliveries op_timeout",
                   "ignored: only backend = jetstream uses it");
    rules_sqlite_path(r, q->path); /* never NULL: a default, and no value is refused */
}

const gw_config_section gw_queue_section = {
    "queue", GW_CONFIG_S_RESTART,
    "The durable queue. Changes need a restart. `path`, `max_size` and `sync` are the "
    "SQLite backend's; the keys from `servers` on are the JetStream backend's "
    "(docs/scaling.md)."};

const gw_config_part gw_queue_part = {
    .section = &gw_queue_section,
    .keys = keys,
    .n_keys = sizeof(keys) / sizeof(keys[0]),
    .size = sizeof(gw_queue_config),
    .rules = rules,
};

const gw_queue_config *gw_queue_config_of(const gw_config *c)
{
    return gw_config_part_of(c, &gw_queue_part);
}

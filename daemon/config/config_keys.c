/*
 * config_keys.c - the configuration's keys, stated once.
 *
 * Each section has one table. An entry names the key, its type, its default
 * (in file syntax, parsed by the same code as the file), its range or rule,
 * whether it is secret, reserved, or live-reloadable, the names people often
 * mean instead (for did-you-mean), and the line of documentation. From these
 * tables come: parsing and single-field validation (gw__value_set),
 * defaults, environment overrides (APNSD_<SECTION>_<KEY>), the dump with
 * secrets masked (gw__value_format), reload diffs (gw__value_equal) and
 * the key reference in docs/configuration.md (gw_config_write_reference,
 * kept identical by tests/daemon/config/test_config.c).
 *
 * Rules that involve more than one key (token auth needs key_id, binary
 * needs a certificate, ...) are code, in config.c.
 */
#define GW_CONFIG_INTERNAL
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KiB  ((int64_t)1024)
#define MiB  (1024 * KiB)
#define GiB  (1024 * MiB)
#define SEC  ((int64_t)1000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static void whyf(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* single-field rules                                                     */

static int check_id10(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n == 10;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9');
    if (!ok)
        whyf(why, len, "must be 10 characters [A-Z0-9]");
    return ok ? 0 : -1;
}

static int check_bundle_id(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n > 0 && n <= APNS_TOPIC_MAX && v[0] != '.' && v[n - 1] != '.' && !strstr(v, "..");
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '.' || v[i] == '-';
    if (!ok)
        whyf(why, len, "must be a bundle id like com.example.app ([A-Za-z0-9.-], at most 255)");
    return ok ? 0 : -1;
}

static int host_ok(const char *h)
{
    size_t n = strlen(h);
    unsigned char buf[16];
    if (n == 0 || n > 253)
        return 0;
    if (strchr(h, ':'))
        return inet_pton(AF_INET6, h, buf) == 1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return 0;
    return h[0] != '.' && h[0] != '-';
}

static int check_host(const char *v, char *why, size_t len)
{
    if (host_ok(v))
        return 0;
    whyf(why, len, "must be a host name or an IP address (no brackets, no port)");
    return -1;
}

int gw__split_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon, *h = s;
    size_t hn;
    char *end;
    unsigned long p;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        h = s + 1;
        hn = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return -1; /* none, or a bare IPv6 address without brackets */
        hn = (size_t)(colon - s);
    }
    if (hn == 0 || hn >= host_len)
        return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    if (!host_ok(host))
        return -1;
    if (!isdigit((unsigned char)colon[1]))
        return -1;
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static int check_hostport(const char *v, char *why, size_t len)
{
    char host[256];
    uint16_t port;
    if (gw__split_hostport(v, host, sizeof host, &port) == 0 && port != 0)
        return 0;
    whyf(why, len, "must be host:port or [v6]:port with a port in 1..65535");
    return -1;
}

/* Listen addresses may use port 0: the kernel picks a free port and apnsd
 * prints the real one ("apnsd listening on HOST:PORT"), for tests and demos. */
static int check_listen(const char *v, char *why, size_t len)
{
    char host[256];
    uint16_t port;
    if (gw__split_hostport(v, host, sizeof host, &port) == 0)
        return 0;
    whyf(why, len, "must be host:port or [v6]:port with a port in 0..65535 (0 = any free port)");
    return -1;
}

static int check_url(const char *v, char *why, size_t len)
{
    const char *rest = NULL;
    size_t n = strlen(v);
    if (strncasecmp(v, "https://", 8) == 0)
        rest = v + 8;
    else if (strncasecmp(v, "http://", 7) == 0)
        rest = v + 7;
    int ok = rest != NULL && *rest != '\0' && *rest != '/' && *rest != ':' && n <= 2048;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f;
    if (!ok)
        whyf(why, len, "must be an http:// or https:// URL with a host (no spaces, at most 2048)");
    return ok ? 0 : -1;
}

static int check_nats_url(const char *v, char *why, size_t len)
{
    const char *rest = NULL;
    size_t n = strlen(v);
    if (strncasecmp(v, "nats://", 7) == 0)
        rest = v + 7;
    else if (strncasecmp(v, "tls://", 6) == 0)
        rest = v + 6;
    int ok = rest != NULL && *rest != '\0' && *rest != '/' && *rest != ':' && n <= 512;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f && v[i] != ',';
    if (!ok)
        whyf(why, len, "must be a nats:// or tls:// URL with a host, like nats://10.0.0.1:4222");
    return ok ? 0 : -1;
}

static int check_nats_prefix(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n > 0 && n <= 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '_' || v[i] == '-';
    if (!ok)
        whyf(why, len, "must be 1..32 of A-Z a-z 0-9 _ -");
    return ok ? 0 : -1;
}

static int check_api_key(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n >= 16 && n <= 256;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f && v[i] != ',';
    if (!ok)
        whyf(why, len,
             "every key must be 16..256 printable characters without spaces or commas (this "
             "one has %zu)",
             n);
    return ok ? 0 : -1;
}

static int check_secret(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n >= 16 && n <= 1024;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
    if (!ok)
        whyf(why, len, "must be 16..1024 printable characters (this one has %zu)", n);
    return ok ? 0 : -1;
}

static int check_env_name(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    int ok = n > 0 && n < 256 && !isdigit((unsigned char)v[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '_';
    if (!ok)
        whyf(why, len, "must be an environment variable name [A-Za-z_][A-Za-z0-9_]*");
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* the tables                                                             */

#define NOFIELD ((size_t)-1)
#define SRV(f)  offsetof(gw_server_config, f)
#define QUE(f)  offsetof(gw_queue_config, f)
#define LOG(f)  offsetof(gw_log_config, f)
#define APP(f)  offsetof(gw_app_config, f)

static const gw__key server_keys[] = {
    {.name = "listen",
     .type = GW__T_LIST,
     .def = "127.0.0.1:8080",
     .off = SRV(listen),
     .check = check_listen,
     .aka = "bind address listen_address addr",
     .doc = "Addresses the HTTP API listens on: `host:port` or `[v6]:port`, comma-separated. "
            "Use `0.0.0.0:8080` or `[::]:8080` for every interface; port 0 picks a free port "
            "(printed as `apnsd listening on HOST:PORT`)."},
    {.name = "max_body",
     .type = GW__T_SIZE,
     .def = "128MiB",
     .off = SRV(max_body),
     .min = 1 * KiB,
     .max = 1 * GiB,
     .aka = "max_body_size body_limit max_request_size",
     .doc = "Largest request body; larger requests are answered 413. A broadcast to 1,000,000 "
            "64-hex tokens is about 70 MB."},
    {.name = "max_tokens",
     .type = GW__T_COUNT,
     .def = "1000000",
     .off = SRV(max_tokens),
     .min = 1,
     .max = 10000000,
     .aka = "max_tokens_per_request",
     .doc = "Device tokens one request may name (all notifications together); more is 400."},
    {.name = "request_timeout",
     .type = GW__T_DURATION,
     .def = "60s",
     .off = SRV(request_timeout_ms),
     .min = 1 * SEC,
     .max = 1 * HOUR,
     .doc = "Time a client has to send a whole request."},
    {.name = "max_wait",
     .type = GW__T_DURATION,
     .def = "30s",
     .off = SRV(max_wait_ms),
     .min = 0,
     .max = 10 * MIN,
     .doc = "Cap on `POST /v1/push?wait=SECONDS` (a longer wait is shortened to this); `0` "
            "turns `?wait` off."},
    {.name = "drain_timeout",
     .type = GW__T_DURATION,
     .def = "30s",
     .off = SRV(drain_timeout_ms),
     .min = 0,
     .max = 1 * HOUR,
     .aka = "shutdown_timeout grace_period",
     .doc = "On SIGTERM: stop accepting, finish what is in flight within this time, exit. "
            "What is not answered by then stays queued for the next start."},
    {.name = "metrics",
     .type = GW__T_BOOL,
     .def = "yes",
     .off = SRV(metrics),
     .aka = "prometheus enable_metrics",
     .doc = "Serve Prometheus metrics at `GET /metrics`."},
};

static const gw__key queue_keys[] = {
    {.name = "backend",
     .type = GW__T_ENUM,
     .def = "sqlite",
     .off = QUE(backend),
     .choices = "sqlite|jetstream",
     .aka = "type driver",
     .doc = "Where jobs are stored. `sqlite`: one embedded database (WAL), one gateway. "
            "`jetstream`: a NATS JetStream cluster shared by a fleet of gateways "
            "(docs/scaling.md)."},
    {.name = "path",
     .type = GW__T_PATH,
     .def = "apnsd.db",
     .off = QUE(path),
     .aka = "database db file db_path",
     .doc = "SQLite database file (created if missing; its directory must exist and be "
            "writable). Relative paths are relative to the working directory."},
    {.name = "chunk_tokens",
     .type = GW__T_COUNT,
     .def = "1000",
     .off = QUE(chunk_tokens),
     .min = 1,
     .max = 100000,
     .aka = "chunk_size chunk batch_size",
     .doc = "Device tokens per chunk: a job (a broadcast to 1,000,000 tokens is one job) is "
            "stored, leased and answered in chunks of this many tokens."},
    {.name = "small_job_tokens",
     .type = GW__T_COUNT,
     .def = "100",
     .off = QUE(small_job_tokens),
     .min = 0,
     .max = 100000,
     .doc = "Jobs with at most this many tokens report per-token outcomes in "
            "`GET /v1/notifications/{id}`; larger jobs report counts."},
    {.name = "max_depth",
     .type = GW__T_COUNT64,
     .def = "10000000",
     .off = QUE(max_depth),
     .min = 0,
     .max = 1000000000000,
     .aka = "max_queue depth queue_limit",
     .doc = "Unfinished notifications (one per device token) above which new pushes get 429 "
            "with Retry-After; `0` = unlimited. Nothing accepted is ever dropped."},
    {.name = "max_requests",
     .type = GW__T_COUNT,
     .def = "10000",
     .off = QUE(max_requests),
     .min = 1,
     .max = 1000000,
     .aka = "backlog",
     .doc = "API requests waiting for storage above which new pushes get 429."},
    {.name = "retention",
     .type = GW__T_DURATION,
     .def = "7d",
     .off = QUE(retention_ms),
     .min = 1 * MIN,
     .max = 3650 * DAY,
     .aka = "keep retain ttl",
     .doc = "How long finished jobs, their per-token outcomes and status stay queryable."},
    {.name = "purge_interval",
     .type = GW__T_DURATION,
     .def = "1m",
     .off = QUE(purge_interval_ms),
     .min = 1 * SEC,
     .max = 1 * DAY,
     .doc = "How often jobs past `retention` are deleted."},
    {.name = "max_size",
     .type = GW__T_SIZE,
     .def = "0",
     .off = QUE(max_db_bytes),
     .min = 0,
     .max = 1024 * GiB,
     .aka = "max_db_size max_db_bytes",
     .doc = "Size limit of the database file; past it pushes get 503 (nothing accepted is "
            "lost). `0` = no limit (the disk is the limit)."},
    {.name = "sync",
     .type = GW__T_ENUM,
     .def = "normal",
     .off = QUE(sync),
     .choices = "normal|full",
     .aka = "synchronous fsync",
     .doc = "Jobs are always committed with SQLite `synchronous=FULL` before the API answers "
            "(they survive power loss). This sets outcome batches: `normal` (a power loss may "
            "lose the last outcomes: those tokens are sent again) or `full`."},
    /* backend = jetstream (issue 6; daemon/queue_jetstream.h) */
    {.name = "servers",
     .type = GW__T_LIST,
     .def_doc = "none",
     .off = QUE(servers),
     .check = check_nats_url,
     .aka = "urls nats url nats_url nats_servers",
     .doc = "`backend = jetstream`: NATS server URLs (`nats://host:4222`, `tls://host:4222`), "
            "comma-separated; list several members of the cluster, the client fails over "
            "between them and reconnects by itself."},
    {.name = "creds_file",
     .type = GW__T_PATH,
     .off = QUE(creds_file),
     .flags = GW__K_FILE,
     .aka = "credentials nats_creds",
     .doc = "`backend = jetstream`: NATS user credentials file (JWT and NKey seed)."},
    {.name = "tls_ca_file",
     .type = GW__T_PATH,
     .off = QUE(tls_ca_file),
     .flags = GW__K_FILE,
     .aka = "ca_file nats_ca",
     .doc = "`backend = jetstream`: CA certificates (PEM) that sign the NATS servers' "
            "certificates; setting it turns TLS on."},
    {.name = "tls_cert_file",
     .type = GW__T_PATH,
     .off = QUE(tls_cert_file),
     .flags = GW__K_FILE,
     .doc = "`backend = jetstream`: client certificate (PEM) for NATS servers that verify "
            "clients; needs `tls_key_file`."},
    {.name = "tls_key_file",
     .type = GW__T_PATH,
     .off = QUE(tls_key_file),
     .flags = GW__K_FILE,
     .doc = "`backend = jetstream`: the client certificate's private key (PEM)."},
    {.name = "prefix",
     .type = GW__T_STR,
     .def = "apnsd",
     .off = QUE(prefix),
     .check = check_nats_prefix,
     .aka = "stream stream_prefix bucket_prefix",
     .doc = "`backend = jetstream`: names of the stream (`PREFIX_CHUNKS`), its consumer and the "
            "KV buckets (`PREFIX_JOBS`, `PREFIX_OUT`, `PREFIX_DEAD`, `PREFIX_TOKENS`). Every "
            "node of one fleet uses the same prefix; another prefix is another queue."},
    {.name = "replicas",
     .type = GW__T_COUNT,
     .def = "3",
     .off = QUE(replicas),
     .min = 1,
     .max = 5,
     .aka = "replication num_replicas",
     .doc = "`backend = jetstream`: copies of the stream and buckets (RAFT). 3 survives one "
            "server down; needs that many JetStream servers in the cluster."},
    {.name = "ack_wait",
     .type = GW__T_DURATION,
     .def = "30s",
     .off = QUE(ack_wait_ms),
     .min = 1 * SEC,
     .max = 1 * HOUR,
     .aka = "ack_timeout",
     .doc = "`backend = jetstream`: a chunk held by a node that stopped answering (killed, hung, "
            "cut off) goes to another node after this long. Live nodes keep theirs with "
            "in-progress acks every third of it."},
    {.name = "lease_ttl",
     .type = GW__T_DURATION,
     .def = "5m",
     .off = QUE(lease_ttl_ms),
     .min = 1 * SEC,
     .max = 1 * DAY,
     .aka = "lease_timeout",
     .doc = "`backend = jetstream`: a node keeps a chunk alive only while its dispatcher "
            "records answers for it at least this often; a chunk stuck longer goes back to "
            "the fleet (after `ack_wait`)."},
    {.name = "max_deliveries",
     .type = GW__T_COUNT,
     .def = "20",
     .off = QUE(max_deliveries),
     .min = 0,
     .max = 100000,
     .aka = "max_deliver max_redeliveries",
     .doc = "`backend = jetstream`: a chunk taken this many times by nodes that never handed it "
            "back (they died or hung with it) is parked: its open tokens are recorded failed "
            "and an error is logged. Hand-backs for retries and pauses do not count. `0` = "
            "never park."},
    {.name = "op_timeout",
     .type = GW__T_DURATION,
     .def = "5s",
     .off = QUE(op_timeout_ms),
     .min = 100,
     .max = 1 * MIN,
     .aka = "nats_timeout request_timeout",
     .doc = "`backend = jetstream`: how long one NATS request or batch of publishes may take "
            "before the request fails with 503 (while disconnected, requests fail at once)."},
};

static const gw__key log_keys[] = {
    {.name = "format",
     .type = GW__T_ENUM,
     .def = "logfmt",
     .off = LOG(format),
     .choices = "logfmt|json",
     .doc = "Log lines on stderr: `logfmt` (key=value) or `json` (one object per line)."},
    {.name = "level",
     .type = GW__T_ENUM,
     .def = "info",
     .off = LOG(level),
     .choices = "error|warn|info|debug",
     .aka = "log_level verbosity",
     .doc = "Least severe level written."},
};

static const gw__key app_keys[] = {
    {.name = "topic",
     .type = GW__T_STR,
     .off = APP(topic),
     .check = check_bundle_id,
     .flags = GW__K_REQUIRED,
     .aka = "bundle_id bundle bundleid apns_topic",
     .doc = "The app's bundle id: the default `apns-topic`, e.g. `com.example.app`."},
    {.name = "topics",
     .type = GW__T_LIST,
     .off = APP(topics),
     .check = check_bundle_id,
     .flags = GW__K_LIVE,
     .aka = "extra_topics",
     .doc = "Further topics requests may name, comma-separated (e.g. `com.example.app.voip`, "
            "`com.example.app.push-type.liveactivity`)."},
    {.name = "environment",
     .type = GW__T_ENUM,
     .off = APP(environment),
     .choices = "production|sandbox|custom",
     .flags = GW__K_REQUIRED,
     .aka = "env apns_environment",
     .doc = "`production` (api.push.apple.com), `sandbox` (api.sandbox.push.apple.com) or "
            "`custom` (`host`/`port`, e.g. apns-sim). No default: a wrong guess marks every "
            "token dead."},
    {.name = "host",
     .def_doc = "required for `custom`",
     .type = GW__T_STR,
     .off = APP(host),
     .check = check_host,
     .aka = "hostname server address",
     .doc = "`environment = custom` only: the server's host name or address."},
    {.name = "port",
     .type = GW__T_PORT,
     .def_doc = "443 (binary: 2195)",
     .off = APP(port),
     .doc = "Server port. Apple also listens on 2197 for HTTP/2."},
    {.name = "ca_file",
     .type = GW__T_PATH,
     .def_doc = "system store",
     .off = APP(ca_file),
     .flags = GW__K_FILE,
     .aka = "ca cacert ca_cert",
     .doc = "PEM bundle of CAs to verify the server with (apns-sim's CA, a corporate proxy)."},
    {.name = "proxy",
     .type = GW__T_STR,
     .off = APP(proxy),
     .check = check_hostport,
     .aka = "http_proxy https_proxy",
     .doc = "`host:port` of an HTTP CONNECT proxy (HTTP/2 only)."},
    {.name = "transport",
     .type = GW__T_ENUM,
     .def = "http2",
     .off = APP(transport),
     .choices = "http2|binary",
     .aka = "protocol",
     .doc = "`http2` (the provider API) or `binary` (the legacy interface: certificate auth "
            "only, dead tokens from the feedback service)."},
    {.name = "auth",
     .type = GW__T_ENUM,
     .def = "token",
     .off = APP(auth),
     .choices = "token|certificate",
     .aka = "auth_type authentication",
     .doc = "`token`: a .p8 key with `key_id` and `team_id`. `certificate`: `cert_file` (+ "
            "`key_file`) or `p12_file` (+ a password)."},
    {.name = "key_file",
     .def_doc = "required for `token`",
     .type = GW__T_PATH,
     .off = APP(key_file),
     .flags = GW__K_FILE,
     .aka = "p8_file p8 p8_key private_key key_path auth_key",
     .doc = "Token auth: the .p8 signing key (AuthKey_KEYID.p8). Certificate auth: the PEM "
            "private key, when `cert_file` does not hold it."},
    {.name = "key_id",
     .def_doc = "required for `token`",
     .type = GW__T_STR,
     .off = APP(key_id),
     .check = check_id10,
     .aka = "kid keyid",
     .doc = "Token auth: the key's 10-character id (e.g. `ABC123DEFG`)."},
    {.name = "team_id",
     .def_doc = "required for `token`",
     .type = GW__T_STR,
     .off = APP(team_id),
     .check = check_id10,
     .aka = "team teamid iss",
     .doc = "Token auth: the 10-character Apple developer team id."},
    {.name = "token_refresh",
     .type = GW__T_DURATION,
     .def = "50m",
     .off = APP(token_refresh_ms),
     .min = 20 * MIN,
     .max = 60 * MIN,
     .doc = "Token auth: age at which the provider token is replaced (Apple: 20..60 minutes). "
            "One token per team+key, shared by its apps (with `backend = jetstream`, by every "
            "node of the fleet)."},
    {.name = "cert_file",
     .def_doc = "this or `p12_file` for `certificate`",
     .type = GW__T_PATH,
     .off = APP(cert_file),
     .flags = GW__K_FILE,
     .aka = "certificate cert pem_file cert_path",
     .doc = "Certificate auth: PEM client certificate (chain), with its key unless `key_file` "
            "is set."},
    {.name = "p12_file",
     .type = GW__T_PATH,
     .off = APP(p12_file),
     .flags = GW__K_FILE,
     .aka = "pkcs12 p12 pfx pfx_file",
     .doc = "Certificate auth: PKCS#12 file with certificate and key (instead of `cert_file`)."},
    {.name = "password",
     .type = GW__T_STR,
     .off = APP(password),
     .flags = GW__K_SECRET,
     .aka = "p12_password passphrase pass",
     .doc = "The PKCS#12 password written inline (allowed, with a warning: prefer "
            "`password_env` or `password_file`)."},
    {.name = "password_env",
     .type = GW__T_STR,
     .off = APP(password_env),
     .check = check_env_name,
     .doc = "Name of an environment variable holding the PKCS#12 password."},
    {.name = "password_file",
     .type = GW__T_PATH,
     .off = APP(password_file),
     .flags = GW__K_FILE,
     .doc = "File whose first line is the PKCS#12 password (at most 4 KiB)."},
    {.name = "connections",
     .type = GW__T_COUNT,
     .def = "2",
     .off = APP(connections),
     .min = 1,
     .max = 100,
     .aka = "conns pool_size",
     .doc = "Connections to APNs for this app (apps of one team share the provider token, "
            "not the connections)."},
    {.name = "max_in_flight",
     .type = GW__T_COUNT,
     .def = "0",
     .off = APP(max_in_flight),
     .min = 0,
     .max = 1000000,
     .aka = "max_pending in_flight",
     .doc = "Notifications held by the client at once (sent, awaiting an answer or a retry); "
            "`0` = 1000 per connection."},
    {.name = "rate_limit",
     .type = GW__T_COUNT,
     .def = "0",
     .off = APP(rate_limit),
     .min = 0,
     .max = 10000000,
     .flags = GW__K_LIVE,
     .aka = "rate ratelimit max_rate",
     .doc = "Notifications per second sent for this app; `0` = as fast as APNs allows."},
    {.name = "connect_timeout",
     .type = GW__T_DURATION,
     .def = "10s",
     .off = APP(connect_timeout_ms),
     .min = 1 * SEC,
     .max = 5 * MIN,
     .doc = "TCP + TLS connect deadline."},
    {.name = "stream_timeout",
     .type = GW__T_DURATION,
     .def = "30s",
     .off = APP(stream_timeout_ms),
     .min = 1 * SEC,
     .max = 10 * MIN,
     .aka = "request_timeout",
     .doc = "No answer from APNs by then: the notification is resent on another connection."},
    {.name = "retry_attempts",
     .type = GW__T_COUNT,
     .def = "5",
     .off = APP(retry_attempts),
     .min = 1,
     .max = 100,
     .aka = "max_attempts retries max_retries",
     .doc = "Sends of one notification (the first included) on 429/5xx answers before it is "
            "reported failed."},
    {.name = "retry_backoff",
     .type = GW__T_DURATION,
     .def = "1s",
     .off = APP(retry_backoff_ms),
     .min = 10,
     .max = 1 * HOUR,
     .aka = "backoff base_backoff",
     .doc = "First retry delay; doubles per attempt, with jitter."},
    {.name = "retry_backoff_max",
     .type = GW__T_DURATION,
     .def = "15m",
     .off = APP(retry_backoff_max_ms),
     .min = 1 * SEC,
     .max = 1 * DAY,
     .aka = "max_backoff",
     .doc = "Cap on the retry delay (Apple suggests up to 15 minutes)."},
    {.name = "api_keys",
     .def_doc = "this or `api_keys_file` required",
     .type = GW__T_LIST,
     .off = APP(api_keys),
     .check = check_api_key,
     .flags = GW__K_SECRET | GW__K_LIVE,
     .aka = "api_key keys bearer tokens",
     .doc = "Bearer keys clients send as `Authorization: Bearer KEY` (16..256 printable "
            "characters), comma-separated; repeat the key to add more. At least one key in "
            "`api_keys` or `api_keys_file`."},
    {.name = "api_keys_file",
     .type = GW__T_PATH,
     .off = APP(api_keys_file),
     .flags = GW__K_FILE | GW__K_LIVE,
     .aka = "keys_file api_key_file",
     .doc = "File with one bearer key per line (`#` comments), added to `api_keys`; re-read "
            "on SIGHUP."},
    {.name = "webhook_url",
     .type = GW__T_STR,
     .off = APP(webhook_url),
     .check = check_url,
     .flags = GW__K_LIVE,
     .aka = "webhook callback_url",
     .doc = "URL that receives results and dead tokens in batches (POST, JSON)."},
    {.name = "webhook_secret",
     .def_doc = "required with `webhook_url`",
     .type = GW__T_STR,
     .off = APP(webhook_secret),
     .check = check_secret,
     .flags = GW__K_SECRET | GW__K_LIVE,
     .aka = "hmac_secret webhook_key",
     .doc = "Key of the HMAC-SHA256 signature on every webhook request (16..1024 "
            "characters); required with `webhook_url`."},
    {.name = "webhook_batch",
     .type = GW__T_COUNT,
     .def = "100",
     .off = APP(webhook_batch),
     .min = 1,
     .max = 10000,
     .flags = GW__K_LIVE,
     .doc = "Events per webhook request at most."},
    {.name = "webhook_interval",
     .type = GW__T_DURATION,
     .def = "1s",
     .off = APP(webhook_interval_ms),
     .min = 10,
     .max = 1 * HOUR,
     .flags = GW__K_LIVE,
     .doc = "A partial batch is sent after this long."},
    {.name = "feedback_interval",
     .type = GW__T_DURATION,
     .def_doc = "1h (binary)",
     .off = APP(feedback_interval_ms),
     .min = 0,
     .max = 7 * DAY,
     .aka = "feedback",
     .doc = "`transport = binary`: how often the feedback service is polled for dead tokens; "
            "`0` = never."},
    {.name = "feedback_host",
     .type = GW__T_STR,
     .def_doc = "`host`",
     .off = APP(feedback_host),
     .check = check_host,
     .doc = "`transport = binary` with `environment = custom`: the feedback service's host."},
    {.name = "feedback_port",
     .type = GW__T_PORT,
     .def_doc = "2196",
     .off = APP(feedback_port),
     .doc = "`transport = binary`: the feedback service's port."},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

const gw__section gw__sections[GW__SEC_COUNT] = {
    {"server", server_keys, N(server_keys),
     "The HTTP API and process-wide limits. Changes need a restart."},
    {"queue", queue_keys, N(queue_keys),
     "The durable queue. Changes need a restart. `path`, `max_size` and `sync` are the "
     "SQLite backend's; the keys from `servers` on are the JetStream backend's "
     "(docs/scaling.md)."},
    {"log", log_keys, N(log_keys), "Structured logs on stderr. Applied on SIGHUP."},
    {"app", app_keys, N(app_keys),
     "One section per app, `[app NAME]` (NAME: 1..64 of `A-Z a-z 0-9 . _ -`). SIGHUP "
     "reloads apps: unchanged apps keep their connections; keys marked *live* apply "
     "in place; any other change rebuilds that app's connections."},
};

/* ---------------------------------------------------------------------- */
/* lookups and suggestions                                                */

int gw__key_find(const gw__section *s, const char *name)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

int gw__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int close_enough(const char *word, int d)
{
    size_t n = strlen(word);
    return d <= (n <= 4 ? 1 : n <= 8 ? 2 : 3);
}

const char *gw__suggest(const char *word, const char *const *words, size_t n)
{
    const char *best = NULL;
    int bestd = 99;
    for (size_t i = 0; i < n; i++) {
        int d = gw__edit_distance(word, words[i]);
        if (d < bestd) {
            bestd = d;
            best = words[i];
        }
    }
    return best && close_enough(word, bestd) ? best : NULL;
}

/* Does `word` match one of the space-separated names in aka (case-insensitive,
 * ignoring '-' vs '_')? */
static int aka_match(const char *aka, const char *word)
{
    size_t wn = strlen(word);
    while (aka && *aka) {
        const char *sp = strchr(aka, ' ');
        size_t n = sp ? (size_t)(sp - aka) : strlen(aka);
        if (n == wn) {
            size_t i = 0;
            for (; i < n; i++) {
                char a = (char)tolower((unsigned char)aka[i]),
                     w = (char)tolower((unsigned char)word[i]);
                if (a == '-')
                    a = '_';
                if (w == '-')
                    w = '_';
                if (a != w)
                    break;
            }
            if (i == n)
                return 1;
        }
        aka = sp ? sp + 1 : NULL;
    }
    return 0;
}

const char *gw__key_suggest(const gw__section *s, const char *name)
{
    const char *best = NULL;
    int bestd = 99;
    for (size_t i = 0; i < s->n_keys; i++)
        if (aka_match(s->keys[i].aka, name))
            return s->keys[i].name;
    for (size_t i = 0; i < s->n_keys; i++) {
        int d = gw__edit_distance(name, s->keys[i].name);
        if (d < bestd) {
            bestd = d;
            best = s->keys[i].name;
        }
    }
    return best && close_enough(name, bestd) ? best : NULL;
}

/* ---------------------------------------------------------------------- */
/* numbers with units                                                     */

static int parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return 0;
}

int gw__parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", SEC}, {"m", MIN}, {"h", HOUR}, {"d", DAY}};
    const int64_t limit = 100 * 365 * DAY;
    int64_t total = 0;
    uint64_t v;
    const char *p = s;

    if (parse_u64(&p, &v) != 0)
        return -1;
    if (*p == '\0') { /* a bare number: seconds */
        if (v > (uint64_t)(limit / SEC))
            return -1;
        *out = (int64_t)v * SEC;
        return 0;
    }
    p = s;
    while (*p) {
        size_t best = 0, ui = 0;
        if (parse_u64(&p, &v) != 0)
            return -1;
        for (size_t i = 0; i < N(units); i++) {
            size_t n = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, n) == 0 && n > best &&
                !(n == 1 && p[0] == 'm' && p[1] == 's')) {
                best = n;
                ui = i;
            }
        }
        if (best == 0)
            return -1;
        p += best;
        if (v > (uint64_t)(limit / units[ui].ms) || total > limit - (int64_t)v * units[ui].ms)
            return -1;
        total += (int64_t)v * units[ui].ms;
    }
    *out = total;
    return 0;
}

int gw__parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kb", 1000},
                 {"mb", 1000000},
                 {"gb", 1000000000},
                 {"kib", 1024},
                 {"mib", 1024 * 1024},
                 {"gib", 1 << 30}};
    uint64_t v;
    const char *p = s;
    if (parse_u64(&p, &v) != 0)
        return -1;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < N(units); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static void fmt_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", DAY}, {"h", HOUR}, {"m", MIN}, {"s", SEC}, {"ms", 1}};
    size_t o = 0;
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < N(units) && ms > 0 && o < len; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(buf + o, len - o, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            if (n < 0)
                return;
            o += (size_t)n;
            ms %= units[i].ms;
        }
    }
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
    if (v >= (uint64_t)GiB && v % (uint64_t)GiB == 0)
        snprintf(buf, len, "%" PRIu64 "GiB", v / (uint64_t)GiB);
    else if (v >= (uint64_t)MiB && v % (uint64_t)MiB == 0)
        snprintf(buf, len, "%" PRIu64 "MiB", v / (uint64_t)MiB);
    else if (v >= (uint64_t)KiB && v % (uint64_t)KiB == 0)
        snprintf(buf, len, "%" PRIu64 "KiB", v / (uint64_t)KiB);
    else
        snprintf(buf, len, "%" PRIu64, v);
}

/* "a|b|c" -> index of word, or -1. Case-insensitive. */
static int choice_index(const char *choices, const char *word)
{
    int i = 0;
    size_t wn = strlen(word);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == wn && strncasecmp(p, word, n) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
        i++;
    }
    return -1;
}

/* The index'th word of choices into buf. */
static const char *choice_name(const char *choices, int index, char *buf, size_t len)
{
    int i = 0;
    for (const char *p = choices; p; i++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (i == index) {
            if (n >= len)
                n = len - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return buf;
        }
        p = bar ? bar + 1 : NULL;
    }
    snprintf(buf, len, "?");
    return buf;
}

static void enum_why(const char *choices, const char *word, char *why, size_t len)
{
    char names[8][32];
    const char *ptrs[8];
    size_t n = 0, o = 0;
    for (const char *p = choices; p && n < 8;) {
        const char *bar = strchr(p, '|');
        size_t wn = bar ? (size_t)(bar - p) : strlen(p);
        if (wn > 31)
            wn = 31;
        memcpy(names[n], p, wn);
        names[n][wn] = '\0';
        ptrs[n] = names[n];
        n++;
        p = bar ? bar + 1 : NULL;
    }
    o += (size_t)snprintf(why, len, "must be one of");
    for (size_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(why + o, len - o, "%s %s", i ? "," : "", names[i]);
    const char *s = gw__suggest(word, ptrs, n);
    if (s && o < len)
        snprintf(why + o, len - o, " (did you mean %s?)", s);
}

/* ---------------------------------------------------------------------- */
/* values                                                                 */

static void strv_clear(gw_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static int strv_push(gw_strv *v, const char *s, size_t len)
{
    char **nv = realloc(v->v, (v->n + 1) * sizeof *nv);
    char *copy = malloc(len + 1);
    if (nv == NULL || copy == NULL) {
        free(copy);
        if (nv)
            v->v = nv;
        return APNS_ENOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->v = nv;
    v->v[v->n++] = copy;
    return 0;
}

void gw__value_clear(const gw__key *k, void *field)
{
    switch (k->type) {
    case GW__T_STR:
    case GW__T_PATH:
        free(*(char **)field);
        *(char **)field = NULL;
        break;
    case GW__T_LIST:
        strv_clear(field);
        break;
    case GW__T_BOOL:
    case GW__T_ENUM:
        *(int *)field = 0;
        break;
    case GW__T_COUNT:
        *(uint32_t *)field = 0;
        break;
    case GW__T_COUNT64:
        *(uint64_t *)field = 0;
        break;
    case GW__T_PORT:
        *(uint16_t *)field = 0;
        break;
    case GW__T_SIZE:
        *(uint64_t *)field = 0;
        break;
    case GW__T_DURATION:
        *(int64_t *)field = 0;
        break;
    }
}

int gw__value_is_set(const gw__key *k, const void *field)
{
    switch (k->type) {
    case GW__T_STR:
    case GW__T_PATH:
        return *(char *const *)field != NULL;
    case GW__T_LIST:
        return ((const gw_strv *)field)->n > 0;
    default:
        return 1;
    }
}

static int range_check(const gw__key *k, int64_t v, char *why, size_t len)
{
    char lo[32], hi[32];
    if (k->min == 0 && k->max == 0)
        return 0;
    if (v >= k->min && v <= k->max)
        return 0;
    if (k->type == GW__T_DURATION) {
        fmt_duration(k->min, lo, sizeof lo);
        fmt_duration(k->max, hi, sizeof hi);
    } else if (k->type == GW__T_SIZE) {
        fmt_size((uint64_t)k->min, lo, sizeof lo);
        fmt_size((uint64_t)k->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%" PRId64, k->min);
        snprintf(hi, sizeof hi, "%" PRId64, k->max);
    }
    whyf(why, len, "must be between %s and %s", lo, hi);
    return -1;
}

int gw__value_set(const gw__key *k, void *field, const char *text, char *why, size_t why_len)
{
    uint64_t u;
    int64_t d;
    int i;

    if (*text == '\0') { /* empty: not set (the caller applies the default) */
        gw__value_clear(k, field);
        return 0;
    }
    switch (k->type) {
    case GW__T_STR:
    case GW__T_PATH: {
        if (k->check && k->check(text, why, why_len) != 0)
            return -1;
        char *copy = strdup(text);
        if (copy == NULL)
            return APNS_ENOMEM;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case GW__T_LIST: {
        /* Elements are checked first; the list is only appended to when all
         * of them are good. */
        gw_strv add = {0, NULL};
        const char *p = text;
        for (;;) {
            const char *comma = strchr(p, ',');
            const char *e = comma ? comma : p + strlen(p);
            const char *b = p;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e == b) {
                strv_clear(&add);
                whyf(why, why_len, "has an empty element (elements are comma-separated)");
                return -1;
            }
            if (strv_push(&add, b, (size_t)(e - b)) != 0) {
                strv_clear(&add);
                return APNS_ENOMEM;
            }
            if (k->check && k->check(add.v[add.n - 1], why, why_len) != 0) {
                /* Report the element: the caller quotes `why`'s subject. */
                if (!(k->flags & GW__K_SECRET)) {
                    size_t wl = strlen(why);
                    char q[80];
                    size_t qn = 0;
                    const char *el = add.v[add.n - 1];
                    for (size_t j = 0; el[j] && qn < 60; j++)
                        q[qn++] = (unsigned char)el[j] >= 0x20 && el[j] != '"' ? el[j] : '?';
                    q[qn] = '\0';
                    if (wl < why_len)
                        snprintf(why + wl, why_len - wl, " (element \"%s%s\")", q,
                                 strlen(el) > 60 ? "..." : "");
                }
                strv_clear(&add);
                return -1;
            }
            if (!comma)
                break;
            p = comma + 1;
        }
        gw_strv *v = field;
        char **nv = realloc(v->v, (v->n + add.n) * sizeof *nv);
        if (nv == NULL) {
            strv_clear(&add);
            return APNS_ENOMEM;
        }
        v->v = nv;
        for (size_t j = 0; j < add.n; j++)
            v->v[v->n++] = add.v[j];
        free(add.v);
        return 0;
    }
    case GW__T_BOOL:
        if (choice_index("yes|true|on|1", text) >= 0)
            *(int *)field = 1;
        else if (choice_index("no|false|off|0", text) >= 0)
            *(int *)field = 0;
        else {
            whyf(why, why_len, "must be yes or no (also true/false, on/off, 1/0)");
            return -1;
        }
        return 0;
    case GW__T_ENUM:
        i = choice_index(k->choices, text);
        if (i < 0) {
            enum_why(k->choices, text, why, why_len);
            return -1;
        }
        *(int *)field = i;
        return 0;
    case GW__T_COUNT:
    case GW__T_COUNT64:
    case GW__T_PORT: {
        const char *p = text;
        if (parse_u64(&p, &u) != 0 || *p != '\0' || u > INT64_MAX) {
            whyf(why, why_len, "must be a whole number");
            return -1;
        }
        if (k->type == GW__T_PORT) {
            if (u < 1 || u > 65535) {
                whyf(why, why_len, "must be a port between 1 and 65535");
                return -1;
            }
            *(uint16_t *)field = (uint16_t)u;
            return 0;
        }
        if (range_check(k, (int64_t)u, why, why_len) != 0)
            return -1;
        if (k->type == GW__T_COUNT64) {
            *(uint64_t *)field = u;
            return 0;
        }
        if (u > UINT32_MAX) {
            whyf(why, why_len, "is too large");
            return -1;
        }
        *(uint32_t *)field = (uint32_t)u;
        return 0;
    }
    case GW__T_SIZE:
        if (gw__parse_size(text, &u) != 0 || u > INT64_MAX) {
            whyf(why, why_len, "must be a size like 4096, 64KiB, 16MiB or 1GB");
            return -1;
        }
        if (range_check(k, (int64_t)u, why, why_len) != 0)
            return -1;
        *(uint64_t *)field = u;
        return 0;
    case GW__T_DURATION:
        if (gw__parse_duration_ms(text, &d) != 0) {
            whyf(why, why_len,
                 "must be a duration like 500ms, 30s, 5m, 1h30m or 7d (a bare number is seconds)");
            return -1;
        }
        if (range_check(k, d, why, why_len) != 0)
            return -1;
        *(int64_t *)field = d;
        return 0;
    }
    whyf(why, why_len, "has an unknown type");
    return -1;
}

int gw__value_equal(const gw__key *k, const void *a, const void *b)
{
    switch (k->type) {
    case GW__T_STR:
    case GW__T_PATH: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
    }
    case GW__T_LIST: {
        const gw_strv *x = a, *y = b;
        if (x->n != y->n)
            return 0;
        for (size_t i = 0; i < x->n; i++)
            if (strcmp(x->v[i], y->v[i]) != 0)
                return 0;
        return 1;
    }
    case GW__T_BOOL:
    case GW__T_ENUM:
        return *(const int *)a == *(const int *)b;
    case GW__T_COUNT:
        return *(const uint32_t *)a == *(const uint32_t *)b;
    case GW__T_PORT:
        return *(const uint16_t *)a == *(const uint16_t *)b;
    case GW__T_SIZE:
    case GW__T_COUNT64:
        return *(const uint64_t *)a == *(const uint64_t *)b;
    case GW__T_DURATION:
        return *(const int64_t *)a == *(const int64_t *)b;
    }
    return 0;
}

int gw__value_format(const gw__key *k, const void *field, char *buf, size_t len)
{
    char tmp[64];
    if (len > 0)
        buf[0] = '\0';
    if (!gw__value_is_set(k, field))
        return 0;
    if (k->flags & GW__K_SECRET)
        return snprintf(buf, len, "********");
    switch (k->type) {
    case GW__T_STR:
    case GW__T_PATH:
        return snprintf(buf, len, "%s", *(char *const *)field);
    case GW__T_LIST: {
        const gw_strv *v = field;
        size_t o = 0;
        for (size_t i = 0; i < v->n; i++) {
            int n = snprintf(o < len ? buf + o : NULL, o < len ? len - o : 0, "%s%s", i ? ", " : "",
                             v->v[i]);
            o += (size_t)n;
        }
        return (int)o;
    }
    case GW__T_BOOL:
        return snprintf(buf, len, "%s", *(const int *)field ? "yes" : "no");
    case GW__T_ENUM:
        return snprintf(buf, len, "%s",
                        choice_name(k->choices, *(const int *)field, tmp, sizeof tmp));
    case GW__T_COUNT:
        return snprintf(buf, len, "%" PRIu32, *(const uint32_t *)field);
    case GW__T_COUNT64:
        return snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
    case GW__T_PORT:
        return snprintf(buf, len, "%u", (unsigned)*(const uint16_t *)field);
    case GW__T_SIZE:
        fmt_size(*(const uint64_t *)field, tmp, sizeof tmp);
        return snprintf(buf, len, "%s", tmp);
    case GW__T_DURATION:
        fmt_duration(*(const int64_t *)field, tmp, sizeof tmp);
        return snprintf(buf, len, "%s", tmp);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* the reference in docs/configuration.md                                 */

static void type_doc(const gw__key *k, char *buf, size_t len)
{
    static const char *names[] = {"string", "path", "bool", "enum",     "count",
                                  "count",  "port", "size", "duration", "list"};
    if (k->type == GW__T_ENUM) {
        size_t o = 0;
        int i = 0;
        char w[32];
        o += (size_t)snprintf(buf, len, "one of");
        while (o < len && strcmp(choice_name(k->choices, i, w, sizeof w), "?") != 0) {
            o += (size_t)snprintf(buf + o, len - o, "%s `%s`", i ? "," : "", w);
            i++;
        }
    } else {
        snprintf(buf, len, "%s", names[k->type]);
    }
}

int gw_config_write_reference(FILE *f)
{
    for (size_t s = 0; s < GW__SEC_COUNT; s++) {
        const gw__section *sec = &gw__sections[s];
        int app = s == GW__SEC_APP;
        char env[64];
        snprintf(env, sizeof env, app ? "APNSD_APP_<NAME>_<KEY>" : "APNSD_%s_<KEY>",
                 s == GW__SEC_SERVER  ? "SERVER"
                 : s == GW__SEC_QUEUE ? "QUEUE"
                                      : "LOG");
        fprintf(f, "### [%s]\n\n%s Environment: `%s`.\n\n", app ? "app NAME" : sec->name, sec->doc,
                env);
        fprintf(f, "| key | type | default | description |\n|---|---|---|---|\n");
        for (size_t i = 0; i < sec->n_keys; i++) {
            const gw__key *k = &sec->keys[i];
            char type[128], def[64], range[96] = "";
            type_doc(k, type, sizeof type);
            if (k->flags & GW__K_SECRET)
                strcat(type, ", secret");
            if (k->flags & GW__K_LIVE)
                strcat(type, ", live");
            if (k->def)
                snprintf(def, sizeof def, "`%s`", k->def);
            else if (k->flags & GW__K_REQUIRED)
                snprintf(def, sizeof def, "required");
            else if (k->def_doc)
                snprintf(def, sizeof def, "%s", k->def_doc);
            else
                snprintf(def, sizeof def, "none");
            if ((k->min || k->max) && !(k->flags & GW__K_RESERVED)) {
                char lo[32], hi[32];
                if (k->type == GW__T_DURATION) {
                    fmt_duration(k->min, lo, sizeof lo);
                    fmt_duration(k->max, hi, sizeof hi);
                } else if (k->type == GW__T_SIZE) {
                    fmt_size((uint64_t)k->min, lo, sizeof lo);
                    fmt_size((uint64_t)k->max, hi, sizeof hi);
                } else {
                    snprintf(lo, sizeof lo, "%" PRId64, k->min);
                    snprintf(hi, sizeof hi, "%" PRId64, k->max);
                }
                snprintf(range, sizeof range, " Range %s..%s.", lo, hi);
            }
            fprintf(f, "| `%s` | %s | %s | %s%s |\n", k->name, type, def, k->doc, range);
        }
        fprintf(f, "\n");
    }
    return ferror(f) ? APNS_EIO : 0;
}

/*
 * apnsd_keys.c - the composition of apnsd's configuration (which module
 * declares which part of which section) and the keys only main.c reads.
 * Shared by apnsd and the tests, so that the reference in
 * docs/configuration.md, which a test generates, is the binary's.
 */
#include "apnsd_keys.h"

#include <stddef.h>

#include "api_keys.h"
#include "dispatch_keys.h"
#include "queue_keys.h"
#include "webhook_keys.h"

#define L(f) offsetof(gw_apnsd_log_config, f)

static const gw_config_key server_keys[] = {
    {.name = "drain_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "30s",
     .off = offsetof(gw_apnsd_server_config, drain_timeout_ms),
     .min = 0,
     .max = 1 * GW_CONFIG_HOUR,
     .aka = "shutdown_timeout grace_period",
     .doc = "On SIGTERM: stop accepting, finish what is in flight within this time, exit. "
            "What is not answered by then stays queued for the next start."},
    {.name = "insecure_secrets",
     .type = GW_CONFIG_T_ENUM,
     .def = "refuse",
     .off = offsetof(gw_apnsd_server_config, insecure_secrets),
     .choices = "warn|refuse",
     .flags = GW_CONFIG_K_POLICY,
     .aka = "allow_insecure_secrets world_readable_secrets",
     .doc = "A file holding a secret (`key_file`, `p12_file`, `password_file`, "
            "`api_keys_file`, a `cert_file` with its private key, or this file when it holds "
            "secrets) that every user may read (mode o+r): `refuse` fails the load (start, "
            "reload and `--check-config`) with an error naming the file, its mode and this "
            "key; `warn` only warns. Refuse is the default: a provider key others can read "
            "can sign pushes for every app of its team, and the packaged files are 0640 "
            "`root:apnsd`."},
};

static const gw_config_key log_keys[] = {
    {.name = "format",
     .type = GW_CONFIG_T_ENUM,
     .def = "logfmt",
     .off = L(format),
     .choices = "logfmt|json",
     .doc = "Log lines on stderr: `logfmt` (key=value) or `json` (one object per line)."},
    {.name = "level",
     .type = GW_CONFIG_T_ENUM,
     .def = "info",
     .off = L(level),
     .choices = "error|warn|info|debug",
     .aka = "log_level verbosity",
     .doc = "Least severe level written."},
};

static const gw_config_section log_section = {"log", 0,
                                              "Structured logs on stderr. Applied on SIGHUP."};

/* Rules across modules. The largest request the API takes ([server]
 * max_tokens, all its notifications together) must fit into an empty queue
 * ([queue] max_depth, 0 = no limit): else such a request could never be
 * stored, whatever the client waits for. With backend = jetstream a
 * request's commit record (which holds an idempotent request's answer)
 * lives in the job bucket, whose age limit is [queue] retention: it must
 * outlive the key's reservation ([server] idempotency_ttl), or a repeat
 * inside the TTL would find the reservation without its answer and store
 * the request again. */
static void server_rules(gw_config_rules *r, void *part)
{
    const gw_api_server_config *s = gw_config_sibling(r, &gw_api_server_part);
    const gw_queue_config *q = gw_config_peer(r, &gw_queue_part);

    (void)part;
    if (s == NULL || q == NULL)
        return;
    if (q->backend == GW_QUEUE_BACKEND_JETSTREAM && q->retention_ms < s->idempotency_ttl_ms)
        gw_config_fail(r, "idempotency_ttl",
                       "%lld s is longer than [queue] retention (%lld s): with backend = "
                       "jetstream an idempotent request's answer is kept as long as retention, "
                       "so a repeat inside the TTL could be stored again; raise retention or "
                       "lower idempotency_ttl",
                       (long long)(s->idempotency_ttl_ms / 1000),
                       (long long)(q->retention_ms / 1000));
    if (q->max_depth == 0 || s->max_tokens <= q->max_depth || gw_config_has(r, "max_tokens") < 0)
        return;
    gw_config_fail(r, "max_tokens",
                   "%u is more than [queue] max_depth %llu: a request of that many tokens could "
                   "never be queued; raise max_depth or lower max_tokens",
                   s->max_tokens, (unsigned long long)q->max_depth);
}

const gw_config_part gw_apnsd_server_part = {
    .section = &gw_api_server_section,
    .keys = server_keys,
    .n_keys = sizeof(server_keys) / sizeof(server_keys[0]),
    .size = sizeof(gw_apnsd_server_config),
    .rules = server_rules,
};

const gw_config_part gw_apnsd_log_part = {
    .section = &log_section,
    .keys = log_keys,
    .n_keys = sizeof(log_keys) / sizeof(log_keys[0]),
    .size = sizeof(gw_apnsd_log_config),
};

static const gw_config_part *const parts[] = {
    &gw_api_server_part,   &gw_apnsd_server_part, &gw_queue_part,       &gw_apnsd_log_part,
    &gw_dispatch_app_part, &gw_api_app_part,      &gw_webhook_app_part, &gw_dispatch_feedback_part,
};

const gw_config_schema gw_apnsd_schema = {parts, sizeof(parts) / sizeof(parts[0])};

const gw_apnsd_server_config *gw_apnsd_server_config_of(const gw_config *c)
{
    return gw_config_part_of(c, &gw_apnsd_server_part);
}

const gw_apnsd_log_config *gw_apnsd_log_config_of(const gw_config *c)
{
    return gw_config_part_of(c, &gw_apnsd_log_part);
}

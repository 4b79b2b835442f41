/*
 * channel.c - the broadcast channel-management client (apns/channel.h).
 *
 * Design note. A channel client is an apns_client pointed at the
 * management host, so the management requests get everything a push gets
 * without a second copy of it: the transport (DNS, proxy, TLS with ALPN
 * h2, h2c), the token or certificate, the slots and credit, the in-flight
 * book with its hand-backs (GOAWAY, resets, lost connections: sent again on
 * a new connection), stream deadlines and the 429/5xx retries. A request is
 * submitted as a job whose op (job.h) tells the HTTP/2 core which request
 * line to write; the core hands the answer's apns-channel-id header and
 * body back in the apns_result (h2_conn.c). This file only checks the
 * arguments, keeps each request's callback (struct req, the job's
 * user_data), and turns the answer into an apns_channel_result, parsing
 * the two answer bodies (apns__channel_parse_config / _list, fuzzed by
 * tests/fuzz/fuzz_channel_body.c).
 *
 * Parsing happens on the cold path with jansson. A list is bounded by the
 * core's MGMT_BODY_CAP (4 MiB), far above Apple's 10,000 channels.
 */
#include "apns/channel.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "channel_int.h"
#include "client_int.h"
#include "detail.h"
#include "list.h" /* common/ */
#include "notification_int.h"

#define DEFAULT_MAX_PENDING 64

typedef struct req {
    common_list link; /* on cc->reqs until its callback */
    apns_channel_op op;
    apns_channel_cb cb;
    void *ud;
} req;

struct apns_channel_client {
    apns_client *client;
    common_list reqs;
    apns_log_cb on_log;
    void *log_ud;
    void (*on_drained)(apns_channel_client *cc, void *ud);
    void *drained_ud;
};

static const char *const op_names[] = {"create", "read", "list", "delete"};
static const apns__op job_ops[] = {APNS__OP_CH_CREATE, APNS__OP_CH_READ, APNS__OP_CH_LIST,
                                   APNS__OP_CH_DELETE};

const char *apns_channel_op_name(apns_channel_op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "?";
}

/* ---- answer bodies ------------------------------------------------------- */

int apns__channel_parse_config(const char *body, size_t len, int *policy)
{
    *policy = -1;
    if (body == NULL || len == 0)
        return APNS_EFORMAT;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(root, "message-storage-policy");
    int rc = APNS_EFORMAT;
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *policy = (int)json_integer_value(v);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

void apns__channel_list_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int apns__channel_parse_list(const char *body, size_t len, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (body == NULL || len == 0)
        return 0; /* Apple's text also calls the body empty (§4.2): no channels */
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *arr = json_object_get(root, "channels");
    if (!json_is_array(arr)) {
        json_decref(root);
        return APNS_EFORMAT;
    }
    size_t count = json_array_size(arr);
    char **out = count ? calloc(count, sizeof *out) : NULL;
    int rc = count && !out ? APNS_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL || apns__channel_id_check(s, NULL, 0) != 0)
            rc = APNS_EFORMAT;
        else if ((out[i] = strdup(s)) == NULL)
            rc = APNS_ENOMEM;
    }
    json_decref(root);
    if (rc != 0) {
        apns__channel_list_free(out, count);
        return rc;
    }
    *ids = out;
    *n = count;
    return 0;
}

/* ---- answers ------------------------------------------------------------- */

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c;
    apns_channel_client *cc = ud;
    req *q = n->user_data;
    common_list_remove(&q->link);
    apns_channel_result out = {
        .op = q->op,
        .outcome = r->outcome,
        .status = r->status,
        .reason = r->reason,
        .reason_str = r->reason_str ? r->reason_str : "",
        .action = r->action,
        .error = r->error,
        .attempts = r->attempts,
        .bundle_id = n->topic,
        .channel_id = n->channel_id,
        .storage_policy = -1,
    };
    memcpy(out.request_id, r->apns_id, sizeof out.request_id);
    char **ids = NULL;
    size_t nids = 0;
    int bad = 0;
    if (r->outcome == APNS_OUTCOME_ACCEPTED) {
        switch (q->op) {
        case APNS_CHANNEL_CREATE:
            out.channel_id = r->channel_id;
            bad = r->channel_id == NULL || apns__channel_id_check(r->channel_id, NULL, 0) != 0
                      ? APNS_EFORMAT
                      : 0;
            break;
        case APNS_CHANNEL_READ:
            bad = apns__channel_parse_config(r->body, r->body_len, &out.storage_policy);
            break;
        case APNS_CHANNEL_LIST:
            bad = apns__channel_parse_list(r->body, r->body_len, &ids, &nids);
            out.channels = (const char *const *)ids;
            out.nchannels = nids;
            break;
        case APNS_CHANNEL_DELETE:
            break;
        }
    }
    if (bad) {
        if (cc->on_log)
            cc->on_log(APNS_LOG_WARN,
                       q->op == APNS_CHANNEL_CREATE
                           ? "channel create: answer 201 without a usable apns-channel-id"
                           : "channel read/list: answer body does not parse",
                       cc->log_ud);
        out.outcome = APNS_OUTCOME_FAILED;
        out.error = bad;
        if (q->op == APNS_CHANNEL_CREATE)
            out.channel_id = NULL;
    }
    q->cb(cc, &out, q->ud);
    apns__channel_list_free(ids, nids);
    free(q);
}

/* ---- client -------------------------------------------------------------- */

/* The client's log lines, to the caller's callback with the caller's ud. */
static void log_fwd(apns_log_level level, const char *msg, void *ud)
{
    apns_channel_client *cc = ud;
    cc->on_log(level, msg, cc->log_ud);
}

void apns_channel_opts_init(apns_channel_opts *o)
{
    memset(o, 0, sizeof *o);
}

int apns_channel_client_new(apns_channel_client **out, struct event_base *base,
                            const apns_channel_opts *o, char *detail, size_t detail_len)
{
    if (out)
        *out = NULL;
    if (!out || !base || !o) {
        apns__set_detail(detail, detail_len, "apns_channel_client_new: NULL argument");
        return APNS_EINVAL;
    }
    apns_client_opts co;
    apns_client_opts_init(&co);
    co.env = APNS_ENV_CUSTOM;
    switch (o->env) {
    case APNS_ENV_PRODUCTION:
        co.host = APNS_MANAGE_HOST_PRODUCTION;
        co.port = o->port ? o->port : APNS_MANAGE_PORT_PRODUCTION;
        break;
    case APNS_ENV_SANDBOX:
        co.host = APNS_MANAGE_HOST_SANDBOX;
        co.port = o->port ? o->port : APNS_MANAGE_PORT_SANDBOX;
        break;
    case APNS_ENV_CUSTOM:
        co.host = o->host;
        co.port = o->port;
        break;
    default:
        apns__set_detail(detail, detail_len, "unknown environment %d", (int)o->env);
        return APNS_EINVAL;
    }
    co.tokens = o->tokens;
    co.cert_file = o->cert_file;
    co.key_file = o->key_file;
    co.p12_file = o->p12_file;
    co.p12_password = o->p12_password;
    co.ca_file = o->ca_file;
    co.insecure_skip_verify = o->insecure_skip_verify;
    co.h2c = o->h2c;
    co.proxy = o->proxy;
    co.max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    co.stream_timeout_ms = o->stream_timeout_ms;
    co.connect_timeout_ms = o->connect_timeout_ms;
    co.retry = o->retry;
    co.on_result = on_result;
    co.on_log = o->on_log ? log_fwd : NULL;

    apns_channel_client *cc = calloc(1, sizeof *cc);
    if (!cc)
        return APNS_ENOMEM;
    common_list_init(&cc->reqs);
    cc->on_log = o->on_log;
    cc->log_ud = o->log_ud;
    co.ud = cc;
    int rc = apns_client_new(&cc->client, base, &co, detail, detail_len);
    if (rc) {
        free(cc);
        return rc;
    }
    *out = cc;
    return 0;
}

static void drained(apns_client *c, void *ud)
{
    (void)c;
    apns_channel_client *cc = ud;
    cc->on_drained(cc, cc->drained_ud);
}

void apns_channel_client_drain(apns_channel_client *cc,
                               void (*on_drained)(apns_channel_client *cc, void *ud), void *ud)
{
    cc->on_drained = on_drained;
    cc->drained_ud = ud;
    apns_client_drain(cc->client, on_drained ? drained : NULL);
}

void apns_channel_client_free(apns_channel_client *cc)
{
    if (!cc)
        return;
    apns_client_free(cc->client);
    while (!common_list_empty(&cc->reqs)) {
        common_list *l = common_list_first(&cc->reqs);
        common_list_remove(l);
        free(COMMON_CONTAINER_OF(l, req, link));
    }
    free(cc);
}

/* Checks the arguments, then submits a job of kind op. */
static int submit(apns_channel_client *cc, apns_channel_op op, const char *bundle_id,
                  const char *channel_id, const char *body, const char *request_id,
                  apns_channel_cb cb, void *ud)
{
    if (!cc || !cb)
        return APNS_EINVAL;
    if (bundle_id == NULL || bundle_id[0] == '\0')
        return APNS_ENOTOPIC;
    if (strlen(bundle_id) > APNS_TOPIC_MAX || strchr(bundle_id, '/') != NULL ||
        strchr(bundle_id, ' ') != NULL || strstr(bundle_id, ".push-type.") != NULL)
        return APNS_ETOPIC;
    if ((op == APNS_CHANNEL_READ || op == APNS_CHANNEL_DELETE) &&
        apns__channel_id_check(channel_id, NULL, 0) != 0)
        return APNS_ECHANNELID;
    apns_notification n;
    apns_notification_init(&n);
    if (request_id != NULL) {
        if (!apns_uuid_is_valid(request_id))
            return APNS_EAPNSID;
        memcpy(n.apns_id, request_id, APNS_UUID_LEN);
    }
    req *q = calloc(1, sizeof *q);
    if (!q)
        return APNS_ENOMEM;
    q->op = op;
    q->cb = cb;
    q->ud = ud;
    n.topic = bundle_id;
    n.push_type = APNS_PUSH_LIVEACTIVITY;
    n.channel_id = op == APNS_CHANNEL_READ || op == APNS_CHANNEL_DELETE ? channel_id : NULL;
    n.payload = body;
    n.payload_len = body ? strlen(body) : 0;
    n.user_data = q;
    int rc = apns__client_submit_op(cc->client, &n, job_ops[op]);
    if (rc) {
        free(q);
        return rc;
    }
    common_list_push_back(&cc->reqs, &q->link);
    return 0;
}

int apns_channel_create(apns_channel_client *cc, const char *bundle_id, apns_storage_policy policy,
                        const char *request_id, apns_channel_cb cb, void *ud)
{
    /* Apple's body: the policy, and the one push type channels carry
     * ("LiveActivity", as Apple's examples and the libraries spell it). */
    static const char *const bodies[] = {
        "{\"message-storage-policy\":0,\"push-type\":\"LiveActivity\"}",
        "{\"message-storage-policy\":1,\"push-type\":\"LiveActivity\"}",
    };
    if (policy != APNS_STORAGE_NONE && policy != APNS_STORAGE_MOST_RECENT)
        return APNS_EINVAL;
    return submit(cc, APNS_CHANNEL_CREATE, bundle_id, NULL, bodies[policy], request_id, cb, ud);
}

int apns_channel_read(apns_channel_client *cc, const char *bundle_id, const char *channel_id,
                      const char *request_id, apns_channel_cb cb, void *ud)
{
    return submit(cc, APNS_CHANNEL_READ, bundle_id, channel_id, NULL, request_id, cb, ud);
}

int apns_channel_list(apns_channel_client *cc, const char *bundle_id, const char *request_id,
                      apns_channel_cb cb, void *ud)
{
    return submit(cc, APNS_CHANNEL_LIST, bundle_id, NULL, NULL, request_id, cb, ud);
}

int apns_channel_delete(apns_channel_client *cc, const char *bundle_id, const char *channel_id,
                        const char *request_id, apns_channel_cb cb, void *ud)
{
    return submit(cc, APNS_CHANNEL_DELETE, bundle_id, channel_id, NULL, request_id, cb, ud);
}

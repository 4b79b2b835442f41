/*
 * sim_broadcast.c - libapns' broadcast support against apns-sim: every
 * channel operation (apns_channel_client) and every management and publish
 * outcome a libapns caller can provoke, then a publish workload under faults.
 *
 * Expected statuses and reasons come from tests/golden/broadcast.tsv (one
 * row per condition, by its id), never from libapns' reason table: a row
 * gives the status and reason string, and the test checks libapns surfaced
 * exactly those. Rows libapns refuses to send (bad paths, methods, headers,
 * malformed bodies) are driven by golden_broadcast.py's raw HTTP/2 client.
 *
 *   1. token auth, --channel-limit 3: create (policy 1 and 0), read (the
 *      policy comes back), list, the 4th create refused, unknown channel,
 *      bundle id without the capability; publishes (stored and no-storage
 *      expiration, unknown and deleted channel, no capability); delete and
 *      delete again; the delivery log holds each accepted publish once.
 *   2. certificate auth: create and publish for the certificate's bundle id,
 *      TopicMismatch for another; certificates without a topic or of the
 *      other environment.
 *      Then --fail-rate 429, 500 and 503 on every publish (one attempt).
 *   3. COUNT publishes (1000; 200 under APNS_IT_SMALL) through the
 *      client's in-flight book with --goaway-every 100 --fail-rate
 *      503:0.05: exactly COUNT broadcast lines in the delivery log, each
 *      request id once, and the faults really happened.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "apns/channel.h"
#include "apns/client.h"
#include "apns/jwt.h"
#include "golden.h"
#include "harness.h"
#include "push_run.h"

#define TOPIC   "com.example.app"
#define NOBC    "com.example.nobroadcast"
#define UNKNOWN "AAAAAAAAAAAAAAAAAAAAAA=="
#define LA_UPDATE                                                                                  \
    "{\"aps\":{\"timestamp\":1700000000,\"event\":\"update\",\"content-state\":{\"s\":1}}}"

static const char *work_dir;
static golden_table bt; /* broadcast.tsv */

typedef struct sim {
    th_proc p;
    char err_path[512], log_path[512];
} sim;

static void sim_start(sim *s, const char *tag, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->err_path, sizeof s->err_path, "%s/%s.err", work_dir, tag);
    snprintf(s->log_path, sizeof s->log_path, "%s/%s.log", work_dir, tag);
    static char bin[512];
    char *argv[48];
    int n = 0;
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "f=$1; shift; exec \"$@\" 2>\"$f\"";
    argv[n++] = "sh";
    argv[n++] = s->err_path;
    argv[n++] = (char *)th_bin("apns-sim", bin, sizeof bin);
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--manage-listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--tls-cert";
    argv[n++] = (char *)th_cert("server.pem");
    argv[n++] = "--tls-key";
    argv[n++] = (char *)th_cert("server.key");
    argv[n++] = "--delivery-log";
    argv[n++] = s->log_path;
    for (int i = 0; extra && extra[i] && n < 47; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    th_spawn_sim_manage(&s->p, argv);
}

/* Stops the sim (it must exit 0) and returns its delivery log (caller frees). */
static char *sim_stop(sim *s)
{
    int status = th_stop(&s->p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *err = th_read_file(s->err_path, NULL);
        fprintf(stderr, "FAIL: apns-sim exit status %d; its stderr:\n%s\n", status,
                err ? err : "(none)");
        th_fail();
    }
    char *log = th_read_file(s->log_path, NULL);
    return log ? log : calloc(1, 1);
}

/* --- credentials and clients ------------------------------------------- */

typedef struct cred {
    const char *cert, *key; /* NULL: token auth */
    const char *p8, *kid;   /* token auth: NULL for AuthKey_ABC123DEFG.p8 */
} cred;

typedef struct cli {
    struct event_base *base;
    apns_signing_key *key;
    apns_token_cache *tokens;
    apns_channel_client *cc;
    apns_client *c;
    /* the last answer */
    int done;
    apns_channel_result cr;
    apns_result r;
    char reason[64], channel[256], chans[8][256];
    size_t nchans;
} cli;

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (getenv("APNS_TEST_VERBOSE"))
        fprintf(stderr, "libapns[%d]: %s\n", level, msg);
}

static void on_channel(apns_channel_client *cc, const apns_channel_result *r, void *ud)
{
    (void)cc;
    cli *k = ud;
    TH_CHECK(!k->done, "a second channel callback");
    k->done = 1;
    k->cr = *r;
    snprintf(k->reason, sizeof k->reason, "%s", r->reason_str ? r->reason_str : "");
    snprintf(k->channel, sizeof k->channel, "%s", r->channel_id ? r->channel_id : "");
    k->nchans = 0;
    for (size_t i = 0; i < r->nchannels && i < 8; i++)
        snprintf(k->chans[k->nchans++], sizeof k->chans[0], "%s", r->channels[i]);
    TH_CHECK(r->nchannels <= 8, "list: %zu channels", r->nchannels);
    event_base_loopbreak(k->base);
}

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    (void)c;
    (void)n;
    cli *k = ud;
    TH_CHECK(!k->done, "a second result callback (%s)", r->apns_id);
    k->done = 1;
    k->r = *r;
    snprintf(k->reason, sizeof k->reason, "%s", r->reason_str ? r->reason_str : "");
    event_base_loopbreak(k->base);
}

static void cli_new(cli *k, const sim *s, const cred *cr)
{
    memset(k, 0, sizeof *k);
    k->base = event_base_new();
    TH_CHECK(k->base != NULL, "event_base_new");
    char detail[256] = "";
    if (!cr->cert) {
        int rc = apns_signing_key_load_file(
            &k->key, cr->p8 ? cr->p8 : th_cert("AuthKey_ABC123DEFG.p8"),
            cr->kid ? cr->kid : "ABC123DEFG", "DEF123GHIJ", detail, sizeof detail);
        TH_CHECK(rc == 0, "load key: %s", detail);
        TH_CHECK(apns_token_cache_new(&k->tokens, k->key, 0) == 0, "token cache");
    }
    apns_channel_opts co;
    apns_channel_opts_init(&co);
    co.env = APNS_ENV_CUSTOM;
    co.host = s->p.host;
    co.port = (uint16_t)s->p.manage_port;
    co.tokens = k->tokens;
    co.cert_file = cr->cert;
    co.key_file = cr->key;
    co.ca_file = th_cert("ca.pem");
    co.retry.max_attempts = 1;
    co.on_log = on_log;
    int rc = apns_channel_client_new(&k->cc, k->base, &co, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_channel_client_new: %s (%s)", apns_strerror(rc), detail);

    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = s->p.host;
    o.port = (uint16_t)s->p.port;
    o.tokens = k->tokens;
    o.cert_file = cr->cert;
    o.key_file = cr->key;
    o.ca_file = th_cert("ca.pem");
    o.connections = 1;
    o.retry.max_attempts = 1;
    o.on_result = on_result;
    o.on_log = on_log;
    o.ud = k;
    rc = apns_client_new(&k->c, k->base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_client_new: %s (%s)", apns_strerror(rc), detail);
}

static void cli_free(cli *k)
{
    apns_channel_client_free(k->cc);
    apns_client_free(k->c);
    event_base_free(k->base);
    apns_token_cache_free(k->tokens);
    apns_signing_key_free(k->key);
    memset(k, 0, sizeof *k);
}

static void wait_answer(cli *k, const char *what)
{
    int64_t deadline = th_now_ms() + 20000;
    /* One pass at a time (not loopexit: its timer would outlive the answer
     * and stop a later dispatch); libapns' own timers bound each pass. */
    while (!k->done && th_now_ms() < deadline)
        event_base_loop(k->base, EVLOOP_ONCE);
    TH_CHECK(k->done, "%s: no answer within 20 s", what);
}

/* --- checks against the golden rows ---------------------------------------- */

/* The row `id` of broadcast.tsv: its status and reason ("" for a success). */
static void golden_row(const char *id, int *status, const char **reason)
{
    long row = golden_find(&bt, "id", id);
    TH_CHECK(row >= 0, "broadcast.tsv has no row %s", id);
    *status = atoi(golden_col(&bt, (size_t)row, "status"));
    const char *r = golden_opt(golden_col(&bt, (size_t)row, "reason"));
    *reason = r ? r : "";
}

static void expect_channel(cli *k, const char *id, const char *what)
{
    int status;
    const char *reason;
    golden_row(id, &status, &reason);
    int since = golden_failures();
    const apns_channel_result *r = &k->cr;
    int want_outcome = reason[0] ? APNS_OUTCOME_REJECTED : APNS_OUTCOME_ACCEPTED;
    if (r->status != status || strcmp(k->reason, reason) != 0 || (int)r->outcome != want_outcome)
        golden_fail("%s (%s): status %d reason \"%s\" outcome %d error %s, want %d \"%s\"", id,
                    what, r->status, k->reason, r->outcome, apns_err_name(r->error), status,
                    reason);
    else if (reason[0] && (r->reason == APNS_REASON_NONE || r->reason == APNS_REASON_UNKNOWN))
        golden_fail("%s (%s): reason %s not mapped to an apns_reason", id, what, reason);
    golden_ok(since, "%-24s %d %s (%s)", id, status, reason[0] ? reason : "-", what);
}

static void expect_publish(cli *k, const char *id, const char *what)
{
    int status;
    const char *reason;
    golden_row(id, &status, &reason);
    int since = golden_failures();
    const apns_result *r = &k->r;
    int want_outcome = reason[0] ? APNS_OUTCOME_REJECTED : APNS_OUTCOME_ACCEPTED;
    if (r->status != status || strcmp(k->reason, reason) != 0 || (int)r->outcome != want_outcome)
        golden_fail("%s (%s): status %d reason \"%s\" outcome %d error %s, want %d \"%s\"", id,
                    what, r->status, k->reason, r->outcome, apns_err_name(r->error), status,
                    reason);
    golden_ok(since, "%-24s %d %s (%s)", id, status, reason[0] ? reason : "-", what);
}

/* --- operations ------------------------------------------------------------ */

static void op_create(cli *k, const char *bundle, int policy)
{
    k->done = 0;
    int rc = apns_channel_create(k->cc, bundle, (apns_storage_policy)policy, NULL, on_channel, k);
    TH_CHECK(rc == 0, "apns_channel_create: %s", apns_strerror(rc));
    wait_answer(k, "create");
}

static void op_read(cli *k, const char *bundle, const char *ch)
{
    k->done = 0;
    int rc = apns_channel_read(k->cc, bundle, ch, NULL, on_channel, k);
    TH_CHECK(rc == 0, "apns_channel_read: %s", apns_strerror(rc));
    wait_answer(k, "read");
}

static void op_list(cli *k, const char *bundle)
{
    k->done = 0;
    int rc = apns_channel_list(k->cc, bundle, NULL, on_channel, k);
    TH_CHECK(rc == 0, "apns_channel_list: %s", apns_strerror(rc));
    wait_answer(k, "list");
}

static void op_delete(cli *k, const char *bundle, const char *ch)
{
    k->done = 0;
    int rc = apns_channel_delete(k->cc, bundle, ch, NULL, on_channel, k);
    TH_CHECK(rc == 0, "apns_channel_delete: %s", apns_strerror(rc));
    wait_answer(k, "delete");
}

/* Publishes LA_UPDATE to channel ch of bundle with expiration exp and
 * request id number idn. */
static void op_publish(cli *k, const char *bundle, const char *ch, int64_t exp, uint32_t idn)
{
    apns_notification n;
    apns_notification_init(&n);
    n.channel_id = ch;
    n.topic = bundle;
    n.push_type = APNS_PUSH_LIVEACTIVITY;
    n.priority = 10;
    n.expiration = exp;
    n.payload = LA_UPDATE;
    n.payload_len = strlen(LA_UPDATE);
    th_apns_id(idn, n.apns_id);
    k->done = 0;
    char detail[256] = "";
    int rc = apns_notification_validate(&n, 1, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_notification_validate: %s (%s)", apns_strerror(rc), detail);
    rc = apns_client_submit(k->c, &n);
    TH_CHECK(rc == 0, "apns_client_submit: %s", apns_strerror(rc));
    wait_answer(k, "publish");
}

static int listed(const cli *k, const char *ch)
{
    for (size_t i = 0; i < k->nchans; i++)
        if (strcmp(k->chans[i], ch) == 0)
            return 1;
    return 0;
}

/* Counts "broadcast <ch> <id> <bytes>" lines in log for request id idn. */
static int delivered(const char *log, const char *ch, uint32_t idn)
{
    char id[37], line[400];
    th_apns_id(idn, id);
    snprintf(line, sizeof line, "broadcast %s %s %zu\n", ch, id, strlen(LA_UPDATE));
    int n = 0;
    for (const char *at = log; (at = strstr(at, line)) != NULL; at++)
        if (at == log || at[-1] == '\n')
            n++;
    return n;
}

/* 1. Token auth: the channel life cycle and the reasons around it. */
static void token_auth(void)
{
    const char *flags[] = {"--auth-keys",
                           th_cert("keys"),
                           "--topics",
                           TOPIC "," NOBC,
                           "--broadcast-topics",
                           TOPIC,
                           "--channel-limit",
                           "3",
                           NULL};
    sim s;
    sim_start(&s, "token", flags);
    cred cr = {NULL, NULL, NULL, NULL};
    cli k;
    cli_new(&k, &s, &cr);
    char stored[256], nostore[256], third[256];

    op_create(&k, TOPIC, 1);
    expect_channel(&k, "m-create", "policy 1");
    TH_CHECK(k.channel[0], "create: no channel id");
    snprintf(stored, sizeof stored, "%s", k.channel);
    op_create(&k, TOPIC, 0);
    expect_channel(&k, "m-create-no-storage", "policy 0");
    snprintf(nostore, sizeof nostore, "%s", k.channel);
    TH_CHECK(strcmp(stored, nostore) != 0, "two creates, one channel id %s", stored);

    op_read(&k, TOPIC, stored);
    expect_channel(&k, "m-read", "policy 1 channel");
    TH_CHECK(k.cr.storage_policy == 1, "read: policy %d, want 1", k.cr.storage_policy);
    op_read(&k, TOPIC, nostore);
    expect_channel(&k, "m-read", "policy 0 channel");
    TH_CHECK(k.cr.storage_policy == 0, "read: policy %d, want 0", k.cr.storage_policy);

    op_list(&k, TOPIC);
    expect_channel(&k, "m-list", "two channels");
    TH_CHECK(k.nchans == 2 && listed(&k, stored) && listed(&k, nostore),
             "list: %zu channels, want the two created", k.nchans);

    op_create(&k, TOPIC, 1);
    expect_channel(&k, "m-create", "the 3rd of --channel-limit 3");
    snprintf(third, sizeof third, "%s", k.channel);
    op_create(&k, TOPIC, 1);
    expect_channel(&k, "m-create-limit", "the 4th of --channel-limit 3");

    op_read(&k, TOPIC, UNKNOWN);
    expect_channel(&k, "m-read-unknown", "a well-formed unknown id");
    op_create(&k, NOBC, 1);
    expect_channel(&k, "m-feature", "bundle id not in --broadcast-topics");

    /* Publishes. */
    op_publish(&k, TOPIC, nostore, 0, 1);
    expect_publish(&k, "p-ok", "no-storage channel, expiration 0");
    op_publish(&k, TOPIC, stored, 2000000000, 2);
    expect_publish(&k, "p-stored-expiration", "stored channel, expiration set");
    op_publish(&k, TOPIC, nostore, 2000000000, 3);
    expect_publish(&k, "p-no-storage-expiration", "no-storage channel, expiration set");
    op_publish(&k, TOPIC, UNKNOWN, 0, 4);
    expect_publish(&k, "p-unknown-channel", "a well-formed unknown id");
    op_publish(&k, NOBC, stored, 0, 5);
    expect_publish(&k, "p-feature", "bundle id not in --broadcast-topics");

    /* Delete, and what a deleted channel answers. */
    op_delete(&k, TOPIC, third);
    expect_channel(&k, "m-delete", "the 3rd channel");
    op_delete(&k, TOPIC, third);
    expect_channel(&k, "m-delete-deleted", "the same again");
    op_read(&k, TOPIC, third);
    expect_channel(&k, "m-read-unknown", "a deleted channel");
    op_publish(&k, TOPIC, third, 0, 6);
    expect_publish(&k, "p-deleted-channel", "a deleted channel");
    op_list(&k, TOPIC);
    expect_channel(&k, "m-list", "after the delete");
    TH_CHECK(k.nchans == 2 && !listed(&k, third), "list after delete: %zu channels", k.nchans);
    op_create(&k, TOPIC, 0);
    expect_channel(&k, "m-create", "room again under the limit after a delete");
    cli_free(&k);

    /* A key the sim does not know. */
    cred unknown = {NULL, NULL, th_cert("AuthKey_UNKNOWN000.p8"), "UNKNOWN000"};
    cli_new(&k, &s, &unknown);
    op_list(&k, TOPIC);
    expect_channel(&k, "m-invalid-token", "a key the sim does not know");
    cli_free(&k);

    char *log = sim_stop(&s);
    TH_CHECK(delivered(log, nostore, 1) == 1 && delivered(log, stored, 2) == 1,
             "delivery log lacks an accepted publish:\n%s", log);
    int lines = 0;
    for (const char *at = log; (at = strstr(at, "broadcast ")) != NULL; at++)
        lines++;
    TH_CHECK(lines == 2, "delivery log: %d broadcast lines, want 2:\n%s", lines, log);
    free(log);
}

/* 2. Certificate auth: the certificate's bundle id, and refusals. */
static void certificate_auth(void)
{
    const char *flags[] = {"--client-ca", th_cert("ca.pem"), "--environment", "production", NULL};
    sim s;
    sim_start(&s, "cert", flags);
    cred cr = {th_cert("client.pem"), th_cert("client.key"), NULL, NULL};
    cli k;
    cli_new(&k, &s, &cr);
    op_create(&k, TOPIC, 0);
    expect_channel(&k, "m-create", "certificate auth");
    char ch[256];
    snprintf(ch, sizeof ch, "%s", k.channel);
    op_publish(&k, TOPIC, ch, 0, 10);
    expect_publish(&k, "p-cert", "certificate auth");
    op_create(&k, "com.other.app", 0);
    expect_channel(&k, "m-topic-mismatch", "another bundle id");
    op_publish(&k, "com.other.app", ch, 0, 11);
    expect_publish(&k, "p-topic-mismatch", "another bundle id");
    cli_free(&k);

    cred notopic = {th_cert("client-notopic.pem"), th_cert("client-notopic.key"), NULL, NULL};
    cli_new(&k, &s, &notopic);
    op_create(&k, TOPIC, 0);
    expect_channel(&k, "m-cert-no-topic", "certificate without a topic");
    cli_free(&k);
    cred dev = {th_cert("client-dev.pem"), th_cert("client-dev.key"), NULL, NULL};
    cli_new(&k, &s, &dev);
    op_list(&k, TOPIC);
    expect_channel(&k, "m-cert-other-env", "development certificate, production sim");
    cli_free(&k);

    char *log = sim_stop(&s);
    TH_CHECK(delivered(log, ch, 10) == 1, "delivery log lacks the cert publish:\n%s", log);
    free(log);
}

/* The fault flags on the publish listener: --fail-rate STATUS:1 answers
 * every publish STATUS; with one attempt allowed, libapns reports it. */
static void failures(void)
{
    static const char *const rows[][2] = {
        {"429:1", "p-fail429"}, {"500:1", "p-fail500"}, {"503:1", "p-fail503"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *flags[] = {"--auth-keys", th_cert("keys"), "--fail-rate", rows[i][0], NULL};
        sim s;
        sim_start(&s, rows[i][1], flags);
        cred cr = {NULL, NULL, NULL, NULL};
        cli k;
        cli_new(&k, &s, &cr);
        op_create(&k, TOPIC, 0);
        expect_channel(&k, "m-create", "the manage listener has no faults");
        char ch[256];
        snprintf(ch, sizeof ch, "%s", k.channel);
        op_publish(&k, TOPIC, ch, 0, 30 + (uint32_t)i);
        expect_publish(&k, rows[i][1], rows[i][0]);
        cli_free(&k);
        char *log = sim_stop(&s);
        TH_CHECK(strstr(log, "broadcast ") == NULL, "%s: a refused publish was logged:\n%s",
                 rows[i][1], log);
        free(log);
    }
}

/* --- 3. the workload --------------------------------------------------------- */

typedef struct load {
    char channel[256];
    uint8_t *calls;
    int failures;
} load;

static void load_fill(pr_run *pr, uint32_t i, apns_notification *n)
{
    load *l = pr->ud;
    n->token = NULL;
    n->channel_id = l->channel;
    n->topic = TOPIC;
    n->push_type = APNS_PUSH_LIVEACTIVITY;
    n->priority = 10;
    n->expiration = 0;
    n->payload = LA_UPDATE;
    n->payload_len = strlen(LA_UPDATE);
    th_apns_id(i, n->apns_id);
}

static int load_result(pr_run *pr, uint32_t i, const apns_result *res)
{
    load *l = pr->ud;
    l->calls[i]++;
    if (res->outcome != APNS_OUTCOME_ACCEPTED || res->status != 200) {
        fprintf(stderr, "publish %u: outcome %d status %d reason %s error %s attempts %d\n", i,
                res->outcome, res->status, res->reason_str, apns_err_name(res->error),
                res->attempts);
        l->failures++;
    }
    return l->calls[i] == 1;
}

static void workload(uint32_t count)
{
    const char *flags[] = {"--auth-keys", th_cert("keys"), "--topics", TOPIC,    "--goaway-every",
                           "100",         "--fail-rate",   "503:0.05", "--seed", "17",
                           NULL};
    sim s;
    sim_start(&s, "load", flags);
    cred cr = {NULL, NULL, NULL, NULL};
    cli k;
    cli_new(&k, &s, &cr);
    op_create(&k, TOPIC, 0);
    expect_channel(&k, "m-create", "workload channel (the manage listener has no faults)");
    load l;
    memset(&l, 0, sizeof l);
    snprintf(l.channel, sizeof l.channel, "%s", k.channel);
    l.calls = calloc(count, 1);
    TH_CHECK(l.calls != NULL, "calloc");
    apns_client_free(k.c); /* the workload's client: the in-flight book with retries */

    pr_run pr;
    memset(&pr, 0, sizeof pr);
    pr.base = k.base;
    pr.count = count;
    pr.log_level = APNS_LOG_ERROR;
    pr.fill = load_fill;
    pr.on_result = load_result;
    pr.ud = &l;
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = s.p.host;
    o.port = (uint16_t)s.p.port;
    o.tokens = k.tokens;
    o.ca_file = th_cert("ca.pem");
    o.connections = 2;
    o.retry.base_ms = 5;
    o.retry.max_ms = 50;
    pr_client_opts(&pr, &o);
    char detail[256] = "";
    int rc = apns_client_new(&pr.client, k.base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_client_new: %s (%s)", apns_strerror(rc), detail);
    pr_run_all(&pr, 120000);
    apns_client_stats st;
    apns_client_stats_get(pr.client, &st);
    apns_client_free(pr.client);
    k.c = NULL;
    cli_free(&k);
    char *log = sim_stop(&s);

    uint32_t lost = 0, dup = 0, lines = 0;
    for (const char *at = log; (at = strstr(at, "broadcast ")) != NULL; at++)
        if (at == log || at[-1] == '\n')
            lines++;
    for (uint32_t i = 0; i < count; i++) {
        int d = delivered(log, l.channel, i);
        lost += d == 0;
        dup += d > 1;
        TH_CHECK(l.calls[i] == 1, "publish %u: %u result callbacks", i, l.calls[i]);
    }
    fprintf(stderr,
            "workload: %u publishes, %u log lines, %u lost, %u twice, goaways %llu, "
            "retries %llu\n",
            count, lines, lost, dup, (unsigned long long)st.goaways,
            (unsigned long long)st.retried);
    TH_CHECK(l.failures == 0, "%d publishes not accepted", l.failures);
    TH_CHECK(lines == count && lost == 0 && dup == 0,
             "delivery log: %u broadcast lines for %u publishes, %u lost, %u twice", lines, count,
             lost, dup);
    TH_CHECK(st.goaways > 0, "no GOAWAY seen: the faults did not happen");
    TH_CHECK(st.retried > 0, "no retry made: no 503 seen");
    free(log);
    free(l.calls);
}

int main(void)
{
    const char *small = getenv("APNS_IT_SMALL");
    uint32_t count = small && *small && strcmp(small, "0") != 0 ? 200 : 1000;
    work_dir = th_tmpdir("bcast");
    golden_need(&bt, "broadcast.tsv");
    token_auth();
    certificate_auth();
    failures();
    workload(count);
    golden_free(&bt);
    int rc = golden_verdict("it_sim_broadcast", "libapns against apns-sim");
    if (rc == 0)
        th_rmtree(work_dir);
    return rc;
}

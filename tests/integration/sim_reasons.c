/*
 * sim_reasons.c - every reason string a request through libapns can earn is
 * produced by apns-sim and surfaced correctly by apns_client.
 *
 * Each scenario pushes one notification through the real client (TLS with
 * the test CA, token or certificate auth) at an apns-sim configured to answer
 * it, and checks the whole apns_result: outcome, HTTP status, reason enum,
 * reason_str, action (the reason table's), timestamp, apns-id echo,
 * apns-unique-id and attempts. A scenario names its reason both ways: the
 * string the sim must send and the enum libapns must turn it into; the HTTP
 * status comes from tests/golden/reasons.tsv (Apple's table), never from
 * libapns' apns_reason_status(), so a wrong row in libapns or in the sim
 * fails here. After each simulator stops, its counters
 * (JSON on stderr) and delivery log are checked against what was sent.
 *
 * The reasons libapns refuses to produce (it validates first) are covered by
 * reasons_raw.sh with nghttp. Here the local validation errors are checked
 * to come back from apns_client_submit() with no request reaching the sim.
 *
 * Prints one line per scenario; exits 1 at the first mismatch.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apns/client.h"
#include "apns/jwt.h"
#include "golden.h"
#include "harness.h"

#define TOPIC       "com.example.app"
#define UNREG_TS_MS 1700000000123LL

static const char *certs_dir;
static const char *work_dir;
static char sim_bin[600];

static const char *path_in(const char *dir, const char *name)
{
    static char bufs[64][600]; /* a ring: callers use a path right away */
    static int next;
    char *b = bufs[next++ % 64];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* Deterministic tokens with a role: 0 good, 1 unregistered, 2 other topic,
 * 3 other environment, 4 expired, 5 forbidden. */
static const char *tok(int role)
{
    static char t[6][65];
    th_token(1000 + (uint32_t)role, t[role]);
    return t[role];
}

/* --- apns-sim -------------------------------------------------------- */

typedef struct sim {
    th_proc p;
    char tag[32];
    char err_path[600];
    char log_path[600];
    json_t *counters; /* the JSON line printed at exit */
    char *log;        /* delivery log text */
    size_t log_lines;
} sim;

/* Starts apns-sim over TLS with a delivery log and `extra` flags (NULL
 * ended). Its stderr goes to a file so the exit counters can be read. */
static void sim_start(sim *s, const char *tag, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    snprintf(s->err_path, sizeof s->err_path, "%s/%s.err", work_dir, tag);
    snprintf(s->log_path, sizeof s->log_path, "%s/%s.log", work_dir, tag);
    char *argv[48];
    int n = 0;
    /* sh keeps the harness' spawn (which reads stdout) and redirects stderr. */
    argv[n++] = "/bin/sh";
    argv[n++] = "-c";
    argv[n++] = "f=$1; shift; exec \"$@\" 2>\"$f\"";
    argv[n++] = "sh";
    argv[n++] = s->err_path;
    argv[n++] = sim_bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--tls-cert";
    argv[n++] = (char *)path_in(certs_dir, "server.pem");
    argv[n++] = "--tls-key";
    argv[n++] = (char *)path_in(certs_dir, "server.key");
    argv[n++] = "--delivery-log";
    argv[n++] = s->log_path;
    for (int i = 0; extra && extra[i] && n < 47; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    th_spawn_server(&s->p, argv);
}

/* Stops the sim (must exit 0), reads its counters and delivery log. */
static void sim_stop(sim *s)
{
    int status = th_stop(&s->p);
    char *err = th_read_file(s->err_path, NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: apns-sim (%s) exit status %d; its stderr:\n%s\n", s->tag, status,
                err ? err : "(none)");
        th_fail();
    }
    /* The counters are the last line starting with {"connections". */
    const char *line = NULL;
    for (const char *p = err; p && (p = strstr(p, "{\"connections\"")) != NULL; p++)
        line = p;
    TH_CHECK(line != NULL, "apns-sim (%s) printed no counters: %s", s->tag, err ? err : "");
    json_error_t je;
    s->counters = json_loadb(line, strcspn(line, "\n"), 0, &je);
    TH_CHECK(s->counters != NULL, "apns-sim (%s) counters: %s", s->tag, je.text);
    free(err);
    s->log = th_read_file(s->log_path, NULL);
    if (!s->log)
        s->log = calloc(1, 1);
    s->log_lines = 0;
    for (const char *p = s->log; *p; p++)
        s->log_lines += *p == '\n';
}

static long long counter(const sim *s, const char *name)
{
    json_t *v = json_object_get(s->counters, name);
    TH_CHECK(json_is_integer(v), "apns-sim (%s) has no counter %s", s->tag, name);
    return json_integer_value(v);
}

static long long by_reason(const sim *s, const char *reason)
{
    json_t *v = json_object_get(json_object_get(s->counters, "rejected_by_reason"), reason);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void expect_counter(const sim *s, const char *name, long long want)
{
    long long got = counter(s, name);
    TH_CHECK(got == want, "apns-sim (%s): counter %s is %lld, want %lld", s->tag, name, got, want);
}

static void expect_by_reason(const sim *s, const char *reason, long long want)
{
    long long got = by_reason(s, reason);
    TH_CHECK(got == want, "apns-sim (%s): rejected_by_reason.%s is %lld, want %lld", s->tag, reason,
             got, want);
}

/* The delivery log holds "<apns-id> <token> <topic> <bytes>" exactly once. */
static void expect_delivered(const sim *s, const char *id, const char *token, const char *topic,
                             size_t bytes)
{
    char line[400];
    snprintf(line, sizeof line, "%s %s %s %zu\n", id, token, topic, bytes);
    const char *at = strstr(s->log, line);
    TH_CHECK(at != NULL && (at == s->log || at[-1] == '\n'),
             "apns-sim (%s) delivery log lacks \"%.*s\":\n%s", s->tag, (int)strlen(line) - 1, line,
             s->log);
    TH_CHECK(strstr(at + 1, line) == NULL, "apns-sim (%s) delivered %s twice", s->tag, id);
}

static void sim_free(sim *s)
{
    json_decref(s->counters);
    free(s->log);
    s->counters = NULL;
    s->log = NULL;
}

/* --- libapns client ---------------------------------------------------- */

typedef struct cred {
    const char *p8, *kid, *team; /* token auth */
    const char *cert, *key;      /* or certificate auth */
    int max_attempts;            /* retry.max_attempts; 0 = library default */
} cred;

typedef struct got {
    int done;
    apns_result r;
    char reason[64];
} got;

typedef struct cli {
    struct event_base *base;
    apns_client *c;
    apns_signing_key *key;
    apns_token_cache *tokens;
    got g;
    int timed_out;
    char log[16384]; /* what libapns logged, one message a line */
    size_t log_len;
} cli;

static void on_result(apns_client *c, const apns_notification *n, const apns_result *r, void *ud)
{
    cli *k = ud;
    TH_CHECK(!k->g.done, "a second result callback (apns-id %s)", r->apns_id);
    k->g.done = 1;
    k->g.r = *r;
    snprintf(k->g.reason, sizeof k->g.reason, "%s", r->reason_str ? r->reason_str : "(null)");
    k->g.r.reason_str = k->g.reason;
    event_base_loopbreak(k->base);
}

static void on_log(apns_log_level level, const char *msg, void *ud)
{
    cli *k = ud;
    int n = snprintf(k->log + k->log_len, sizeof k->log - k->log_len, "%s\n", msg);
    if (n > 0 && (size_t)n < sizeof k->log - k->log_len)
        k->log_len += (size_t)n;
    if (getenv("APNS_TEST_VERBOSE"))
        fprintf(stderr, "libapns[%d]: %s\n", level, msg);
}

/* Prepares the token cache (token auth) without creating the client yet. */
static void cli_init(cli *k, const cred *cr)
{
    memset(k, 0, sizeof *k);
    k->base = event_base_new();
    TH_CHECK(k->base != NULL, "event_base_new");
    if (cr->p8) {
        char detail[256] = "";
        int rc =
            apns_signing_key_load_file(&k->key, cr->p8, cr->kid, cr->team, detail, sizeof detail);
        TH_CHECK(rc == 0, "load %s: %s", cr->p8, detail);
        TH_CHECK(apns_token_cache_new(&k->tokens, k->key, 0) == 0, "token cache");
    }
}

static void cli_connect(cli *k, const sim *s, const cred *cr)
{
    apns_client_opts o;
    apns_client_opts_init(&o);
    o.env = APNS_ENV_CUSTOM;
    o.host = s->p.host;
    o.port = (uint16_t)s->p.port;
    o.tokens = k->tokens;
    o.cert_file = cr->cert;
    o.key_file = cr->key;
    o.ca_file = path_in(certs_dir, "ca.pem");
    o.connections = 1;
    o.max_pending = 16;
    o.retry.max_attempts = cr->max_attempts;
    o.retry.base_ms = 10;
    o.retry.max_ms = 50;
    o.on_result = on_result;
    o.on_log = on_log;
    o.ud = k;
    char detail[256] = "";
    int rc = apns_client_new(&k->c, k->base, &o, detail, sizeof detail);
    TH_CHECK(rc == 0, "apns_client_new: %s (%s)", apns_strerror(rc), detail);
}

static void cli_new(cli *k, const sim *s, const cred *cr)
{
    cli_init(k, cr);
    cli_connect(k, s, cr);
}

static void cli_free(cli *k)
{
    apns_client_free(k->c);
    event_base_free(k->base);
    apns_token_cache_free(k->tokens);
    apns_signing_key_free(k->key);
    memset(k, 0, sizeof *k);
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    cli *k = ud;
    k->timed_out = 1;
    event_base_loopbreak(k->base);
}

/* Runs the loop until loopbreak or `ms` passed. Returns 1 on timeout. */
static int run_for(cli *k, int64_t ms)
{
    k->timed_out = 0;
    struct event *t = evtimer_new(k->base, on_timeout, k);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(t, &tv);
    event_base_loop(k->base, 0);
    event_free(t);
    return k->timed_out;
}

/* Submits n and waits (up to 30 s) for its one result. */
static const apns_result *send_one(cli *k, const char *scenario, const apns_notification *n)
{
    memset(&k->g, 0, sizeof k->g);
    int rc = apns_client_submit(k->c, n);
    TH_CHECK(rc == 0, "%s: apns_client_submit: %s", scenario, apns_err_name(rc));
    while (!k->g.done)
        TH_CHECK(!run_for(k, 30000), "%s: no result within 30 s", scenario);
    return &k->g.r;
}

/* --- scenarios ---------------------------------------------------------- */

static void note(apns_notification *n, const char *token, const char *topic, apns_push_type t,
                 const char *payload, const char *id)
{
    apns_notification_init(n);
    n->token = token;
    n->topic = topic;
    n->push_type = t;
    n->payload = payload;
    n->payload_len = strlen(payload);
    if (id)
        snprintf(n->apns_id, sizeof n->apns_id, "%s", id);
}

/* A JSON object of exactly `size` bytes: {"aps":{"alert":"xxx..."}}. */
static char *payload_of(size_t size)
{
    static const char pre[] = "{\"aps\":{\"alert\":\"", post[] = "\"}}";
    size_t fixed = sizeof pre - 1 + sizeof post - 1;
    char *p = malloc(size + 1);
    TH_CHECK(p != NULL && size >= fixed, "payload_of(%zu)", size);
    memcpy(p, pre, sizeof pre - 1);
    memset(p + sizeof pre - 1, 'x', size - fixed);
    memcpy(p + size - (sizeof post - 1), post, sizeof post);
    return p;
}

typedef struct want {
    apns_outcome outcome;
    int status;
    apns_reason reason;     /* NONE when accepted */
    const char *reason_str; /* Apple's string; "" when accepted */
    apns_action action;
    int attempts;
    int64_t timestamp_ms; /* 0: none */
    int unique_id;        /* 1: a UUID apns-unique-id (sandbox 200); 0: "" */
} want;

static const char *outcome_name(apns_outcome o)
{
    return o == APNS_OUTCOME_ACCEPTED   ? "ACCEPTED"
           : o == APNS_OUTCOME_REJECTED ? "REJECTED"
                                        : "FAILED";
}

#define SCEN_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL scenario \"%s\": ", scenario);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            th_fail();                                                                             \
        }                                                                                          \
    } while (0)

/* Checks every field of r against w; sent_id is the apns-id the notification
 * carried ("" when the client generated one). */
static void expect(const char *scenario, const apns_result *r, const want *w, const char *sent_id)
{
    SCEN_CHECK(r->outcome == w->outcome, "outcome %s, want %s (status %d, reason \"%s\", error %s)",
               outcome_name(r->outcome), outcome_name(w->outcome), r->status, r->reason_str,
               apns_err_name(r->error));
    SCEN_CHECK(r->status == w->status, "HTTP status %d, want %d", r->status, w->status);
    SCEN_CHECK(r->reason == w->reason, "reason enum %d (%s), want %d (%s)", (int)r->reason,
               apns_reason_name(r->reason), (int)w->reason, apns_reason_name(w->reason));
    SCEN_CHECK(r->reason_str && strcmp(r->reason_str, w->reason_str) == 0,
               "reason_str \"%s\", want \"%s\"", r->reason_str ? r->reason_str : "(null)",
               w->reason_str);
    /* The expected action is stated by the scenario and must also be the
     * reason table's, so a table edit cannot silently change both. */
    SCEN_CHECK(w->action == apns_action_for(w->status, w->reason),
               "test bug: want action %s but the table says %s", apns_action_name(w->action),
               apns_action_name(apns_action_for(w->status, w->reason)));
    SCEN_CHECK(r->action == w->action, "action %s, want %s", apns_action_name(r->action),
               apns_action_name(w->action));
    SCEN_CHECK(r->attempts == w->attempts, "attempts %d, want %d", r->attempts, w->attempts);
    SCEN_CHECK(r->timestamp_ms == w->timestamp_ms, "timestamp_ms %lld, want %lld",
               (long long)r->timestamp_ms, (long long)w->timestamp_ms);
    SCEN_CHECK(r->error == 0, "error %s, want 0", apns_err_name(r->error));
    if (sent_id && sent_id[0])
        SCEN_CHECK(strcmp(r->apns_id, sent_id) == 0, "apns_id \"%s\", want the sent \"%s\"",
                   r->apns_id, sent_id);
    else
        SCEN_CHECK(apns_uuid_is_valid(r->apns_id), "apns_id \"%s\" is not a UUID", r->apns_id);
    if (w->unique_id)
        SCEN_CHECK(strlen(r->apns_unique_id) == APNS_UUID_LEN &&
                       apns_uuid_is_valid(r->apns_unique_id),
                   "apns_unique_id \"%s\" is not a UUID", r->apns_unique_id);
    else
        SCEN_CHECK(r->apns_unique_id[0] == '\0', "apns_unique_id \"%s\", want none",
                   r->apns_unique_id);
    printf("ok   %-44s %s %d %-22s action=%-13s attempts=%d", scenario, outcome_name(r->outcome),
           r->status, r->reason_str[0] ? r->reason_str : "-", apns_action_name(r->action),
           r->attempts);
    if (r->timestamp_ms)
        printf(" timestamp=%lld", (long long)r->timestamp_ms);
    if (r->apns_unique_id[0])
        printf(" unique-id=%s", r->apns_unique_id);
    printf("\n");
    fflush(stdout);
}

static void skip(const char *scenario, const char *why)
{
    printf("SKIP %-44s %s\n", scenario, why);
    fflush(stdout);
}

static const want ACCEPTED = {.outcome = APNS_OUTCOME_ACCEPTED,
                              .status = 200,
                              .reason = APNS_REASON_NONE,
                              .reason_str = "",
                              .action = APNS_ACTION_NONE,
                              .attempts = 1};

/* A rejection with Apple's reason `name` (libapns' enum `reason`) and the
 * status tests/golden/reasons.tsv gives it. */
static want rejected(apns_reason reason, const char *name, apns_action action, int attempts)
{
    int status = golden_reason_status(name);
    TH_CHECK(status > 0, "test bug: %s has no status in tests/golden/reasons.tsv", name);
    want w = {.outcome = APNS_OUTCOME_REJECTED,
              .status = status,
              .reason = reason,
              .reason_str = name,
              .action = action,
              .attempts = attempts};
    return w;
}

static const char *ALERT = "{\"aps\":{\"alert\":\"reasons\"}}";

static cred token_cred(int max_attempts)
{
    cred c = {path_in(certs_dir, "AuthKey_ABC123DEFG.p8"),
              "ABC123DEFG",
              "DEF123GHIJ",
              NULL,
              NULL,
              max_attempts};
    return c;
}

/* 1. Local validation: refused by apns_client_submit, nothing on the wire. */
static void local_validation(void)
{
    const char *flags[] = {"--auth-keys", path_in(certs_dir, "keys"), "--topics", TOPIC, NULL};
    sim s;
    sim_start(&s, "local", flags);
    cred cr = token_cred(0);
    cli k;
    cli_new(&k, &s, &cr);
    /* Let the connection come up, so "no request" is not just "no connection". */
    apns_client_stats st;
    int64_t until = th_now_ms() + 10000;
    do {
        run_for(&k, 20);
        apns_client_stats_get(k.c, &st);
    } while (st.connections_up == 0 && th_now_ms() < until);
    TH_CHECK(st.connections_up == 1, "local validation: the client never connected");

    char *big = payload_of(APNS_PAYLOAD_MAX + 1), *big_voip = payload_of(APNS_PAYLOAD_MAX_VOIP + 1);
    char collapse[APNS_COLLAPSE_ID_MAX + 2];
    memset(collapse, 'c', sizeof collapse - 1);
    collapse[sizeof collapse - 1] = 0;
    struct {
        const char *name;
        int want;
        apns_notification n;
    } cases[16];
    int nc = 0;
#define CASE(label, code) (cases[nc].name = (label), cases[nc].want = (code), &cases[nc++].n)
    apns_notification *n;
    n = CASE("EBADTOKEN (not hex)", APNS_EBADTOKEN);
    note(n, "zz112233445566778899aabbccddeeff", TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n = CASE("EBADTOKEN (odd length)", APNS_EBADTOKEN);
    note(n, "00112233445566778", TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n = CASE("EBADTOKEN (empty)", APNS_EBADTOKEN);
    note(n, "", TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n = CASE("ETOOBIG (alert 4097 B)", APNS_ETOOBIG);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, big, NULL);
    n = CASE("ETOOBIG (voip 5121 B)", APNS_ETOOBIG);
    note(n, tok(0), TOPIC ".voip", APNS_PUSH_VOIP, big_voip, NULL);
    n = CASE("EBGPRIORITY (background, priority 10)", APNS_EBGPRIORITY);
    note(n, tok(0), TOPIC, APNS_PUSH_BACKGROUND, "{\"aps\":{\"content-available\":1}}", NULL);
    n->priority = 10;
    n = CASE("EBGPRIORITY (background, priority omitted)", APNS_EBGPRIORITY);
    note(n, tok(0), TOPIC, APNS_PUSH_BACKGROUND, "{\"aps\":{\"content-available\":1}}", NULL);
    n = CASE("ECOLLAPSEID (65 B)", APNS_ECOLLAPSEID);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n->collapse_id = collapse;
    n = CASE("ENOTOPIC (token auth)", APNS_ENOTOPIC);
    note(n, tok(0), NULL, APNS_PUSH_ALERT, ALERT, NULL);
    n = CASE("EPRIORITY (7)", APNS_EPRIORITY);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n->priority = 7;
    n = CASE("EAPNSID (not a UUID)", APNS_EAPNSID);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, "not-a-uuid");
    n = CASE("EEXPIRATION (-5)", APNS_EEXPIRATION);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n->expiration = -5;
    n = CASE("EPAYLOADEMPTY", APNS_EPAYLOADEMPTY);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, "", NULL);
    n = CASE("ENOTOBJECT (not JSON)", APNS_ENOTOBJECT);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, "{\"aps\":", NULL);
    n = CASE("EPUSHTYPE (99)", APNS_EPUSHTYPE);
    note(n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    n->push_type = (apns_push_type)99;
#undef CASE
    for (int i = 0; i < nc; i++) {
        int rc = apns_client_submit(k.c, &cases[i].n);
        TH_CHECK(rc == cases[i].want, "local %s: apns_client_submit returned %s, want %s",
                 cases[i].name, apns_err_name(rc), apns_err_name(cases[i].want));
        printf("ok   %-44s submit -> %s (no request)\n", cases[i].name, apns_err_name(rc));
    }
    /* Give anything wrongly queued time to go out. */
    run_for(&k, 300);
    apns_client_stats_get(k.c, &st);
    TH_CHECK(st.submitted == 0 && st.in_flight == 0 && apns_client_pending(k.c) == 0,
             "local validation: the client queued something (submitted %llu)",
             (unsigned long long)st.submitted);
    TH_CHECK(!k.g.done, "local validation: a result callback fired");
    cli_free(&k);
    sim_stop(&s);
    expect_counter(&s, "requests", 0);
    expect_counter(&s, "accepted", 0);
    expect_counter(&s, "rejected", 0);
    TH_CHECK(s.log_lines == 0, "local validation: the sim delivered %zu notifications",
             s.log_lines);
    printf("ok   %-44s sim: %lld connection(s), 0 requests, empty delivery log\n",
           "local validation sent nothing", counter(&s, "connections"));
    sim_free(&s);
    free(big);
    free(big_voip);
}

/* 2. Token auth against one sim with the token lists and --topics. */
static void token_auth_reasons(void)
{
    const char *unreg = path_in(work_dir, "unregistered.txt");
    const char *other_topic = path_in(work_dir, "other-topic.txt");
    const char *other_env = path_in(work_dir, "other-env.txt");
    FILE *f = fopen(unreg, "w");
    TH_CHECK(f != NULL, "write %s", unreg);
    fprintf(f, "# dead token with its timestamp\n%s %lld\n", tok(1), UNREG_TS_MS);
    fclose(f);
    f = fopen(other_topic, "w");
    TH_CHECK(f != NULL, "write %s", other_topic);
    fprintf(f, "%s\n", tok(2));
    fclose(f);
    f = fopen(other_env, "w");
    TH_CHECK(f != NULL, "write %s", other_env);
    fprintf(f, "%s\n", tok(3));
    fclose(f);

    const char *flags[] = {"--auth-keys",
                           path_in(certs_dir, "keys"),
                           "--topics",
                           TOPIC,
                           "--unregistered",
                           unreg,
                           "--other-topic",
                           other_topic,
                           "--other-env",
                           other_env,
                           "--environment",
                           "production",
                           NULL};
    sim s;
    sim_start(&s, "token", flags);

    cred cr = token_cred(0);
    cli k;
    cli_new(&k, &s, &cr);
    apns_notification n;
    char id[37];
    const apns_result *r;

    th_apns_id(1, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "accepted (production, own apns-id)", &n);
    expect("accepted (production, own apns-id)", r, &ACCEPTED, id);

    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, NULL);
    r = send_one(&k, "accepted (generated apns-id)", &n);
    expect("accepted (generated apns-id)", r, &ACCEPTED, "");
    char generated[37];
    memcpy(generated, r->apns_id, sizeof generated);

    char *voip = payload_of(APNS_PAYLOAD_MAX_VOIP);
    th_apns_id(2, id);
    note(&n, tok(0), TOPIC ".voip", APNS_PUSH_VOIP, voip, id);
    r = send_one(&k, "accepted (voip, 5120 B)", &n);
    expect("accepted (voip, 5120 B)", r, &ACCEPTED, id);

    want w = rejected(APNS_REASON_UNREGISTERED, "Unregistered", APNS_ACTION_DEAD_TOKEN, 1);
    w.timestamp_ms = UNREG_TS_MS;
    th_apns_id(3, id);
    note(&n, tok(1), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "Unregistered (--unregistered)", &n);
    expect("Unregistered (--unregistered)", r, &w, id);

    w = rejected(APNS_REASON_DEVICE_TOKEN_NOT_FOR_TOPIC, "DeviceTokenNotForTopic",
                 APNS_ACTION_DEAD_TOKEN, 1);
    th_apns_id(4, id);
    note(&n, tok(2), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "DeviceTokenNotForTopic (--other-topic)", &n);
    expect("DeviceTokenNotForTopic (--other-topic)", r, &w, id);

    w = rejected(APNS_REASON_BAD_DEVICE_TOKEN, "BadDeviceToken", APNS_ACTION_DEAD_TOKEN, 1);
    th_apns_id(5, id);
    note(&n, tok(3), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "BadDeviceToken (--other-env)", &n);
    expect("BadDeviceToken (--other-env)", r, &w, id);

    w = rejected(APNS_REASON_TOPIC_DISALLOWED, "TopicDisallowed", APNS_ACTION_DROP, 1);
    th_apns_id(6, id);
    note(&n, tok(0), "com.other.app", APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "TopicDisallowed (not in --topics)", &n);
    expect("TopicDisallowed (not in --topics)", r, &w, id);

    w = rejected(APNS_REASON_BAD_TOPIC, "BadTopic", APNS_ACTION_DROP, 1);
    th_apns_id(7, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_VOIP, ALERT, id);
    r = send_one(&k, "BadTopic (voip to the bare bundle id)", &n);
    expect("BadTopic (voip to the bare bundle id)", r, &w, id);

    th_apns_id(8, id);
    note(&n, tok(0), TOPIC ".voip", APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "BadTopic (alert to <id>.voip)", &n);
    expect("BadTopic (alert to <id>.voip)", r, &w, id);
    cli_free(&k);

    /* A key the sim does not know: 403 InvalidProviderToken, pause. */
    cred unknown = {
        path_in(certs_dir, "AuthKey_UNKNOWN000.p8"), "UNKNOWN000", "DEF123GHIJ", NULL, NULL, 0};
    cli_new(&k, &s, &unknown);
    w = rejected(APNS_REASON_INVALID_PROVIDER_TOKEN, "InvalidProviderToken", APNS_ACTION_PAUSE, 1);
    th_apns_id(9, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "InvalidProviderToken (unknown key)", &n);
    expect("InvalidProviderToken (unknown key)", r, &w, id);
    cli_free(&k);

    /* A certificate client at a token-auth sim: the sim does not ask for a
     * client certificate, the request carries no authorization header. */
    cred certc = {
        NULL, NULL, NULL, path_in(certs_dir, "client.pem"), path_in(certs_dir, "client.key"), 0};
    cli_new(&k, &s, &certc);
    w = rejected(APNS_REASON_MISSING_PROVIDER_TOKEN, "MissingProviderToken", APNS_ACTION_PAUSE, 1);
    th_apns_id(10, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "MissingProviderToken (certificate client)", &n);
    expect("MissingProviderToken (certificate client)", r, &w, id);
    cli_free(&k);

    sim_stop(&s);
    expect_counter(&s, "requests", 11);
    expect_counter(&s, "accepted", 3);
    expect_counter(&s, "rejected", 8);
    expect_counter(&s, "connections", 3);
    static const char *const reasons[] = {"Unregistered",         "DeviceTokenNotForTopic",
                                          "BadDeviceToken",       "TopicDisallowed",
                                          "InvalidProviderToken", "MissingProviderToken"};
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        expect_by_reason(&s, reasons[i], 1);
    expect_by_reason(&s, "BadTopic", 2);
    TH_CHECK(s.log_lines == 3, "token sim delivered %zu, want 3:\n%s", s.log_lines, s.log);
    th_apns_id(1, id);
    expect_delivered(&s, id, tok(0), TOPIC, strlen(ALERT));
    expect_delivered(&s, generated, tok(0), TOPIC, strlen(ALERT));
    th_apns_id(2, id);
    expect_delivered(&s, id, tok(0), TOPIC ".voip", APNS_PAYLOAD_MAX_VOIP);
    printf("ok   %-44s sim counters and delivery log agree\n", "token-auth sim");
    sim_free(&s);
    free(voip);
}

/* 3. ExpiredProviderToken: the sim accepts tokens at most 1 s old. */
static void expired_provider_token(void)
{
    const char *flags[] = {
        "--auth-keys", path_in(certs_dir, "keys"), "--token-max-age", "1", "--topics", TOPIC, NULL};
    sim s;
    sim_start(&s, "expired", flags);
    cred cr = token_cred(3);
    cli k;
    cli_init(&k, &cr);
    /* Mint the token now and let it age past the sim's limit (iat < now - 1)
     * before the client sends it. The cache keeps it: it is far younger than
     * the 20 minute refresh age. */
    apns_token t;
    memset(&t, 0, sizeof t);
    TH_CHECK(apns_token_cache_get(k.tokens, (int64_t)time(NULL), &t) == 0, "mint");
    while ((int64_t)time(NULL) < t.issued_at + 3)
        usleep(100000);
    cli_connect(&k, &s, &cr);
    apns_notification n;
    char id[37];
    th_apns_id(20, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    const apns_result *r = send_one(&k, "ExpiredProviderToken (--token-max-age 1)", &n);
    want w = rejected(APNS_REASON_EXPIRED_PROVIDER_TOKEN, "ExpiredProviderToken",
                      APNS_ACTION_REFRESH_TOKEN, 3);
    expect("ExpiredProviderToken (--token-max-age 1)", r, &w, id);
    /* The REFRESH_TOKEN path ran, and the cache refused to re-mint a token
     * younger than 20 minutes: still the one token. */
    apns_client_stats st;
    apns_client_stats_get(k.c, &st);
    TH_CHECK(st.retried == 2, "ExpiredProviderToken: client retried %llu times, want 2",
             (unsigned long long)st.retried);
    TH_CHECK(apns_token_cache_refreshes(k.tokens) == 1,
             "ExpiredProviderToken: the cache minted %llu tokens, want 1 (no re-mint)",
             (unsigned long long)apns_token_cache_refreshes(k.tokens));
    cli_free(&k);
    sim_stop(&s);
    expect_counter(&s, "requests", 3);
    expect_counter(&s, "accepted", 0);
    expect_by_reason(&s, "ExpiredProviderToken", 3);
    expect_counter(&s, "jwt_verifications", 1); /* one token string, sent 3 times */
    TH_CHECK(s.log_lines == 0, "expired: delivered %zu", s.log_lines);
    printf("ok   %-44s 3 sends of 1 token; 1 minted; nothing delivered\n",
           "ExpiredProviderToken: no re-mint < 20 min");
    sim_free(&s);
}

/* 4. 429 / 500 / 503 on every request; two attempts, then the reason. */
static void injected_failure(const char *spec, apns_reason reason, const char *name)
{
    const char *flags[] = {
        "--auth-keys", path_in(certs_dir, "keys"), "--fail-rate", spec, "--seed", "1", NULL};
    sim s;
    sim_start(&s, "fail", flags);
    cred cr = token_cred(2);
    cli k;
    cli_new(&k, &s, &cr);
    apns_notification n;
    char id[37], scenario[80];
    th_apns_id(30, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    snprintf(scenario, sizeof scenario, "%s (--fail-rate %s)", name, spec);
    const apns_result *r = send_one(&k, scenario, &n);
    want w = rejected(reason, name, APNS_ACTION_RETRY, 2);
    expect(scenario, r, &w, id);
    apns_client_stats st;
    apns_client_stats_get(k.c, &st);
    TH_CHECK(st.retried == 1, "%s: client retried %llu times, want 1", scenario,
             (unsigned long long)st.retried);
    cli_free(&k);
    sim_stop(&s);
    expect_counter(&s, "requests", 2);
    expect_counter(&s, "injected_failures", 2);
    expect_counter(&s, "accepted", 0);
    expect_by_reason(&s, name, 2);
    TH_CHECK(s.log_lines == 0, "%s: delivered %zu", scenario, s.log_lines);
    sim_free(&s);
}

/* 5. Sandbox: apns-unique-id on 200 (a UUID), not on errors. */
static void sandbox_unique_id(void)
{
    const char *flags[] = {
        "--auth-keys", path_in(certs_dir, "keys"), "--environment", "sandbox", "--topics", TOPIC,
        NULL};
    sim s;
    sim_start(&s, "sandbox", flags);
    cred cr = token_cred(0);
    cli k;
    cli_new(&k, &s, &cr);
    apns_notification n;
    char id[37];
    th_apns_id(40, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    want w = ACCEPTED;
    w.unique_id = 1;
    const apns_result *r = send_one(&k, "accepted (sandbox: apns-unique-id)", &n);
    expect("accepted (sandbox: apns-unique-id)", r, &w, id);
    char unique1[37];
    memcpy(unique1, r->apns_unique_id, sizeof unique1);
    th_apns_id(41, id);
    note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
    r = send_one(&k, "accepted (sandbox: a second unique id)", &n);
    expect("accepted (sandbox: a second unique id)", r, &w, id);
    TH_CHECK(strcmp(unique1, r->apns_unique_id) != 0, "sandbox: apns-unique-id %s repeated",
             unique1);
    th_apns_id(42, id);
    note(&n, tok(0), "com.other.app", APNS_PUSH_ALERT, ALERT, id);
    w = rejected(APNS_REASON_TOPIC_DISALLOWED, "TopicDisallowed", APNS_ACTION_DROP, 1);
    r = send_one(&k, "TopicDisallowed (sandbox: no unique id)", &n);
    expect("TopicDisallowed (sandbox: no unique id)", r, &w, id);
    cli_free(&k);
    sim_stop(&s);
    expect_counter(&s, "accepted", 2);
    TH_CHECK(s.log_lines == 2, "sandbox: delivered %zu, want 2", s.log_lines);
    sim_free(&s);
}

/* A certificate credential from tests/certs/gen.sh's NAME.pem, NAME.key. */
static cred cert_cred(const char *name)
{
    char pem[64], key[64];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    cred c = {NULL, NULL, NULL, path_in(certs_dir, pem), path_in(certs_dir, key), 0};
    return c;
}

/* One notification to `token`/`topic` of push type t through a new client
 * with credential cr, answered as w. */
static void one_rejection(const sim *s, cred cr, const char *scenario, const char *token,
                          const char *topic, apns_push_type t, const want *w, uint32_t idn)
{
    cli k;
    cli_new(&k, s, &cr);
    apns_notification n;
    char id[37];
    th_apns_id(idn, id);
    note(&n, token, topic, t, ALERT, id);
    expect(scenario, send_one(&k, scenario, &n), w, id);
    cli_free(&k);
}

/* 6. Certificate auth: the topic comes from the certificate (UID); the
 * certificate's Apple extensions decide voip; its CN's environment and a
 * missing topic refuse every request (project choices, docs/apns-sim.md). */
static void certificate_auth(void)
{
    const char *flags[] = {"--client-ca", path_in(certs_dir, "ca.pem"), NULL};
    sim s;
    sim_start(&s, "cert", flags);
    cred cr = cert_cred("client-services"); /* registered for VoIP (OID ...6.3.6) */
    cli k;
    cli_new(&k, &s, &cr);
    apns_notification n;
    char id[37];
    th_apns_id(50, id);
    note(&n, tok(0), NULL, APNS_PUSH_ALERT, ALERT, id);
    const apns_result *r = send_one(&k, "accepted (cert, topic from the certificate)", &n);
    expect("accepted (cert, topic from the certificate)", r, &ACCEPTED, id);
    th_apns_id(51, id);
    note(&n, tok(0), TOPIC ".voip", APNS_PUSH_VOIP, ALERT, id);
    r = send_one(&k, "accepted (cert, <cert topic>.voip)", &n);
    expect("accepted (cert, <cert topic>.voip)", r, &ACCEPTED, id);
    th_apns_id(52, id);
    note(&n, tok(0), "com.other.app", APNS_PUSH_ALERT, ALERT, id);
    want w = rejected(APNS_REASON_TOPIC_DISALLOWED, "TopicDisallowed", APNS_ACTION_DROP, 1);
    r = send_one(&k, "TopicDisallowed (cert, another bundle id)", &n);
    expect("TopicDisallowed (cert, another bundle id)", r, &w, id);
    cli_free(&k);
    one_rejection(&s, cert_cred("client"), "TopicDisallowed (cert without VoIP, voip)", tok(0),
                  TOPIC ".voip", APNS_PUSH_VOIP, &w, 53);
    one_rejection(&s, cert_cred("client"), "TopicDisallowed (cert, location)", tok(0),
                  TOPIC ".location-query", APNS_PUSH_LOCATION, &w, 54);
    w = rejected(APNS_REASON_BAD_CERTIFICATE, "BadCertificate", APNS_ACTION_PAUSE, 1);
    one_rejection(&s, cert_cred("client-notopic"), "BadCertificate (cert without a topic)", tok(0),
                  TOPIC, APNS_PUSH_ALERT, &w, 55);
    w = rejected(APNS_REASON_BAD_CERTIFICATE_ENVIRONMENT, "BadCertificateEnvironment",
                 APNS_ACTION_PAUSE, 1);
    one_rejection(&s, cert_cred("client-dev"), "BadCertificateEnvironment (sandbox cert)", tok(0),
                  TOPIC, APNS_PUSH_ALERT, &w, 56);
    sim_stop(&s);
    expect_counter(&s, "accepted", 2);
    expect_counter(&s, "tls_failures", 0);
    TH_CHECK(s.log_lines == 2, "cert: delivered %zu, want 2", s.log_lines);
    th_apns_id(50, id);
    expect_delivered(&s, id, tok(0), TOPIC, strlen(ALERT)); /* the certificate's topic */
    th_apns_id(51, id);
    expect_delivered(&s, id, tok(0), TOPIC ".voip", strlen(ALERT));
    sim_free(&s);
}

/* 7. Shutdown as GOAWAY debug data (--goaway-every): it reaches libapns and
 * the streams it covers still succeed. */
static void shutdown_goaway(void)
{
    const char *flags[] = {"--auth-keys", path_in(certs_dir, "keys"), "--goaway-every", "1", NULL};
    sim s;
    sim_start(&s, "goaway", flags);
    cred cr = token_cred(0);
    cli k;
    cli_new(&k, &s, &cr);
    for (uint32_t i = 0; i < 3; i++) {
        apns_notification n;
        char id[37];
        th_apns_id(60 + i, id);
        note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
        const apns_result *r = send_one(&k, "accepted (GOAWAY Shutdown after stream)", &n);
        expect("accepted (GOAWAY Shutdown after stream)", r, &ACCEPTED, id);
    }
    apns_client_stats st;
    apns_client_stats_get(k.c, &st);
    TH_CHECK(st.goaways >= 2, "goaway: the client saw %llu GOAWAYs, want >= 2",
             (unsigned long long)st.goaways);
    TH_CHECK(strstr(k.log, "Shutdown") != NULL, "goaway: libapns never logged the reason:\n%s",
             k.log);
    printf("ok   %-44s %llu GOAWAYs with {\"reason\":\"Shutdown\"} surfaced in the log\n",
           "Shutdown (GOAWAY debug data)", (unsigned long long)st.goaways);
    cli_free(&k);
    sim_stop(&s);
    expect_counter(&s, "accepted", 3);
    TH_CHECK(counter(&s, "goaways") >= 2, "goaway: sim sent %lld GOAWAYs", counter(&s, "goaways"));
    sim_free(&s);
}

/* Writes `line` to the work file `name`; returns its path. */
static const char *token_file(const char *name, const char *token, long long ts_ms)
{
    const char *path = path_in(work_dir, name);
    FILE *f = fopen(path, "w");
    TH_CHECK(f != NULL, "write %s", path);
    if (ts_ms)
        fprintf(f, "%s %lld\n", token, ts_ms);
    else
        fprintf(f, "%s\n", token);
    fclose(f);
    return path;
}

/* 8. The reasons a flag makes reachable: ExpiredToken (410 with its
 * timestamp, a dead token), Forbidden (drop), BadEnvironmentKeyIdInToken
 * (a key of the other environment: pause). */
static void flagged_reasons(void)
{
    const char *flags[] = {"--auth-keys",
                           path_in(certs_dir, "keys"),
                           "--expired-tokens",
                           token_file("expired.txt", tok(4), UNREG_TS_MS + 1),
                           "--forbidden-tokens",
                           token_file("forbidden.txt", tok(5), 0),
                           "--other-env-keys",
                           "XYZ987WVUT",
                           NULL};
    sim s;
    sim_start(&s, "flagged", flags);
    want w = rejected(APNS_REASON_EXPIRED_TOKEN, "ExpiredToken", APNS_ACTION_DEAD_TOKEN, 1);
    w.timestamp_ms = UNREG_TS_MS + 1;
    one_rejection(&s, token_cred(0), "ExpiredToken (--expired-tokens)", tok(4), TOPIC,
                  APNS_PUSH_ALERT, &w, 70);
    w = rejected(APNS_REASON_FORBIDDEN, "Forbidden", APNS_ACTION_DROP, 1);
    one_rejection(&s, token_cred(0), "Forbidden (--forbidden-tokens)", tok(5), TOPIC,
                  APNS_PUSH_ALERT, &w, 71);
    cred other = {
        path_in(certs_dir, "AuthKey_XYZ987WVUT.p8"), "XYZ987WVUT", "TEAM000002", NULL, NULL, 0};
    w = rejected(APNS_REASON_BAD_ENVIRONMENT_KEY_ID_IN_TOKEN, "BadEnvironmentKeyIdInToken",
                 APNS_ACTION_PAUSE, 1);
    one_rejection(&s, other, "BadEnvironmentKeyIdInToken (--other-env-keys)", tok(0), TOPIC,
                  APNS_PUSH_ALERT, &w, 72);
    sim_stop(&s);
    expect_counter(&s, "accepted", 0);
    expect_by_reason(&s, "ExpiredToken", 1);
    expect_by_reason(&s, "Forbidden", 1);
    expect_by_reason(&s, "BadEnvironmentKeyIdInToken", 1);
    sim_free(&s);
}

/* Sends `count` notifications one after the other (ids from idn on); each
 * must end ACCEPTED, whatever happened on the way. */
static void send_accepted(cli *k, const char *scenario, int count, uint32_t idn)
{
    for (int i = 0; i < count; i++) {
        apns_notification n;
        char id[37];
        th_apns_id(idn + (uint32_t)i, id);
        note(&n, tok(0), TOPIC, APNS_PUSH_ALERT, ALERT, id);
        const apns_result *r = send_one(k, scenario, &n);
        SCEN_CHECK(r->outcome == APNS_OUTCOME_ACCEPTED && r->status == 200 &&
                       strcmp(r->apns_id, id) == 0,
                   "notification %d: outcome %s status %d reason %s", i, outcome_name(r->outcome),
                   r->status, r->reason_str);
    }
}

/* A token-auth sim with one more flag, and a client for it without a retry
 * budget (max_attempts 1). */
static void token_sim(sim *s, cli *k, const char *tag, const char *flag, const char *value)
{
    const char *flags[] = {"--auth-keys", path_in(certs_dir, "keys"), flag, value, NULL};
    sim_start(s, tag, flags);
    cred cr = token_cred(1);
    cli_new(k, s, &cr);
}

/* 9. 503 Shutdown as a stream's answer (--shutdown-after), then GOAWAY:
 * libapns resends at once on a new connection (action reconnect); every
 * notification is delivered exactly once. */
static void shutdown_stream(void)
{
    const char *scenario = "Shutdown (503 answer + GOAWAY)";
    sim s;
    cli k; /* no retry budget: a 503 Shutdown must not need one */
    token_sim(&s, &k, "shutdown", "--shutdown-after", "2");
    send_accepted(&k, scenario, 7, 80);
    TH_CHECK(apns_action_for(golden_reason_status("Shutdown"), APNS_REASON_SHUTDOWN) ==
                 APNS_ACTION_RECONNECT,
             "libapns' action for 503 Shutdown is not reconnect");
    apns_client_stats st;
    apns_client_stats_get(k.c, &st);
    cli_free(&k);
    sim_stop(&s);
    SCEN_CHECK(st.retried >= 3 && st.goaways >= 3, "client retried %llu, saw %llu GOAWAYs, want 3+",
               (unsigned long long)st.retried, (unsigned long long)st.goaways);
    SCEN_CHECK(by_reason(&s, "Shutdown") >= 3, "sim answered %lld streams 503 Shutdown",
               by_reason(&s, "Shutdown"));
    expect_counter(&s, "accepted", 7);
    SCEN_CHECK(s.log_lines == 7, "delivered %zu, want 7", s.log_lines);
    printf("ok   %-44s 7 accepted once, %lld answered 503 Shutdown, %llu resent\n", scenario,
           by_reason(&s, "Shutdown"), (unsigned long long)st.retried);
    sim_free(&s);
}

/* 10. IdleTimeout (--idle-timeout): an idle connection gets GOAWAY
 * {"reason":"IdleTimeout"}; the next notifications go out on a new
 * connection, none lost. */
static void idle_timeout(void)
{
    const char *scenario = "IdleTimeout (GOAWAY after idle)";
    sim s;
    cli k;
    token_sim(&s, &k, "idle", "--idle-timeout", "0.2");
    send_accepted(&k, scenario, 10, 90);
    run_for(&k, 700); /* idle: the sim sends GOAWAY, the client reconnects */
    send_accepted(&k, scenario, 10, 100);
    SCEN_CHECK(strstr(k.log, "IdleTimeout") != NULL, "libapns never logged the reason:\n%s", k.log);
    cli_free(&k);
    sim_stop(&s);
    SCEN_CHECK(counter(&s, "idle_timeouts") >= 1, "sim sent %lld IdleTimeout GOAWAYs",
               counter(&s, "idle_timeouts"));
    SCEN_CHECK(counter(&s, "connections") >= 2, "%lld connections", counter(&s, "connections"));
    expect_counter(&s, "accepted", 20);
    SCEN_CHECK(s.log_lines == 20, "delivered %zu, want 20", s.log_lines);
    printf("ok   %-44s 20 accepted once over %lld connections, %lld idle GOAWAYs\n", scenario,
           counter(&s, "connections"), counter(&s, "idle_timeouts"));
    sim_free(&s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    certs_dir = th_certs();
    work_dir = th_tmpdir("reasons");
    th_bin("apns-sim", sim_bin, sizeof sim_bin);

    local_validation();
    token_auth_reasons();
    expired_provider_token();
    injected_failure("429:1.0", APNS_REASON_TOO_MANY_REQUESTS, "TooManyRequests");
    injected_failure("500:1.0", APNS_REASON_INTERNAL_SERVER_ERROR, "InternalServerError");
    injected_failure("503:1.0", APNS_REASON_SERVICE_UNAVAILABLE, "ServiceUnavailable");
    sandbox_unique_id();
    certificate_auth();
    shutdown_goaway();
    flagged_reasons();
    shutdown_stream();
    idle_timeout();

    skip("UnrelatedKeyIdInToken, TooManyProviderTokenUpdates",
         "not reachable through libapns: one key per client, and the token cache never "
         "changes a token within 20 min");
    printf("sim_reasons: all scenarios passed\n");
    th_rmtree(work_dir);
    return 0;
}

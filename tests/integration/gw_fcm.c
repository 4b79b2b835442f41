/*
 * gw_fcm.c - Android through apnsd: the real apnsd binary with provider = fcm
 * apps sending to the real fcm-sim (TLS, the service-account OAuth flow, the
 * simulator's token endpoint), end to end through the HTTP API.
 *
 *   gw_fcm zero-loss N   N registration tokens (opaque strings of 140..199
 *                        bytes: letters of both cases, digits, ':', '-',
 *                        '_') for two apps of ONE service account, in
 *                        POST /v1/push batches; fcm-sim with 1% of them
 *                        --unregistered, --goaway-every 1000,
 *                        --fail-rate 503:0.02 and a project --quota that
 *                        the run exceeds (429 with Retry-After: a burst of
 *                        them whenever the window is full).
 *   gw_fcm mixed N       ONE request body holding two notifications: N iOS
 *                        tokens for an APNs app (to apns-sim) and N Android
 *                        tokens for an FCM app (to fcm-sim).
 *   gw_fcm fleet N       three apnsd nodes on one 3-node nats-server cluster
 *                        ([queue] backend = jetstream), N tokens pushed
 *                        through all three: each delivered exactly once, and
 *                        fcm-sim counted ONE access-token request for the
 *                        account (the fleet shares one token), as the
 *                        nodes' apnsd_fcm_token_requests_total add up to.
 *   gw_fcm third-party   a few tokens and one unregistered (a dead token,
 *                        listed verbatim, then removed by DELETE
 *                        /v1/apps/{app}/dead-tokens/{token} with its ':'
 *                        percent-encoded: 204, then 404); then one that fcm-sim answers 401
 *                        THIRD_PARTY_AUTH_ERROR (--third-party-tokens: an
 *                        Apple token of a project without an APNs key). What
 *                        docs/api.md and operations.md say: the app is paused
 *                        (apnsd_app_paused 1, /readyz paused_apps), that token
 *                        stays pending, is NOT a dead token, and is not
 *                        failed; tokens pushed after it wait (pending, not
 *                        sent) until a probe or a reload; tokens answered
 *                        before it were delivered.
 *   gw_fcm reload N      N tokens before and N after a SIGHUP that gives the
 *                        FCM app another (valid) service account: every token
 *                        delivered exactly once, and fcm-sim counted one
 *                        access-token request for each account (the reload
 *                        took the new account's token).
 *
 * Checks (the world's view, not the code's):
 *   - fcm-sim's delivery log holds every valid token EXACTLY once, verbatim
 *     (case and punctuation kept), and no unregistered token; mixed: so does
 *     apns-sim's for the iOS tokens;
 *   - GET /v1/apps/{app}/dead-tokens lists exactly the unregistered tokens,
 *     verbatim, with FCM's reason UNREGISTERED;
 *   - fcm-sim counted exactly ONE access-token request for the service
 *     account (the run is shorter than a token's refresh window, and both
 *     apps share the account's token), and so does apnsd's
 *     apnsd_fcm_token_requests_total;
 *   - /metrics: accepted = valid tokens, rejected = unregistered ones, failed
 *     0; apnsd_app_info names each app's provider;
 *   - the faults happened (the sim's GOAWAYs, injected 503s, 429s).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_work.h"
#include "nats_cluster.h"

#define FCM_APP  "droid"
#define FCM_APP2 "wear"
#define FCM_KEY  "droid-key-0123456789abcdef"
#define ACCOUNT  "fcm-sim@fcm-demo.iam.gserviceaccount.com"

/* Registration token i: "d<8 digits>:" then deterministic filler; 140..199
 * bytes. Written here, not taken from the daemon's rule. */
static void fcm_token(uint32_t i, char *out)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:";
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    int n = snprintf(out, 16, "d%08u:", i), len = 140 + (int)(i % 60);
    for (; n < len; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out[n] = set[x % (sizeof set - 1)];
    }
    out[n] = '\0';
}

static long fcm_token_index(const char *t, size_t len, uint32_t n)
{
    char want[256];
    if (len < 10 || t[0] != 'd' || t[9] != ':')
        return -1;
    long i = strtol(t + 1, NULL, 10);
    if (i < 0 || (uint32_t)i >= n)
        return -1;
    fcm_token((uint32_t)i, want);
    return strlen(want) == len && memcmp(want, t, len) == 0 ? i : -1;
}

static gw_proc fsim;

static void start_fcm_sim(const char *dir, const char *unreg, const char *log,
                          const char *const extra[])
{
    const char *argv[40] = {gw_bin("fcm-sim"),
                            "--listen",
                            "127.0.0.1:0",
                            "--tls-cert",
                            NULL,
                            "--tls-key",
                            NULL,
                            "--service-accounts",
                            NULL,
                            "--delivery-log",
                            log,
                            "--unregistered",
                            unreg,
                            "--seed",
                            "11"};
    static char cert[600], key[600], acc[600];
    int n = 15;
    snprintf(cert, sizeof cert, "%s/server.pem", th_certs());
    snprintf(key, sizeof key, "%s/server.key", th_certs());
    snprintf(acc, sizeof acc, "%s/fcm/accounts", th_certs());
    argv[4] = cert, argv[6] = key, argv[8] = acc;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    char err[700];
    snprintf(err, sizeof err, "%s/fcm-sim.err", dir);
    gw_spawn(&fsim, (char *const *)argv, err);
}

/* fcm-sim's counters: SIGUSR1, then its last JSON line on stderr. */
static json_t *fcm_counters(void)
{
    size_t len = 0;
    char *txt;
    json_t *j = NULL;
    gw_signal(&fsim, SIGUSR1);
    for (int tries = 0; tries < 50 && j == NULL; tries++) {
        gw_sleep_ms(100);
        txt = th_read_file(fsim.err_path, &len);
        for (char *line = txt; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            if (line[0] == '{' && strstr(line, "\"token_requests\"")) {
                json_decref(j);
                j = json_loads(line, 0, NULL);
            }
            line = nl ? nl + 1 : NULL;
        }
        free(txt);
    }
    GW_CHECK(j != NULL, "no counters from fcm-sim");
    return j;
}

/* Writes apnsd's INI: FCM apps (of one service account) at fcm-sim, and with
 * ios_port an APNs app at apns-sim. */
static void write_ini(const gw_files *f, int fcm_port, int ios_port, int two_fcm_apps)
{
    const char *c = th_certs();
    char sa[700];
    snprintf(sa, sizeof sa, "%s/sa.json", f->dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s/fcm/sa-demo.json' '%s' && chmod 600 '%s'", c, sa, sa);
    GW_CHECK(system(cmd) == 0, "%s", cmd);
    FILE *o = fopen(f->ini, "w");
    GW_CHECK(o != NULL, "cannot write %s", f->ini);
    fprintf(o,
            "[server]\nlisten = 127.0.0.1:0\nmax_tokens = 500000\nmax_body = 256MiB\n"
            "max_body_in_flight = 512MiB\n[queue]\npath = %s\n[log]\nlevel = warn\n",
            f->db);
    for (int i = 0; i < 1 + two_fcm_apps; i++)
        fprintf(o,
                "[app %s]\nprovider = fcm\nservice_account_file = %s\nfcm_host = 127.0.0.1\n"
                "fcm_port = %d\ntoken_url = https://127.0.0.1:%d/token\nca_file = %s/ca.pem\n"
                "api_keys = %s\nconnections = 2\nretry_attempts = 40\nretry_backoff = 10ms\n"
                "retry_backoff_max = 1s\n",
                i ? FCM_APP2 : FCM_APP, sa, fcm_port, fcm_port, c, FCM_KEY);
    if (ios_port)
        fprintf(o,
                "[app %s]\ntopic = %s\nenvironment = custom\nhost = 127.0.0.1\nport = %d\n"
                "ca_file = %s/ca.pem\nkey_file = %s/AuthKey_ABC123DEFG.p8\nkey_id = ABC123DEFG\n"
                "team_id = DEF123GHIJ\napi_keys = %s\nconnections = 2\n",
                GW_APP, GW_TOPIC, ios_port, c, c, FCM_KEY);
    fclose(o);
    chmod(f->ini, 0600);
}

/* Reads fcm-sim's delivery log: seen[i] per token; returns lines of tokens
 * that are not ours. */
static uint32_t read_fcm_log(const char *path, uint16_t *seen, uint32_t n)
{
    size_t len = 0;
    char *txt = th_read_file(path, &len);
    uint32_t strays = 0;
    GW_CHECK(txt != NULL, "no delivery log %s", path);
    for (char *line = txt; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *sp = strchr(line, ' ');
        char *tok = sp ? sp + 1 : NULL, *end = tok ? strchr(tok, ' ') : NULL;
        long i = end ? fcm_token_index(tok, (size_t)(end - tok), n) : -1;
        if (i < 0)
            strays++;
        else
            seen[i]++;
        line = nl ? nl + 1 : NULL;
    }
    free(txt);
    return strays;
}

static void append_tokens(gw_buf *b, uint32_t first, uint32_t count, int ios)
{
    char t[256];
    gw_buf_printf(b, "\"tokens\":[");
    for (uint32_t i = first; i < first + count; i++) {
        if (ios)
            gw_token(i, t);
        else
            fcm_token(i, t);
        gw_buf_printf(b, "%s\"%s\"", i > first ? "," : "", t);
    }
    gw_buf_printf(b, "]");
}

static void push(gw_http *h, const char *body, size_t len)
{
    gw_resp r;
    gw_http_do(h, "POST", "/v1/push", FCM_KEY, body, len, &r);
    GW_CHECK(r.status == 202, "POST /v1/push: %d %.500s", r.status, r.body);
    gw_resp_clear(&r);
}

/* The dead-token registry of app holds exactly the unregistered tokens of
 * [first, first + count). */
static void check_dead(gw_http *h, const char *app, const uint8_t *unreg, uint32_t first,
                       uint32_t count, uint32_t n)
{
    uint8_t *listed = calloc(n, 1);
    char path[600], cursor[128] = "";
    uint32_t entries = 0, want = 0;
    for (;;) {
        snprintf(path, sizeof path, "/v1/apps/%s/dead-tokens?limit=1000%s%s", app,
                 cursor[0] ? "&cursor=" : "", cursor);
        gw_resp r;
        gw_http_do(h, "GET", path, FCM_KEY, NULL, 0, &r);
        GW_CHECK(r.status == 200, "GET %s: %d %.300s", path, r.status, r.body);
        json_t *doc = gw_json(&r), *arr = json_object_get(doc, "dead_tokens"), *e;
        size_t k;
        json_array_foreach(arr, k, e)
        {
            const char *tok = json_string_value(json_object_get(e, "token"));
            const char *reason = json_string_value(json_object_get(e, "reason"));
            long i = tok ? fcm_token_index(tok, strlen(tok), n) : -1;
            GW_CHECK(i >= (long)first && i < (long)(first + count) && unreg[i] && !listed[i],
                     "dead-token entry %s is not an unregistered token of %s (or twice)",
                     tok ? tok : "-", app);
            GW_CHECK(reason && !strcmp(reason, "UNREGISTERED"), "dead token %s: reason %s", tok,
                     reason ? reason : "-");
            listed[i] = 1;
            entries++;
        }
        json_t *next = json_object_get(doc, "next_cursor");
        int more = json_is_string(next);
        if (more)
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(doc);
        gw_resp_clear(&r);
        if (!more)
            break;
    }
    for (uint32_t i = first; i < first + count; i++)
        want += unreg[i];
    GW_CHECK(entries == want, "%s: %u dead tokens listed, %u unregistered", app, entries, want);
    free(listed);
}

static void zero_loss(uint32_t n)
{
    gw_files f;
    gw_files_init(&f, "gw-fcm");
    uint8_t *unreg = calloc(n, 1);
    uint16_t *seen = calloc(n, sizeof *seen);
    FILE *u = fopen(f.unreg, "w");
    char t[256], quota[32];
    uint32_t n_unreg = 0;
    for (uint32_t i = 0; i < n; i++)
        if (i % 100 == 99) {
            fcm_token(i, t);
            fprintf(u, "%s\n", t);
            unreg[i] = 1;
            n_unreg++;
        }
    fclose(u);
    /* A project quota of a twentieth of the run per 1 s window: sending
     * the run takes at least 20 windows, so whatever the machine's speed
     * the quota is hit unless apnsd sends slower than n/20 per second (it
     * sends several times that on a loaded 2-core machine): 429 bursts with
     * Retry-After. */
    snprintf(quota, sizeof quota, "%u/1", n / 20 > 200 ? n / 20 : 200);
    const char *extra[] = {"--goaway-every", "1000", "--fail-rate", "503:0.02",
                           "--quota",        quota,  NULL};
    start_fcm_sim(f.dir, f.unreg, f.log, extra);
    write_ini(&f, fsim.port, 0, 1);
    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, 4);

    /* Batches of 2,000 tokens, each request two notifications (one per app,
     * one service account), with the v1 message fields. */
    uint32_t half = n / 2;
    for (uint32_t app = 0; app < 2; app++) {
        uint32_t first = app ? half : 0, end = app ? n : half;
        for (uint32_t i = first; i < end; i += 2000) {
            uint32_t cnt = end - i < 2000 ? end - i : 2000, c1 = cnt / 2;
            gw_buf b = {0};
            gw_buf_printf(&b, "{\"notifications\":[{\"app\":\"%s\",", app ? FCM_APP2 : FCM_APP);
            append_tokens(&b, i, c1, 0);
            gw_buf_printf(&b,
                          ",\"notification\":{\"title\":\"Sale\",\"body\":\"now\"},"
                          "\"android\":{\"priority\":\"high\",\"ttl\":\"3600s\"}},"
                          "{\"app\":\"%s\",",
                          app ? FCM_APP2 : FCM_APP);
            append_tokens(&b, i + c1, cnt - c1, 0);
            gw_buf_printf(&b, ",\"data\":{\"order\":\"%u\",\"kind\":\"update\"}}]}", i);
            push(h, b.p, b.len);
            gw_buf_free(&b);
        }
    }
    gw_work_wait_depth(h, 240000);
    /* The sim's counters, then its exit: the delivery log is complete once
     * it has exited (it flushes every 100 ms and at exit). */
    json_t *cn = fcm_counters();
    gw_stop(&fsim, 10000);

    uint32_t strays = read_fcm_log(f.log, seen, n), missing = 0, dups = 0, dead_sent = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (unreg[i])
            dead_sent += seen[i];
        else if (seen[i] == 0)
            missing++;
        else
            dups += seen[i] - 1u;
    }
    fprintf(stderr, "fcm zero-loss: %u tokens, %u unregistered: missing %u, dups %u, strays %u\n",
            n, n_unreg, missing, dups, strays);
    GW_CHECK(missing == 0 && dups == 0 && strays == 0 && dead_sent == 0,
             "delivery log: missing %u dups %u strays %u unregistered delivered %u", missing, dups,
             strays, dead_sent);
    check_dead(h, FCM_APP, unreg, 0, half, n);
    check_dead(h, FCM_APP2, unreg, half, n - half, n);

    double acc =
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP "\",outcome=\"accepted\"}") +
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP2 "\",outcome=\"accepted\"}");
    double rej =
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP "\",outcome=\"rejected\"}") +
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP2 "\",outcome=\"rejected\"}");
    double failed =
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP "\",outcome=\"failed\"}") +
        gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP2 "\",outcome=\"failed\"}");
    GW_CHECK(acc == n - n_unreg && rej == n_unreg && failed == 0,
             "metrics: accepted %.0f rejected %.0f failed %.0f", acc, rej, failed);
    GW_CHECK(gw_metric(h, "apnsd_app_info{app=\"" FCM_APP "\",provider=\"fcm\"}") == 1,
             "apnsd_app_info of %s", FCM_APP);
    char sample[300];
    snprintf(sample, sizeof sample,
             "apnsd_fcm_token_requests_total{account=\"" ACCOUNT "@https://127.0.0.1:%d/token\"}",
             fsim.port);
    double treq = gw_metric(h, sample);

    json_int_t sim_treq =
        json_integer_value(json_object_get(json_object_get(cn, "token_requests"), ACCOUNT));
    json_int_t goaways = json_integer_value(json_object_get(cn, "goaways"));
    json_int_t injected = json_integer_value(json_object_get(cn, "injected"));
    json_t *by = json_object_get(cn, "by_error");
    const char *k;
    json_t *v;
    json_int_t quota429 = 0;
    json_object_foreach(by, k, v) if (strstr(k, "QUOTA") || strstr(k, "RESOURCE")) quota429 +=
        json_integer_value(v);
    fprintf(stderr, "fcm-sim: token requests %lld, goaways %lld, injected 503 %lld, 429 %lld\n",
            (long long)sim_treq, (long long)goaways, (long long)injected, (long long)quota429);
    GW_CHECK(sim_treq == 1 && treq == 1,
             "fcm-sim counted %lld access-token requests, apnsd %.0f; want 1", (long long)sim_treq,
             treq);
    GW_CHECK(goaways > 0 && injected > 0 && quota429 > 0,
             "faults did not happen: goaways %lld injected %lld 429 %lld", (long long)goaways,
             (long long)injected, (long long)quota429);
    json_decref(cn);

    GW_CHECK(gw_stop(&gw, 60000) == 0, "apnsd did not exit 0 on SIGTERM");
    gw_http_free(h);
    free(unreg);
    free(seen);
    th_rmtree(f.dir);
}

static void mixed(uint32_t n)
{
    gw_files f;
    gw_files_init(&f, "gw-fcm-mixed");
    FILE *u = fopen(f.unreg, "w"); /* no unregistered tokens here */
    fclose(u);
    char ios_log[700];
    snprintf(ios_log, sizeof ios_log, "%s/ios.log", f.dir);
    start_fcm_sim(f.dir, f.unreg, f.log, NULL);
    gw_proc isim;
    gw_start_sim(&isim, f.dir, ios_log, NULL);
    write_ini(&f, fsim.port, isim.port, 0);
    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, 1);

    gw_buf b = {0};
    gw_buf_printf(&b, "{\"notifications\":[{\"app\":\"%s\",", GW_APP);
    append_tokens(&b, 0, n, 1);
    gw_buf_printf(&b, ",\"alert\":{\"title\":\"Sale\",\"body\":\"now\"}},{\"app\":\"%s\",",
                  FCM_APP);
    append_tokens(&b, 0, n, 0);
    gw_buf_printf(&b, ",\"notification\":{\"title\":\"Sale\",\"body\":\"now\"}}]}");
    push(h, b.p, b.len);
    gw_buf_free(&b);
    gw_work_wait_depth(h, 240000);
    gw_stop(&fsim, 10000); /* the delivery logs are complete once the sims exited */
    gw_stop(&isim, 10000);

    /* Android: every token exactly once, verbatim. */
    uint16_t *seen = calloc(n, sizeof *seen);
    uint32_t strays = read_fcm_log(f.log, seen, n), missing = 0, dups = 0;
    for (uint32_t i = 0; i < n; i++)
        missing += seen[i] == 0, dups += seen[i] > 1 ? seen[i] - 1u : 0;
    fprintf(stderr, "mixed, Android: %u tokens: missing %u dups %u strays %u\n", n, missing, dups,
            strays);
    GW_CHECK(missing == 0 && dups == 0 && strays == 0, "fcm-sim log: missing %u dups %u strays %u",
             missing, dups, strays);
    free(seen);
    /* iOS: the ledger of the APNs tests (apns-sim's log). */
    gw_ledger *l = gw_ledger_new(n);
    for (uint32_t i = 0; i < n; i++)
        snprintf(l->want_id[i], sizeof l->want_id[i], "%s", "any");
    gw_ledger_read_log(l, ios_log);
    uint32_t imissing = 0, idups = 0;
    for (uint32_t i = 0; i < n; i++)
        imissing += l->seen[i] == 0, idups += l->seen[i] > 1 ? l->seen[i] - 1u : 0;
    fprintf(stderr, "mixed, iOS: %u tokens: missing %u dups %u strays %u\n", n, imissing, idups,
            l->strays);
    GW_CHECK(imissing == 0 && idups == 0 && l->strays == 0,
             "apns-sim log: missing %u dups %u strays %u", imissing, idups, l->strays);
    gw_ledger_free(l);
    GW_CHECK(gw_metric(h, "apnsd_app_info{app=\"" GW_APP "\",provider=\"apns\"}") == 1 &&
                 gw_metric(h, "apnsd_app_info{app=\"" FCM_APP "\",provider=\"fcm\"}") == 1,
             "apnsd_app_info");

    GW_CHECK(gw_stop(&gw, 60000) == 0, "apnsd did not exit 0 on SIGTERM");
    gw_http_free(h);
    th_rmtree(f.dir);
}

static void fleet_run(uint32_t n)
{
    enum { NODES = 3 };
    gw_files f;
    gw_files_init(&f, "gw-fcm-fleet");
    FILE *u = fopen(f.unreg, "w");
    fclose(u);
    nc_cluster nc;
    char err[512];
    GW_CHECK(nc_start(&nc, 3, 30000, err, sizeof err) == 0, "nats-server cluster: %s", err);
    start_fcm_sim(f.dir, f.unreg, f.log, NULL);
    write_ini(&f, fsim.port, 0, 0);
    /* The queue: the fleet's, not a file. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "sed -i 's|^path = .*$|backend = jetstream\\nservers = %s, %s, %s\\nprefix = "
             "fcm%d\\nreplicas = 3|' '%s'",
             nc.url[0], nc.url[1], nc.url[2], (int)getpid(), f.ini);
    GW_CHECK(system(cmd) == 0, "%s", cmd);
    gw_proc gw[NODES];
    gw_http *h[NODES];
    for (int k = 0; k < NODES; k++) {
        char e[700];
        snprintf(e, sizeof e, "%s/apnsd%d.err", f.dir, k);
        gw_start_apnsd(&gw[k], f.ini, e);
        h[k] = gw_http_new(gw[k].host, gw[k].port, 1);
    }
    /* Requests of 500 tokens, round robin over the nodes. */
    for (uint32_t i = 0, k = 0; i < n; i += 500, k++) {
        uint32_t cnt = n - i < 500 ? n - i : 500;
        gw_buf b = {0};
        gw_buf_printf(&b, "{\"app\":\"%s\",", FCM_APP);
        append_tokens(&b, i, cnt, 0);
        gw_buf_printf(&b, ",\"data\":{\"n\":\"%u\"}}", i);
        push(h[k % NODES], b.p, b.len);
        gw_buf_free(&b);
    }
    /* Every token answered: the nodes' accepted counts add up to n. */
    double acc = 0, treq = 0;
    char sample[300];
    snprintf(sample, sizeof sample,
             "apnsd_fcm_token_requests_total{account=\"" ACCOUNT "@https://127.0.0.1:%d/token\"}",
             fsim.port);
    for (int64_t t0 = th_now_ms(); th_now_ms() - t0 < 120000; gw_sleep_ms(200)) {
        acc = 0;
        for (int k = 0; k < NODES; k++)
            acc += gw_metric(h[k],
                             "apnsd_notifications_total{app=\"" FCM_APP "\",outcome=\"accepted\"}");
        if (acc >= n)
            break;
    }
    GW_CHECK(acc == n, "the fleet accepted %.0f of %u", acc, n);
    for (int k = 0; k < NODES; k++)
        treq += gw_metric(h[k], sample);
    json_t *cn = fcm_counters();
    json_int_t sim_treq =
        json_integer_value(json_object_get(json_object_get(cn, "token_requests"), ACCOUNT));
    json_decref(cn);
    gw_stop(&fsim, 10000);
    uint16_t *seen = calloc(n, sizeof *seen);
    uint32_t strays = read_fcm_log(f.log, seen, n), missing = 0, dups = 0;
    for (uint32_t i = 0; i < n; i++)
        missing += seen[i] == 0, dups += seen[i] > 1 ? seen[i] - 1u : 0;
    fprintf(stderr,
            "fleet: %u tokens through %d nodes: missing %u dups %u strays %u; access-token "
            "requests: fcm-sim %lld, the nodes %.0f\n",
            n, NODES, missing, dups, strays, (long long)sim_treq, treq);
    GW_CHECK(missing == 0 && dups == 0 && strays == 0, "fcm-sim log: missing %u dups %u strays %u",
             missing, dups, strays);
    GW_CHECK(sim_treq == 1 && treq == 1,
             "access-token requests: fcm-sim %lld, the nodes %.0f; want 1 for the fleet",
             (long long)sim_treq, treq);
    free(seen);
    for (int k = 0; k < NODES; k++) {
        GW_CHECK(gw_stop(&gw[k], 60000) == 0, "apnsd node %d did not exit 0", k);
        gw_http_free(h[k]);
    }
    nc_stop(&nc);
    th_rmtree(f.dir);
}

/* The id of the first notification of a 202 answer. */
static void push_id(gw_http *h, const char *body, char *id, size_t idlen)
{
    gw_resp r;
    gw_http_do(h, "POST", "/v1/push", FCM_KEY, body, strlen(body), &r);
    GW_CHECK(r.status == 202, "POST /v1/push: %d %.500s", r.status, r.body);
    json_t *doc = gw_json(&r);
    const char *v = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "notifications"), 0), "id"));
    GW_CHECK(v != NULL, "no id in %.300s", r.body);
    snprintf(id, idlen, "%s", v);
    json_decref(doc);
    gw_resp_clear(&r);
}

/* The state of token 0 of notification id. */
static void token_state(gw_http *h, const char *id, char *state, size_t len)
{
    char path[200];
    gw_resp r;
    snprintf(path, sizeof path, "/v1/notifications/%s", id);
    gw_http_do(h, "GET", path, FCM_KEY, NULL, 0, &r);
    GW_CHECK(r.status == 200, "GET %s: %d %.300s", path, r.status, r.body);
    json_t *doc = gw_json(&r);
    const char *v = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "outcomes"), 0), "state"));
    GW_CHECK(v != NULL, "no outcomes[0].state in %.300s", r.body);
    GW_CHECK(json_integer_value(json_object_get(json_object_get(doc, "counts"), "failed")) == 0,
             "%s: a failed token: %.300s", id, r.body);
    snprintf(state, len, "%s", v);
    json_decref(doc);
    gw_resp_clear(&r);
}

static void third_party(void)
{
    enum { N_GOOD = 4 };
    gw_files f;
    gw_files_init(&f, "gw-fcm-third-party");
    char tp_file[700], tp[256], after[256], dead[256], body[2048], id_tp[64], id_after[64], st[32];
    fcm_token(102, dead); /* unregistered: a dead token, then deleted through the API */
    FILE *u = fopen(f.unreg, "w");
    fprintf(u, "%s\n", dead);
    fclose(u);
    snprintf(tp_file, sizeof tp_file, "%s/third-party", f.dir);
    fcm_token(100, tp);    /* the Apple token of a project without an APNs key */
    fcm_token(101, after); /* pushed after the pause */
    u = fopen(tp_file, "w");
    GW_CHECK(u != NULL, "cannot write %s", tp_file);
    fprintf(u, "%s\n", tp);
    fclose(u);
    const char *extra[] = {"--third-party-tokens", tp_file, NULL};
    start_fcm_sim(f.dir, f.unreg, f.log, extra);
    write_ini(&f, fsim.port, 0, 0);
    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, 1);

    /* 1. Good tokens: delivered. */
    gw_buf b = {0};
    gw_buf_printf(&b, "{\"app\":\"%s\",", FCM_APP);
    append_tokens(&b, 0, N_GOOD, 0);
    b.len--; /* the ']' */
    gw_buf_printf(&b, ",\"%s\"],\"notification\":{\"title\":\"Hi\"}}", dead);
    push(h, b.p, b.len);
    gw_buf_free(&b);
    gw_work_wait_depth(h, 60000); /* every good token answered */

    /* 1b. The unregistered one is a dead token, listed verbatim; DELETE with
     * its ':' percent-encoded (docs/api.md) removes it. */
    gw_resp r;
    gw_http_do(h, "GET", "/v1/apps/" FCM_APP "/dead-tokens", FCM_KEY, NULL, 0, &r);
    {
        json_t *doc = gw_json(&r), *arr = json_object_get(doc, "dead_tokens");
        GW_CHECK(
            r.status == 200 && json_array_size(arr) == 1 &&
                !strcmp(json_string_value(json_object_get(json_array_get(arr, 0), "token")) ?: "",
                        dead),
            "dead tokens: %d %.300s", r.status, r.body);
        json_decref(doc);
    }
    gw_resp_clear(&r);
    {
        char path[1200];
        size_t o = (size_t)snprintf(path, sizeof path, "/v1/apps/%s/dead-tokens/", FCM_APP);
        for (const char *p = dead; *p; p++)
            o += (size_t)(*p == ':' ? snprintf(path + o, sizeof path - o, "%%3A")
                                    : snprintf(path + o, sizeof path - o, "%c", *p));
        gw_http_do(h, "DELETE", path, FCM_KEY, NULL, 0, &r);
        GW_CHECK(r.status == 204, "DELETE %s: %d %.300s", path, r.status, r.body);
        gw_resp_clear(&r);
        gw_http_do(h, "DELETE", path, FCM_KEY, NULL, 0, &r);
        GW_CHECK(r.status == 404, "DELETE %s again: %d %.300s", path, r.status, r.body);
        gw_resp_clear(&r);
    }
    GW_CHECK(gw_metric(h, "apnsd_app_paused{app=\"" FCM_APP "\"}") == 0, "paused before the 401");

    /* 2. The third-party token: the app is paused, the token waits. */
    snprintf(body, sizeof body,
             "{\"app\":\"%s\",\"token\":\"%s\",\"notification\":{\"title\":\"Hi\"}}", FCM_APP, tp);
    push_id(h, body, id_tp, sizeof id_tp);
    for (int i = 0; i < 600 && gw_metric(h, "apnsd_app_paused{app=\"" FCM_APP "\"}") != 1; i++)
        gw_sleep_ms(50);
    GW_CHECK(gw_metric(h, "apnsd_app_paused{app=\"" FCM_APP "\"}") == 1,
             "THIRD_PARTY_AUTH_ERROR did not pause the app");
    gw_http_do(h, "GET", "/readyz", NULL, NULL, 0, &r);
    {
        json_t *doc = gw_json(&r), *pa = json_object_get(doc, "paused_apps");
        GW_CHECK(json_array_size(pa) == 1 &&
                     !strcmp(json_string_value(json_array_get(pa, 0)) ?: "", FCM_APP),
                 "/readyz: %.300s", r.body);
        json_decref(doc);
    }
    gw_resp_clear(&r);
    token_state(h, id_tp, st, sizeof st);
    GW_CHECK(!strcmp(st, "pending"), "the third-party token is %s, want pending", st);

    /* 3. A token pushed now waits too (not failed, not sent). */
    snprintf(body, sizeof body,
             "{\"app\":\"%s\",\"token\":\"%s\",\"notification\":{\"title\":\"Hi\"}}", FCM_APP,
             after);
    push_id(h, body, id_after, sizeof id_after);
    token_state(h, id_after, st, sizeof st);
    GW_CHECK(!strcmp(st, "pending"), "the token pushed after the pause is %s, want pending", st);
    GW_CHECK(gw_metric(h, "apnsd_notifications_total{app=\"" FCM_APP "\",outcome=\"failed\"}") <= 0,
             "a token failed");

    /* 4. Not a dead token (fcm-protocol.md 4.3: do not delete the device token);
     * the deleted one stays deleted. */
    gw_http_do(h, "GET", "/v1/apps/" FCM_APP "/dead-tokens", FCM_KEY, NULL, 0, &r);
    {
        json_t *doc = gw_json(&r);
        GW_CHECK(r.status == 200 && json_array_size(json_object_get(doc, "dead_tokens")) == 0,
                 "dead tokens: %d %.300s", r.status, r.body);
        json_decref(doc);
    }
    gw_resp_clear(&r);

    gw_stop(&gw, 60000);
    gw_stop(&fsim, 10000); /* its delivery log is complete once it exited */

    /* 5. fcm-sim delivered exactly the good tokens, once each. */
    uint16_t seen[128] = {0};
    uint32_t strays = read_fcm_log(f.log, seen, 128);
    for (uint32_t i = 0; i < 128; i++)
        GW_CHECK(seen[i] == (i < N_GOOD ? 1 : 0), "token %u delivered %u times", i, seen[i]);
    GW_CHECK(strays == 0, "%u strays in the delivery log", strays);
    fprintf(stderr, "third-party: %d delivered, the app paused, 2 tokens pending\n", N_GOOD);
    gw_http_free(h);
    th_rmtree(f.dir);
}

/* Replaces the first `from` in file path with `to`. */
static void file_replace(const char *path, const char *from, const char *to)
{
    size_t len = 0;
    char *txt = th_read_file(path, &len), *at = txt ? strstr(txt, from) : NULL;
    GW_CHECK(at != NULL, "%s: no \"%s\"", path, from);
    FILE *o = fopen(path, "w");
    GW_CHECK(o != NULL, "cannot write %s", path);
    fprintf(o, "%.*s%s%s", (int)(at - txt), txt, to, at + strlen(from));
    fclose(o);
    free(txt);
}

static void reload_account(uint32_t n)
{
    gw_files f;
    gw_files_init(&f, "gw-fcm-reload");
    FILE *u = fopen(f.unreg, "w");
    fclose(u);
    start_fcm_sim(f.dir, f.unreg, f.log, NULL);
    write_ini(&f, fsim.port, 0, 0);
    file_replace(f.ini, "level = warn", "level = info"); /* "configuration reloaded" */
    gw_proc gw;
    gw_start_apnsd(&gw, f.ini, f.err);
    gw_http *h = gw_http_new(gw.host, gw.port, 1);

    gw_buf b = {0};
    gw_buf_printf(&b, "{\"app\":\"%s\",", FCM_APP);
    append_tokens(&b, 0, n, 0);
    gw_buf_printf(&b, ",\"notification\":{\"title\":\"Hi\"}}");
    push(h, b.p, b.len);
    gw_buf_free(&b);
    gw_work_wait_depth(h, 120000);

    /* Another service account (project fcm-other), then SIGHUP. */
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s/fcm/sa-other.json' '%s/sa2.json' && chmod 600 '%s/sa2.json'",
             th_certs(), f.dir, f.dir);
    GW_CHECK(system(cmd) == 0, "%s", cmd);
    file_replace(f.ini, "/sa.json", "/sa2.json");
    gw_signal(&gw, SIGHUP);
    int reloaded = 0;
    for (int i = 0; i < 400 && !reloaded; i++) {
        size_t len = 0;
        char *txt = th_read_file(f.err, &len);
        reloaded = txt && strstr(txt, "configuration reloaded") != NULL;
        free(txt);
        if (!reloaded)
            gw_sleep_ms(50);
    }
    GW_CHECK(reloaded, "no \"configuration reloaded\" in %s", f.err);

    gw_buf_printf(&b, "{\"app\":\"%s\",", FCM_APP);
    append_tokens(&b, n, n, 0);
    gw_buf_printf(&b, ",\"notification\":{\"title\":\"Hi\"}}");
    push(h, b.p, b.len);
    gw_buf_free(&b);
    gw_work_wait_depth(h, 120000);

    json_t *c = fcm_counters();
    json_t *tr = json_object_get(c, "token_requests");
    json_int_t demo = json_integer_value(json_object_get(tr, ACCOUNT)),
               other = json_integer_value(
                   json_object_get(tr, "fcm-sim@fcm-other.iam.gserviceaccount.com"));
    fprintf(stderr, "reload: token requests demo %lld other %lld\n", (long long)demo,
            (long long)other);
    GW_CHECK(demo == 1 && other == 1, "token requests: demo %lld, other %lld (want 1 and 1)",
             (long long)demo, (long long)other);
    json_decref(c);
    GW_CHECK(gw_stop(&gw, 60000) == 0, "apnsd did not exit 0 on SIGTERM");
    gw_stop(&fsim, 10000);

    uint16_t *seen = calloc(2 * n, sizeof *seen);
    uint32_t strays = read_fcm_log(f.log, seen, 2 * n), missing = 0, dups = 0;
    for (uint32_t i = 0; i < 2 * n; i++)
        missing += seen[i] == 0, dups += seen[i] > 1 ? seen[i] - 1u : 0;
    fprintf(stderr, "reload: %u tokens: missing %u dups %u strays %u\n", 2 * n, missing, dups,
            strays);
    GW_CHECK(missing == 0 && dups == 0 && strays == 0, "fcm-sim log: missing %u dups %u strays %u",
             missing, dups, strays);
    free(seen);
    gw_http_free(h);
    th_rmtree(f.dir);
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 10000;
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "mixed"))
        mixed(gw_scaled(n, 1000));
    else if (argc > 1 && !strcmp(argv[1], "fleet"))
        fleet_run(gw_scaled(n, 1000));
    else if (argc > 1 && !strcmp(argv[1], "reload"))
        reload_account(gw_scaled(n, 100));
    else if (argc > 1 && !strcmp(argv[1], "third-party"))
        third_party();
    else if (argc > 1 && !strcmp(argv[1], "zero-loss"))
        zero_loss(gw_scaled(n, 1000));
    else {
        fprintf(stderr, "usage: gw_fcm zero-loss|mixed|fleet|third-party|reload N\n");
        return 2;
    }
    fprintf(stderr, "OK\n");
    return 0;
}

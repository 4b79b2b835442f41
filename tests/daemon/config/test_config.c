/*
 * test_config.c - daemon/config/ (the machinery) with apnsd's schema (every
 * module's keys and rules, daemon/apnsd_keys.c): parsing, defaults, every
 * validation error (one table), error collection, environment overrides,
 * reload diffs, secrets never printed, schemas, and the key reference in
 * docs/configuration.md kept identical to the key tables.
 *
 * Files the configurations name live in a private temporary directory; "@D@"
 * in a test's text stands for it. Texts are loaded as "apnsd.ini" with an
 * explicit environment, so the test does not depend on the caller's.
 *
 * When the key tables change: GW_CONFIG_UPDATE_DOCS=1 ./d_test_config
 * rewrites the generated block of docs/configuration.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "apns/features.h" /* APNS_HAVE_LEGACY */
#include "apnsd_keys.h"
#include "api_keys.h"
#include "config_int.h"
#include "dispatch_keys.h"
#include "log.h"
#include "queue_keys.h"
#include "webhook_keys.h"

/* A loaded config's parts, as the modules read them. */
#define SRV(c)   gw_api_server_config_of(c)
#define QUE(c)   gw_queue_config_of(c)
#define LOGC(c)  gw_apnsd_log_config_of(c)
#define TEAMS(c) gw_dispatch_teams_of(c)
#define DSP(a)   gw_dispatch_app_config_of(a)
#define FBK(a)   gw_dispatch_feedback_config_of(a)
#define API(a)   gw_api_app_config_of(a)
#define WHK(a)   gw_webhook_app_config_of(a)

#define K1 "k1-0123456789abcdef"
#define K2 "k2-fedcba9876543210"
#define K3 "k3-from-the-keys-file"

/* A valid token-auth app: 7 lines. */
#define TOKEN_APP(name)                                                                            \
    "[app " name "]\n"                                                                             \
    "topic = com.example.app\n"                                                                    \
    "environment = sandbox\n"                                                                      \
    "key_file = @D@/AuthKey.p8\n"                                                                  \
    "key_id = ABC123DEFG\n"                                                                        \
    "team_id = DEF123GHIJ\n"                                                                       \
    "api_keys = " K1 "\n"

static char D[64];
static char *const NOENV[] = {NULL};

/* ---------------------------------------------------------------------- */
/* helpers                                                                */

static char *expand(const char *s)
{
    size_t n = strlen(s), dn = strlen(D), o = 0;
    char *out = malloc(n * (dn + 1) + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n;) {
        if (strncmp(s + i, "@D@", 3) == 0) {
            memcpy(out + o, D, dn);
            o += dn;
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    return out;
}

static int load_env(const char *text, char *const *envp, gw_config **out, gw_config_errors *e)
{
    char *t = expand(text);
    int rc = gw_config_load_buffer(&gw_apnsd_schema, t, strlen(t), "apnsd.ini", envp, out, e);
    free(t);
    return rc;
}

static int load(const char *text, gw_config **out, gw_config_errors *e)
{
    return load_env(text, NOENV, out, e);
}

static void print_errs(const gw_config_errors *e)
{
    gw_config_errors_print(e, stderr);
}

static gw_config *load_ok(const char *text, char *const *envp)
{
    gw_config *c = NULL;
    gw_config_errors e;
    int rc = load_env(text, envp, &c, &e);
    if (rc != 0 || e.errors) {
        print_errs(&e);
        fail_msg("expected a valid config, got %d", rc);
    }
    assert_non_null(c);
    return c;
}

static int has_diag(const gw_config_errors *e, const char *needle)
{
    for (unsigned i = 0; i < e->n; i++)
        if (strstr(e->diag[i].text, needle))
            return 1;
    return 0;
}

static void write_file(const char *name, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", D, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    chmod(path, mode);
}

static char *dump_of(const gw_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(gw_config_dump(c, f), 0);
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    char sub[128];
    snprintf(D, sizeof D, "/tmp/gw-config-XXXXXX");
    assert_non_null(mkdtemp(D));
    write_file("AuthKey.p8", "-----BEGIN PRIVATE KEY-----\nnot parsed here\n", 0600);
    write_file("AuthKey2.p8", "-----BEGIN PRIVATE KEY-----\nanother\n", 0600);
    write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n", 0600);
    write_file("client.key", "-----BEGIN PRIVATE KEY-----\n", 0600);
    write_file("client.p12", "p12 bytes", 0600);
    write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file("ca2.pem", "-----BEGIN CERTIFICATE-----\nother\n", 0644);
    write_file("pw.txt", "s3cret-from-file\nsecond line ignored\n", 0600);
    write_file("pw-empty.txt", "\nx\n", 0600);
    write_file("empty.p8", "", 0600);
    write_file("keys.txt", "# bearer keys\n" K3 "\n\n  " K2 "  \n", 0600);
    write_file("keys-bad.txt", "# comment\nshort\n", 0600);
    write_file("keys-none.txt", "# nothing here\n", 0600);
    snprintf(sub, sizeof sub, "%s/adir", D);
    mkdir(sub, 0700);
    /* Google-format service-account key files (tests/certs/gen.sh). */
    {
        const char *certs = getenv("APNS_TEST_CERTS");
        char cmd[600];
        assert_non_null(certs);
        snprintf(cmd, sizeof cmd,
                 "cp '%s/fcm/sa-demo.json' '%s/sa.json' && cp '%s/fcm/sa-other.json' "
                 "'%s/sa-other.json' && cp '%s/fcm/sa-demo.json' '%s/sa-open.json' && chmod 600 "
                 "'%s/sa.json' '%s/sa-other.json' && chmod 644 '%s/sa-open.json'",
                 certs, D, certs, D, certs, D, D, D, D);
        assert_int_equal(system(cmd), 0);
    }
    write_file("sa-bad.json", "{\"type\": \"authorized_user\"}", 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", D);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* a full valid configuration                                             */

static const char FULL[] =
    "; apnsd test configuration\n"
    "[server]\n"
    "listen = 127.0.0.1:8080, [::1]:8081\n"
    "max_body = 64MiB\n"
    "max_tokens = 500000\n"
    "request_timeout = 1m30s\n"
    "drain_timeout = 45s\n"
    "metrics = off\n"
    "\n"
    "[queue]\n"
    "path = @D@/queue.db\n"
    "chunk_tokens = 500\n"
    "max_depth = 20000000\n"
    "retention = 2d\n"
    "sync = full\n"
    "\n"
    "[log]\n"
    "format = json\n"
    "level = debug\n"
    "\n"
    "[app shop]\n"
    "topic = com.example.shop\n"
    "topics = com.example.shop.voip, com.example.shop.push-type.liveactivity\n"
    "environment = custom\n"
    "host = 127.0.0.1\n"
    "port = 8443\n"
    "ca_file = @D@/ca.pem\n"
    "auth = token\n"
    "key_file = @D@/AuthKey.p8\n"
    "key_id = ABC123DEFG\n"
    "team_id = DEF123GHIJ\n"
    "connections = 4\n"
    "rate_limit = 5000\n"
    "retry_attempts = 7\n"
    "retry_backoff = 250ms\n"
    "retry_backoff_max = 1m\n"
    "api_keys = " K1 ", " K2 "\n"
    "webhook_url = https://hooks.example.com/apns?x=1\n"
    "webhook_secret = whsec-0123456789abcdef\n"
    "webhook_batch = 50\n"
    "api_rate_limit = 600/min\n"
    "api_rate_burst = 20\n"
    "\n"
    "[app news]\n"
    "topic = com.example.news\n"
    "environment = custom\n"
    "host = 127.0.0.1\n"
    "port = 8443\n"
    "ca_file = @D@/ca.pem\n"
    "key_file = @D@/AuthKey.p8\n"
    "key_id = ABC123DEFG\n"
    "team_id = DEF123GHIJ\n"
    "api_keys_file = @D@/keys.txt\n"
    "\n"
    "[app legacy]\n"
    "topic = com.example.legacy\n"
    "environment = production\n"
    "transport = binary\n"
    "auth = certificate\n"
    "p12_file = @D@/client.p12\n"
    "password_file = @D@/pw.txt\n"
    "api_keys = " K3 "\n"
    "feedback_interval = 30m\n";

/* With libapns built without the legacy interface (APNS_LEGACY=OFF), a
 * config that has a binary app is refused, naming the reason; the rest of a
 * test that needs one does not apply. */
static void refused_without_legacy(const char *text)
{
#if !APNS_HAVE_LEGACY
    gw_config *c = NULL;
    gw_config_errors e;
    assert_int_equal(load_env(text, NOENV, &c, &e), APNS_ECONFIG);
    assert_null(c);
    assert_true(has_diag(&e, "transport: binary: this apnsd was built without the legacy binary "
                             "interface"));
    skip();
#else
    (void)text;
#endif
}

static void test_full_config(void **state)
{
    (void)state;
    refused_without_legacy(FULL);
    gw_config *c = load_ok(FULL, NOENV);
    char path[128];

    /* [server] */
    assert_int_equal(SRV(c)->listen.n, 2);
    assert_string_equal(SRV(c)->listen_addrs[0].host, "127.0.0.1");
    assert_int_equal(SRV(c)->listen_addrs[0].port, 8080);
    assert_string_equal(SRV(c)->listen_addrs[1].host, "::1");
    assert_int_equal(SRV(c)->listen_addrs[1].port, 8081);
    assert_int_equal(SRV(c)->max_body, 64u << 20);
    assert_int_equal(SRV(c)->max_tokens, 500000);
    assert_int_equal(SRV(c)->request_timeout_ms, 90000);
    assert_int_equal(SRV(c)->idle_timeout_ms, 60000); /* the default */
    assert_int_equal(gw_apnsd_server_config_of(c)->drain_timeout_ms, 45000);
    assert_int_equal(SRV(c)->max_wait_ms, 30000); /* default */
    assert_int_equal(SRV(c)->metrics, 0);
    /* [queue] */
    snprintf(path, sizeof path, "%s/queue.db", D);
    assert_int_equal(QUE(c)->backend, GW_QUEUE_BACKEND_SQLITE);
    assert_string_equal(QUE(c)->path, path);
    assert_int_equal(QUE(c)->chunk_tokens, 500);
    assert_int_equal(QUE(c)->small_job_tokens, 100);
    assert_int_equal(QUE(c)->max_depth, 20000000);
    assert_int_equal(QUE(c)->max_requests, 10000);
    assert_int_equal(QUE(c)->retention_ms, 2 * 86400000LL);
    assert_int_equal(QUE(c)->purge_interval_ms, 60000);
    assert_int_equal(QUE(c)->max_db_bytes, 0);
    assert_int_equal(QUE(c)->sync, GW_QUEUE_SYNC_FULL);
    /* [log] */
    assert_int_equal(LOGC(c)->format, GW_LOG_FORMAT_JSON);
    assert_int_equal(LOGC(c)->level, APNS_LOG_DEBUG);

    assert_int_equal(c->n_apps, 3);
    const gw_config_app *shop = gw_config_find_app(c, "shop");
    assert_non_null(shop);
    assert_string_equal(shop->name, "shop");
    assert_string_equal(shop->env_name, "SHOP");
    assert_int_equal(shop->line, 21);
    assert_string_equal(DSP(shop)->topic, "com.example.shop");
    assert_int_equal(DSP(shop)->topics.n, 2);
    assert_string_equal(DSP(shop)->topics.v[1], "com.example.shop.push-type.liveactivity");
    assert_int_equal(DSP(shop)->environment, APNS_ENV_CUSTOM);
    assert_string_equal(DSP(shop)->host, "127.0.0.1");
    assert_int_equal(DSP(shop)->port, 8443);
    assert_int_equal(DSP(shop)->auth, GW_DISPATCH_AUTH_TOKEN);
    assert_string_equal(DSP(shop)->key_id, "ABC123DEFG");
    assert_string_equal(DSP(shop)->team_id, "DEF123GHIJ");
    assert_int_equal(DSP(shop)->token_refresh_ms, 50 * 60000);
    assert_int_equal(DSP(shop)->transport, GW_DISPATCH_TRANSPORT_HTTP2);
    assert_int_equal(DSP(shop)->connections, 4);
    assert_int_equal(DSP(shop)->max_in_flight, 4000); /* 0 = 1000 per connection */
    assert_int_equal(DSP(shop)->rate_limit, 5000);
    assert_true(API(shop)->api_rate == 10.0); /* 600/min */
    assert_int_equal(API(shop)->api_rate_burst, 20);
    assert_int_equal(DSP(shop)->connect_timeout_ms, 10000);
    assert_int_equal(DSP(shop)->stream_timeout_ms, 30000);
    assert_int_equal(DSP(shop)->retry_attempts, 7);
    assert_int_equal(DSP(shop)->retry_backoff_ms, 250);
    assert_int_equal(DSP(shop)->retry_backoff_max_ms, 60000);
    assert_int_equal(API(shop)->all_api_keys.n, 2);
    assert_string_equal(API(shop)->all_api_keys.v[0], K1);
    assert_string_equal(API(shop)->all_api_keys.v[1], K2);
    assert_string_equal(WHK(shop)->webhook_url, "https://hooks.example.com/apns?x=1");
    assert_string_equal(WHK(shop)->webhook_secret, "whsec-0123456789abcdef");
    assert_int_equal(WHK(shop)->webhook_batch, 50);
    assert_int_equal(WHK(shop)->webhook_interval_ms, 1000);
    assert_null(DSP(shop)->p12_password);

    const gw_config_app *news = gw_config_find_app(c, "news");
    assert_non_null(news);
    assert_int_equal(API(news)->all_api_keys.n, 2); /* from the file, comments skipped */
    assert_string_equal(API(news)->all_api_keys.v[0], K3);
    assert_string_equal(API(news)->all_api_keys.v[1], K2);
    assert_true(API(news)->api_rate == 0.0);        /* no limit by default, */
    assert_int_equal(API(news)->api_rate_burst, 0); /* so no bucket */
    assert_int_equal(DSP(news)->connections, 2);

    const gw_config_app *legacy = gw_config_find_app(c, "legacy");
    assert_non_null(legacy);
    assert_int_equal(DSP(legacy)->transport, GW_DISPATCH_TRANSPORT_BINARY);
    assert_int_equal(DSP(legacy)->auth, GW_DISPATCH_AUTH_CERTIFICATE);
    assert_int_equal(DSP(legacy)->environment, APNS_ENV_PRODUCTION);
    assert_int_equal(DSP(legacy)->port, 2195);
    assert_int_equal(FBK(legacy)->feedback_port, 2196);
    assert_int_equal(FBK(legacy)->feedback_interval_ms, 30 * 60000);
    assert_string_equal(DSP(legacy)->p12_password, "s3cret-from-file");
    assert_int_equal(DSP(legacy)->team, -1);
    assert_null(gw_config_find_app(c, "nope"));

    /* shop and news: one team identity (same team, key, environment, host, port) */
    assert_int_equal(TEAMS(c)->n, 1);
    assert_string_equal(TEAMS(c)->v[0].id, "DEF123GHIJ/ABC123DEFG@custom:127.0.0.1:8443");
    assert_int_equal(TEAMS(c)->v[0].n_apps, 2);
    assert_int_equal(TEAMS(c)->v[0].apps[0], 0);
    assert_int_equal(TEAMS(c)->v[0].apps[1], 1);
    assert_int_equal(TEAMS(c)->v[0].same_key_as, 0);
    assert_int_equal(DSP(shop)->team, 0);
    assert_int_equal(DSP(news)->team, 0);
    gw_config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    gw_config *c = load_ok(TOKEN_APP("a"), NOENV);

    /* Every default in the tables parses and is what the load applied. */
    for (size_t p = 0; p < gw_apnsd_schema.n_parts; p++) {
        const gw_config_part *part = gw_apnsd_schema.parts[p];
        const char *base = part->section == &gw_config_app_section
                               ? gw_config_app_part(&c->apps[0], part)
                               : gw_config_part_of(c, part);
        assert_non_null(base);
        for (size_t i = 0; i < part->n_keys; i++) {
            const gw_config_key *k = &part->keys[i];
            char why[256];
            gw__value tmp;
            if (k->def == NULL)
                continue;
            memset(&tmp, 0, sizeof tmp);
            assert_int_equal(gw_config_value_set(k, &tmp, k->def, why, sizeof why), 0);
            if (strcmp(k->name, "max_in_flight") != 0) /* resolved at load */
                assert_true(gw_config_value_equal(k, &tmp, base + k->off));
            gw_config_value_clear(k, &tmp);
        }
    }
    assert_string_equal(SRV(c)->listen_addrs[0].host, "127.0.0.1");
    assert_int_equal(SRV(c)->listen_addrs[0].port, 8080);
    assert_int_equal(SRV(c)->max_body, 128u << 20);
    assert_int_equal(SRV(c)->metrics, 1);
    assert_string_equal(QUE(c)->path, "apnsd.db");
    assert_int_equal(QUE(c)->sync, GW_QUEUE_SYNC_NORMAL);
    assert_int_equal(LOGC(c)->format, GW_LOG_FORMAT_LOGFMT);
    assert_int_equal(LOGC(c)->level, APNS_LOG_INFO);
    assert_int_equal(DSP(&c->apps[0])->port, 443);
    assert_int_equal(DSP(&c->apps[0])->connections, 2);
    assert_int_equal(DSP(&c->apps[0])->max_in_flight, 2000);
    assert_int_equal(FBK(&c->apps[0])->feedback_interval_ms, 0); /* http2: not used */
    assert_null(DSP(&c->apps[0])->ca_file);
    assert_string_equal(TEAMS(c)->v[0].id, "DEF123GHIJ/ABC123DEFG@sandbox");
    gw_config_free(c);
}

/* [queue] max_depth against [server] max_tokens: equal is fine, 0 is no
 * limit; the environment counts like the file. */
static void test_depth_fits_requests(void **state)
{
    static char *const env[] = {"APNSD_QUEUE_MAX_DEPTH=50", NULL};
    gw_config *c;
    gw_config_errors e;

    (void)state;
    c = load_ok("[server]\nmax_tokens = 1000\n[queue]\nmax_depth = 1000\n" TOKEN_APP("a"), NOENV);
    gw_config_free(c);
    c = load_ok("[server]\nmax_tokens = 1000\n[queue]\nmax_depth = 0\n" TOKEN_APP("a"), NOENV);
    gw_config_free(c);
    c = NULL;
    assert_int_equal(load_env("[server]\nmax_tokens = 100\n" TOKEN_APP("a"), env, &c, &e),
                     APNS_ECONFIG);
    assert_null(c);
    assert_int_equal(e.errors, 1);
    assert_non_null(strstr(e.diag[0].text, "100 is more than [queue] max_depth 50"));
}

/* Files holding a secret (issue 12): a key, a PKCS#12 file, a password
 * file, an API-keys file, a certificate file that holds its key (no
 * key_file) are refused when every user may read them ([server]
 * insecure_secrets = refuse, the default: an error naming the file, its
 * mode and the key that allows it); with insecure_secrets = warn, a warning
 * and the load works. Group-readable (0640) and public files (the CA) draw
 * neither. */
#define PRIVATE_APPS                                                                               \
    "[app a]\ntopic = com.a\nenvironment = sandbox\n"                                              \
    "key_file = @D@/open.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"                          \
    "api_keys_file = @D@/open-keys.txt\nca_file = @D@/ca.pem\n"                                    \
    "[app b]\ntopic = com.b\nenvironment = sandbox\n"                                              \
    "key_file = @D@/group.p8\nkey_id = XYZ123DEFG\nteam_id = DEF123GHIJ\n"                         \
    "api_keys = " K1 "\n"                                                                          \
    "[app c]\ntopic = com.c\nenvironment = sandbox\nauth = certificate\n"                          \
    "p12_file = @D@/open.p12\npassword_file = @D@/open-pw.txt\n"                                   \
    "api_keys = " K2 "\n"                                                                          \
    "[app d]\ntopic = com.d\nenvironment = sandbox\nauth = certificate\n"                          \
    "cert_file = @D@/open-cert.pem\napi_keys = " K3 "x\n"                                          \
    "[app e]\ntopic = com.e\nenvironment = sandbox\nauth = certificate\n"                          \
    "cert_file = @D@/open-cert.pem\nkey_file = @D@/client.key\n"                                   \
    "api_keys = " K3 "y\n"

static void test_private_file_modes(void **state)
{
    gw_config_errors e;
    gw_config *c = NULL;
    int rc;

    (void)state;
    write_file("open.p8", "-----BEGIN PRIVATE KEY-----\nopen\n", 0644);
    write_file("group.p8", "-----BEGIN PRIVATE KEY-----\ngroup\n", 0640);
    write_file("open-keys.txt", K3 "\n", 0604);
    write_file("open.p12", "p12 bytes", 0644);
    write_file("open-pw.txt", "pw\n", 0644);
    write_file("open-cert.pem", "-----BEGIN CERTIFICATE-----\n", 0644);

    /* The default: refused, every file named with its mode and the key. */
    rc = load(PRIVATE_APPS, &c, &e);
    if (rc != APNS_ECONFIG || e.errors != 5)
        print_errs(&e);
    assert_int_equal(rc, APNS_ECONFIG);
    assert_null(c);
    assert_int_equal(e.errors, 5);
    assert_int_equal(e.warnings, 0);
    assert_true(has_diag(&e, "apnsd.ini:4: [app a] key_file: "));
    assert_true(has_diag(&e, "open.p8\" is readable by every user (mode 0644) and holds a "
                             "secret: chmod 600 it (640 for a group), or set [server] "
                             "insecure_secrets = warn to allow it"));
    assert_true(has_diag(&e, "apnsd.ini:7: [app a] api_keys_file: "));
    assert_true(has_diag(&e, "open-keys.txt\" is readable by every user (mode 0604)"));
    assert_true(has_diag(&e, "[app c] p12_file: "));
    assert_true(has_diag(&e, "[app c] password_file: "));
    assert_true(has_diag(&e, "open-pw.txt\" is readable by every user (mode 0644)"));
    assert_true(has_diag(&e, "[app d] cert_file: "));
    assert_false(has_diag(&e, "[app b]"));
    assert_false(has_diag(&e, "[app e]"));

    /* insecure_secrets = warn: warnings, the load works. */
    rc = load("[server]\ninsecure_secrets = warn\n" PRIVATE_APPS, &c, &e);
    if (rc != 0 || e.warnings != 5)
        print_errs(&e);
    assert_int_equal(rc, 0);
    assert_int_equal(e.errors, 0);
    assert_int_equal(e.warnings, 5);
    assert_true(has_diag(&e, "apnsd.ini:6: warning: [app a] key_file: "));
    assert_true(has_diag(&e, "open.p8\" is readable by every user (mode 0644) and holds a "
                             "secret: chmod 600 it (640 for a group)"));
    assert_false(has_diag(&e, "insecure_secrets = warn to allow it"));
    assert_true(has_diag(&e, "apnsd.ini:9: warning: [app a] api_keys_file: "));
    assert_true(has_diag(&e, "(mode 0604)"));
    assert_true(has_diag(&e, "[app c] p12_file: "));
    assert_true(has_diag(&e, "[app c] password_file: "));
    assert_true(has_diag(&e, "[app d] cert_file: "));
    assert_false(has_diag(&e, "[app b]"));
    assert_false(has_diag(&e, "[app e]"));
    gw_config_free(c);

    /* A value other than the two. */
    rc = load("[server]\ninsecure_secrets = ignore\n" PRIVATE_APPS, &c, &e);
    assert_int_equal(rc, APNS_ECONFIG);
    assert_true(has_diag(&e, "apnsd.ini:2: [server] insecure_secrets: "));
}

/* ---------------------------------------------------------------------- */
/* every validation error                                                 */

struct bad_case {
    const char *text;
    const char *want; /* a substring of one message; @D@ expanded */
};

static const struct bad_case BAD[] = {
    /* syntax */
    {"listen = x\n" TOKEN_APP("a"),
     "apnsd.ini:1: key \"listen\" outside any section (start with [server]"},
    {"[server\n" TOKEN_APP("a"), "apnsd.ini:1: section header without ']'"},
    {"[server] extra\n" TOKEN_APP("a"), "apnsd.ini:1: unexpected text after ']'"},
    {"[server]\njust some words\n" TOKEN_APP("a"),
     "apnsd.ini:2: expected \"key = value\", \"[section]\" or a comment"},
    {"[server]\n= 5\n" TOKEN_APP("a"), "apnsd.ini:2: missing key name before '='"},
    {"[sever]\n" TOKEN_APP("a"), "apnsd.ini:1: unknown section \"sever\" (did you mean [server]?)"},
    {"[apps shop]\n" TOKEN_APP("a"),
     "apnsd.ini:1: unknown section \"apps\" (did you mean [app shop]?)"},
    {"[whatever]\n" TOKEN_APP("a"),
     "apnsd.ini:1: unknown section \"whatever\" (sections: [server], [queue], [log], [app NAME])"},
    {"[server]\n[server]\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server]: section appears twice (first on line 1)"},
    {"[log debug]\n" TOKEN_APP("a"), "apnsd.ini:1: [log \"debug\"]: [log] takes no name"},
    {"[server]\nlisen = 1.2.3.4:80\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] lisen: unknown key (did you mean listen?)"},
    {"[server]\nmax_tokens = 5\nmax_tokens = 6\n" TOKEN_APP("a"),
     "apnsd.ini:3: [server] max_tokens: set twice (first on line 2)"},
    /* [server] values */
    {"[server]\nlisten = localhost\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] listen: must be host:port or [v6]:port with a port in 0..65535 "
     "(0 = any free port) (element \"localhost\")"},
    {"[server]\nlisten = 127.0.0.1:8080, 127.0.0.1:65536\n" TOKEN_APP("a"),
     "(element \"127.0.0.1:65536\")"},
    {"[server]\nlisten = ::1:80\n" TOKEN_APP("a"), "(element \"::1:80\")"},
    {"[server]\nlisten = 127.0.0.1:80,,127.0.0.1:81\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] listen: has an empty element (elements are comma-separated)"},
    {"[server]\nlisten = 127.0.0.1:80, 127.0.0.1:80\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] listen: \"127.0.0.1:80\" is listed twice"},
    {"[server]\nmax_body = 12parsecs\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] max_body: must be a size like 4096, 64KiB, 16MiB or 1GB, got "
     "\"12parsecs\""},
    {"[server]\nmax_body = 100\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] max_body: must be between 1KiB and 1GiB, got \"100\""},
    {"[server]\nmax_body = 99999999999999999999999\n" TOKEN_APP("a"),
     "[server] max_body: must be a size"},
    {"[server]\nmax_tokens = -1\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] max_tokens: must be a whole number, got \"-1\""},
    {"[server]\nmax_tokens = 0\n" TOKEN_APP("a"),
     "[server] max_tokens: must be between 1 and 10000000, got \"0\""},
    /* The largest request must fit into an empty queue (issue 12). */
    {"[server]\nmax_tokens = 1000\n[queue]\nmax_depth = 999\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] max_tokens: 1000 is more than [queue] max_depth 999: a request of "
     "that many tokens could never be queued"},
    {"[queue]\nmax_depth = 10\n" TOKEN_APP("a"),
     "[server] max_tokens: 1000000 is more than [queue] max_depth 10"},
    /* With JetStream an idempotent answer lives as long as retention: it
     * must outlive the key (issue 12). */
    {"[server]\nidempotency_ttl = 2h\n[queue]\nbackend = jetstream\nservers = nats://a:4222\n"
     "retention = 1h\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] idempotency_ttl: 7200 s is longer than [queue] retention (3600 s): "
     "with backend = jetstream"},
    {"[queue]\nbackend = jetstream\nservers = nats://a:4222\nretention = 1h\n" TOKEN_APP("a"),
     "[server] idempotency_ttl: 86400 s is longer than [queue] retention (3600 s)"},
    {"[server]\nrequest_timeout = 5 parsecs\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] request_timeout: must be a duration like 500ms, 30s, 5m, 1h30m or 7d"},
    {"[server]\nrequest_timeout = 2h\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] request_timeout: must be between 1s and 1h, got \"2h\""},
    {"[server]\nidle_timeout = 500ms\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] idle_timeout: must be between 1s and 1h, got \"500ms\""},
    {"[server]\nmetrics = maybe\n" TOKEN_APP("a"),
     "apnsd.ini:2: [server] metrics: must be yes or no (also true/false, on/off, 1/0), got "
     "\"maybe\""},
    /* [queue] */
    {"[queue]\nbackend = jetstream\n" TOKEN_APP("a"),
     "apnsd.ini:1: [queue] servers: required with backend = jetstream: the NATS URLs of the "
     "cluster"},
    {"[queue]\nbackend = jetstream\nservers = nats://a:4222\ntls_cert_file = "
     "@D@/cert.pem\n" TOKEN_APP("a"),
     "apnsd.ini:4: [queue] tls_cert_file: tls_cert_file and tls_key_file go together"},
    {"[queue]\nbackend = redis\n" TOKEN_APP("a"),
     "[queue] backend: must be one of sqlite, jetstream, got \"redis\""},
    {"[queue]\nservers = http://a:4222\n" TOKEN_APP("a"),
     "apnsd.ini:2: [queue] servers: must be a nats:// or tls:// URL with a host"},
    {"[queue]\nreplicas = 7\n" TOKEN_APP("a"),
     "apnsd.ini:2: [queue] replicas: must be between 1 and 5"},
    {"[queue]\nprefix = a.b\n" TOKEN_APP("a"),
     "apnsd.ini:2: [queue] prefix: must be 1..32 of A-Z a-z 0-9 _ -"},
    {"[queue]\npath = /nonexistent-gw-dir/q.db\n" TOKEN_APP("a"),
     "apnsd.ini:2: [queue] path: directory \"/nonexistent-gw-dir\" does not exist"},
    {"[queue]\npath = @D@/adir\n" TOKEN_APP("a"), "[queue] path: \"@D@/adir\" exists and is not a "
                                                  "regular file"},
    {"[queue]\nsync = fast\n" TOKEN_APP("a"), "[queue] sync: must be one of normal, full"},
    {"[queue]\nchunk_tokens = 0\n" TOKEN_APP("a"),
     "[queue] chunk_tokens: must be between 1 and 100000"},
    /* [log] */
    {"[log]\nlevel = verbose\n" TOKEN_APP("a"),
     "apnsd.ini:2: [log] level: must be one of error, warn, info, debug, got \"verbose\""},
    {"[log]\nformat = jsn\n" TOKEN_APP("a"),
     "[log] format: must be one of logfmt, json (did you mean json?), got \"jsn\""},
    /* [app] headers */
    {"", "apnsd.ini: no app: define at least one with [app NAME] in the file or APNSD_APPS=NAME "
         "in the environment"},
    {"[app]\n" TOKEN_APP("a"), "apnsd.ini:1: [app]: needs a name: [app NAME]"},
    {"[app a b]\n" TOKEN_APP("a"),
     "apnsd.ini:1: [app \"a b\"]: the name must be 1..64 characters of A-Z a-z 0-9 . _ -"},
    {TOKEN_APP("shop") TOKEN_APP("shop"),
     "apnsd.ini:8: [app shop]: duplicate app name (first on line 1)"},
    {TOKEN_APP("my-shop") TOKEN_APP("my_shop"),
     "apnsd.ini:8: [app my_shop]: its environment name MY_SHOP is that of [app my-shop] (line 1)"},
    {TOKEN_APP("a") "bundle_id = com.x\n",
     "apnsd.ini:8: [app a] bundle_id: unknown key (did you mean topic?)"},
    {TOKEN_APP("a") "kid = ABC123DEFG\n", "[app a] kid: unknown key (did you mean key_id?)"},
    /* [app] single values */
    {"[app shop]\ntopic = com..example\n", "apnsd.ini:2: [app shop] topic: must be a bundle id"},
    {"[app shop]\nenvironment = prodution\n",
     "apnsd.ini:2: [app shop] environment: must be one of production, sandbox, custom (did you "
     "mean production?), got \"prodution\""},
    {"[app shop]\nkey_id = ABC\n",
     "apnsd.ini:2: [app shop] key_id: must be 10 characters [A-Z0-9], got \"ABC\""},
    {"[app shop]\nteam_id = def123ghij\n",
     "apnsd.ini:2: [app shop] team_id: must be 10 characters [A-Z0-9], got \"def123ghij\""},
    {"[app shop]\nport = 0\n", "apnsd.ini:2: [app shop] port: must be a port between 1 and 65535"},
    {"[app shop]\nport = 70000\n", "[app shop] port: must be a port between 1 and 65535, got "
                                   "\"70000\""},
    {"[app shop]\nhost = [::1]\n", "[app shop] host: must be a host name or an IP address"},
    {"[app shop]\nproxy = proxy.local\n", "[app shop] proxy: must be host:port"},
    /* port 0 is only for listening (an ephemeral port), never for a peer */
    {"[app shop]\nproxy = proxy.local:0\n",
     "[app shop] proxy: must be host:port or [v6]:port with a port in 1..65535"},
    {"[app shop]\ntoken_refresh = 10m\n",
     "apnsd.ini:2: [app shop] token_refresh: must be between 20m and 1h, got \"10m\""},
    {"[app shop]\nconnections = 0\n", "[app shop] connections: must be between 1 and 100"},
    {"[app shop]\ntransport = spdy\n", "[app shop] transport: must be one of http2, binary"},
    {"[app shop]\nauth = jwt\n", "[app shop] auth: must be one of token, certificate"},
    {"[app shop]\npassword_env = 1BAD\n", "[app shop] password_env: must be an environment "
                                          "variable name"},
    {"[app shop]\napi_keys = tooshort\n",
     "apnsd.ini:2: [app shop] api_keys: every key must be 16..256 printable characters without "
     "spaces or commas (this one has 8)"},
    {"[app shop]\nwebhook_url = ftp://x\n",
     "apnsd.ini:2: [app shop] webhook_url: must be an http:// or https:// URL"},
    {"[app shop]\nwebhook_events = dead\n", "apnsd.ini:2: [app shop] webhook_events: "},
    {"[app shop]\nwebhook_retention = 0\n", "apnsd.ini:2: [app shop] webhook_retention: "},
    {"[app shop]\nwebhook_retention_age = 10ms\n",
     "apnsd.ini:2: [app shop] webhook_retention_age: "},
    {"[app shop]\nwebhook_secret = short\n",
     "apnsd.ini:2: [app shop] webhook_secret: must be 16..1024 printable characters (this one "
     "has 5)"},
    {"[app shop]\ntopics = com.a.voip,,com.a.x\n", "[app shop] topics: has an empty element"},
    /* [app] required keys, reported at the section's line */
    {"[app shop]\nenvironment = sandbox\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app shop] topic: required: the app's bundle id"},
    {"[app shop]\ntopic = com.a\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app shop] environment: required: production, sandbox or custom"},
    {"\n[app shop]\ntopic = com.a\nenvironment = sandbox\napi_keys = " K1 "\n",
     "apnsd.ini:2: [app shop] key_file: required with auth = token"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app shop] key_id: required with auth = token"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app shop] team_id: required with auth = token"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app shop] cert_file: required with auth = certificate (or p12_file"},
    {"[app shop]\ntopic = com.a\nenvironment = custom\n",
     "apnsd.ini:1: [app shop] host: required with environment = custom"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\n",
     "apnsd.ini:1: [app shop] api_keys: required: set api_keys or api_keys_file"},
    {TOKEN_APP("shop") "webhook_url = https://h.example/x\n",
     "apnsd.ini:1: [app shop] webhook_secret: required with webhook_url"},
    /* [app] cross-field rules, reported where the key was set */
    {TOKEN_APP("shop") "cert_file = @D@/cert.pem\n",
     "apnsd.ini:8: [app shop] cert_file: only used with auth = certificate"},
    {TOKEN_APP("shop") "password = hunter2hunter2\n",
     "apnsd.ini:8: [app shop] password: only used with auth = certificate"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "cert_file = @D@/cert.pem\np12_file = @D@/client.p12\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] p12_file: set cert_file or p12_file, not both"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "p12_file = @D@/client.p12\nkey_file = @D@/client.key\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] key_file: not used with p12_file (the PKCS#12 file holds the key)"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "p12_file = @D@/client.p12\npassword = x\npassword_env = PW\napi_keys = " K1 "\n",
     "apnsd.ini:7: [app shop] password_env: set only one of password, password_env and "
     "password_file"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "cert_file = @D@/cert.pem\npassword_file = @D@/pw.txt\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] password_file: only used with p12_file"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "cert_file = @D@/cert.pem\nkey_id = ABC123DEFG\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] key_id: only used with auth = token"},
    {TOKEN_APP("shop") "transport = binary\n",
     "apnsd.ini:8: [app shop] transport: binary needs auth = certificate (the legacy interface "
     "has no token auth)"},
    {TOKEN_APP("shop") "feedback_interval = 1h\n",
     "apnsd.ini:8: [app shop] feedback_interval: only used with transport = binary"},
    {TOKEN_APP("shop") "feedback_port = 2196\n",
     "[app shop] feedback_port: only used with transport = binary"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\ntransport = binary\n"
     "cert_file = @D@/cert.pem\npublish_host = broadcast\napi_keys = " K1 "\n",
     "apnsd.ini:7: [app shop] publish_host: only used with transport = http2"},
    {TOKEN_APP("shop") "publish_host = api-broadcast\n",
     "apnsd.ini:8: [app shop] publish_host: must be one of"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\ntransport = binary\n"
     "cert_file = @D@/cert.pem\nfeedback_host = fb.local\napi_keys = " K1 "\n",
     "apnsd.ini:7: [app shop] feedback_host: only used with environment = custom"},
    {TOKEN_APP("shop") "host = 127.0.0.1\n",
     "apnsd.ini:8: [app shop] host: only used with environment = custom (production and sandbox "
     "use Apple's hosts)"},
    {TOKEN_APP("shop") "retry_backoff = 1h\n",
     "apnsd.ini:8: [app shop] retry_backoff: retry_backoff (3600000ms) is larger than "
     "retry_backoff_max (900000ms)"},
    {TOKEN_APP("shop") "webhook_batch = 10\n",
     "apnsd.ini:8: [app shop] webhook_batch: only used with webhook_url"},
    {TOKEN_APP("shop") "webhook_events = rejections\n",
     "apnsd.ini:8: [app shop] webhook_events: only used with webhook_url"},
    {TOKEN_APP("shop") "webhook_retention = 10\n",
     "apnsd.ini:8: [app shop] webhook_retention: only used with webhook_url"},
    {TOKEN_APP("shop") "api_keys = " K1 "\n", "apnsd.ini:8: [app shop] api_keys: the same key is "
                                              "listed twice (keys 1 and 2)"},
    /* files */
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = @D@/nope.p8\n"
     "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = " K1 "\n",
     "apnsd.ini:4: [app shop] key_file: cannot read \"@D@/nope.p8\": No such file or directory"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = @D@/adir\n"
     "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = " K1 "\n",
     "apnsd.ini:4: [app shop] key_file: \"@D@/adir\" is not a regular file"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = @D@/empty.p8\n"
     "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = " K1 "\n",
     "apnsd.ini:4: [app shop] key_file: \"@D@/empty.p8\" is empty"},
    {TOKEN_APP("shop") "ca_file = @D@/missing-ca.pem\n",
     "apnsd.ini:8: [app shop] ca_file: cannot read \"@D@/missing-ca.pem\""},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "p12_file = @D@/client.p12\npassword_env = GW_TEST_NO_SUCH_VAR\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] password_env: environment variable GW_TEST_NO_SUCH_VAR is not set"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "p12_file = @D@/client.p12\npassword_file = @D@/pw-empty.txt\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] password_file: the first line is empty"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
     "p12_file = @D@/client.p12\npassword_file = @D@/adir\napi_keys = " K1 "\n",
     "apnsd.ini:6: [app shop] password_file: \"@D@/adir\" is not a regular file"},
    {TOKEN_APP("shop") "api_keys_file = @D@/keys-bad.txt\n",
     "apnsd.ini:8: [app shop] api_keys_file: line 2: every key must be 16..256 printable "
     "characters"},
    {"[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = @D@/AuthKey.p8\n"
     "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys_file = @D@/keys-none.txt\n",
     "apnsd.ini:7: [app shop] api_keys_file: holds no key"},
    /* API request rate limits */
    {TOKEN_APP("shop") "api_rate_limit = fast\n",
     "apnsd.ini:8: [app shop] api_rate_limit: must be REQUESTS/s, REQUESTS/min or REQUESTS/h "
     "with REQUESTS in 0..1000000, like 100/s (0 = no limit)"},
    {TOKEN_APP("shop") "api_rate_limit = 1000001/s\n",
     "apnsd.ini:8: [app shop] api_rate_limit: must be REQUESTS/s"},
    {TOKEN_APP("shop") "api_rate_limit = 10/day\n",
     "apnsd.ini:8: [app shop] api_rate_limit: the unit after '/' must be s, min or h"},
    {TOKEN_APP("shop") "api_rate_limit = /s\n",
     "apnsd.ini:8: [app shop] api_rate_limit: must be REQUESTS/s"},
    {TOKEN_APP("shop") "api_rate_burst = 10\n",
     "apnsd.ini:8: [app shop] api_rate_burst: needs api_rate_limit"},
    {TOKEN_APP("shop") "api_rate_limit = 0\napi_rate_burst = 10\n",
     "apnsd.ini:9: [app shop] api_rate_burst: needs api_rate_limit"},
    {TOKEN_APP("shop") "api_rate_limit = 5/s\napi_rate_burst = 0\n",
     "apnsd.ini:9: [app shop] api_rate_burst: "},
    /* team identities */
    {TOKEN_APP("a") TOKEN_APP("b") "key_file = @D@/AuthKey2.p8\n",
     "apnsd.ini:15: [app b] key_file: set twice (first on line 11)"},
    {TOKEN_APP("a") "[app b]\ntopic = com.b\nenvironment = production\nkey_file = "
                    "@D@/AuthKey2.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = " K2
                    "\n",
     "apnsd.ini:11: [app b] key_file: key ABC123DEFG of team DEF123GHIJ is already read from "
     "\"@D@/AuthKey.p8\" by [app a]: one key id, one file"},
    {TOKEN_APP("a") TOKEN_APP("b") "token_refresh = 30m\n",
     "apnsd.ini:15: [app b] token_refresh: differs from [app a], which signs with the same key"},
};

static void test_validation_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        gw_config *c = (gw_config *)1;
        gw_config_errors e;
        char *want = expand(BAD[i].want);
        int rc = load(BAD[i].text, &c, &e);
        if (rc != APNS_ECONFIG || c != NULL || !has_diag(&e, want)) {
            fprintf(stderr, "case %zu: want %s\n--- got (rc %d):\n", i, want, rc);
            print_errs(&e);
            fail_msg("validation case %zu", i);
        }
        assert_true(e.errors >= 1);
        free(want);
    }
}

/* A refused value is reported once: no "required" follow-up for the same key. */
static void test_no_follow_up_errors(void **state)
{
    (void)state;
    gw_config *c;
    gw_config_errors e;
    assert_int_equal(load("[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = "
                          "@D@/AuthKey.p8\nkey_id = abc\nteam_id = DEF123GHIJ\napi_keys = " K1 "\n",
                          &c, &e),
                     APNS_ECONFIG);
    assert_int_equal(e.errors, 1);
    assert_true(has_diag(&e, "key_id: must be 10 characters"));
    assert_false(has_diag(&e, "required"));

    assert_int_equal(load("[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = tokn\n"
                          "api_keys = " K1 "\n",
                          &c, &e),
                     APNS_ECONFIG);
    assert_int_equal(e.errors, 1); /* no guesses about keys when auth itself is wrong */
    assert_true(has_diag(&e, "auth: must be one of token, certificate (did you mean token?)"));

    assert_int_equal(load(TOKEN_APP("shop") "environment = custm\nhost = 127.0.0.1\n", &c, &e),
                     APNS_ECONFIG);
    assert_true(has_diag(&e, "apnsd.ini:8: [app shop] environment: set twice"));
    assert_int_equal(load("[app shop]\ntopic = com.a\nenvironment = custm\nhost = 127.0.0.1\n"
                          "key_file = @D@/AuthKey.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                          "api_keys = " K1 "\n",
                          &c, &e),
                     APNS_ECONFIG);
    assert_int_equal(e.errors, 1); /* no "host: only used with environment = custom" */
    assert_true(has_diag(&e, "(did you mean custom?)"));
}

static void test_syntax(void **state)
{
    (void)state;
    /* BOM, CRLF, indentation, "key: value", inline comments, quotes, '#' comments. */
    gw_config *c = load_ok("\xEF\xBB\xBF[server]\r\n"
                           "    listen: 127.0.0.1:9000 ; an inline comment\r\n"
                           "# a comment\r\n"
                           "\tmax_tokens = 42\r\n"
                           "[app shop]\n"
                           "  topic = \"com.example.shop\"\n"
                           "  environment = SANDBOX\n"
                           "  key_file = @D@/AuthKey.p8\n"
                           "  key_id = ABC123DEFG\n"
                           "  team_id = DEF123GHIJ\n"
                           "  api_keys = " K1 "\n"
                           "  api_keys = " K2 "   ; repeated: appended\n"
                           "  webhook_url = https://h.example/x?a=b;c\n"
                           "  webhook_secret = 0123456789abcdef#not-a-comment\n",
                           NOENV);
    assert_string_equal(SRV(c)->listen.v[0], "127.0.0.1:9000");
    assert_int_equal(SRV(c)->max_tokens, 42);
    assert_string_equal(DSP(&c->apps[0])->topic, "com.example.shop");
    assert_int_equal(DSP(&c->apps[0])->environment, APNS_ENV_SANDBOX);
    assert_int_equal(API(&c->apps[0])->api_keys.n, 2);
    assert_string_equal(WHK(&c->apps[0])->webhook_url, "https://h.example/x?a=b;c");
    assert_string_equal(WHK(&c->apps[0])->webhook_secret, "0123456789abcdef#not-a-comment");
    gw_config_free(c);

    /* A line too long for the parser, and a NUL byte, are errors with their line. */
    gw_config_errors e;
    char text[2048];
    char longv[600];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    snprintf(text, sizeof text, "[server]\nlisten = %s\n", longv);
    assert_int_equal(load(text, &c, &e), APNS_ECONFIG);
    assert_true(has_diag(&e, "apnsd.ini:2: line is too long (608 characters, at most"));

    static const char nul[] = "[server]\nmax_tokens = 1\0 2\n";
    assert_int_equal(
        gw_config_load_buffer(&gw_apnsd_schema, nul, sizeof nul - 1, "x.ini", NOENV, &c, &e),
        APNS_ECONFIG);
    assert_true(has_diag(&e, "x.ini:2: line contains a NUL byte"));

    /* Arguments. */
    assert_int_equal(gw_config_load_buffer(&gw_apnsd_schema, NULL, 3, "x", NOENV, &c, &e),
                     APNS_EINVAL);
    assert_int_equal(gw_config_load_buffer(&gw_apnsd_schema, "", 0, "x", NOENV, NULL, &e),
                     APNS_EINVAL);
    assert_int_equal(gw_config_load_string(&gw_apnsd_schema, NULL, "x", &c, &e), APNS_EINVAL);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, NULL, &c, &e), APNS_EINVAL);
    /* errs may be NULL */
    assert_int_equal(gw_config_load_buffer(&gw_apnsd_schema, "[x]\n", 4, NULL, NOENV, &c, NULL),
                     APNS_ECONFIG);
    gw_config_free(NULL);
}

static void test_units(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } durs[] = {{"0", 0},          {"30", 30000},    {"500ms", 500},
                {"30s", 30000},    {"5m", 300000},   {"1h30m", 5400000},
                {"7d", 604800000}, {"1m30s", 90000}, {"2h0m1s", 7201000},
                {"1s500ms", 1500}};
    static const char *bad_durs[] = {
        "", "s", "5", "5x", "1.5s", "-1s", "5 s", "5S", "1h 30m", "99999999999999999999s", "1m1"};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        int64_t v = -1;
        assert_int_equal(gw_config_parse_duration_ms(durs[i].s, &v), 0);
        assert_int_equal(v, durs[i].ms);
    }
    for (size_t i = 0; i < sizeof bad_durs / sizeof bad_durs[0]; i++) {
        int64_t v;
        if (strcmp(bad_durs[i], "5") == 0)
            continue; /* a bare number is seconds */
        assert_int_equal(gw_config_parse_duration_ms(bad_durs[i], &v), -1);
    }
    static const struct {
        const char *s;
        uint64_t v;
    } sizes[] = {{"0", 0},         {"4096", 4096},       {"4KiB", 4096},     {"4 KiB", 4096},
                 {"4kib", 4096},   {"16MiB", 16u << 20}, {"1GiB", 1u << 30}, {"1KB", 1000},
                 {"2MB", 2000000}, {"1GB", 1000000000},  {"10B", 10}};
    static const char *bad_sizes[] = {
        "", "KiB", "4K", "4 kibibytes", "-4", "1.5MiB", "99999999999999999999GiB"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t v = 1;
        assert_int_equal(gw_config_parse_size(sizes[i].s, &v), 0);
        assert_int_equal(v, sizes[i].v);
    }
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        uint64_t v;
        assert_int_equal(gw_config_parse_size(bad_sizes[i], &v), -1);
    }
    char host[64];
    uint16_t port;
    assert_int_equal(gw_config_split_hostport("[::]:443", host, sizeof host, &port), 0);
    assert_string_equal(host, "::");
    assert_int_equal(port, 443);
    assert_int_equal(gw_config_split_hostport("0.0.0.0:1", host, sizeof host, &port), 0);
    assert_int_equal(gw_config_split_hostport(":80", host, sizeof host, &port), -1);
    assert_int_equal(gw_config_split_hostport("h:", host, sizeof host, &port), -1);
    assert_int_equal(gw_config_split_hostport("h:65536", host, sizeof host, &port), -1);
    assert_int_equal(gw_config_split_hostport("h:+80", host, sizeof host, &port), -1);
    assert_int_equal(gw_config_split_hostport("[::1]80", host, sizeof host, &port), -1);

    assert_int_equal(gw__edit_distance("lisen", "listen"), 1);
    assert_int_equal(gw__edit_distance("LISTEN", "listen"), 0);
}

/* ---------------------------------------------------------------------- */
/* collecting every error                                                 */

static void test_multiple_errors(void **state)
{
    (void)state;
    gw_config *c;
    gw_config_errors e;
    int rc = load("[server]\n"
                  "max_body = lots\n"   /* 2 */
                  "metrics = perhaps\n" /* 3 */
                  "[queue]\n"
                  "synk = full\n" /* 5 */
                  "[app shop]\n"  /* 6: key_file, team_id missing */
                  "topic = com.a\n"
                  "environment = sandbox\n"
                  "key_id = short\n" /* 9 */
                  "api_keys = " K1 "\n",
                  &c, &e);
    assert_int_equal(rc, APNS_ECONFIG);
    assert_null(c);
    if (e.errors != 6)
        print_errs(&e);
    assert_int_equal(e.errors, 6);
    assert_int_equal(e.n, 6);
    /* sorted by line */
    assert_int_equal(e.diag[0].line, 2);
    assert_int_equal(e.diag[1].line, 3);
    assert_int_equal(e.diag[2].line, 5);
    assert_true(strstr(e.diag[2].text, "[queue] synk: unknown key (did you mean sync?)") != NULL);
    assert_int_equal(e.diag[3].line, 6);
    assert_int_equal(e.diag[4].line, 6);
    assert_int_equal(e.diag[5].line, 9);

    /* More errors than kept: all counted, the first kept, the print says so. */
    char *big = malloc(100 * 32 + 256);
    size_t o = (size_t)sprintf(big, "[server]\n");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(big + o, "bogus_%d = 1\n", i);
    strcpy(big + o, TOKEN_APP("a"));
    rc = load(big, &c, &e);
    free(big);
    assert_int_equal(rc, APNS_ECONFIG);
    assert_int_equal(e.errors, 100);
    assert_int_equal(e.n, GW_CONFIG_DIAG_MAX);
    assert_true(strstr(e.diag[0].text, "apnsd.ini:2: [server] bogus_0: unknown key") != NULL);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    gw_config_errors_print(&e, f);
    fclose(f);
    assert_non_null(strstr(out, "... and 52 more not shown (100 errors, 0 warnings in all)"));
    free(out);
}

/* ---------------------------------------------------------------------- */
/* environment overrides                                                  */

static void test_env_override(void **state)
{
    (void)state;
    char qpath[128], dbvar[160];
    snprintf(qpath, sizeof qpath, "%s/env.db", D);
    snprintf(dbvar, sizeof dbvar, "APNSD_QUEUE_PATH=%s", qpath);
    char *env[] = {"APNSD_SERVER_LISTEN=0.0.0.0:9090,[::]:9090",
                   dbvar,
                   "APNSD_LOG_LEVEL=warn",
                   "APNSD_SERVER_MAX_TOKENS=", /* empty: back to the default */
                   "APNSD_APP_MY_SHOP_KEY_ID=XYZ987WVUT",
                   "APNSD_APP_MY_SHOP_API_KEYS=" K2 "," K3, /* replaces, not appends */
                   "APNSD_APP_MY_SHOP_WEBHOOK_URL=",        /* clears the file's */
                   "APNSD_APP_MY_SHOP_B_TOPIC=com.example.b",
                   "APNSD_CONFIG=/etc/apnsd.ini", /* not a section: ignored */
                   "PATH=/usr/bin",
                   NULL};
    gw_config *c = load_ok("[server]\nlisten = 127.0.0.1:1\nmax_tokens = 7\n"
                           "[app my-shop]\ntopic = com.a\nenvironment = sandbox\n"
                           "key_file = @D@/AuthKey.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                           "api_keys = " K1 "\nwebhook_url = https://h.example/x\n"
                           "[app my-shop-b]\ntopic = com.b.old\nenvironment = sandbox\n"
                           "key_file = @D@/AuthKey.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                           "api_keys = " K1 "\n",
                           env);
    assert_int_equal(SRV(c)->listen.n, 2);
    assert_string_equal(SRV(c)->listen_addrs[0].host, "0.0.0.0");
    assert_int_equal(SRV(c)->listen_addrs[0].port, 9090);
    assert_string_equal(SRV(c)->listen_addrs[1].host, "::");
    assert_int_equal(SRV(c)->max_tokens, 1000000);
    assert_string_equal(QUE(c)->path, qpath);
    assert_int_equal(LOGC(c)->level, APNS_LOG_WARN);
    const gw_config_app *a = gw_config_find_app(c, "my-shop");
    assert_string_equal(a->env_name, "MY_SHOP");
    assert_string_equal(DSP(a)->key_id, "XYZ987WVUT");
    assert_int_equal(API(a)->api_keys.n, 2);
    assert_string_equal(API(a)->api_keys.v[0], K2);
    assert_null(WHK(a)->webhook_url);
    const gw_config_app *b = gw_config_find_app(c, "my-shop-b");
    assert_string_equal(DSP(b)->topic, "com.example.b");
    /* shop's key id changed: two identities now */
    assert_int_equal(TEAMS(c)->n, 2);

    char *d = dump_of(c);
    assert_non_null(strstr(d, "listen = 0.0.0.0:9090, [::]:9090 ; env APNSD_SERVER_LISTEN"));
    assert_non_null(strstr(d, "key_id = XYZ987WVUT ; env APNSD_APP_MY_SHOP_KEY_ID"));
    assert_non_null(strstr(d, "max_tokens = 1000000 ; default (APNSD_SERVER_MAX_TOKENS is empty)"));
    assert_non_null(strstr(d, "topic = com.a ; line 5"));
    free(d);
    gw_config_free(c);

    /* Errors from the environment name the variable. */
    char *bad[] = {"APNSD_SERVER_MAX_BODY=huge",
                   "APNSD_SERVER_LISTN=1.2.3.4:5",
                   "APNSD_APP_NOPE_TOPIC=com.x",
                   "APNSD_APP_A_KEY_ID=abc",
                   "APNSD_QUEUE_SERVERS=redis://x",
                   "APNSD_APP_A_API_KEYS=short",
                   NULL};
    gw_config_errors e;
    assert_int_equal(load_env(TOKEN_APP("a"), bad, &c, &e), APNS_ECONFIG);
    if (e.errors != 6)
        print_errs(&e);
    assert_int_equal(e.errors, 6);
    assert_true(has_diag(&e, "env APNSD_SERVER_MAX_BODY: [server] max_body: must be a size"));
    assert_true(has_diag(&e, "env APNSD_SERVER_LISTN: [server] listn: unknown key (did you mean "
                             "listen?)"));
    assert_true(has_diag(&e, "env APNSD_APP_NOPE_TOPIC: names no app: declare it in APNSD_APPS or "
                             "with [app NAME] in the file (the apps' names here: A)"));
    assert_true(has_diag(&e, "env APNSD_APP_A_KEY_ID: [app a] key_id: must be 10 characters "
                             "[A-Z0-9], got \"abc\""));
    assert_true(has_diag(&e, "env APNSD_QUEUE_SERVERS: [queue] servers: must be a nats://"));
    assert_true(has_diag(&e, "env APNSD_APP_A_API_KEYS: [app a] api_keys: every key must be"));
    for (unsigned i = 0; i < e.n; i++)
        assert_int_equal(e.diag[i].line, 0);

    /* A cross-field error on an env-set key names the variable too. */
    char *binenv[] = {"APNSD_APP_A_TRANSPORT=binary", NULL};
    assert_int_equal(load_env(TOKEN_APP("a"), binenv, &c, &e), APNS_ECONFIG);
    assert_true(has_diag(&e, "env APNSD_APP_A_TRANSPORT: [app a] transport: binary needs auth"));

    /* password_env reads the given environment. */
    char *pwenv[] = {"SHOP_P12_PASSWORD=from-the-env", NULL};
    c = load_ok("[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
                "p12_file = @D@/client.p12\npassword_env = SHOP_P12_PASSWORD\napi_keys = " K1 "\n",
                pwenv);
    assert_string_equal(DSP(&c->apps[0])->p12_password, "from-the-env");
    gw_config_free(c);
}

/* APNSD_APPS declares apps: with no file at all, merged with the file's,
 * checked by the same rules, and every mistake named by its variable. */
static void test_env_apps(void **state)
{
    (void)state;
    char kf[160], kf2[160];
    snprintf(kf, sizeof kf, "APNSD_APP_SHOP_KEY_FILE=%s/AuthKey.p8", D);
    snprintf(kf2, sizeof kf2, "APNSD_APP_WATCH_KEY_FILE=%s/AuthKey.p8", D);
    /* No file: two apps, every key from the environment. */
    char *env[] = {"APNSD_APPS= shop , watch",
                   "APNSD_APP_SHOP_TOPIC=com.example.shop",
                   "APNSD_APP_SHOP_ENVIRONMENT=sandbox",
                   kf,
                   "APNSD_APP_SHOP_KEY_ID=ABC123DEFG",
                   "APNSD_APP_SHOP_TEAM_ID=DEF123GHIJ",
                   "APNSD_APP_SHOP_API_KEYS=" K1,
                   "APNSD_APP_SHOP_WEBHOOK_URL=https://h.example/x",
                   "APNSD_APP_SHOP_WEBHOOK_SECRET=whsec-ENV-SECRET-0123456789",
                   "APNSD_APP_WATCH_TOPIC=com.example.watch",
                   "APNSD_APP_WATCH_ENVIRONMENT=production",
                   kf2,
                   "APNSD_APP_WATCH_KEY_ID=XYZ987WVUT",
                   "APNSD_APP_WATCH_TEAM_ID=DEF123GHIJ",
                   "APNSD_APP_WATCH_API_KEYS=" K2,
                   "APNSD_SERVER_LISTEN=127.0.0.1:9999",
                   NULL};
    gw_config *c = load_ok("", env);
    assert_int_equal(c->n_apps, 2);
    assert_string_equal(c->apps[0].name, "shop");
    assert_string_equal(c->apps[1].name, "watch");
    assert_int_equal(c->apps[0].line, 0);
    assert_string_equal(DSP(&c->apps[0])->topic, "com.example.shop");
    assert_string_equal(DSP(&c->apps[1])->key_id, "XYZ987WVUT");
    assert_string_equal(API(&c->apps[1])->api_keys.v[0], K2);
    assert_int_equal(SRV(c)->listen_addrs[0].port, 9999);
    /* Defaults apply as in a file's app. */
    assert_int_equal(DSP(&c->apps[0])->connections, DSP(&c->apps[1])->connections);
    char *d = dump_of(c);
    assert_non_null(strstr(d, "[app shop] ; declared by APNSD_APPS\n"));
    assert_non_null(strstr(d, "topic = com.example.shop ; env APNSD_APP_SHOP_TOPIC"));
    assert_non_null(strstr(d, "api_keys = ******** ; env APNSD_APP_SHOP_API_KEYS"));
    assert_non_null(strstr(d, "webhook_secret = ******** ; env APNSD_APP_SHOP_WEBHOOK_SECRET"));
    assert_null(strstr(d, K1));
    assert_null(strstr(d, K2));
    assert_null(strstr(d, "whsec-ENV-SECRET"));
    free(d);
    gw_config_free(c);

    /* A name the file has merges: the file's app, the environment's keys
     * over it; a new name is added after the file's apps. */
    char *merge[] = {"APNSD_APPS=watch,shop",
                     "APNSD_APP_SHOP_KEY_ID=XYZ987WVUT",
                     "APNSD_APP_WATCH_TOPIC=com.example.watch",
                     "APNSD_APP_WATCH_ENVIRONMENT=sandbox",
                     kf2,
                     "APNSD_APP_WATCH_KEY_ID=ABC123DEFG",
                     "APNSD_APP_WATCH_TEAM_ID=DEF123GHIJ",
                     "APNSD_APP_WATCH_API_KEYS=" K2,
                     NULL};
    c = load_ok(TOKEN_APP("shop"), merge);
    assert_int_equal(c->n_apps, 2);
    assert_string_equal(c->apps[0].name, "shop");
    assert_int_equal(c->apps[0].line, 1);
    assert_string_equal(DSP(&c->apps[0])->topic, "com.example.app");
    assert_string_equal(DSP(&c->apps[0])->key_id, "XYZ987WVUT");
    assert_string_equal(c->apps[1].name, "watch");
    assert_int_equal(c->apps[1].line, 0);
    gw_config_free(c);

    /* The same rules as a file's app: missing keys name the variable to set,
     * bad values the variable that holds them. */
    gw_config_errors e;
    char *incomplete[] = {"APNSD_APPS=shop",
                          "APNSD_APP_SHOP_TOPIC=com.a",
                          "APNSD_APP_SHOP_ENVIRONMENT=sandbox",
                          kf,
                          "APNSD_APP_SHOP_KEY_ID=abc",
                          "APNSD_APP_SHOP_API_KEYS=" K1,
                          NULL};
    assert_int_equal(load_env("", incomplete, &c, &e), APNS_ECONFIG);
    assert_null(c);
    if (e.errors != 2)
        print_errs(&e);
    assert_int_equal(e.errors, 2);
    assert_true(has_diag(&e, "env APNSD_APP_SHOP_KEY_ID: [app shop] key_id: must be 10 characters "
                             "[A-Z0-9], got \"abc\""));
    assert_true(has_diag(&e, "env APNSD_APPS: [app shop] team_id: required"));
    assert_true(has_diag(&e, "(set APNSD_APP_SHOP_TEAM_ID)"));
    /* ... the same error for the same app in a file. */
    assert_int_equal(load_env("[app shop]\ntopic = com.a\nenvironment = sandbox\n"
                              "key_file = @D@/AuthKey.p8\nkey_id = abc\napi_keys = " K1 "\n",
                              NOENV, &c, &e),
                     APNS_ECONFIG);
    assert_int_equal(e.errors, 2);
    assert_true(has_diag(&e, "apnsd.ini:1: [app shop] team_id: required"));

    /* Each mistake in APNSD_APPS, named by the variable. */
    static const struct {
        const char *apps, *want;
    } bad[] = {
        {"APNSD_APPS=shop,,watch",
         "env APNSD_APPS: entry 2 is empty: list app names separated by commas"},
        {"APNSD_APPS=shop,", "env APNSD_APPS: entry 2 is empty"},
        {"APNSD_APPS=sh op", "env APNSD_APPS: entry 1, \"sh op\": app names must be 1..64 "
                             "characters of A-Z a-z 0-9 . _ -"},
        {"APNSD_APPS=shop,x/y", "env APNSD_APPS: entry 2, \"x/y\": app names must be"},
        {"APNSD_APPS=shop,watch,shop", "env APNSD_APPS: shop is listed twice"},
        {"APNSD_APPS=my.shop,my_shop",
         "env APNSD_APPS: [app my_shop]: its environment name MY_SHOP is that of [app my.shop] "
         "(APNSD_APPS): rename one"},
        {"APNSD_APPS=Shop", "env APNSD_APPS: [app Shop]: its environment name SHOP is that of "
                            "[app shop] (line 1): rename one"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *be[] = {(char *)bad[i].apps, NULL};
        assert_int_equal(load_env(TOKEN_APP("shop"), be, &c, &e), APNS_ECONFIG);
        if (!has_diag(&e, bad[i].want)) {
            print_errs(&e);
            fail_msg("%s: no \"%s\"", bad[i].apps, bad[i].want);
        }
    }
    char long_name[128] = "APNSD_APPS=";
    memset(long_name + strlen(long_name), 'a', 65);
    char *le[] = {long_name, NULL};
    assert_int_equal(load_env(TOKEN_APP("shop"), le, &c, &e), APNS_ECONFIG);
    assert_true(has_diag(&e, "env APNSD_APPS: entry 1, \"aaaa"));

    /* A variable for an app declared nowhere. */
    char *nowhere[] = {"APNSD_APPS=shop", "APNSD_APP_WATCH_TOPIC=com.b", NULL};
    assert_int_equal(load_env("", nowhere, &c, &e), APNS_ECONFIG);
    assert_true(has_diag(&e, "env APNSD_APP_WATCH_TOPIC: names no app: declare it in APNSD_APPS "
                             "or with [app NAME] in the file (the apps' names here: SHOP)"));

    /* Empty: declares nothing, and no file: no app at all. */
    char *empty[] = {"APNSD_APPS=", NULL};
    assert_int_equal(load_env("", empty, &c, &e), APNS_ECONFIG);
    assert_true(has_diag(&e, "no app: define at least one with [app NAME] in the file or "
                             "APNSD_APPS=NAME in the environment"));
}

/* ---------------------------------------------------------------------- */
/* reload                                                                 */

static const gw_app_diff *find_diff(const gw_config_diff *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->apps[i].name, name) == 0)
            return &d->apps[i];
    return NULL;
}

#define DIFF_BASE                                                                                  \
    "[server]\nlisten = 127.0.0.1:8080\n[log]\nlevel = info\n" TOKEN_APP("same") TOKEN_APP("live") \
        TOKEN_APP("conn") TOKEN_APP("gone") TOKEN_APP("keyfile")

static void test_diff(void **state)
{
    (void)state;
    char keyfile[128];
    snprintf(keyfile, sizeof keyfile, "%s/AuthKey.p8", D);
    gw_config *old = load_ok(DIFF_BASE, NOENV);

    /* Same text: nothing changes. */
    gw_config *same = load_ok(DIFF_BASE, NOENV);
    gw_config_diff d;
    assert_int_equal(gw_config_diff_new(old, same, &d), 0);
    assert_int_equal(d.n, 5);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.apps[i].change, GW_CHANGE_SAME);
    assert_null(d.restart_key);
    assert_int_equal(d.log_changed, 0);
    gw_config_diff_free(&d);
    gw_config_free(same);

    /* The key file's contents change (same path): its apps get new connections. Make sure
     * the mtime differs even on coarse clocks. */
    struct timeval tv[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    write_file("AuthKey.p8", "-----BEGIN PRIVATE KEY-----\nrotated key\n", 0600);
    utimes(keyfile, tv);

    char *env[] = {"APNSD_APP_LIVE_RATE_LIMIT=100", "APNSD_APP_CONN_CONNECTIONS=8",
                   "APNSD_SERVER_LISTEN=127.0.0.1:9", "APNSD_LOG_LEVEL=debug", NULL};
    gw_config *n =
        load_ok("[server]\nlisten = 127.0.0.1:8080\n[log]\nlevel = info\n" TOKEN_APP("same")
                    TOKEN_APP("live") TOKEN_APP("conn") TOKEN_APP("keyfile") TOKEN_APP("new"),
                env);
    assert_int_equal(gw_config_diff_new(old, n, &d), 0);
    assert_int_equal(d.n, 6);
    /* Every app of the old config had the old key file. */
    const gw_app_diff *x = find_diff(&d, "same");
    assert_int_equal(x->change, GW_CHANGE_REPLACED);
    assert_string_equal(x->key, "key_file");
    x = find_diff(&d, "new");
    assert_int_equal(x->change, GW_CHANGE_ADDED);
    assert_null(x->old_app);
    assert_ptr_equal(x->new_app, gw_config_find_app(n, "new"));
    x = find_diff(&d, "gone");
    assert_int_equal(x->change, GW_CHANGE_REMOVED);
    assert_null(x->new_app);
    assert_ptr_equal(d.apps[d.n - 1].old_app, gw_config_find_app(old, "gone"));
    assert_string_equal(d.restart_section, "server");
    assert_string_equal(d.restart_key, "listen");
    assert_int_equal(d.log_changed, 1);
    gw_config_diff_free(&d);

    /* Same key file from now on: live vs connection changes are told apart. */
    gw_config *base2 =
        load_ok("[server]\nlisten = 127.0.0.1:8080\n[log]\nlevel = info\n" TOKEN_APP("same")
                    TOKEN_APP("live") TOKEN_APP("conn") TOKEN_APP("keyfile") TOKEN_APP("new"),
                NOENV);
    assert_int_equal(gw_config_diff_new(base2, n, &d), 0);
    assert_int_equal(find_diff(&d, "same")->change, GW_CHANGE_SAME);
    assert_null(find_diff(&d, "same")->key);
    assert_int_equal(find_diff(&d, "live")->change, GW_CHANGE_UPDATED);
    assert_string_equal(find_diff(&d, "live")->key, "rate_limit");
    assert_int_equal(find_diff(&d, "conn")->change, GW_CHANGE_REPLACED);
    assert_string_equal(find_diff(&d, "conn")->key, "connections");
    gw_config_diff_free(&d);

    assert_string_equal(gw_app_change_name(GW_CHANGE_SAME), "same");
    assert_string_equal(gw_app_change_name(GW_CHANGE_REPLACED), "replaced");
    assert_string_equal(gw_app_change_name((gw_app_change)99), "?");
    assert_int_equal(gw_config_diff_new(NULL, n, &d), APNS_EINVAL);
    assert_int_equal(gw_config_diff_new(old, n, NULL), APNS_EINVAL);
    gw_config_diff_free(NULL);

    gw_config_free(base2);
    gw_config_free(old);
    gw_config_free(n);
}

/* Live keys (api keys, including the contents of api_keys_file) update in place. */
static void test_diff_live_keys(void **state)
{
    (void)state;
    const char *text = TOKEN_APP("a") "api_keys_file = @D@/live-keys.txt\n";
    write_file("live-keys.txt", K2 "\n", 0600);
    gw_config *old = load_ok(text, NOENV);
    write_file("live-keys.txt", K3 "\n", 0600);
    gw_config *n = load_ok(text, NOENV);
    gw_config_diff d;
    assert_int_equal(gw_config_diff_new(old, n, &d), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.apps[0].change, GW_CHANGE_UPDATED);
    assert_string_equal(d.apps[0].key, "api_keys_file");
    gw_config_diff_free(&d);
    gw_config_free(old);
    gw_config_free(n);
}

/* ---------------------------------------------------------------------- */
/* team identities                                                        */

/* backend = jetstream: the fleet's keys reach the config; SQLite-only keys
 * and, with sqlite, JetStream-only keys are warned about, not fatal. */
static void test_jetstream_queue(void **state)
{
    gw_config *c = NULL;
    gw_config_errors e;
    (void)state;

    c = load_ok("[queue]\nbackend = jetstream\nservers = nats://10.0.0.1:4222, "
                "tls://10.0.0.2:4222\nprefix = fleet1\nreplicas = 1\nack_wait = 3s\n"
                "lease_ttl = 10s\nmax_deliveries = 5\nop_timeout = 2s\n" TOKEN_APP("a"),
                NOENV);
    assert_int_equal(QUE(c)->backend, GW_QUEUE_BACKEND_JETSTREAM);
    assert_int_equal(QUE(c)->servers.n, 2);
    assert_string_equal(QUE(c)->servers.v[0], "nats://10.0.0.1:4222");
    assert_string_equal(QUE(c)->servers.v[1], "tls://10.0.0.2:4222");
    assert_string_equal(QUE(c)->prefix, "fleet1");
    assert_int_equal(QUE(c)->replicas, 1);
    assert_int_equal(QUE(c)->ack_wait_ms, 3000);
    assert_int_equal(QUE(c)->lease_ttl_ms, 10000);
    assert_int_equal(QUE(c)->max_deliveries, 5);
    assert_int_equal(QUE(c)->op_timeout_ms, 2000);
    gw_config_free(c);

    /* A SQLite key with jetstream: a warning naming it. */
    c = NULL;
    assert_int_equal(load("[queue]\nbackend = jetstream\nservers = nats://a:4222\nreplicas = "
                          "1\npath = /tmp/x.db\n" TOKEN_APP("a"),
                          &c, &e),
                     0);
    assert_int_equal(e.errors, 0);
    assert_true(has_diag(&e, "apnsd.ini:5: warning: [queue] path: ignored with backend = "
                             "jetstream (a SQLite setting)"));
    gw_config_free(c);

    /* Three replicas, one URL: a warning (the others may come by gossip). */
    c = NULL;
    assert_int_equal(
        load("[queue]\nbackend = jetstream\nservers = nats://a:4222\n" TOKEN_APP("a"), &c, &e), 0);
    assert_true(has_diag(&e, "[queue] replicas: 3 replicas but only 1 server URL(s) listed"));
    gw_config_free(c);

    /* A JetStream key with sqlite: a warning. */
    c = NULL;
    assert_int_equal(load("[queue]\npath = @D@/q.db\nack_wait = 3s\n" TOKEN_APP("a"), &c, &e), 0);
    assert_int_equal(e.errors, 0);
    assert_true(has_diag(&e, "apnsd.ini:3: warning: [queue] ack_wait: ignored: only backend = "
                             "jetstream uses it"));
    gw_config_free(c);
}

static void test_teams(void **state)
{
    (void)state;
    gw_config *c = load_ok(
        TOKEN_APP("a") TOKEN_APP(
            "b") "[app c]\ntopic = com.c\nenvironment = production\nkey_file = @D@/AuthKey.p8\n"
                 "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = " K1 "\n"
                 "[app d]\ntopic = com.d\nenvironment = production\nport = 2197\nkey_file = "
                 "@D@/AuthKey2.p8\nkey_id = XYZ987WVUT\nteam_id = TEAM000002\napi_keys = " K1 "\n"
                 "[app e]\ntopic = com.e\nenvironment = sandbox\nauth = certificate\n"
                 "cert_file = @D@/cert.pem\nkey_file = @D@/client.key\napi_keys = " K1 "\n",
        NOENV);
    assert_int_equal(TEAMS(c)->n, 3);
    assert_string_equal(TEAMS(c)->v[0].id, "DEF123GHIJ/ABC123DEFG@sandbox");
    assert_int_equal(TEAMS(c)->v[0].n_apps, 2);
    assert_string_equal(TEAMS(c)->v[1].id, "DEF123GHIJ/ABC123DEFG@production");
    assert_int_equal(TEAMS(c)->v[1].same_key_as, 0); /* one key: may share one token cache */
    assert_int_equal(TEAMS(c)->v[1].environment, APNS_ENV_PRODUCTION);
    assert_string_equal(TEAMS(c)->v[2].id, "TEAM000002/XYZ987WVUT@production:2197");
    assert_int_equal(TEAMS(c)->v[2].same_key_as, 2);
    assert_int_equal(TEAMS(c)->v[2].port, 2197);
    assert_null(TEAMS(c)->v[2].host);
    assert_string_equal(TEAMS(c)->v[0].key_file, DSP(&c->apps[0])->key_file);
    assert_int_equal(TEAMS(c)->v[0].token_refresh_ms, 50 * 60000);
    assert_int_equal(DSP(&c->apps[0])->team, 0);
    assert_int_equal(DSP(&c->apps[1])->team, 0);
    assert_int_equal(DSP(&c->apps[2])->team, 1);
    assert_int_equal(DSP(&c->apps[3])->team, 2);
    assert_int_equal(DSP(&c->apps[4])->team, -1);
    gw_config_free(c);

    /* An IPv6 custom host is bracketed in the identity. */
    c = load_ok("[app a]\ntopic = com.a\nenvironment = custom\nhost = ::1\nport = 8443\n"
                "key_file = @D@/AuthKey.p8\nkey_id = ABC123DEFG\nteam_id = DEF123GHIJ\n"
                "api_keys = " K1 "\n",
                NOENV);
    assert_string_equal(TEAMS(c)->v[0].id, "DEF123GHIJ/ABC123DEFG@custom:[::1]:8443");
    assert_string_equal(TEAMS(c)->v[0].host, "::1");
    gw_config_free(c);

    /* Apps of one identity may differ in CA file and proxy: each app has its
     * own apns_client; they share only the signing key and its tokens. */
    c = load_ok(TOKEN_APP("a") "ca_file = @D@/ca.pem\n" TOKEN_APP(
                    "b") "ca_file = @D@/ca2.pem\nproxy = proxy.local:3128\n",
                NOENV);
    assert_int_equal(TEAMS(c)->n, 1);
    assert_int_equal(TEAMS(c)->v[0].n_apps, 2);
    assert_string_not_equal(DSP(&c->apps[0])->ca_file, DSP(&c->apps[1])->ca_file);
    assert_null(DSP(&c->apps[0])->proxy);
    assert_string_equal(DSP(&c->apps[1])->proxy, "proxy.local:3128");
    gw_config_free(c);
}

/* A binary app takes the app's proxy: its gateway connections and its
 * feedback fetches go through it (one route to Apple's legacy services). */
static void test_binary_proxy(void **state)
{
    (void)state;
    static const char text[] =
        "[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
        "transport = binary\ncert_file = @D@/cert.pem\nproxy = p.local:3128\napi_keys = " K1 "\n";
    refused_without_legacy(text);
    gw_config *c = load_ok(text, NOENV);
    assert_int_equal(DSP(&c->apps[0])->transport, GW_DISPATCH_TRANSPORT_BINARY);
    assert_string_equal(DSP(&c->apps[0])->proxy, "p.local:3128");
    assert_int_equal(FBK(&c->apps[0])->feedback_port, 2196);
    gw_config_free(c);
}

/* ---------------------------------------------------------------------- */
/* schemas                                                                */

/* A program composes the parts it has: sections and keys come from them. */
static void test_schema(void **state)
{
    (void)state;
    static const gw_config_part *const apps_only[] = {
        &gw_dispatch_app_part, &gw_api_app_part, &gw_webhook_app_part, &gw_dispatch_feedback_part};
    static const gw_config_schema small = {apps_only, 4};
    gw_config_errors e;
    gw_config *c = NULL;
    char *t = expand(TOKEN_APP("a"));

    assert_int_equal(gw_config_load_buffer(&small, t, strlen(t), "x.ini", NOENV, &c, &e), 0);
    assert_null(gw_queue_config_of(c)); /* not in this schema */
    assert_non_null(gw_dispatch_app_config_of(&c->apps[0]));
    gw_config_free(c);
    free(t);
    t = expand("[queue]\n" TOKEN_APP("a"));
    assert_int_equal(gw_config_load_buffer(&small, t, strlen(t), "x.ini", NOENV, &c, &e),
                     APNS_ECONFIG);
    assert_true(has_diag(&e, "x.ini:1: unknown section \"queue\" (sections: [app NAME])"));
    free(t);

    /* Two parts declaring one key of a section, or two named sections: refused. */
    static const gw_config_part *const twice[] = {&gw_queue_part, &gw_queue_part};
    static const gw_config_schema bad = {twice, 2};
    assert_int_equal(gw_config_load_buffer(&bad, "", 0, "x.ini", NOENV, &c, &e), APNS_EINVAL);
    assert_null(c);
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(gw_config_write_reference(&bad, f), APNS_EINVAL);
    fclose(f);
    static const gw_config_section other_named = {"group", GW_CONFIG_S_NAMED, "Groups."};
    static const gw_config_part group = {.section = &other_named};
    static const gw_config_part *const two_named[] = {&gw_dispatch_app_part, &group};
    static const gw_config_schema bad2 = {two_named, 2};
    assert_int_equal(gw_config_load_buffer(&bad2, "", 0, "x.ini", NOENV, &c, &e), APNS_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* secrets                                                                */

static void test_secrets_masked(void **state)
{
    (void)state;
    static const char *secrets[] = {K1, K2, "whsec-SECRET-0123456789", "P12-INLINE-SECRET",
                                    "s3cret-from-file"};
    gw_config_errors e;
    gw_config *c;
    int rc = load("[app shop]\ntopic = com.a\nenvironment = sandbox\nauth = certificate\n"
                  "p12_file = @D@/client.p12\npassword = P12-INLINE-SECRET\n"
                  "api_keys = " K1 ", " K2 "\n"
                  "webhook_url = https://h.example/x\nwebhook_secret = whsec-SECRET-0123456789\n"
                  "[app other]\ntopic = com.b\nenvironment = sandbox\nauth = certificate\n"
                  "p12_file = @D@/client.p12\npassword_file = @D@/pw.txt\napi_keys = " K1 "\n",
                  &c, &e);
    assert_int_equal(rc, 0);
    /* An inline password is allowed, with a warning that names no secret. */
    assert_int_equal(e.warnings, 1);
    assert_true(has_diag(&e, "apnsd.ini:6: warning: [app shop] password: written in the file"));
    assert_string_equal(DSP(&c->apps[0])->p12_password, "P12-INLINE-SECRET");
    assert_string_equal(DSP(&c->apps[1])->p12_password, "s3cret-from-file");
    char *d = dump_of(c);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(d, secrets[i]))
            fail_msg("dump shows secret %s:\n%s", secrets[i], d);
    assert_non_null(strstr(d, "api_keys = ******** ; line 7"));
    assert_non_null(strstr(d, "password = ******** ; line 6"));
    assert_non_null(strstr(d, "webhook_secret = ********"));
    assert_non_null(strstr(d, "; PKCS#12 password: set"));
    free(d);
    for (unsigned i = 0; i < e.n; i++)
        for (size_t j = 0; j < sizeof secrets / sizeof secrets[0]; j++)
            assert_null(strstr(e.diag[i].text, secrets[j]));
    gw_config_free(c);

    /* Refused secrets are not echoed either. */
    char *env[] = {"APNSD_APP_SHOP_WEBHOOK_SECRET=SHORTSECRET", NULL};
    rc = load_env("[app shop]\ntopic = com.a\nenvironment = sandbox\nkey_file = @D@/AuthKey.p8\n"
                  "key_id = ABC123DEFG\nteam_id = DEF123GHIJ\napi_keys = TINYKEY1, " K1 "\n"
                  "webhook_url = https://h.example/x\npassword = PW-IN-WRONG-PLACE\n",
                  env, &c, &e);
    assert_int_equal(rc, APNS_ECONFIG);
    assert_true(has_diag(&e, "[app shop] api_keys: every key must be 16..256"));
    assert_true(has_diag(&e, "env APNSD_APP_SHOP_WEBHOOK_SECRET: [app shop] webhook_secret: "
                             "must be 16..1024 printable characters (this one has 11)"));
    assert_true(has_diag(&e, "[app shop] password: only used with auth = certificate"));
    for (unsigned i = 0; i < e.n; i++) {
        assert_null(strstr(e.diag[i].text, "TINYKEY1"));
        assert_null(strstr(e.diag[i].text, "SHORTSECRET"));
        assert_null(strstr(e.diag[i].text, "PW-IN-WRONG-PLACE"));
        assert_null(strstr(e.diag[i].text, K1));
    }
}

/* ---------------------------------------------------------------------- */
/* files on disk                                                          */

static void test_load_file(void **state)
{
    (void)state;
    char path[128], text[1024];
    gw_config *c;
    gw_config_errors e;

    snprintf(path, sizeof path, "%s/apnsd.ini", D);
    char *t = expand(TOKEN_APP("a"));
    write_file("apnsd.ini", t, 0600);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), 0);
    assert_int_equal(e.warnings, 0);
    assert_string_equal(c->source, path);
    gw_config_free(c);

    /* World-readable with secrets in it: refused (the default), naming the
     * file, its mode and the key that allows it. */
    chmod(path, 0644);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), APNS_ECONFIG);
    assert_int_equal(e.errors, 1);
    snprintf(text, sizeof text,
             "%s: readable by every user (mode 0644) and holds secrets: chmod 600 it (640 for a "
             "group), or move the secrets to the environment or to files, or set [server] "
             "insecure_secrets = warn to allow it",
             path);
    assert_true(has_diag(&e, text));
    free(t);

    /* With insecure_secrets = warn: a warning naming the file. */
    t = expand("[server]\ninsecure_secrets = warn\n" TOKEN_APP("a"));
    write_file("apnsd.ini", t, 0644);
    chmod(path, 0644);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), 0);
    assert_int_equal(e.warnings, 1);
    snprintf(text, sizeof text, "%s: warning: readable by every user (mode 0644)", path);
    assert_true(has_diag(&e, text));
    gw_config_free(c);
    free(t);

    /* Errors name the path as given. */
    write_file("bad.ini", "[server]\nmax_body = big\n", 0600);
    snprintf(path, sizeof path, "%s/bad.ini", D);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), APNS_ECONFIG);
    snprintf(text, sizeof text, "%s:2: [server] max_body: must be a size", path);
    assert_true(has_diag(&e, text));

    snprintf(path, sizeof path, "%s/missing.ini", D);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), APNS_EIO);
    assert_null(c);
    snprintf(text, sizeof text, "%s: cannot read \"%s\": No such file or directory", path, path);
    assert_true(has_diag(&e, text));

    snprintf(path, sizeof path, "%s/adir", D);
    assert_int_equal(gw_config_load_file(&gw_apnsd_schema, path, &c, &e), APNS_EIO);
    assert_true(has_diag(&e, "is not a regular file"));

    /* load_string uses the process environment. */
    setenv("APNSD_APP_A_RATE_LIMIT", "77", 1);
    t = expand(TOKEN_APP("a"));
    assert_int_equal(gw_config_load_string(&gw_apnsd_schema, t, NULL, &c, &e), 0);
    assert_int_equal(DSP(&c->apps[0])->rate_limit, 77);
    assert_string_equal(c->source, "<string>");
    gw_config_free(c);
    unsetenv("APNSD_APP_A_RATE_LIMIT");
    free(t);

    /* An unreadable key file (only meaningful when not running as root). */
    if (geteuid() != 0) {
        write_file("locked.p8", "x", 0000);
        assert_int_equal(load("[app shop]\ntopic = com.a\nenvironment = sandbox\n"
                              "key_file = @D@/locked.p8\nkey_id = ABC123DEFG\n"
                              "team_id = DEF123GHIJ\napi_keys = " K1 "\n",
                              &c, &e),
                         APNS_ECONFIG);
        assert_true(has_diag(&e, "key_file: cannot read"));
        assert_true(has_diag(&e, "Permission denied"));
    }
}

/* ---------------------------------------------------------------------- */
/* docs/configuration.md and the key tables                               */

#define DOC_BEGIN "<!-- BEGIN CONFIG REFERENCE"
#define DOC_END   "<!-- END CONFIG REFERENCE -->"

static char *docs_path(void)
{
    /* tests/daemon/config/test_config.c -> docs/configuration.md */
    static char path[4096];
    const char *env = getenv("GW_CONFIG_DOCS");
    if (env)
        return strcpy(path, env);
    snprintf(path, sizeof path, "%s", __FILE__);
    char *p = strstr(path, "tests/daemon/config/test_config.c");
    if (p == NULL)
        return NULL;
    strcpy(p, "docs/configuration.md");
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_docs_match_tables(void **state)
{
    (void)state;
    const char *path = docs_path();
    char *doc, *gen = NULL;
    size_t gen_len = 0;

    if (path == NULL)
        skip();
    doc = slurp(path);
    if (doc == NULL)
        fail_msg("cannot read %s", path);
    FILE *f = open_memstream(&gen, &gen_len);
    assert_int_equal(gw_config_write_reference(&gw_apnsd_schema, f), 0);
    fclose(f);

    char *b = strstr(doc, DOC_BEGIN), *e = strstr(doc, DOC_END);
    if (b == NULL || e == NULL || e < b)
        fail_msg("%s: no \"" DOC_BEGIN "\" ... \"" DOC_END "\" block", path);
    char *body = strchr(b, '\n');
    assert_non_null(body);
    body++;

    if (getenv("GW_CONFIG_UPDATE_DOCS")) {
        FILE *w = fopen(path, "wb");
        assert_non_null(w);
        fwrite(doc, 1, (size_t)(body - doc), w);
        fputs(gen, w);
        fputs(e, w);
        fclose(w);
        fprintf(stderr, "rewrote the reference in %s\n", path);
        free(doc);
        doc = slurp(path);
        b = strstr(doc, DOC_BEGIN);
        e = strstr(doc, DOC_END);
        body = strchr(b, '\n') + 1;
    }

    /* Every key of every table appears in its section's table in the docs... */
    gw__layout lay;
    assert_int_equal(gw__layout_build(&lay, &gw_apnsd_schema), 0);
    for (unsigned s = 0; s < lay.n_secs; s++) {
        const gw__sec *sec = &lay.secs[s];
        char head[64];
        snprintf(head, sizeof head, "### [%s%s]\n", sec->def->name,
                 (int)s == lay.named ? " NAME" : "");
        char *h = strstr(body, head);
        if (h == NULL || h > e)
            fail_msg("docs/configuration.md: no \"%s\" in the reference block", head);
        char *next = strstr(h + 1, "### ");
        if (next == NULL || next > e)
            next = e;
        for (size_t i = 0; i < sec->n_keys; i++) {
            char row[96];
            snprintf(row, sizeof row, "| `%s` |", sec->keys[i].k->name);
            char *r = strstr(h, row);
            if (r == NULL || r > next)
                fail_msg("docs/configuration.md: [%s] %s is not documented (run "
                         "GW_CONFIG_UPDATE_DOCS=1 d_test_config)",
                         sec->def->name, sec->keys[i].k->name);
        }
        /* ... and every documented key is in the table. */
        for (char *r = strstr(h, "\n| `"); r && r < next; r = strstr(r + 1, "\n| `")) {
            char name[96];
            size_t n = strcspn(r + 4, "`");
            assert_true(n < sizeof name);
            memcpy(name, r + 4, n);
            name[n] = '\0';
            if (gw__key_find(sec, name) < 0)
                fail_msg("docs/configuration.md documents [%s] %s, which is not a key",
                         sec->def->name, name);
        }
    }
    gw__layout_free(&lay);
    /* And the block is exactly what the tables generate (types, defaults, docs). */
    size_t blen = (size_t)(e - body);
    if (blen != gen_len || memcmp(body, gen, blen) != 0)
        fail_msg("docs/configuration.md's reference differs from the key tables: run "
                 "GW_CONFIG_UPDATE_DOCS=1 d_test_config");

    /* The prose mentions the environment rule and the complete example parses. */
    assert_non_null(strstr(doc, "APNSD_APP_<NAME>_<KEY>"));
    free(gen);
    free(doc);
}

/* The commented example in contrib/ is a valid configuration (files aside). */
static void test_example_file_parses(void **state)
{
    (void)state;
    const char *dp = docs_path();
    if (dp == NULL)
        skip();
    char path[4096];
    snprintf(path, sizeof path, "%s", dp);
    char *p = strstr(path, "docs/configuration.md");
    strcpy(p, "contrib/apnsd.example.ini");
    char *text = slurp(path);
    if (text == NULL)
        fail_msg("cannot read %s", path);
    gw_config *c;
    gw_config_errors e;
    gw_config_load_buffer(&gw_apnsd_schema, text, strlen(text), "apnsd.example.ini", NOENV, &c, &e);
    /* Only errors about files that exist on a built tree (certs, queue dir) are allowed. */
    for (unsigned i = 0; i < e.n; i++)
        if (!e.diag[i].warning && !strstr(e.diag[i].text, "cannot read") &&
            !strstr(e.diag[i].text, "does not exist"))
            fail_msg("contrib/apnsd.example.ini: %s", e.diag[i].text);
    gw_config_free(c);
    free(text);

    /* So is the complete example in docs/configuration.md. */
    text = slurp(dp);
    assert_non_null(text);
    char *ex = strstr(text, "## A complete example");
    assert_non_null(ex);
    ex = strstr(ex, "```ini\n");
    assert_non_null(ex);
    ex += 7;
    char *end = strstr(ex, "```");
    assert_non_null(end);
    *end = '\0';
#if !APNS_HAVE_LEGACY
    if (strstr(ex, "transport = binary") != NULL) { /* its [app legacy] */
        free(text);
        refused_without_legacy("[app legacy]\ntopic = com.example.app\nauth = certificate\n"
                               "cert_file = /dev/null\ntransport = binary\n");
    }
#endif
    char *env[] = {"APNSD_APP_SHOP_WEBHOOK_SECRET=whsec-0123456789abcdef", NULL};
    gw_config_load_buffer(&gw_apnsd_schema, ex, strlen(ex), "example.ini", env, &c, &e);
    for (unsigned i = 0; i < e.n; i++)
        if (!e.diag[i].warning && !strstr(e.diag[i].text, "cannot read") &&
            !strstr(e.diag[i].text, "does not exist"))
            fail_msg("docs/configuration.md example: %s", e.diag[i].text);
    assert_true(e.errors > 0); /* /etc/apnsd/... is not there */
    gw_config_free(c);
    free(text);
}

/* ---------------------------------------------------------------------- */
/* provider = fcm                                                         */

#define FCM_APP(name)                                                                              \
    "[app " name "]\n"                                                                             \
    "provider = fcm\n"                                                                             \
    "service_account_file = @D@/sa.json\n"                                                         \
    "api_keys = " K1 "\n"

/* Every rule about an FCM app's keys: the message names the key. */
static const struct bad_case FCM_BAD[] = {
    {FCM_APP("a") "topic = com.a\n", "apnsd.ini:5: [app a] topic: only used with provider = apns"},
    {FCM_APP("a") "environment = production\n",
     "apnsd.ini:5: [app a] environment: only used with provider = apns"},
    {FCM_APP("a") "key_id = ABC123DEFG\n",
     "apnsd.ini:5: [app a] key_id: only used with provider = apns"},
    {FCM_APP("a") "team_id = DEF123GHIJ\n", "[app a] team_id: only used with provider = apns"},
    {FCM_APP("a") "key_file = @D@/AuthKey.p8\n",
     "[app a] key_file: only used with provider = apns"},
    {FCM_APP("a") "cert_file = @D@/cert.pem\n",
     "[app a] cert_file: only used with provider = apns"},
    {FCM_APP("a") "auth = certificate\n", "[app a] auth: only used with provider = apns"},
    {FCM_APP("a") "topics = com.a.voip\n", "[app a] topics: only used with provider = apns"},
    {FCM_APP("a") "host = 127.0.0.1\n", "[app a] host: only used with provider = apns"},
    {FCM_APP("a") "manage_port = 2196\n", "[app a] manage_port: only used with provider = apns"},
    {FCM_APP("a") "feedback_interval = 1h\n",
     "[app a] feedback_interval: only used with provider = apns"},
    {TOKEN_APP("a") "service_account_file = @D@/sa.json\n",
     "apnsd.ini:8: [app a] service_account_file: only used with provider = fcm"},
    {TOKEN_APP("a") "project_id = fcm-demo\n",
     "apnsd.ini:8: [app a] project_id: only used with provider = fcm"},
    {TOKEN_APP("a") "fcm_host = 127.0.0.1\n", "[app a] fcm_host: only used with provider = fcm"},
    {TOKEN_APP("a") "token_url = https://127.0.0.1:1/token\n",
     "[app a] token_url: only used with provider = fcm"},
    {"[app a]\nprovider = fcm\napi_keys = " K1 "\n",
     "apnsd.ini:1: [app a] service_account_file: required with provider = fcm"},
    {"[app a]\nprovider = gcm\napi_keys = " K1 "\n",
     "apnsd.ini:2: [app a] provider: must be one of apns, fcm"},
    {FCM_APP("a") "project_id = other-project\n",
     "apnsd.ini:5: [app a] project_id: \"other-project\" differs from the key file's project_id "
     "\"fcm-demo\" (@D@/sa.json)"},
    {FCM_APP("a") "project_id = bad/project\n",
     "apnsd.ini:5: [app a] project_id: must be a Firebase project id or number"},
    {"[app a]\nprovider = fcm\nservice_account_file = @D@/sa-bad.json\napi_keys = " K1 "\n",
     "apnsd.ini:3: [app a] service_account_file: "},
    {FCM_APP("a") "fcm_port = 8443\n", "apnsd.ini:5: [app a] fcm_port: only used with fcm_host"},
    {FCM_APP("a") "token_url = http://127.0.0.1:1/token\n",
     "apnsd.ini:5: [app a] token_url: must be an https:// URL"},
    {FCM_APP("a") "ca_file = @D@/ca.pem\n" FCM_APP("b") "ca_file = @D@/ca2.pem\n",
     "[app b] ca_file: differs from [app a], which fetches access tokens with the same service "
     "account"},
    /* world-readable key file under insecure_secrets = refuse, as a .p8 */
    {"[server]\ninsecure_secrets = refuse\n[app a]\nprovider = fcm\nservice_account_file = "
     "@D@/sa-open.json\napi_keys = " K1 "\n",
     "apnsd.ini:5: [app a] service_account_file: "},
};

static void test_fcm_apps(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof FCM_BAD / sizeof FCM_BAD[0]; i++) {
        gw_config *c = (gw_config *)1;
        gw_config_errors e;
        char *want = expand(FCM_BAD[i].want);
        int rc = load(FCM_BAD[i].text, &c, &e);
        if (rc != APNS_ECONFIG || c != NULL || !has_diag(&e, want)) {
            fprintf(stderr, "fcm case %zu: want %s\n--- got (rc %d):\n", i, want, rc);
            print_errs(&e);
            fail_msg("fcm case %zu", i);
        }
        free(want);
    }

    /* An iOS app and two Android apps of one service account, one of another. */
    gw_config *c = load_ok(
        TOKEN_APP("ios") FCM_APP(
            "android") "connections = 4\nrate_limit = "
                       "500\n" FCM_APP(
                           "wear") "project_id = fcm-demo\n"
                                   "[app other]\nprovider = fcm\nservice_account_file = "
                                   "@D@/sa-other.json\nfcm_host = 127.0.0.1\nfcm_port = 8443\n"
                                   "token_url = https://127.0.0.1:9443/token\napi_keys = " K1 "\n",
        NOENV);
    assert_int_equal(c->n_apps, 4);
    assert_int_equal(DSP(&c->apps[0])->provider, GW_DISPATCH_PROVIDER_APNS);
    assert_int_equal(DSP(&c->apps[1])->provider, GW_DISPATCH_PROVIDER_FCM);
    assert_false(gw_dispatch_app_is_fcm(&c->apps[0]));
    assert_true(gw_dispatch_app_is_fcm(&c->apps[1]));
    assert_string_equal(DSP(&c->apps[1])->fcm_project, "fcm-demo");
    assert_string_equal(DSP(&c->apps[1])->fcm_email, "fcm-sim@fcm-demo.iam.gserviceaccount.com");
    assert_int_equal(DSP(&c->apps[1])->connections, 4);
    assert_int_equal(DSP(&c->apps[1])->rate_limit, 500);
    assert_int_equal(DSP(&c->apps[1])->fcm_port, 443);
    assert_int_equal(DSP(&c->apps[1])->environment, APNS_ENV_PRODUCTION);
    assert_int_equal(DSP(&c->apps[3])->environment, APNS_ENV_CUSTOM);
    assert_string_equal(DSP(&c->apps[3])->fcm_host, "127.0.0.1");
    assert_int_equal(DSP(&c->apps[3])->fcm_port, 8443);
    assert_string_equal(DSP(&c->apps[3])->fcm_project, "fcm-other");
    assert_int_equal(TEAMS(c)->n, 1); /* the iOS app's team only */
    assert_int_equal(TEAMS(c)->n_accounts, 2);
    assert_int_equal(TEAMS(c)->accounts[0].n_apps, 2);
    assert_string_equal(TEAMS(c)->accounts[0].id, "fcm-sim@fcm-demo.iam.gserviceaccount.com");
    assert_string_equal(TEAMS(c)->accounts[1].id,
                        "fcm-sim@fcm-other.iam.gserviceaccount.com@https://127.0.0.1:9443/token");
    assert_ptr_equal(gw_dispatch_account_of(c, &c->apps[2]), &TEAMS(c)->accounts[0]);
    assert_null(gw_dispatch_account_of(c, &c->apps[0]));
    assert_int_equal(DSP(&c->apps[1])->team, -1);
    char *d = dump_of(c);
    assert_non_null(strstr(d, "provider = fcm"));
    assert_non_null(strstr(d, "; FCM project: fcm-demo"));
    assert_null(strstr(d, "PRIVATE KEY")); /* the key file's contents never appear */
    free(d);
    gw_config_free(c);

    /* An app only the environment declares, through the same tables. */
    char *sa = expand("APNSD_APP_DROID_SERVICE_ACCOUNT_FILE=@D@/sa.json");
    char *env[] = {"APNSD_APPS=droid", "APNSD_APP_DROID_PROVIDER=fcm", sa,
                   "APNSD_APP_DROID_API_KEYS=" K1, NULL};
    c = load_ok("", env);
    assert_int_equal(c->n_apps, 1);
    assert_true(gw_dispatch_app_is_fcm(&c->apps[0]));
    assert_string_equal(DSP(&c->apps[0])->fcm_project, "fcm-demo");
    gw_config_free(c);
    gw_config_errors e;
    char *env2[] = {"APNSD_APPS=droid",
                    "APNSD_APP_DROID_PROVIDER=fcm",
                    "APNSD_APP_DROID_TOPIC=com.a",
                    sa,
                    "APNSD_APP_DROID_API_KEYS=" K1,
                    NULL};
    assert_int_equal(load_env("", env2, &c, &e), APNS_ECONFIG);
    assert_true(
        has_diag(&e, "APNSD_APP_DROID_TOPIC: [app droid] topic: only used with provider = apns"));
    free(sa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_depth_fits_requests),
        cmocka_unit_test(test_private_file_modes),
        cmocka_unit_test(test_no_follow_up_errors),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_env_override),
        cmocka_unit_test(test_env_apps),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_diff_live_keys),
        cmocka_unit_test(test_jetstream_queue),
        cmocka_unit_test(test_teams),
        cmocka_unit_test(test_fcm_apps),
        cmocka_unit_test(test_binary_proxy),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_secrets_masked),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_docs_match_tables),
        cmocka_unit_test(test_example_file_parses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

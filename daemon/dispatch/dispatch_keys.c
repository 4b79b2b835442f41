/*
 * dispatch_keys.c - the dispatcher's keys of an [app NAME] section (two
 * tables: the app's, and the feedback service's) and their rules: which
 * credentials each auth needs, what each transport and environment allows,
 * the retry range, the PKCS#12 password (read from the environment or a
 * file), and, across apps, the team identities with their one rule: one
 * key id of a team is one key file and one token_refresh, because its apps
 * share one signing key and one provider-token cache (dispatch_app.c).
 */
#include "dispatch_keys.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apns/client.h"
#include "apns/fcm.h"
#include "apns/fcm_auth.h"

#define APP(f) offsetof(gw_dispatch_app_config, f)
#define FB(f)  offsetof(gw_dispatch_feedback_config, f)

#define PASSWORD_FILE_MAX 4096

/* ---------------------------------------------------------------------- */
/* single-field rules                                                     */

static int check_id10(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_chars_ok(v, 10, 10, GW_CONFIG_UPPER GW_CONFIG_DIGIT), why, len,
                         "must be 10 characters [A-Z0-9]");
}

static int check_bundle_id(const char *v, char *why, size_t len)
{
    int ok = gw_config_chars_ok(v, 1, APNS_TOPIC_MAX, GW_CONFIG_ALNUM ".-") && v[0] != '.' &&
             v[strlen(v) - 1] != '.' && !strstr(v, "..");
    return gw_config_why(ok, why, len,
                         "must be a bundle id like com.example.app ([A-Za-z0-9.-], at most 255)");
}

static int check_host(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_host_ok(v), why, len,
                         "must be a host name or an IP address (no brackets, no port)");
}

static int check_hostport(const char *v, char *why, size_t len)
{
    char host[256];
    uint16_t port;
    int ok = gw_config_split_hostport(v, host, sizeof host, &port) == 0 && port != 0;
    return gw_config_why(ok, why, len, "must be host:port or [v6]:port with a port in 1..65535");
}

static int check_env_name(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_chars_ok(v, 1, 255, GW_CONFIG_ALNUM "_") &&
                             !isdigit((unsigned char)v[0]),
                         why, len, "must be an environment variable name [A-Za-z_][A-Za-z0-9_]*");
}

static int check_project(const char *v, char *why, size_t len)
{
    return gw_config_why(apns_fcm_project_check(v, NULL, 0) == 0, why, len,
                         "must be a Firebase project id or number (1..128 characters "
                         "[A-Za-z0-9._:-])");
}

static int check_token_url(const char *v, char *why, size_t len)
{
    return gw_config_why(gw_config_url_ok(v, "https", 1024, " "), why, len,
                         "must be an https:// URL");
}

/* ---------------------------------------------------------------------- */
/* the tables                                                             */

static const gw_config_key app_keys[] = {
    {.name = "provider",
     .type = GW_CONFIG_T_ENUM,
     .def = "apns",
     .off = APP(provider),
     .choices = "apns|fcm",
     .aka = "service platform",
     .doc = "`apns` (iOS, macOS, ...: Apple Push Notification service) or `fcm` (Android: "
            "Firebase Cloud Messaging HTTP v1). Each has its own keys; a key of the other is "
            "an error."},
    {.name = "topic",
     .def_doc = "required",
     .type = GW_CONFIG_T_STR,
     .off = APP(topic),
     .check = check_bundle_id,
     .aka = "bundle_id bundle bundleid apns_topic",
     .doc = "The app's bundle id: the default `apns-topic`, e.g. `com.example.app`."},
    {.name = "topics",
     .type = GW_CONFIG_T_LIST,
     .off = APP(topics),
     .check = check_bundle_id,
     .flags = GW_CONFIG_K_LIVE,
     .aka = "extra_topics",
     .doc = "Further topics requests may name, comma-separated (e.g. `com.example.app.voip`, "
            "`com.example.app.push-type.liveactivity`)."},
    {.name = "environment",
     .def_doc = "required",
     .type = GW_CONFIG_T_ENUM,
     .off = APP(environment),
     .choices = "production|sandbox|custom",
     .aka = "env apns_environment",
     .doc = "`production` (api.push.apple.com), `sandbox` (api.sandbox.push.apple.com) or "
            "`custom` (`host`/`port`, e.g. apns-sim). No default: a wrong guess marks every "
            "token dead."},
    {.name = "host",
     .def_doc = "required for `custom`",
     .type = GW_CONFIG_T_STR,
     .off = APP(host),
     .check = check_host,
     .aka = "hostname server address",
     .doc = "`environment = custom` only: the server's host name or address."},
    {.name = "port",
     .type = GW_CONFIG_T_PORT,
     .def_doc = "443 (binary: 2195)",
     .off = APP(port),
     .doc = "Server port. Apple also listens on 2197 for HTTP/2."},
    {.name = "ca_file",
     .type = GW_CONFIG_T_PATH,
     .def_doc = "system store",
     .off = APP(ca_file),
     .flags = GW_CONFIG_K_FILE,
     .aka = "ca cacert ca_cert",
     .doc = "PEM bundle of CAs to verify the server with (apns-sim's CA, a corporate proxy)."},
    {.name = "proxy",
     .type = GW_CONFIG_T_STR,
     .off = APP(proxy),
     .check = check_hostport,
     .aka = "http_proxy https_proxy",
     .doc = "`host:port` of an HTTP CONNECT proxy for the app's connections to Apple: HTTP/2, "
            "or with `transport = binary` the gateway and the feedback service."},
    {.name = "transport",
     .type = GW_CONFIG_T_ENUM,
     .def = "http2",
     .off = APP(transport),
     .choices = "http2|binary",
     .aka = "protocol",
     .doc = "`http2` (the provider API) or `binary` (the legacy interface: certificate auth "
            "only, dead tokens from the feedback service)."},
    {.name = "auth",
     .type = GW_CONFIG_T_ENUM,
     .def = "token",
     .off = APP(auth),
     .choices = "token|certificate",
     .aka = "auth_type authentication",
     .doc = "`token`: a .p8 key with `key_id` and `team_id`. `certificate`: `cert_file` (+ "
            "`key_file`) or `p12_file` (+ a password)."},
    {.name = "key_file",
     .def_doc = "required for `token`",
     .type = GW_CONFIG_T_PATH,
     .off = APP(key_file),
     .flags = GW_CONFIG_K_FILE | GW_CONFIG_K_PRIVATE,
     .aka = "p8_file p8 p8_key private_key key_path auth_key",
     .doc = "Token auth: the .p8 signing key (AuthKey_KEYID.p8). Certificate auth: the PEM "
            "private key, when `cert_file` does not hold it."},
    {.name = "key_id",
     .def_doc = "required for `token`",
     .type = GW_CONFIG_T_STR,
     .off = APP(key_id),
     .check = check_id10,
     .aka = "kid keyid",
     .doc = "Token auth: the key's 10-character id (e.g. `ABC123DEFG`)."},
    {.name = "team_id",
     .def_doc = "required for `token`",
     .type = GW_CONFIG_T_STR,
     .off = APP(team_id),
     .check = check_id10,
     .aka = "team teamid iss",
     .doc = "Token auth: the 10-character Apple developer team id."},
    {.name = "token_refresh",
     .type = GW_CONFIG_T_DURATION,
     .def = "50m",
     .off = APP(token_refresh_ms),
     .min = 20 * GW_CONFIG_MIN,
     .max = 60 * GW_CONFIG_MIN,
     .doc = "Token auth: age at which the provider token is replaced (Apple: 20..60 minutes). "
            "One token per team+key, shared by its apps (with `backend = jetstream`, by every "
            "node of the fleet)."},
    {.name = "cert_file",
     .def_doc = "this or `p12_file` for `certificate`",
     .type = GW_CONFIG_T_PATH,
     .off = APP(cert_file),
     .flags = GW_CONFIG_K_FILE,
     .aka = "certificate cert pem_file cert_path",
     .doc = "Certificate auth: PEM client certificate (chain), with its key unless `key_file` "
            "is set."},
    {.name = "p12_file",
     .type = GW_CONFIG_T_PATH,
     .off = APP(p12_file),
     .flags = GW_CONFIG_K_FILE | GW_CONFIG_K_PRIVATE,
     .aka = "pkcs12 p12 pfx pfx_file",
     .doc = "Certificate auth: PKCS#12 file with certificate and key (instead of `cert_file`)."},
    {.name = "password",
     .type = GW_CONFIG_T_STR,
     .off = APP(password),
     .flags = GW_CONFIG_K_SECRET,
     .aka = "p12_password passphrase pass",
     .doc = "The PKCS#12 password written inline (allowed, with a warning: prefer "
            "`password_env` or `password_file`)."},
    {.name = "password_env",
     .type = GW_CONFIG_T_STR,
     .off = APP(password_env),
     .check = check_env_name,
     .doc = "Name of an environment variable holding the PKCS#12 password."},
    {.name = "password_file",
     .type = GW_CONFIG_T_PATH,
     .off = APP(password_file),
     .flags = GW_CONFIG_K_FILE | GW_CONFIG_K_PRIVATE,
     .doc = "File whose first line is the PKCS#12 password (at most 4 KiB)."},
    {.name = "connections",
     .type = GW_CONFIG_T_COUNT,
     .def = "2",
     .off = APP(connections),
     .min = 1,
     .max = 100,
     .aka = "conns pool_size",
     .doc = "Connections to APNs for this app (apps of one team share the provider token, "
            "not the connections)."},
    {.name = "max_in_flight",
     .type = GW_CONFIG_T_COUNT,
     .def = "0",
     .off = APP(max_in_flight),
     .min = 0,
     .max = 1000000,
     .aka = "max_pending in_flight",
     .doc = "Notifications held by the client at once (sent, awaiting an answer or a retry); "
            "`0` = 1000 per connection."},
    {.name = "rate_limit",
     .type = GW_CONFIG_T_COUNT,
     .def = "0",
     .off = APP(rate_limit),
     .min = 0,
     .max = 10000000,
     .flags = GW_CONFIG_K_LIVE,
     .aka = "rate ratelimit max_rate",
     .doc = "Notifications per second sent for this app; `0` = as fast as APNs allows."},
    {.name = "connect_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "10s",
     .off = APP(connect_timeout_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 5 * GW_CONFIG_MIN,
     .doc = "TCP + TLS connect deadline."},
    {.name = "stream_timeout",
     .type = GW_CONFIG_T_DURATION,
     .def = "30s",
     .off = APP(stream_timeout_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 10 * GW_CONFIG_MIN,
     .aka = "request_timeout",
     .doc = "No answer from APNs by then: the notification is resent on another connection."},
    {.name = "retry_attempts",
     .type = GW_CONFIG_T_COUNT,
     .def = "5",
     .off = APP(retry_attempts),
     .min = 1,
     .max = 100,
     .aka = "max_attempts retries max_retries",
     .doc = "Sends of one notification (the first included) on 429/5xx answers before it is "
            "reported failed."},
    {.name = "retry_backoff",
     .type = GW_CONFIG_T_DURATION,
     .def = "1s",
     .off = APP(retry_backoff_ms),
     .min = 10,
     .max = 1 * GW_CONFIG_HOUR,
     .aka = "backoff base_backoff",
     .doc = "First retry delay; doubles per attempt, with jitter."},
    {.name = "retry_backoff_max",
     .type = GW_CONFIG_T_DURATION,
     .def = "15m",
     .off = APP(retry_backoff_max_ms),
     .min = 1 * GW_CONFIG_SEC,
     .max = 1 * GW_CONFIG_DAY,
     .aka = "max_backoff",
     .doc = "Cap on the retry delay (Apple suggests up to 15 minutes)."},
    {.name = "manage_host",
     .type = GW_CONFIG_T_STR,
     .def_doc = "Apple's (custom: `host`)",
     .off = APP(manage_host),
     .check = check_host,
     .aka = "channel_host management_host broadcast_manage_host",
     .doc = "Broadcast channels: the channel-management service "
            "(api-manage-broadcast[.sandbox].push.apple.com for production and sandbox). Set it "
            "only for `environment = custom` (apns-sim's `--manage-listen`) or a proxy."},
    {.name = "manage_port",
     .type = GW_CONFIG_T_PORT,
     .def_doc = "2196 production, 2195 sandbox; required for `custom`",
     .off = APP(manage_port),
     .aka = "channel_port management_port",
     .doc = "Broadcast channels: the channel-management service's port (Apple: 2196 for "
            "production, 2195 for sandbox)."},
    {.name = "publish_host",
     .type = GW_CONFIG_T_ENUM,
     .def = "push",
     .off = APP(publish_host),
     .choices = "push|broadcast",
     .aka = "broadcast_host channel_publish_host",
     .doc = "Channel publishes (`POST /v1/push` with `channel`): `push` sends them over the app's "
            "connections to api[.sandbox].push.apple.com (the host Apple's broadcast page names "
            "for connections; node-apn's choice); `broadcast` opens a second client, made at the "
            "first channel publish, to api-broadcast[.sandbox].push.apple.com (the host of "
            "Apple's examples). Apple leaves it unconfirmed which is canonical. With "
            "`environment = custom` both go to `host`:`port`."},
    {.name = "max_channels",
     .type = GW_CONFIG_T_COUNT,
     .def = "10000",
     .off = APP(max_channels),
     .min = 1,
     .max = 10000,
     .aka = "channel_limit",
     .doc = "Broadcast channels: records apnsd keeps for the app (in its environment); a create "
            "beyond them is refused with `CannotCreateChannelConfig` before APNs is asked "
            "(Apple's limit: 10,000 per app and environment)."},
    {.name = "service_account_file",
     .def_doc = "required for `fcm`",
     .type = GW_CONFIG_T_PATH,
     .off = APP(service_account_file),
     .flags = GW_CONFIG_K_FILE | GW_CONFIG_K_PRIVATE,
     .aka = "service_account credentials_file google_application_credentials key_json",
     .doc = "`provider = fcm`: the service account's JSON key file from the Firebase console "
            "(Project settings, Service accounts). Apps of one file share one access token "
            "(with `backend = jetstream`, every node of the fleet)."},
    {.name = "project_id",
     .type = GW_CONFIG_T_STR,
     .def_doc = "the key file's",
     .off = APP(project_id),
     .check = check_project,
     .aka = "project firebase_project sender_id",
     .doc = "`provider = fcm`: the Firebase project messages go to; must equal the key file's "
            "`project_id` when set."},
    {.name = "fcm_host",
     .type = GW_CONFIG_T_STR,
     .def_doc = "fcm.googleapis.com",
     .off = APP(fcm_host),
     .check = check_host,
     .doc = "`provider = fcm`: the FCM server's host name or address (fcm-sim in tests)."},
    {.name = "fcm_port",
     .type = GW_CONFIG_T_PORT,
     .def_doc = "443",
     .off = APP(fcm_port),
     .doc = "`provider = fcm`: the FCM server's port."},
    {.name = "token_url",
     .type = GW_CONFIG_T_STR,
     .def_doc = "the key file's `token_uri`",
     .off = APP(token_url),
     .check = check_token_url,
     .aka = "token_uri oauth_url",
     .doc = "`provider = fcm`: where access tokens are fetched (`https://host:port/token`: "
            "fcm-sim in tests; verified with `ca_file`). The grant's audience stays the key "
            "file's `token_uri`."},
};

static const gw_config_key feedback_keys[] = {
    {.name = "feedback_interval",
     .type = GW_CONFIG_T_DURATION,
     .def_doc = "1h (binary)",
     .off = FB(feedback_interval_ms),
     .min = 0,
     .max = 7 * GW_CONFIG_DAY,
     .aka = "feedback",
     .doc = "`transport = binary`: how often the feedback service is polled for dead tokens; "
            "`0` = never."},
    {.name = "feedback_host",
     .type = GW_CONFIG_T_STR,
     .def_doc = "`host`",
     .off = FB(feedback_host),
     .check = check_host,
     .doc = "`transport = binary` with `environment = custom`: the feedback service's host."},
    {.name = "feedback_port",
     .type = GW_CONFIG_T_PORT,
     .def_doc = "2196",
     .off = FB(feedback_port),
     .doc = "`transport = binary`: the feedback service's port."},
};

/* ---------------------------------------------------------------------- */
/* rules of one app                                                       */

/* The last of the three PKCS#12 password keys that is set, or NULL; *n:
 * how many are set. */
static const char *password_key(gw_config_rules *r, int *n)
{
    static const char *const keys[] = {"password", "password_env", "password_file"};
    const char *key = NULL;
    *n = 0;
    for (int i = 0; i < 3; i++)
        if (gw_config_has(r, keys[i]) && ++*n)
            key = keys[i];
    return key;
}

static void rules_certificate(gw_config_rules *r)
{
    int n, cert = gw_config_has(r, "cert_file"), p12 = gw_config_has(r, "p12_file");
    const char *pw = password_key(r, &n);

    gw_config_each(r, GW_CONFIG_ERROR, "key_id team_id token_refresh",
                   "only used with auth = token");
    if (!p12)
        gw_config_each(r, GW_CONFIG_MISSING, "cert_file",
                       "required with auth = certificate (or p12_file for a PKCS#12 file)");
    if (cert && p12)
        gw_config_fail(r, "p12_file", "set cert_file or p12_file, not both");
    if (p12 && gw_config_has(r, "key_file"))
        gw_config_fail(r, "key_file", "not used with p12_file (the PKCS#12 file holds the key)");
    if (n > 1)
        gw_config_fail(r, pw, "set only one of password, password_env and password_file");
    else if (pw && !p12 && cert)
        gw_config_fail(r, pw, "only used with p12_file (encrypted PEM keys are not supported)");
}

static void rules_transport(gw_config_rules *r, const gw_dispatch_app_config *a,
                            gw_dispatch_feedback_config *fb)
{
    if (gw_config_has(r, "transport") < 0)
        return;
    if (a->transport != GW_DISPATCH_TRANSPORT_BINARY) {
        gw_config_each(r, GW_CONFIG_ERROR, "feedback_interval feedback_host feedback_port",
                       "only used with transport = binary");
        return;
    }
#if !APNS_HAVE_LEGACY
    gw_config_fail(r, "transport",
                   "binary: this apnsd was built without the legacy binary interface "
                   "(libapns with APNS_LEGACY=OFF)");
#endif
    if (a->auth == GW_DISPATCH_AUTH_TOKEN && gw_config_has(r, "auth") >= 0)
        gw_config_fail(r, "transport",
                       "binary needs auth = certificate (the legacy interface has no token auth)");
    gw_config_each(r, GW_CONFIG_ERROR, "publish_host", "only used with transport = http2");
    if (!gw_config_has(r, "feedback_interval"))
        fb->feedback_interval_ms = GW_CONFIG_HOUR;
    if (!gw_config_has(r, "feedback_port"))
        fb->feedback_port = 2196;
    if (a->environment != APNS_ENV_CUSTOM && gw_config_has(r, "feedback_host") > 0)
        gw_config_fail(r, "feedback_host", "only used with environment = custom");
}

#define APNS_ONLY_KEYS                                                                             \
    "topic topics environment host port transport auth key_file key_id team_id token_refresh "     \
    "cert_file p12_file password password_env password_file manage_host manage_port "              \
    "max_channels feedback_interval feedback_host feedback_port"
#define FCM_ONLY_KEYS "service_account_file project_id fcm_host fcm_port token_url"

static void fcm_rules(gw_config_rules *r, gw_dispatch_app_config *a)
{
    gw_config_each(r, GW_CONFIG_ERROR, APNS_ONLY_KEYS, "only used with provider = apns");
    gw_config_each(r, GW_CONFIG_MISSING, "service_account_file",
                   "required with provider = fcm: the service account's JSON key file");
    if (!gw_config_has(r, "fcm_port"))
        a->fcm_port = 443;
    if (gw_config_has(r, "fcm_port") > 0 && !gw_config_has(r, "fcm_host"))
        gw_config_fail(r, "fcm_port", "only used with fcm_host");
    a->environment = gw_config_has(r, "fcm_host") > 0 ? APNS_ENV_CUSTOM : APNS_ENV_PRODUCTION;
    a->transport = GW_DISPATCH_TRANSPORT_HTTP2;
    if (gw_config_has(r, "retry_backoff") >= 0 && gw_config_has(r, "retry_backoff_max") >= 0 &&
        a->retry_backoff_ms > a->retry_backoff_max_ms)
        gw_config_fail(r, gw_config_has(r, "retry_backoff") ? "retry_backoff" : "retry_backoff_max",
                       "retry_backoff (%" PRId64 "ms) is larger than retry_backoff_max (%" PRId64
                       "ms)",
                       a->retry_backoff_ms, a->retry_backoff_max_ms);
    if (a->max_in_flight == 0)
        a->max_in_flight = a->connections * 1000;
}

static void app_rules(gw_config_rules *r, void *part)
{
    gw_dispatch_app_config *a = part;
    int custom = a->environment == APNS_ENV_CUSTOM;

    a->team = -1;
    a->account = -1;
    if (gw_config_has(r, "provider") < 0)
        return; /* no guesses about which keys belong */
    if (a->provider == GW_DISPATCH_PROVIDER_FCM) {
        fcm_rules(r, a);
        return;
    }
    gw_config_each(r, GW_CONFIG_ERROR, FCM_ONLY_KEYS, "only used with provider = fcm");

    gw_config_each(r, GW_CONFIG_MISSING, "topic",
                   "required: the app's bundle id, e.g. com.example.app");
    gw_config_each(r, GW_CONFIG_MISSING, "environment",
                   "required: production, sandbox or custom (no default: a wrong one makes APNs "
                   "reject every token)");

    /* credentials (no guesses about which keys belong when auth was refused) */
    if (a->auth == GW_DISPATCH_AUTH_TOKEN && gw_config_has(r, "auth") >= 0) {
        gw_config_each(r, GW_CONFIG_MISSING, "key_file key_id team_id",
                       "required with auth = token");
        gw_config_each(r, GW_CONFIG_ERROR, "cert_file p12_file password password_env password_file",
                       "only used with auth = certificate");
    } else if (gw_config_has(r, "auth") >= 0) {
        rules_certificate(r);
    }

    rules_transport(r, a, gw_config_sibling(r, &gw_dispatch_feedback_part));
    if (!gw_config_has(r, "port"))
        a->port = a->transport == GW_DISPATCH_TRANSPORT_BINARY ? 2195 : 443;

    if (custom)
        gw_config_each(r, GW_CONFIG_MISSING, "host", "required with environment = custom");
    else if (gw_config_has(r, "environment") > 0)
        gw_config_each(r, GW_CONFIG_ERROR, "host",
                       "only used with environment = custom (production and sandbox use Apple's "
                       "hosts)");

    if (gw_config_has(r, "retry_backoff") >= 0 && gw_config_has(r, "retry_backoff_max") >= 0 &&
        a->retry_backoff_ms > a->retry_backoff_max_ms)
        gw_config_fail(r, gw_config_has(r, "retry_backoff") ? "retry_backoff" : "retry_backoff_max",
                       "retry_backoff (%" PRId64 "ms) is larger than retry_backoff_max (%" PRId64
                       "ms)",
                       a->retry_backoff_ms, a->retry_backoff_max_ms);

    if (!gw_config_has(r, "manage_port"))
        a->manage_port = a->environment == APNS_ENV_PRODUCTION ? 2196
                         : a->environment == APNS_ENV_SANDBOX  ? 2195
                                                               : 0;

    if (a->max_in_flight == 0)
        a->max_in_flight = a->connections * 1000;
}

/* provider = fcm: the key file, loaded by libapns (its rules, its
 * sentence), and the project (the file's unless project_id says otherwise:
 * then the two must agree, because an access token works only for the
 * account's project). */
static void fcm_resolve(gw_config_rules *r, gw_dispatch_app_config *a)
{
    apns_fcm_account *acct = NULL;
    char detail[300];
    const char *proj;

    if (gw_config_has(r, "service_account_file") <= 0)
        return;
    if (apns_fcm_account_load_file(&acct, a->service_account_file, detail, sizeof detail) != 0) {
        gw_config_fail(r, "service_account_file", "%s", detail);
        return;
    }
    proj = apns_fcm_account_project_id(acct);
    if (gw_config_has(r, "project_id") > 0 && strcmp(a->project_id, proj) != 0)
        gw_config_fail(r, "project_id",
                       "\"%s\" differs from the key file's project_id \"%s\" (%s): an access "
                       "token of the account works only for its own project",
                       a->project_id, proj, a->service_account_file);
    else if (apns_fcm_project_check(proj, detail, sizeof detail) != 0)
        gw_config_fail(r, "service_account_file", "project_id of the key file: %s", detail);
    else if ((a->fcm_project = strdup(proj)) == NULL ||
             (a->fcm_email = strdup(apns_fcm_account_client_email(acct))) == NULL)
        gw_config_oom(r);
    apns_fcm_account_free(acct);
}

/* The PKCS#12 password, once the files were checked. */
static void app_resolve(gw_config_rules *r, void *part)
{
    gw_dispatch_app_config *a = part;
    int n;
    const char *key = password_key(r, &n), *pw = NULL;
    char *buf = NULL;
    size_t len;

    if (gw_config_has(r, "provider") < 0)
        return;
    if (a->provider == GW_DISPATCH_PROVIDER_FCM) {
        fcm_resolve(r, a);
        return;
    }
    /* A certificate file without key_file holds the private key too. */
    if (a->auth != GW_DISPATCH_AUTH_TOKEN && gw_config_has(r, "cert_file") > 0 &&
        !gw_config_has(r, "key_file"))
        gw_config_check_private(r, "cert_file", a->cert_file);
    if (gw_config_has(r, "auth") < 0 || a->auth == GW_DISPATCH_AUTH_TOKEN ||
        !gw_config_has(r, "p12_file") || n != 1 || gw_config_has(r, key) < 0)
        return;
    if (strcmp(key, "password") == 0) {
        pw = a->password;
        if (gw_config_has(r, "password") == GW_CONFIG_IN_FILE)
            gw_config_warn(r, "password",
                           "written in the file: prefer password_env or password_file (and keep "
                           "the file mode 0600)");
    } else if (strcmp(key, "password_env") == 0) {
        if ((pw = gw_config_getenv(r, a->password_env)) == NULL || *pw == '\0')
            gw_config_fail(r, key, "environment variable %s is %s", a->password_env,
                           pw ? "empty" : "not set");
    } else if (gw_config_read_file(r, key, a->password_file, PASSWORD_FILE_MAX, &buf, &len) == 0) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (*(pw = buf) == '\0')
            gw_config_fail(r, key, "the first line is empty");
    }
    /* Not when the variable or the file's first line is empty (reported). */
    if (pw && *pw && (a->p12_password = strdup(pw)) == NULL)
        gw_config_oom(r);
    free(buf);
}

static int streq0(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* A password from password_env changes without a key changing. */
static const char *app_differs(const void *pa, const void *pb, int live)
{
    const gw_dispatch_app_config *a = pa, *b = pb;
    if (!live && !streq0(a->fcm_project, b->fcm_project))
        return "service_account_file";
    return !live && !streq0(a->p12_password, b->p12_password) ? "password" : NULL;
}

static void app_cleanup(void *part)
{
    gw_dispatch_app_config *a = part;
    free(a->p12_password);
    free(a->fcm_project);
    free(a->fcm_email);
}

/* ---------------------------------------------------------------------- */
/* team identities                                                        */

/* One key id, one file and one refresh age: they feed one token cache.
 * Reports at app a (selected) when the first app of its team+key, the
 * first of team identity `first`, differs. */
static void same_key_rule(gw_config_rules *r, const gw_dispatch_app_config *a,
                          const gw_dispatch_team *first)
{
    if (strcmp(a->key_file, first->key_file) != 0)
        gw_config_fail(r, "key_file",
                       "key %s of team %s is already read from \"%s\" by [app %s]: one key "
                       "id, one file",
                       a->key_id, a->team_id, first->key_file, gw_config_name(r, first->apps[0]));
    else if (a->token_refresh_ms != first->token_refresh_ms)
        gw_config_fail(r, "token_refresh",
                       "differs from [app %s], which signs with the same key (one token per "
                       "key)",
                       gw_config_name(r, first->apps[0]));
}

/* A new team identity like app a's (no app yet); same_key: the first of its team+key. */
static int team_new(gw_dispatch_teams *ts, const gw_dispatch_app_config *a, size_t same_key)
{
    static const char *const envs[] = {"production", "sandbox", "custom"};
    gw_dispatch_team *nt = realloc(ts->v, (ts->n + 1) * sizeof *nt);
    int custom = a->environment == APNS_ENV_CUSTOM, v6 = custom && strchr(a->host, ':');
    char id[400];

    if (nt == NULL)
        return APNS_ENOMEM;
    ts->v = nt;
    gw_dispatch_team *tm = memset(&ts->v[ts->n], 0, sizeof *nt);
    /* "TEAM/KEY@sandbox", "...@production:2197", "...@custom:[::1]:8443" */
    size_t o = (size_t)snprintf(id, sizeof id, "%s/%s@%s%s%s%s%s", a->team_id, a->key_id,
                                envs[a->environment], custom ? ":" : "", v6 ? "[" : "",
                                custom ? a->host : "", v6 ? "]" : "");
    if ((custom || a->port != 443) && o < sizeof id)
        snprintf(id + o, sizeof id - o, ":%u", (unsigned)a->port);
    if ((tm->id = strdup(id)) == NULL)
        return APNS_ENOMEM;
    tm->team_id = a->team_id;
    tm->key_id = a->key_id;
    tm->key_file = a->key_file;
    tm->token_refresh_ms = a->token_refresh_ms;
    tm->environment = a->environment;
    tm->host = a->environment == APNS_ENV_CUSTOM ? a->host : NULL;
    tm->port = a->port;
    tm->same_key_as = (int)same_key;
    ts->n++;
    return 0;
}

static int team_join(gw_dispatch_team *tm, size_t i)
{
    size_t *na = realloc(tm->apps, (tm->n_apps + 1) * sizeof *na);
    if (na == NULL)
        return APNS_ENOMEM;
    tm->apps = na;
    tm->apps[tm->n_apps++] = i;
    return 0;
}

/* FCM app i joins the service account of its key file and token endpoint;
 * one account, one CA file and one proxy (one apns_fcm_auth fetches for it). */
static int account_join(gw_config_rules *r, gw_dispatch_teams *ts, gw_dispatch_app_config *a,
                        size_t i)
{
    gw_dispatch_account *ac = NULL;
    size_t k;
    for (k = 0; k < ts->n_accounts; k++)
        if (strcmp(ts->accounts[k].key_file, a->service_account_file) == 0 &&
            streq0(ts->accounts[k].token_url, a->token_url))
            break;
    if (k == ts->n_accounts) {
        gw_dispatch_account *na = realloc(ts->accounts, (k + 1) * sizeof *na);
        char id[1200];
        if (na == NULL)
            return APNS_ENOMEM;
        ts->accounts = na;
        ac = memset(&na[k], 0, sizeof *ac);
        snprintf(id, sizeof id, "%s%s%s", a->fcm_email ? a->fcm_email : "?",
                 a->token_url ? "@" : "", a->token_url ? a->token_url : "");
        if ((ac->id = strdup(id)) == NULL)
            return APNS_ENOMEM;
        ac->key_file = a->service_account_file;
        ac->token_url = a->token_url;
        ac->ca_file = a->ca_file;
        ac->proxy = a->proxy;
        ts->n_accounts++;
    } else {
        ac = &ts->accounts[k];
        if (!streq0(ac->ca_file, a->ca_file))
            gw_config_fail(r, "ca_file",
                           "differs from [app %s], which fetches access tokens with the same "
                           "service account (one account, one token endpoint, one ca_file)",
                           gw_config_name(r, ac->apps[0]));
        else if (!streq0(ac->proxy, a->proxy))
            gw_config_fail(r, "proxy",
                           "differs from [app %s], which fetches access tokens with the same "
                           "service account",
                           gw_config_name(r, ac->apps[0]));
    }
    size_t *nv = realloc(ac->apps, (ac->n_apps + 1) * sizeof *nv);
    if (nv == NULL)
        return APNS_ENOMEM;
    ac->apps = nv;
    ac->apps[ac->n_apps++] = i;
    a->account = (int)k;
    return 0;
}

static void teams_rules(gw_config_rules *r, void *all)
{
    gw_dispatch_teams *ts = all;
    gw_dispatch_app_config *a;
    for (size_t i = 0; (a = gw_config_select(r, i)) != NULL; i++) {
        size_t t, same_key = ts->n;
        if (a->provider == GW_DISPATCH_PROVIDER_FCM) {
            if (account_join(r, ts, a, i) != 0) {
                gw_config_oom(r);
                break;
            }
            continue;
        }
        if (a->auth != GW_DISPATCH_AUTH_TOKEN)
            continue;
        for (t = 0; t < ts->n; t++) {
            const gw_dispatch_team *tm = &ts->v[t];
            if (strcmp(tm->team_id, a->team_id) != 0 || strcmp(tm->key_id, a->key_id) != 0)
                continue;
            if (same_key == ts->n)
                same_key = t;
            if (tm->environment == a->environment && streq0(tm->host, a->host) &&
                tm->port == a->port)
                break;
        }
        if (same_key < ts->n)
            same_key_rule(r, a, &ts->v[same_key]);
        if ((t == ts->n && team_new(ts, a, same_key) != 0) || team_join(&ts->v[t], i) != 0) {
            gw_config_oom(r);
            break;
        }
        a->team = (int)t;
    }
}

static void app_notes(FILE *f, const void *part, const void *all)
{
    const gw_dispatch_app_config *a = part;
    const gw_dispatch_teams *ts = all;
    if (a->team >= 0 && ts != NULL)
        fprintf(f, "; team identity: %s\n", ts->v[a->team].id);
    if (a->fcm_project)
        fprintf(f, "; FCM project: %s\n", a->fcm_project);
    if (a->account >= 0 && ts != NULL)
        fprintf(f, "; service account: %s\n", ts->accounts[a->account].id);
    if (a->p12_password)
        fprintf(f, "; PKCS#12 password: set\n");
}

static void teams_cleanup(void *all)
{
    gw_dispatch_teams *ts = all;
    for (size_t i = 0; i < ts->n; i++) {
        free(ts->v[i].id);
        free(ts->v[i].apps);
    }
    free(ts->v);
    for (size_t i = 0; i < ts->n_accounts; i++) {
        free(ts->accounts[i].id);
        free(ts->accounts[i].apps);
    }
    free(ts->accounts);
}

/* ---------------------------------------------------------------------- */
/* the parts                                                              */

const gw_config_part gw_dispatch_app_part = {
    .section = &gw_config_app_section,
    .keys = app_keys,
    .n_keys = sizeof(app_keys) / sizeof(app_keys[0]),
    .size = sizeof(gw_dispatch_app_config),
    .rules = app_rules,
    .resolve = app_resolve,
    .all_size = sizeof(gw_dispatch_teams),
    .rules_all = teams_rules,
    .differs = app_differs,
    .notes = app_notes,
    .cleanup = app_cleanup,
    .cleanup_all = teams_cleanup,
};

const gw_config_part gw_dispatch_feedback_part = {
    .section = &gw_config_app_section,
    .keys = feedback_keys,
    .n_keys = sizeof(feedback_keys) / sizeof(feedback_keys[0]),
    .size = sizeof(gw_dispatch_feedback_config),
};

const gw_dispatch_app_config *gw_dispatch_app_config_of(const gw_config_app *app)
{
    return gw_config_app_part(app, &gw_dispatch_app_part);
}

const gw_dispatch_feedback_config *gw_dispatch_feedback_config_of(const gw_config_app *app)
{
    return gw_config_app_part(app, &gw_dispatch_feedback_part);
}

const gw_dispatch_teams *gw_dispatch_teams_of(const gw_config *c)
{
    return gw_config_part_of(c, &gw_dispatch_app_part);
}

const gw_dispatch_team *gw_dispatch_key_team_of(const gw_config *c, const gw_config_app *app)
{
    const gw_dispatch_teams *ts = gw_dispatch_teams_of(c);
    const gw_dispatch_app_config *a = gw_dispatch_app_config_of(app);
    return ts == NULL || a == NULL || a->team < 0 ? NULL : &ts->v[ts->v[a->team].same_key_as];
}

const gw_dispatch_account *gw_dispatch_account_of(const gw_config *c, const gw_config_app *app)
{
    const gw_dispatch_teams *ts = gw_dispatch_teams_of(c);
    const gw_dispatch_app_config *a = gw_dispatch_app_config_of(app);
    return ts == NULL || a == NULL || a->account < 0 ? NULL : &ts->accounts[a->account];
}

int gw_dispatch_app_is_fcm(const gw_config_app *app)
{
    const gw_dispatch_app_config *a = gw_dispatch_app_config_of(app);
    return a != NULL && a->provider == GW_DISPATCH_PROVIDER_FCM;
}

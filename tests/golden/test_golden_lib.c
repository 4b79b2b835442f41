/*
 * test_golden_lib.c - libapns' tables against Apple's documentation, as the
 * literal tables of tests/golden/ record it (ctest golden_lib_reasons).
 *
 * libapns takes its retry decisions from its reason table and refuses
 * notifications by its push-type and header rules before sending. apns-sim
 * keeps its own tables (test_golden_sim.c checks those), so a wrong row in
 * libapns is caught here and not excused by a simulator that agrees:
 *   1. APNS_REASON_MAP (apns_reason_lookup/_name/_status) equals reasons.tsv
 *      plus broadcast-reasons.tsv, both ways;
 *   2. the push types (apns_push_type_parse/_name/_topic_suffix,
 *      apns_payload_limit, the forbidden priority through
 *      apns_notification_validate) equal push-types.tsv, both ways;
 *   3. the header limits (APNS_COLLAPSE_ID_MAX, APNS_TOKEN_HEX_MAX,
 *      APNS_UUID_LEN, the priority values) are headers.tsv's, probed through
 *      apns_notification_validate;
 *   4. APNS_BINARY_STATUS_MAP and the binary size limits equal
 *      binary-status.tsv and binary-formats.tsv;
 *   5. apns_live_activity_check() gives live-activity.tsv's verdicts.
 * Prints one line per table and a FAIL line per mismatch; exits 1 if any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apns/features.h"
#if APNS_HAVE_LEGACY
#include "apns/binary.h"
#endif
#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"
#include "apns/reason.h"
#include "golden.h"

static golden_set g;

/* ---- 1. reasons ---------------------------------------------------------- */

/* Each row of t is a row of APNS_REASON_MAP with the same status. */
static void reasons_in_map(const golden_table *t)
{
    for (size_t i = 0; i < t->nrows; i++) {
        const char *name = golden_col(t, i, "reason");
        int status = atoi(golden_col(t, i, "status"));
        apns_reason r = apns_reason_lookup(name, strlen(name));
        if (r == APNS_REASON_UNKNOWN || r == APNS_REASON_NONE)
            golden_fail("%s: %d %s is not in APNS_REASON_MAP", t->name, status, name);
        else if (strcmp(apns_reason_name(r), name) != 0 || apns_reason_status(r) != status)
            golden_fail("%s: %d %s, libapns %d %s", t->name, status, name, apns_reason_status(r),
                        apns_reason_name(r));
    }
}

static void check_reasons(void)
{
    int before = golden_failures();
    golden_table bc;
    golden_need(&bc, "broadcast-reasons.tsv");
    reasons_in_map(&g.reasons);
    reasons_in_map(&bc);
    /* APNs' rows; the FCM rows (from APNS_REASON_FCM_FIRST) are held to
     * fcm-errors.tsv by golden_fcm_lib. */
    for (int r = APNS_REASON_NONE + 1; r < APNS_REASON_FCM_FIRST; r++) {
        const char *name = apns_reason_name((apns_reason)r);
        if (golden_find(&g.reasons, "reason", name) < 0 && golden_find(&bc, "reason", name) < 0)
            golden_fail("APNS_REASON_MAP: %d %s is in neither reasons.tsv nor "
                        "broadcast-reasons.tsv",
                        apns_reason_status((apns_reason)r), name);
    }
    golden_ok(before,
              "reasons: %zu rows of reasons.tsv and %zu of broadcast-reasons.tsv against %d of "
              "APNS_REASON_MAP",
              g.reasons.nrows, bc.nrows, APNS_REASON_FCM_FIRST - 1);
    golden_free(&bc);
}

/* Every condition of conditions.tsv names a reason libapns knows, with the
 * status of the row and of reasons.tsv (a 410 is the only status with a
 * timestamp, §1.7). */
static void check_conditions(void)
{
    int before = golden_failures();
    golden_table t;
    golden_need(&t, "conditions.tsv");
    for (size_t i = 0; i < t.nrows; i++) {
        const char *id = golden_col(&t, i, "id");
        const char *name = golden_col(&t, i, "reason");
        int status = atoi(golden_col(&t, i, "status"));
        long row = golden_find(&g.reasons, "reason", name);
        apns_reason r = apns_reason_lookup(name, strlen(name));
        if (row < 0 || atoi(golden_col(&g.reasons, (size_t)row, "status")) != status)
            golden_fail("conditions.tsv: %s: %d %s is not a row of reasons.tsv", id, status, name);
        if (r == APNS_REASON_UNKNOWN || apns_reason_status(r) != status)
            golden_fail("conditions.tsv: %s: %d %s, libapns %d", id, status, name,
                        apns_reason_status(r));
        if ((strcmp(golden_col(&t, i, "timestamp"), "yes") == 0) != (status == 410))
            golden_fail("conditions.tsv: %s: timestamp %s with status %d", id,
                        golden_col(&t, i, "timestamp"), status);
    }
    golden_ok(before, "conditions: %zu rows of conditions.tsv, each a reason of APNS_REASON_MAP",
              t.nrows);
    golden_free(&t);
}

/* ---- 2. push types ------------------------------------------------------- */

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ALERT "{\"aps\":{\"alert\":\"golden\"}}"

/* apns_notification_validate on a notification that is good but for what
 * the caller changed through n; returns its code. */
static int validate(apns_notification *n)
{
    char detail[256];
    return apns_notification_validate(n, 1, detail, sizeof detail);
}

/* A good notification of push type t to topic. */
static void note(apns_notification *n, apns_push_type t, const char *topic)
{
    apns_notification_init(n);
    n->token = TOKEN, n->topic = topic, n->push_type = t;
    n->payload = ALERT, n->payload_len = sizeof ALERT - 1;
}

static void check_push_type(size_t i)
{
    const char *name = golden_col(&g.push_types, i, "push_type");
    const char *gsuffix = golden_opt(golden_col(&g.push_types, i, "topic_suffix"));
    size_t gmax = (size_t)atol(golden_col(&g.push_types, i, "max_payload_bytes"));
    const char *gforbid = golden_opt(golden_col(&g.push_types, i, "forbidden_priority"));
    apns_push_type t;
    if (apns_push_type_parse(name, &t) != 0) {
        golden_fail("push-types.tsv: %s is not a libapns push type", name);
        return;
    }
    const char *suffix = apns_push_type_topic_suffix(t);
    if (strcmp(apns_push_type_name(t), name) != 0)
        golden_fail("push-types.tsv: %s is named \"%s\" by libapns", name, apns_push_type_name(t));
    if (!suffix || strcmp(suffix, gsuffix ? gsuffix : "") != 0)
        golden_fail("push-types.tsv: %s topic suffix \"%s\", libapns \"%s\"", name,
                    gsuffix ? gsuffix : "", suffix ? suffix : "(null)");
    if (apns_payload_limit(t) != gmax)
        golden_fail("push-types.tsv: %s payload limit %zu, libapns %zu", name, gmax,
                    apns_payload_limit(t));

    char topic[300];
    snprintf(topic, sizeof topic, "com.example.app%s", gsuffix ? gsuffix : "");
    apns_notification n;
    note(&n, t, topic);
    n.priority = 5;
    if (validate(&n) != 0)
        golden_fail("push-types.tsv: %s to %s refused by apns_notification_validate (%s)", name,
                    topic, apns_err_name(validate(&n)));
    /* The forbidden priority is refused, sent or implied by its absence. */
    int dflt = atoi(golden_rule(&g.headers, "apns-priority", "default", "value"));
    if (gforbid) {
        n.priority = atoi(gforbid);
        if (validate(&n) == 0)
            golden_fail("push-types.tsv: %s with apns-priority %s accepted by libapns", name,
                        gforbid);
    }
    n.priority = 0; /* omitted */
    int omitted_ok = validate(&n) == 0;
    if (omitted_ok != !(gforbid && atoi(gforbid) == dflt))
        golden_fail("push-types.tsv: %s without apns-priority (default %d) %s by libapns", name,
                    dflt, omitted_ok ? "accepted" : "refused");
}

static void check_push_types(void)
{
    int before = golden_failures();
    for (size_t i = 0; i < g.push_types.nrows; i++)
        check_push_type(i);
    for (int t = 0; t < APNS_PUSH_TYPE_COUNT; t++)
        if (golden_find(&g.push_types, "push_type", apns_push_type_name((apns_push_type)t)) < 0)
            golden_fail("libapns push type %s is not in push-types.tsv",
                        apns_push_type_name((apns_push_type)t));
    /* token_auth_only: libapns does not model which push types a
     * certificate connection may send. */
    golden_ok(before, "push types: %zu rows of push-types.tsv against %d of libapns",
              g.push_types.nrows, APNS_PUSH_TYPE_COUNT);
}

/* ---- 3. header limits ------------------------------------------------------ */

/* Characters of a UUID of the shape "8-4-4-4-12" (groups and hyphens), or
 * -1 when the shape is not digits and hyphens. */
static int uuid_len(const char *shape)
{
    int len = 0;
    for (const char *s = shape; *s;) {
        len += atoi(s);
        s += strspn(s, "0123456789");
        if (*s == '-')
            len++, s++;
        else if (*s)
            return -1;
    }
    return len;
}

static void check_headers(void)
{
    int before = golden_failures();
    apns_notification n;
    char buf[512];
    int collapse = atoi(golden_rule(&g.headers, "apns-collapse-id", "max-bytes", "value"));
    if (APNS_COLLAPSE_ID_MAX != collapse)
        golden_fail("headers.tsv: apns-collapse-id at most %d bytes, APNS_COLLAPSE_ID_MAX %d",
                    collapse, APNS_COLLAPSE_ID_MAX);
    note(&n, APNS_PUSH_ALERT, "com.example.app");
    memset(buf, 'c', (size_t)collapse + 1);
    buf[collapse] = '\0';
    n.collapse_id = buf;
    if (validate(&n) != 0)
        golden_fail("headers.tsv: a %d-byte apns-collapse-id refused by libapns", collapse);
    buf[collapse] = 'c';
    buf[collapse + 1] = '\0';
    if (validate(&n) != APNS_ECOLLAPSEID)
        golden_fail("headers.tsv: a %d-byte apns-collapse-id not refused by libapns", collapse + 1);

    int token_bytes = atoi(golden_rule(&g.headers, "device-token", "max-bytes", "value"));
    if (APNS_TOKEN_HEX_MAX != 2 * token_bytes)
        golden_fail(
            "headers.tsv: device tokens of at most %d bytes, APNS_TOKEN_HEX_MAX %d hex digits",
            token_bytes, APNS_TOKEN_HEX_MAX);

    const char *shape = golden_rule(&g.headers, "apns-id", "uuid", "value");
    int len = uuid_len(shape);
    if (APNS_UUID_LEN != len)
        golden_fail("headers.tsv: apns-id is a %s UUID (%d characters), APNS_UUID_LEN %d", shape,
                    len, APNS_UUID_LEN);
    note(&n, APNS_PUSH_ALERT, "com.example.app");
    snprintf(n.apns_id, sizeof n.apns_id, "123e4567-e89b-12d3-a456-4266554400a0");
    if (validate(&n) != 0)
        golden_fail("headers.tsv: Apple's example apns-id refused by libapns");

    note(&n, APNS_PUSH_ALERT, "com.example.app");
    snprintf(buf, sizeof buf, "%s", golden_rule(&g.headers, "apns-priority", "one-of", "value"));
    for (char *save = NULL, *v = strtok_r(buf, " ", &save); v; v = strtok_r(NULL, " ", &save)) {
        n.priority = atoi(v);
        if (validate(&n) != 0)
            golden_fail("headers.tsv: apns-priority %s refused by libapns", v);
    }
    n.priority = 7;
    if (validate(&n) != APNS_EPRIORITY)
        golden_fail("headers.tsv: apns-priority 7 not refused by libapns");
    golden_ok(before, "header limits: headers.tsv against libapns' constants and validation");
}

#if APNS_HAVE_LEGACY
/* ---- 4. the legacy binary interface ------------------------------------------ */

static void check_binary(void)
{
    int before = golden_failures();
    for (size_t i = 0; i < g.bin_status.nrows; i++) {
        int status = atoi(golden_col(&g.bin_status, i, "status"));
        const char *meaning = golden_col(&g.bin_status, i, "meaning");
        if (strcmp(apns_binary_status_name(status), meaning) != 0)
            golden_fail("binary-status.tsv: %d \"%s\", libapns \"%s\"", status, meaning,
                        apns_binary_status_name(status));
    }
    int n = 0;
#define XX(id, value, msg)                                                                         \
    n++;                                                                                           \
    if (golden_binary_status(&g, msg) != (value))                                                  \
        golden_fail("APNS_BINARY_STATUS_MAP: %d \"%s\" is not in binary-status.tsv", value, msg);
    APNS_BINARY_STATUS_MAP(XX)
#undef XX
    static const struct {
        const char *format;
        int token_max, payload_max;
    } lib[] = {
        {"simple", APNS_BINARY_TOKEN_LEGACY, APNS_BINARY_PAYLOAD_MAX_LEGACY},
        {"enhanced", APNS_BINARY_TOKEN_LEGACY, APNS_BINARY_PAYLOAD_MAX_LEGACY},
        {"frame", APNS_BINARY_TOKEN_MAX, APNS_BINARY_PAYLOAD_MAX_FRAME},
    };
    for (size_t i = 0; i < sizeof lib / sizeof lib[0]; i++) {
        long r = golden_find(&g.bin_formats, "format", lib[i].format);
        if (r < 0) {
            golden_fail("binary-formats.tsv has no format %s", lib[i].format);
            continue;
        }
        const char *tok = golden_col(&g.bin_formats, (size_t)r, "token_bytes");
        int tmax = atoi(strchr(tok, '-') ? strchr(tok, '-') + 1 : tok);
        int pmax = atoi(golden_col(&g.bin_formats, (size_t)r, "max_payload_bytes"));
        if (tmax != lib[i].token_max || pmax != lib[i].payload_max)
            golden_fail("binary-formats.tsv: %s token %d payload %d bytes, libapns %d and %d",
                        lib[i].format, tmax, pmax, lib[i].token_max, lib[i].payload_max);
    }
    golden_ok(before,
              "binary: %zu statuses of binary-status.tsv against %d of APNS_BINARY_STATUS_MAP, "
              "%zu formats",
              g.bin_status.nrows, n, g.bin_formats.nrows);
}
#endif

/* ---- 5. Live Activity payloads -------------------------------------------- */

/* apns_live_activity_check() against every row of live-activity.tsv: ok rows
 * pass, refused rows fail with APNS_ELIVEACTIVITY, for their target. */
static void check_live_activity(void)
{
    int before = golden_failures();
    golden_table t;
    golden_need(&t, "live-activity.tsv");
    for (size_t i = 0; i < t.nrows; i++) {
        const char *id = golden_col(&t, i, "id");
        const char *target = golden_col(&t, i, "target");
        const char *payload = golden_col(&t, i, "payload");
        int want_ok = strcmp(golden_col(&t, i, "verdict"), "ok") == 0;
        apns_live_activity_target tg =
            strcmp(target, "channel") == 0 ? APNS_LA_CHANNEL : APNS_LA_DEVICE;
        char d[256];
        int rc = apns_live_activity_check(payload, strlen(payload), tg, d, sizeof d);
        if (want_ok && rc != 0)
            golden_fail("live-activity.tsv: %s (%s): refused: %s", id, target, d);
        else if (!want_ok && rc != APNS_ELIVEACTIVITY)
            golden_fail("live-activity.tsv: %s (%s): got %s, want APNS_ELIVEACTIVITY", id, target,
                        apns_err_name(rc));
    }
    golden_ok(before, "live activity: %zu payloads of live-activity.tsv", t.nrows);
    golden_free(&t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    golden_need_all(&g);
    check_reasons();
    check_conditions();
    check_push_types();
    check_headers();
    check_live_activity();
#if APNS_HAVE_LEGACY
    check_binary(); /* a build without the legacy interface has none to check */
#endif
    golden_free_all(&g);
    return golden_verdict("golden_lib_reasons", "libapns");
}

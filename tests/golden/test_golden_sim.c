/*
 * test_golden_sim.c - apns-sim's own rules against Apple's documentation,
 * as the literal tables of tests/golden/ record it (ctest golden_sim).
 *
 * Compiled with the simulator's sources (apple.c, validate.c, request.c,
 * tokenset.c, legacy/frames.c), never with libapns' tables. It checks:
 *   1. sim/apple.h's reason table equals reasons.tsv, row by row, both ways;
 *   2. its push-type table equals push-types.tsv (suffix, payload limit,
 *      forbidden priority), and the validator answers each type by it;
 *   3. the validator answers every rule of headers.tsv as the row says,
 *      with the status reasons.tsv gives (probes built from the row);
 *   4. sim/legacy/frames.h's status table equals binary-status.tsv, and the
 *      decoder applies binary-formats.tsv and binary-items.tsv;
 *   5. its broadcast reasons (SIM_BC_REASON_MAP) each have a row of
 *      broadcast.tsv, and every reason of broadcast.tsv has that row's
 *      status in sim/apple.h.
 * Valid requests are built from the golden rows too (path prefix, sizes),
 * so a wrong row on either side fails here. Prints one line per check and a
 * FAIL line per mismatch; exits 1 if there was any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apple.h"
#include "golden.h"
#include "legacy/frames.h"
#include "request.h"
#include "validate.h"

#define BUNDLE "com.example.app"
#define ALERT  "{\"aps\":{\"alert\":\"golden\"}}"

static golden_set g;

/* ---- 1. reasons ---------------------------------------------------------- */

static sim_reason sim_reason_named(const char *name)
{
    for (int r = SIM_REASON_NONE + 1; r < SIM_REASON_COUNT; r++)
        if (strcmp(sim_reasons[r].name, name) == 0)
            return (sim_reason)r;
    return SIM_REASON_NONE;
}

static void check_reasons(void)
{
    int before = golden_failures();
    for (size_t i = 0; i < g.reasons.nrows; i++) {
        const char *name = golden_col(&g.reasons, i, "reason");
        int status = atoi(golden_col(&g.reasons, i, "status"));
        sim_reason r = sim_reason_named(name);
        if (r == SIM_REASON_NONE)
            golden_fail("reasons.tsv: %d %s is not in sim/apple.h", status, name);
        else if (sim_reasons[r].status != status || atoi(sim_reasons[r].status_text) != status)
            golden_fail("reasons.tsv: %s is %d, sim/apple.h says %d (\"%s\")", name, status,
                        sim_reasons[r].status, sim_reasons[r].status_text);
    }
    for (int r = SIM_REASON_NONE + 1; r < SIM_REASON_DEVICE_COUNT; r++)
        if (golden_find(&g.reasons, "reason", sim_reasons[r].name) < 0)
            golden_fail("sim/apple.h: reason %s (%d) is not in reasons.tsv", sim_reasons[r].name,
                        sim_reasons[r].status);
    if (sim_reasons[SIM_REASON_NONE].status != 200)
        golden_fail("sim/apple.h: SIM_REASON_NONE is %d, not 200",
                    sim_reasons[SIM_REASON_NONE].status);
    golden_ok(before, "reasons: %zu rows of reasons.tsv against %d of sim/apple.h", g.reasons.nrows,
              SIM_REASON_DEVICE_COUNT - 1);
}

/* ---- 5. broadcast reasons ------------------------------------------------ */

static void check_broadcast_reasons(void)
{
    int before = golden_failures();
    golden_table bt;
    golden_need(&bt, "broadcast.tsv");
    for (size_t i = 0; i < bt.nrows; i++) {
        const char *name = golden_opt(golden_col(&bt, i, "reason"));
        int status = atoi(golden_col(&bt, i, "status"));
        if (!name)
            continue; /* a success */
        sim_reason r = sim_reason_named(name);
        if (r == SIM_REASON_NONE)
            golden_fail("broadcast.tsv: %d %s is not in sim/apple.h", status, name);
        else if (sim_reasons[r].status != status || atoi(sim_reasons[r].status_text) != status)
            golden_fail("broadcast.tsv: %s is %d, sim/apple.h says %d", name, status,
                        sim_reasons[r].status);
    }
    for (int r = SIM_REASON_DEVICE_COUNT; r < SIM_REASON_COUNT; r++)
        if (golden_find(&bt, "reason", sim_reasons[r].name) < 0)
            golden_fail("sim/apple.h: broadcast reason %s (%d) has no row in broadcast.tsv",
                        sim_reasons[r].name, sim_reasons[r].status);
    golden_ok(before, "broadcast reasons: %zu rows of broadcast.tsv against %d of sim/apple.h",
              bt.nrows, SIM_REASON_COUNT - SIM_REASON_DEVICE_COUNT);
    golden_free(&bt);
}

/* ---- requests through the validator ------------------------------------------ */

/* The :path prefix and a good device token, from headers.tsv. */
static char path_prefix[64];
static char token[2 * 64 + 1];

typedef struct probe {
    const char *method; /* NULL: POST from headers.tsv */
    const char *path;   /* NULL: prefix + token */
    const char *hdr[10][2];
    const char *body; /* NULL: ALERT */
    size_t body_len;  /* with body: 0 = strlen */
    sim_auth_mode auth;
} probe;

static void run(const probe *p, sim_verdict *v)
{
    static sim_request r;
    char path[1024];
    sim_request_reset(&r);
    const char *m = p->method ? p->method : golden_rule(&g.headers, ":method", "equals", "value");
    sim_request_add_header(&r, (const uint8_t *)":method", 7, (const uint8_t *)m, strlen(m));
    if (!p->path)
        snprintf(path, sizeof path, "%s%s", path_prefix, token);
    const char *pa = p->path ? p->path : path;
    sim_request_add_header(&r, (const uint8_t *)":path", 5, (const uint8_t *)pa, strlen(pa));
    for (int i = 0; i < 10 && p->hdr[i][0]; i++)
        sim_request_add_header(&r, (const uint8_t *)p->hdr[i][0], strlen(p->hdr[i][0]),
                               (const uint8_t *)p->hdr[i][1], strlen(p->hdr[i][1]));
    const char *body = p->body ? p->body : ALERT;
    size_t blen = p->body ? (p->body_len ? p->body_len : strlen(p->body)) : strlen(ALERT);
    sim_request_add_body(&r, (const uint8_t *)body, blen);
    sim_policy pol = {.auth = p->auth};
    sim_validate(&r, &pol, NULL, NULL, v);
}

/* Runs p and checks the answer: 200 when want is NULL, else the reason
 * `want` with the status reasons.tsv gives it. */
static void expect(const char *label, const probe *p, const char *want)
{
    sim_verdict v;
    run(p, &v);
    int status = want ? golden_reason_status(want) : 200;
    const char *got = v.reason == SIM_REASON_NONE ? NULL : sim_reasons[v.reason].name;
    if (v.status != status || (want ? !got || strcmp(got, want) != 0 : got != NULL))
        golden_fail("%s: apns-sim answers %d %s, golden says %d %s", label, v.status,
                    got ? got : "-", status, want ? want : "-");
}

/* A JSON object of exactly n bytes (n >= 20). */
static char *body_of(size_t n)
{
    static const char pre[] = "{\"aps\":{\"alert\":\"", post[] = "\"}}";
    char *b = malloc(n + 1);
    if (!b || n < sizeof pre + sizeof post - 2)
        abort();
    memcpy(b, pre, sizeof pre - 1);
    memset(b + sizeof pre - 1, 'x', n - (sizeof pre - 1) - (sizeof post - 1));
    memcpy(b + n - (sizeof post - 1), post, sizeof post);
    return b;
}

/* ---- 2. push types ----------------------------------------------------------- */

static void check_push_type(size_t i, const char *too_large, const char *bad_priority)
{
    const char *name = golden_col(&g.push_types, i, "push_type");
    const char *gsuffix = golden_opt(golden_col(&g.push_types, i, "topic_suffix"));
    size_t gmax = (size_t)atol(golden_col(&g.push_types, i, "max_payload_bytes"));
    const char *gforbid = golden_opt(golden_col(&g.push_types, i, "forbidden_priority"));
    sim_push_type t;
    if (sim_push_type_parse(name, strlen(name), &t) != 0) {
        golden_fail("push-types.tsv: %s is not in sim/apple.h", name);
        return;
    }
    const sim_push_rule *rule = &sim_push_rules[t];
    if (strcmp(rule->suffix, gsuffix ? gsuffix : "") != 0)
        golden_fail("push-types.tsv: %s topic suffix \"%s\", sim/apple.h \"%s\"", name,
                    gsuffix ? gsuffix : "", rule->suffix);
    if (rule->payload_max != gmax)
        golden_fail("push-types.tsv: %s payload limit %zu, sim/apple.h %zu", name, gmax,
                    rule->payload_max);
    if ((gforbid == NULL) != (rule->bad_priority == NULL) ||
        (gforbid && strcmp(gforbid, rule->bad_priority) != 0))
        golden_fail("push-types.tsv: %s forbidden priority %s, sim/apple.h %s", name,
                    gforbid ? gforbid : "-", rule->bad_priority ? rule->bad_priority : "-");

    /* The validator, by the golden row: the right topic and a body of the
     * limit pass; one byte more is too large; the forbidden priority is
     * refused; a bare bundle id where a suffix is due is BadTopic (the
     * simulator's documented choice: Apple names no reason). */
    char topic[300], label[200];
    snprintf(topic, sizeof topic, "%s%s", BUNDLE, gsuffix ? gsuffix : "");
    const char *prio = gforbid && strcmp(gforbid, "5") != 0 ? "5" : "10";
    char *body = body_of(gmax), *over = body_of(gmax + 1);
    probe p = {.hdr = {{"apns-push-type", name}, {"apns-topic", topic}, {"apns-priority", prio}},
               .body = over};
    snprintf(label, sizeof label, "%s, %zu-byte body", name, gmax + 1);
    expect(label, &p, too_large);
    p.body = body;
    snprintf(label, sizeof label, "%s, %zu-byte body", name, gmax);
    expect(label, &p, NULL);
    if (gforbid) {
        p.hdr[2][1] = gforbid;
        snprintf(label, sizeof label, "%s, apns-priority %s", name, gforbid);
        expect(label, &p, bad_priority);
        p.hdr[2][1] = prio;
    }
    if (gsuffix) {
        p.hdr[1][1] = BUNDLE;
        snprintf(label, sizeof label, "%s to the bare bundle id", name);
        expect(label, &p, "BadTopic");
    }
    free(body);
    free(over);
}

/* What a certificate connection needs per push type: sim_cert_rules
 * (SIM_CERT_RULE_MAP) against push-types.tsv's certificate columns, and the
 * verdict of sim_cert_push_check for a certificate with no services and one
 * with all. */
static void check_cert_rules(void)
{
    static const char *const needs[] = {[SIM_CERT_ANY] = "any",
                                        [SIM_CERT_TOKEN_ONLY] = "token-only",
                                        [SIM_CERT_VOIP] = "oid-voip",
                                        [SIM_CERT_WATCHKIT] = "oid-watchkit"};
    for (size_t i = 0; i < g.push_types.nrows; i++) {
        const char *name = golden_col(&g.push_types, i, "push_type");
        const char *need = golden_col(&g.push_types, i, "certificate");
        const char *refusal = golden_opt(golden_col(&g.push_types, i, "certificate_refusal"));
        sim_push_type t;
        if (sim_push_type_parse(name, strlen(name), &t) != 0)
            continue; /* reported above */
        const sim_cert_rule *r = &sim_cert_rules[t];
        if (strcmp(needs[r->need], need) != 0)
            golden_fail("push-types.tsv: %s on a certificate needs %s, sim/apple.h %s", name, need,
                        needs[r->need]);
        const char *got = r->need == SIM_CERT_ANY ? NULL : sim_reasons[r->refusal].name;
        if ((got == NULL) != (refusal == NULL) || (got && strcmp(got, refusal) != 0))
            golden_fail("push-types.tsv: %s refused on a certificate with %s, sim/apple.h %s", name,
                        refusal ? refusal : "-", got ? got : "-");
        sim_reason none = sim_cert_push_check(t, 0);
        sim_reason all = sim_cert_push_check(t, SIM_CERT_SVC_VOIP | SIM_CERT_SVC_WATCHKIT);
        int token_only = strcmp(need, "token-only") == 0;
        if ((refusal == NULL) != (none == SIM_REASON_NONE) ||
            (refusal && strcmp(sim_reasons[none].name, refusal) != 0))
            golden_fail("push-types.tsv: %s from a certificate without services: %s, want %s", name,
                        sim_reasons[none].name, refusal ? refusal : "accepted");
        if ((all == SIM_REASON_NONE) == token_only)
            golden_fail("push-types.tsv: %s from a certificate with every service: %s", name,
                        all == SIM_REASON_NONE ? "accepted" : sim_reasons[all].name);
    }
}

static void check_push_types(void)
{
    int before = golden_failures();
    const char *too_large = golden_rule(&g.headers, "body", "max-bytes", "reason");
    const char *bad_priority = golden_rule(&g.headers, "apns-priority", "one-of", "reason");
    size_t lo = (size_t)-1, hi = 0;
    for (size_t i = 0; i < g.push_types.nrows; i++) {
        check_push_type(i, too_large, bad_priority);
        size_t max = (size_t)atol(golden_col(&g.push_types, i, "max_payload_bytes"));
        lo = max < lo ? max : lo;
        hi = max > hi ? max : hi;
    }
    for (int t = 0; t < SIM_PUSH_TYPE_COUNT; t++)
        if (golden_find(&g.push_types, "push_type", sim_push_rules[t].name) < 0)
            golden_fail("sim/apple.h: push type %s is not in push-types.tsv",
                        sim_push_rules[t].name);
    if (SIM_PAYLOAD_LIMIT_MIN != lo || SIM_PAYLOAD_LIMIT_MAX != hi || SIM_BODY_CAP < hi)
        golden_fail(
            "sim/apple.h: SIM_PAYLOAD_LIMIT_MIN/MAX %d/%d (body cap %d), push-types.tsv %zu/%zu",
            SIM_PAYLOAD_LIMIT_MIN, SIM_PAYLOAD_LIMIT_MAX, SIM_BODY_CAP, lo, hi);
    check_cert_rules();
    golden_ok(before,
              "push types: %zu rows of push-types.tsv against %d of sim/apple.h, each sent "
              "through the validator",
              g.push_types.nrows, SIM_PUSH_TYPE_COUNT);
}

/* ---- 3. request rules ------------------------------------------------------ */

/* A canonical lower-case UUID of the golden shape ("8-4-4-4-12"); with
 * `bad` one digit replaced by 'g'. */
static void uuid_of(const char *shape, int bad, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *s = shape; *s && n + 16 < outlen;) {
        int len = atoi(s);
        for (int i = 0; i < len; i++, n++)
            out[n] = "0123456789abcdef"[(n * 7) % 16];
        s += strspn(s, "0123456789");
        if (*s == '-') {
            out[n++] = '-';
            s++;
        }
    }
    out[n] = '\0';
    if (bad)
        out[1] = 'g';
}

static void probe_row(const char *field, const char *rule, const char *value, const char *reason)
{
    char label[200], buf[600];
    probe p = {.hdr = {{0}}};
    snprintf(label, sizeof label, "headers.tsv %s %s %s", field, rule, value);
    if (strcmp(field, ":method") == 0 && strcmp(rule, "equals") == 0) {
        expect(label, &p, NULL);
        const char *others[] = {"PUT", "GET", "post"};
        for (size_t i = 0; i < 3; i++) {
            p.method = others[i];
            expect(label, &p, reason);
        }
    } else if (strcmp(field, ":path") == 0 && strcmp(rule, "prefix") == 0) {
        snprintf(buf, sizeof buf, "/x%s%s", value, token);
        p.path = buf;
        expect(label, &p, reason);
        snprintf(buf, sizeof buf, "%.*s%s", (int)strlen(value) - 1, value, token);
        expect(label, &p, reason);
    } else if (strcmp(field, "device-token") == 0 && strcmp(rule, "required") == 0) {
        p.path = path_prefix;
        expect(label, &p, reason);
    } else if (strcmp(field, "device-token") == 0 && strcmp(rule, "hex") == 0) {
        snprintf(buf, sizeof buf, "%s%s", path_prefix, token);
        buf[strlen(path_prefix) + 3] = 'z';
        p.path = buf;
        expect(label, &p, reason);
        snprintf(buf, sizeof buf, "%s%s", path_prefix, token + 1); /* odd digit count */
        expect(label, &p, reason);
    } else if (strcmp(field, "device-token") == 0 && strcmp(rule, "max-bytes") == 0) {
        size_t hex = 2 * (size_t)atoi(value);
        int n = snprintf(buf, sizeof buf, "%s", path_prefix);
        memset(buf + n, 'a', hex + 2);
        buf[n + hex] = '\0';
        p.path = buf;
        expect(label, &p, NULL);
        buf[n + hex] = 'a';
        buf[n + hex + 2] = '\0';
        expect(label, &p, reason);
    } else if (strcmp(field, "apns-push-type") == 0 && strcmp(rule, "one-of") == 0) {
        /* Every listed value was sent by check_push_types(); one that is not: */
        p.hdr[0][0] = "apns-push-type";
        p.hdr[0][1] = "bogus";
        expect(label, &p, reason);
    } else if (strcmp(field, "apns-topic") == 0 && strcmp(rule, "required-with") == 0) {
        p.auth = SIM_AUTH_TOKEN; /* no auth hook: any credentials pass */
        expect(label, &p, reason);
        p.hdr[0][0] = "apns-topic";
        p.hdr[0][1] = BUNDLE;
        expect(label, &p, NULL);
    } else if (strcmp(field, "apns-priority") == 0 && strcmp(rule, "one-of") == 0) {
        snprintf(buf, sizeof buf, "%s", value);
        p.hdr[0][0] = "apns-priority";
        for (char *save = NULL, *v = strtok_r(buf, " ", &save); v; v = strtok_r(NULL, " ", &save)) {
            p.hdr[0][1] = v;
            expect(label, &p, NULL);
        }
        const char *bad[] = {"7", "0", "100", "high"};
        for (size_t i = 0; i < 4; i++) {
            p.hdr[0][1] = bad[i];
            expect(label, &p, reason);
        }
    } else if (strcmp(field, "apns-priority") == 0 && strcmp(rule, "default") == 0) {
        /* Omitting the header is answered as sending the default, for every
         * push type (background: both refused). */
        for (size_t i = 0; i < g.push_types.nrows; i++) {
            const char *name = golden_col(&g.push_types, i, "push_type");
            const char *sfx = golden_opt(golden_col(&g.push_types, i, "topic_suffix"));
            snprintf(buf, sizeof buf, "%s%s", BUNDLE, sfx ? sfx : "");
            probe q = {.hdr = {{"apns-push-type", name}, {"apns-topic", buf}}};
            sim_verdict omitted, given;
            run(&q, &omitted);
            q.hdr[2][0] = "apns-priority";
            q.hdr[2][1] = value;
            run(&q, &given);
            if (omitted.status != given.status || omitted.reason != given.reason)
                golden_fail("%s: %s without apns-priority is %d, with %s %d", label, name,
                            omitted.status, value, given.status);
        }
    } else if (strcmp(field, "apns-id") == 0 && strcmp(rule, "uuid") == 0) {
        char id[64];
        p.hdr[0][0] = "apns-id";
        p.hdr[0][1] = "123e4567-e89b-12d3-a456-4266554400a0"; /* Apple's example */
        expect(label, &p, NULL);
        uuid_of(value, 0, id, sizeof id);
        p.hdr[0][1] = id;
        expect(label, &p, NULL);
        sim_verdict v;
        run(&p, &v);
        if (!v.apns_id || strcmp(v.apns_id, id) != 0)
            golden_fail("%s: apns-id %s is not echoed", label, id);
        uuid_of(value, 1, id, sizeof id);
        expect(label, &p, reason);
        uuid_of(value, 0, id, sizeof id);
        size_t n = 0;
        for (char *s = id; *s; s++)
            if (*s != '-')
                id[n++] = *s;
        id[n] = '\0'; /* no hyphens */
        expect(label, &p, reason);
        p.hdr[0][1] = "not-a-uuid";
        expect(label, &p, reason);
    } else if (strcmp(field, "apns-expiration") == 0 && strcmp(rule, "unix-seconds") == 0) {
        p.hdr[0][0] = "apns-expiration";
        const char *good[] = {"0", "1700000000"}, *bad[] = {"-1", "soon", "1.5"};
        for (size_t i = 0; i < 2; i++) {
            p.hdr[0][1] = good[i];
            expect(label, &p, NULL);
        }
        for (size_t i = 0; i < 3; i++) {
            p.hdr[0][1] = bad[i];
            expect(label, &p, reason);
        }
    } else if (strcmp(field, "apns-collapse-id") == 0 && strcmp(rule, "max-bytes") == 0) {
        size_t max = (size_t)atoi(value);
        memset(buf, 'c', max + 1);
        buf[max] = '\0';
        p.hdr[0][0] = "apns-collapse-id";
        p.hdr[0][1] = buf;
        expect(label, &p, NULL);
        buf[max] = 'c';
        buf[max + 1] = '\0';
        expect(label, &p, reason);
    } else if (strcmp(field, "*") == 0 && strcmp(rule, "at-most-once") == 0) {
        static const char *twice[][2] = {
            {"apns-topic", BUNDLE},        {"apns-push-type", "alert"},
            {"apns-priority", "10"},       {"apns-expiration", "0"},
            {"apns-collapse-id", "c"},     {"apns-id", "123e4567-e89b-12d3-a456-4266554400a0"},
            {"authorization", "bearer x"},
        };
        for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
            probe q = {.hdr = {{twice[i][0], twice[i][1]}, {twice[i][0], twice[i][1]}}};
            snprintf(buf, sizeof buf, "%s (%s twice)", label, twice[i][0]);
            expect(buf, &q, reason);
        }
    } else if (strcmp(field, "body") == 0 && strcmp(rule, "required") == 0) {
        p.body = "";
        expect(label, &p, reason);
    } else if (strcmp(field, "body") == 0 && strcmp(rule, "max-bytes") == 0) {
        /* per push type: check_push_types() */
    } else {
        golden_fail("%s: no probe for this rule; teach test_golden_sim.c", label);
    }
}

static void check_headers(void)
{
    int before = golden_failures();
    for (size_t i = 0; i < g.headers.nrows; i++)
        probe_row(golden_col(&g.headers, i, "field"), golden_col(&g.headers, i, "rule"),
                  golden_col(&g.headers, i, "value"), golden_col(&g.headers, i, "reason"));
    golden_ok(before, "request rules: %zu rows of headers.tsv probed through the validator",
              g.headers.nrows);
}

/* ---- 4. the legacy binary interface ------------------------------------------ */

static const char *sim_bin_meaning(int status)
{
#define XX(id, value, meaning)                                                                     \
    if (status == (value))                                                                         \
        return meaning;
    SIM_BIN_STATUS_MAP(XX)
#undef XX
    return NULL;
}

static void check_bin_status(void)
{
    int before = golden_failures();
    for (size_t i = 0; i < g.bin_status.nrows; i++) {
        int status = atoi(golden_col(&g.bin_status, i, "status"));
        const char *meaning = golden_col(&g.bin_status, i, "meaning");
        const char *sim = sim_bin_meaning(status);
        if (!sim || strcmp(sim, meaning) != 0)
            golden_fail("binary-status.tsv: %d \"%s\", sim/legacy/frames.h \"%s\"", status, meaning,
                        sim ? sim : "(none)");
    }
    int n = 0;
#define XX(id, value, meaning)                                                                     \
    n++;                                                                                           \
    if (golden_binary_status(&g, meaning) != (value))                                              \
        golden_fail("sim/legacy/frames.h: status %d \"%s\" is not in binary-status.tsv", value,    \
                    meaning);
    SIM_BIN_STATUS_MAP(XX)
#undef XX
    golden_ok(before,
              "binary statuses: %zu rows of binary-status.tsv against %d of "
              "sim/legacy/frames.h",
              g.bin_status.nrows, n);
}

/* The status binary-status.tsv gives a meaning ("Invalid token size"). */
static int bin_status_of(const char *meaning)
{
    int status = golden_binary_status(&g, meaning);
    if (status < 0) {
        printf("FAIL binary-status.tsv has no status \"%s\"\n", meaning);
        exit(1);
    }
    return status;
}

static uint8_t *put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

/* A notification of `command` with a token and payload of these sizes;
 * frames carry items 1-5 (priority `prio`), or only `item` with length
 * `ilen` replaced. Returns its length. */
static size_t encode(uint8_t *out, int command, size_t tl, size_t pl, int item, size_t ilen,
                     uint8_t prio)
{
    uint8_t *p = out;
    *p++ = (uint8_t)command;
    if (command != 2) {
        if (command == 1) {
            memcpy(p, "\0\0\0\x2a\0\0\0\0", 8);
            p += 8;
        }
        p = put16(p, tl);
        memset(p, 0xab, tl);
        p = put16(p + tl, pl);
        memset(p, 'x', pl);
        return (size_t)(p + pl - out);
    }
    uint8_t *flen = p;
    p += 4;
    size_t lens[6] = {0, tl, pl, 4, 4, 1};
    if (item)
        lens[item] = ilen;
    for (int i = 1; i <= 5; i++) {
        *p++ = (uint8_t)i;
        p = put16(p, lens[i]);
        memset(p, i == 5 ? prio : 0x11, lens[i]);
        p += lens[i];
    }
    size_t data = (size_t)(p - flen - 4);
    flen[0] = (uint8_t)(data >> 24);
    flen[1] = (uint8_t)(data >> 16);
    flen[2] = (uint8_t)(data >> 8);
    flen[3] = (uint8_t)data;
    return (size_t)(p - out);
}

/* Decodes buf whole and checks: accepted (want NULL) or that status. */
static void expect_bin(const char *label, const uint8_t *buf, size_t len, const char *want)
{
    sim_bin_note n;
    uint8_t status;
    int rc = sim_bin_decode(buf, len, &n, &status);
    if (!want && rc != (int)len)
        golden_fail("%s: the decoder returns %d (status %d), want the whole %zu bytes", label, rc,
                    status, len);
    if (want && (rc >= 0 || status != bin_status_of(want)))
        golden_fail("%s: the decoder returns %d status %d, want status %d (%s)", label, rc, status,
                    bin_status_of(want), want);
}

static void check_bin_formats(void)
{
    int before = golden_failures();
    static uint8_t buf[8192];
    char label[200];
    for (size_t i = 0; i < g.bin_formats.nrows; i++) {
        int command = atoi(golden_col(&g.bin_formats, i, "command"));
        const char *fmt = golden_col(&g.bin_formats, i, "format");
        const char *tok = golden_col(&g.bin_formats, i, "token_bytes");
        size_t tmin = (size_t)atol(tok),
               tmax = strchr(tok, '-') ? (size_t)atol(strchr(tok, '-') + 1) : tmin;
        size_t pmax = (size_t)atol(golden_col(&g.bin_formats, i, "max_payload_bytes"));
        int packet = strcmp(golden_col(&g.bin_formats, i, "error_packet"), "yes") == 0;
        snprintf(label, sizeof label, "binary-formats.tsv %s", fmt);
        expect_bin(label, buf, encode(buf, command, tmax, pmax, 0, 0, 10), NULL);
        expect_bin(label, buf, encode(buf, command, tmin, 1, 0, 0, 10), NULL);
        expect_bin(label, buf, encode(buf, command, tmax + 1, 1, 0, 0, 10), "Invalid token size");
        if (tmin > 1)
            expect_bin(label, buf, encode(buf, command, tmin - 1, 1, 0, 0, 10),
                       "Invalid token size");
        expect_bin(label, buf, encode(buf, command, 0, 1, 0, 0, 10), "Missing device token");
        /* (the smallest token: a frame of the largest token and payload + 1
         * overruns the largest frame, a protocol error before any item) */
        expect_bin(label, buf, encode(buf, command, tmin, pmax + 1, 0, 0, 10),
                   "Invalid payload size");
        expect_bin(label, buf, encode(buf, command, tmin, 0, 0, 0, 10), "Missing payload");
        if (sim_bin_error_packet((uint8_t)command) != packet)
            golden_fail("%s: error packet %s, apns-sim %s", label, packet ? "yes" : "no",
                        packet ? "none" : "sends one");
    }
    /* Frame items: each at its documented length passes (above); the fixed
     * ones one byte off, a priority outside the list and an unknown item
     * are protocol errors. */
    for (size_t i = 0; i < g.bin_items.nrows; i++) {
        int item = atoi(golden_col(&g.bin_items, i, "item"));
        const char *len = golden_col(&g.bin_items, i, "length");
        const char *values = golden_opt(golden_col(&g.bin_items, i, "values"));
        snprintf(label, sizeof label, "binary-items.tsv %d %s", item,
                 golden_col(&g.bin_items, i, "name"));
        if (!strchr(len, '-')) {
            size_t l = (size_t)atol(len);
            expect_bin(label, buf, encode(buf, 2, 32, 8, item, l + 1, 10), "Protocol error");
            expect_bin(label, buf, encode(buf, 2, 32, 8, item, l - 1, 10), "Protocol error");
        }
        if (values) {
            char copy[64];
            snprintf(copy, sizeof copy, "%s", values);
            for (char *save = NULL, *v = strtok_r(copy, " ", &save); v;
                 v = strtok_r(NULL, " ", &save))
                expect_bin(label, buf, encode(buf, 2, 32, 8, 0, 0, (uint8_t)atoi(v)), NULL);
            expect_bin(label, buf, encode(buf, 2, 32, 8, 0, 0, 7), "Protocol error");
        }
    }
    size_t n = encode(buf, 2, 32, 8, 0, 0, 10);
    buf[5 + 3 + 32 + 3 + 8] = 6; /* item 3's id becomes 6: unknown */
    expect_bin("frame with an unknown item", buf, n, "Protocol error");
    buf[0] = 9;
    expect_bin("unknown command", buf, n, "Protocol error");
    if (!sim_bin_error_packet(9))
        golden_fail("an unknown command gets no error packet");
    golden_ok(before,
              "binary formats: %zu formats and %zu frame items decoded by "
              "sim/legacy/frames.c",
              g.bin_formats.nrows, g.bin_items.nrows);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    golden_need_all(&g);
    snprintf(path_prefix, sizeof path_prefix, "%s",
             golden_rule(&g.headers, ":path", "prefix", "value"));
    for (int i = 0; i < 64; i++)
        token[i] = "0123456789abcdef"[i % 16];
    check_reasons();
    check_broadcast_reasons();
    check_push_types();
    check_headers();
    check_bin_status();
    check_bin_formats();
    golden_free_all(&g);
    return golden_verdict("golden_sim", "apns-sim");
}

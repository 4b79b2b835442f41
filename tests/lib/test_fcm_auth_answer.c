/*
 * test_fcm_auth_answer.c - the token endpoint's answer: the HTTP/1.1
 * reader and the judge (lib/fcm_auth_answer.c), and the token URL.
 *
 * The expected verdicts come from the documents, written out here: RFC 6749
 * §5.1 (success: access_token, token_type, expires_in) and §5.2 (every error
 * code, status 400 or 401), Google's answers as fcm-protocol.md §2.2-2.3
 * quotes them, and RFC 9112 for the framing (Content-Length, chunked,
 * read-until-close, interim 1xx).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apns/error.h"
#include "fcm_auth_int.h"

static int judge(int status, const char *body, apns__fcm_answer *a, char *d, size_t dl)
{
    return apns__fcm_token_answer_parse(status, body, body ? strlen(body) : 0, a, d, dl);
}

/* RFC 6749 §5.1, with Google's values (fcm-protocol.md §2.2). */
static void answer_success(void **state)
{
    apns__fcm_answer a;
    char d[512];
    (void)state;
    assert_int_equal(judge(200,
                           "{\"access_token\":\"ya29.c.b0Aaek\",\"expires_in\":3599,"
                           "\"token_type\":\"Bearer\"}",
                           &a, d, sizeof d),
                     0);
    assert_string_equal(a.access_token, "ya29.c.b0Aaek");
    assert_int_equal(a.expires_in, 3599);
    assert_string_equal(d, "");
    /* token_type is case-insensitive (RFC 6749 §5.1); extra members (id_token) ignored. */
    assert_int_equal(judge(200,
                           "{\"token_type\":\"bearer\",\"expires_in\":\"60\",\"id_token\":\"x\","
                           "\"access_token\":\"t\"}",
                           &a, d, sizeof d),
                     0);
    assert_int_equal(a.expires_in, 60);
    /* A 2048-byte token fits (Google's documented maximum). */
    char big[2200];
    int n = snprintf(big, sizeof big, "{\"access_token\":\"");
    memset(big + n, 'a', 2048);
    n += 2048;
    snprintf(big + n, sizeof big - (size_t)n, "\",\"expires_in\":3600,\"token_type\":\"Bearer\"}");
    assert_int_equal(judge(200, big, &a, d, sizeof d), 0);
    assert_int_equal(strlen(a.access_token), 2048);
}

/* RFC 6749 §5.2: every error code, with 400 and 401. */
static const char *const RFC6749_ERRORS[] = {
    "invalid_request",     "invalid_client",         "invalid_grant",
    "unauthorized_client", "unsupported_grant_type", "invalid_scope",
};

static void answer_oauth_errors(void **state)
{
    apns__fcm_answer a;
    char d[512], body[256];
    (void)state;
    for (size_t i = 0; i < sizeof RFC6749_ERRORS / sizeof RFC6749_ERRORS[0]; i++) {
        for (int st = 400; st <= 401; st++) {
            snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"why %zu\"}",
                     RFC6749_ERRORS[i], i);
            assert_int_equal(judge(st, body, &a, d, sizeof d), APNS_EGRANT);
            assert_string_equal(a.error, RFC6749_ERRORS[i]);
            assert_non_null(strstr(d, RFC6749_ERRORS[i]));
            snprintf(body, sizeof body, "why %zu", i);
            assert_string_equal(a.error_description, body);
            assert_non_null(strstr(d, body));
            assert_string_equal(a.access_token, "");
        }
        /* error_description is optional */
        snprintf(body, sizeof body, "{\"error\":\"%s\"}", RFC6749_ERRORS[i]);
        assert_int_equal(judge(400, body, &a, d, sizeof d), APNS_EGRANT);
        assert_string_equal(a.error_description, "");
    }
    /* Google's own texts (fcm-protocol.md §2.3) reach the detail verbatim. */
    static const char *const google[][2] = {
        {"invalid_grant", "Invalid JWT Signature."},
        {"invalid_grant", "Invalid grant: account not found"},
        {"invalid_grant", "Invalid JWT: Failed audience check."},
        {"invalid_scope", "Invalid OAuth scope or ID token audience provided."},
        {"disabled_client", "The OAuth client was disabled."},
        {"deleted_client", ""},
    };
    for (size_t i = 0; i < sizeof google / sizeof google[0]; i++) {
        snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"}", google[i][0],
                 google[i][1]);
        assert_int_equal(judge(400, body, &a, d, sizeof d), APNS_EGRANT);
        assert_non_null(strstr(d, google[i][0]));
        assert_non_null(strstr(d, google[i][1]));
    }
    /* Control characters of the endpoint never reach a detail. */
    assert_int_equal(judge(400,
                           "{\"error\":\"invalid_grant\",\"error_description\":\"a\\nb\\u001b\"}",
                           &a, d, sizeof d),
                     APNS_EGRANT);
    assert_string_equal(a.error_description, "a?b?");
    for (const char *p = d; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void answer_transient(void **state)
{
    apns__fcm_answer a;
    char d[512];
    (void)state;
    static const int statuses[] = {429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        assert_int_equal(judge(statuses[i], "<html>busy</html>", &a, d, sizeof d),
                         APNS_EUNAVAILABLE);
        assert_int_equal(judge(statuses[i], "{\"error\":\"internal_failure\"}", &a, d, sizeof d),
                         APNS_EUNAVAILABLE);
        assert_non_null(strstr(d, "internal_failure"));
        assert_int_equal(judge(statuses[i], NULL, &a, d, sizeof d), APNS_EUNAVAILABLE);
    }
}

typedef struct {
    int status;
    const char *body;
    const char *word; /* the detail names the problem */
} malformed;

static const malformed MALFORMED[] = {
    {200, "", "empty body"},
    {200, "{\"access_token\":\"t\",", "not JSON"},
    {200, "[\"access_token\"]", "not a JSON object"},
    {200, "\"ya29\"", "not a JSON object"},
    {200, "{\"expires_in\":3600,\"token_type\":\"Bearer\"}", "no \"access_token\""},
    {200, "{\"access_token\":\"t\",\"token_type\":\"Bearer\"}", "no \"expires_in\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":3600}", "no \"token_type\""},
    {200, "{\"access_token\":\"\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
     "\"access_token\""},
    {200, "{\"access_token\":7,\"expires_in\":3600,\"token_type\":\"Bearer\"}", "\"access_token\""},
    {200, "{\"access_token\":\"a b\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
     "header cannot carry"},
    {200, "{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
     "header cannot carry"},
    {200, "{\"access_token\":\"a\\u0000b\",\"expires_in\":3600,\"token_type\":\"Bearer\"}",
     "not JSON"},
    {200, "{\"access_token\":\"t\",\"expires_in\":0,\"token_type\":\"Bearer\"}", "\"expires_in\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":-5,\"token_type\":\"Bearer\"}", "\"expires_in\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":1.5,\"token_type\":\"Bearer\"}",
     "\"expires_in\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":\"soon\",\"token_type\":\"Bearer\"}",
     "\"expires_in\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":3600,\"token_type\":\"MAC\"}", "\"MAC\""},
    {200, "{\"access_token\":\"t\",\"expires_in\":3600,\"token_type\":null}", "\"token_type\""},
    {200,
     "{\"access_token\":\"t\",\"access_token\":\"u\",\"expires_in\":3600,\"token_type\":"
     "\"Bearer\"}",
     "not JSON"},
    {404, "<html>Not Found</html>", "404 without an OAuth error"},
    {400, "{\"message\":\"bad\"}", "400 without an OAuth error"},
    {400, "{\"error\":\"\"}", "empty OAuth error"},
    {302, "", "302 without an OAuth error"},
};

static void answer_malformed(void **state)
{
    apns__fcm_answer a;
    char d[512];
    (void)state;
    for (size_t i = 0; i < sizeof MALFORMED / sizeof MALFORMED[0]; i++) {
        const malformed *m = &MALFORMED[i];
        int rc = judge(m->status, m->body, &a, d, sizeof d);
        if (rc != APNS_EFORMAT || strstr(d, m->word) == NULL)
            fail_msg("case %zu (%d %s): rc %s detail \"%s\", want EFORMAT with \"%s\"", i,
                     m->status, m->body, apns_err_name(rc), d, m->word);
        assert_string_equal(a.access_token, "");
    }
    /* A token too long for a cache (2049 bytes), and a huge body. */
    size_t n = 3 * 1024 * 1024;
    char *big = malloc(n + 100);
    int k = snprintf(big, n + 100, "{\"access_token\":\"");
    memset(big + k, 'a', 2049);
    snprintf(big + k + 2049, 100, "\",\"expires_in\":3600,\"token_type\":\"Bearer\"}");
    assert_int_equal(judge(200, big, &a, d, sizeof d), APNS_EFORMAT);
    assert_non_null(strstr(d, "2049 bytes"));
    memset(big, ' ', n);
    big[n] = '\0';
    big[0] = '{';
    assert_int_equal(apns__fcm_token_answer_parse(200, big, n, &a, d, sizeof d), APNS_EFORMAT);
    assert_non_null(strstr(d, "longer than"));
    free(big);
}

/* ---- the HTTP/1.1 reader (RFC 9112) ---------------------------------------------- */

static int h1(const char *raw, int eof, apns__h1_answer *out, char *d, size_t dl)
{
    return apns__h1_answer_parse((const uint8_t *)raw, strlen(raw), eof, out, d, dl);
}

static void http_framing(void **state)
{
    apns__h1_answer a;
    char d[256];
    (void)state;
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                     "\r\nhello";
    assert_int_equal(h1(cl, 0, &a, d, sizeof d), 1);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body_len, 5);
    assert_string_equal(a.body, "hello");
    apns__h1_answer_clear(&a);
    /* Every prefix of it needs more; with eof it is truncated. */
    for (size_t i = 0; i < strlen(cl); i++) {
        assert_int_equal(apns__h1_answer_parse((const uint8_t *)cl, i, 0, &a, d, sizeof d), 0);
        assert_int_equal(apns__h1_answer_parse((const uint8_t *)cl, i, 1, &a, d, sizeof d),
                         APNS_EFORMAT);
    }
    /* chunked, with an extension and a trailer */
    assert_int_equal(h1("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
                        0, &a, d, sizeof d),
                     1);
    assert_int_equal(a.status, 400);
    assert_string_equal(a.body, "abcde");
    apns__h1_answer_clear(&a);
    /* until close */
    assert_int_equal(h1("HTTP/1.1 200 OK\r\n\r\n{\"a\":1}", 0, &a, d, sizeof d), 0);
    assert_int_equal(h1("HTTP/1.1 200 OK\r\n\r\n{\"a\":1}", 1, &a, d, sizeof d), 1);
    assert_string_equal(a.body, "{\"a\":1}");
    apns__h1_answer_clear(&a);
    /* interim 100 skipped; Retry-After read */
    assert_int_equal(h1("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Unavailable\r\nRetry-After: 7"
                        "\r\nContent-Length: 0\r\n\r\n",
                        0, &a, d, sizeof d),
                     1);
    assert_int_equal(a.status, 503);
    assert_int_equal(a.retry_after_s, 7);
    apns__h1_answer_clear(&a);
}

static void http_malformed(void **state)
{
    apns__h1_answer a;
    char d[256];
    (void)state;
    static const struct {
        const char *raw;
        const char *word;
    } bad[] = {
        {"HTTP/2 200\r\n\r\n", "status line"},
        {"SSH-2.0-OpenSSH\r\n\r\n", "status line"},
        {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare CR or LF"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         "both Transfer-Encoding and Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "CRLF"},
        {"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "header field"},
        {"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "header field"},
        {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
        {"HTTP/1.1 931 OK\r\nContent-Length: 0\r\n\r\n", "bad status code 931"},
        {"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", "bad status code 99"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = h1(bad[i].raw, 1, &a, d, sizeof d);
        if (rc != APNS_EFORMAT || strstr(d, bad[i].word) == NULL)
            fail_msg("case %zu: rc %d detail \"%s\", want EFORMAT with \"%s\"", i, rc, d,
                     bad[i].word);
        assert_null(a.body);
    }
    /* Bounded: a header section that never ends stops at the limit. */
    size_t n = APNS__H1_ANSWER_MAX + 10;
    char *big = malloc(n + 1);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    big[n] = '\0';
    assert_int_equal(
        apns__h1_answer_parse((const uint8_t *)big, APNS__H1_ANSWER_MAX, 0, &a, d, sizeof d),
        APNS_EFORMAT);
    assert_non_null(strstr(d, "longer than"));
    assert_int_equal(apns__h1_answer_parse((const uint8_t *)big, n, 0, &a, d, sizeof d),
                     APNS_EFORMAT);
    free(big);
}

static void url_parts(void **state)
{
    char host[256], path[256], d[256];
    uint16_t port;
    (void)state;
    assert_int_equal(apns__fcm_url_parse("https://oauth2.googleapis.com/token", host, sizeof host,
                                         &port, path, sizeof path, d, sizeof d),
                     0);
    assert_string_equal(host, "oauth2.googleapis.com");
    assert_int_equal(port, 443);
    assert_string_equal(path, "/token");
    assert_int_equal(apns__fcm_url_parse("https://127.0.0.1:8443/token?x=1", host, sizeof host,
                                         &port, path, sizeof path, d, sizeof d),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_string_equal(path, "/token?x=1");
    assert_int_equal(apns__fcm_url_parse("https://[::1]:9/", host, sizeof host, &port, path,
                                         sizeof path, d, sizeof d),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9);
    assert_int_equal(
        apns__fcm_url_parse("https://h", host, sizeof host, &port, path, sizeof path, d, sizeof d),
        0);
    assert_string_equal(path, "/");
    static const char *const bad[] = {"http://h/token",   "https://",     "https://h:0/",
                                      "https://h:70000/", "https://h:x/", "https://[::1/",
                                      "https://a b/",     "https://u@h/", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(
            apns__fcm_url_parse(bad[i], host, sizeof host, &port, path, sizeof path, d, sizeof d),
            APNS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answer_success),   cmocka_unit_test(answer_oauth_errors),
        cmocka_unit_test(answer_transient), cmocka_unit_test(answer_malformed),
        cmocka_unit_test(http_framing),     cmocka_unit_test(http_malformed),
        cmocka_unit_test(url_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_fcm_auth_account.c - the service-account key file and the RS256
 * grant (lib/fcm_auth_account.c).
 *
 * Key files are made here with OpenSSL and jansson (and tests/certs/gen.sh's
 * sa-demo.json, the layout Google hands out): a table of bad files, each
 * with the words its detail must contain. The grant is checked the way the
 * token endpoint does: split, base64url-decoded, every claim compared with
 * the literal values of fcm-protocol.md §2.2, and the signature verified
 * with OpenSSL against the public key (gen.sh's PEM for sa-demo.json).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "apns/error.h"
#include "apns/fcm_auth.h"

/* fcm-protocol.md §2.1/§2.2, written out (not the library's macros). */
#define SCOPE     "https://www.googleapis.com/auth/firebase.messaging"
#define TOKEN_URI "https://oauth2.googleapis.com/token"
#define EMAIL     "push@demo-project.iam.gserviceaccount.com"
#define KID       "0123456789abcdef0123456789abcdef01234567"

static char tmpdir[256];
static EVP_PKEY *rsa2048, *rsa1024, *ec256;

static char *pem_of(EVP_PKEY *k, int encrypted, int pub)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (pub)
        assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    else if (encrypted)
        assert_int_equal(
            PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_128_cbc(), "pw", 2, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

/* A key file as Google writes it, with key_pem as private_key. */
static json_t *good_file(const char *key_pem)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "service_account", "project_id",
                     "demo-project", "private_key_id", KID, "private_key", key_pem, "client_email",
                     EMAIL, "client_id", "100000000000000000001", "token_uri", TOKEN_URI,
                     "universe_domain", "googleapis.com");
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test-fcm-account-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    rsa2048 = EVP_RSA_gen(2048);
    rsa1024 = EVP_RSA_gen(1024);
    ec256 = EVP_EC_gen("P-256");
    assert_non_null(rsa2048);
    assert_non_null(rsa1024);
    assert_non_null(ec256);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(ec256);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the loader ---------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *drop;       /* a field removed from the good file, or NULL */
    const char *field;      /* a field replaced ... */
    json_t *(*value)(void); /* ... with this value */
    const char *raw;        /* or the whole text */
    int rc;
    const char *words[3]; /* the detail must contain each */
} bad_case;

static json_t *v_int(void)
{
    return json_integer(7);
}
static json_t *v_empty(void)
{
    return json_string("");
}
static json_t *v_user(void)
{
    return json_string("authorized_user");
}
static json_t *v_quote(void)
{
    return json_string("a\"b@x.iam.gserviceaccount.com");
}
static json_t *v_http(void)
{
    return json_string("http://oauth2.googleapis.com/token");
}
static json_t *v_garbage(void)
{
    return json_string("hello, not a key");
}
static json_t *v_ec(void)
{
    char *p = pem_of(ec256, 0, 0);
    json_t *j = json_string(p);
    free(p);
    return j;
}
static json_t *v_small(void)
{
    char *p = pem_of(rsa1024, 0, 0);
    json_t *j = json_string(p);
    free(p);
    return j;
}
static json_t *v_encrypted(void)
{
    char *p = pem_of(rsa2048, 1, 0);
    json_t *j = json_string(p);
    free(p);
    return j;
}
static json_t *v_public(void)
{
    char *p = pem_of(rsa2048, 0, 1);
    json_t *j = json_string(p);
    free(p);
    return j;
}
static json_t *v_truncated(void)
{
    char *p = pem_of(rsa2048, 0, 0);
    p[strlen(p) / 2] = '\0';
    json_t *j = json_string(p);
    free(p);
    return j;
}

static const bad_case BAD[] = {
    {"not JSON", .raw = "{\"type\": \"service_account\",", .rc = APNS_EFORMAT,
     .words = {"not JSON"}},
    {"an array", .raw = "[1, 2]", .rc = APNS_EFORMAT, .words = {"not a JSON object"}},
    {"duplicate key", .raw = "{\"type\":\"service_account\",\"type\":\"x\"}", .rc = APNS_EFORMAT,
     .words = {"not JSON", "duplicate"}},
    {"no type", .drop = "type", .rc = APNS_EFORMAT, .words = {"\"type\"", "missing"}},
    {"wrong type", .field = "type", .value = v_user, .rc = APNS_EFORMAT,
     .words = {"authorized_user", "service_account"}},
    {"no project_id", .drop = "project_id", .rc = APNS_EFORMAT,
     .words = {"\"project_id\"", "missing"}},
    {"no private_key_id", .drop = "private_key_id", .rc = APNS_EFORMAT,
     .words = {"\"private_key_id\"", "missing"}},
    {"no private_key", .drop = "private_key", .rc = APNS_EFORMAT,
     .words = {"\"private_key\"", "missing"}},
    {"no client_email", .drop = "client_email", .rc = APNS_EFORMAT,
     .words = {"\"client_email\"", "missing"}},
    {"no token_uri", .drop = "token_uri", .rc = APNS_EFORMAT,
     .words = {"\"token_uri\"", "missing"}},
    {"project_id a number", .field = "project_id", .value = v_int, .rc = APNS_EFORMAT,
     .words = {"\"project_id\"", "not a string"}},
    {"empty client_email", .field = "client_email", .value = v_empty, .rc = APNS_EFORMAT,
     .words = {"\"client_email\"", "empty"}},
    {"quote in client_email", .field = "client_email", .value = v_quote, .rc = APNS_EFORMAT,
     .words = {"\"client_email\"", "printable ASCII"}},
    {"token_uri not https", .field = "token_uri", .value = v_http, .rc = APNS_EFORMAT,
     .words = {"\"token_uri\"", "https"}},
    {"private_key not PEM", .field = "private_key", .value = v_garbage, .rc = APNS_EKEY,
     .words = {"\"private_key\"", "BEGIN PRIVATE KEY"}},
    {"private_key EC", .field = "private_key", .value = v_ec, .rc = APNS_EKEY,
     .words = {"not an RSA key", "EC"}},
    {"private_key 1024 bits", .field = "private_key", .value = v_small, .rc = APNS_EKEY,
     .words = {"1024-bit", "2048"}},
    {"private_key encrypted", .field = "private_key", .value = v_encrypted, .rc = APNS_EKEY,
     .words = {"encrypted"}},
    {"private_key public", .field = "private_key", .value = v_public, .rc = APNS_EKEY,
     .words = {"public key"}},
    {"private_key cut", .field = "private_key", .value = v_truncated, .rc = APNS_EKEY,
     .words = {"cannot parse \"private_key\""}},
};

static char *bad_text(const bad_case *c)
{
    if (c->raw)
        return strdup(c->raw);
    char *pem = pem_of(rsa2048, 0, 0);
    json_t *j = good_file(pem);
    free(pem);
    if (c->drop)
        json_object_del(j, c->drop);
    if (c->field)
        json_object_set_new(j, c->field, c->value());
    return dump(j);
}

static void check_words(const bad_case *c, const char *detail, const char *name)
{
    for (int w = 0; w < 3 && c->words[w]; w++)
        if (strstr(detail, c->words[w]) == NULL)
            fail_msg("%s: detail \"%s\" lacks \"%s\"", c->name, detail, c->words[w]);
    if (strstr(detail, name) == NULL)
        fail_msg("%s: detail \"%s\" does not name \"%s\"", c->name, detail, name);
}

static void load_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const bad_case *c = &BAD[i];
        char *text = bad_text(c);
        char detail[512], path[512];
        apns_fcm_account *a = (apns_fcm_account *)1;

        /* from memory */
        int rc = apns_fcm_account_load_json(&a, text, strlen(text), detail, sizeof detail);
        if (rc != c->rc)
            fail_msg("%s: rc %s, want %s (%s)", c->name, apns_err_name(rc), apns_err_name(c->rc),
                     detail);
        assert_null(a);
        check_words(c, detail, "service-account JSON");

        /* from a file: the same verdict, naming the file */
        snprintf(path, sizeof path, "%s/bad-%zu.json", tmpdir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        a = (apns_fcm_account *)1;
        rc = apns_fcm_account_load_file(&a, path, detail, sizeof detail);
        assert_int_equal(rc, c->rc);
        assert_null(a);
        check_words(c, detail, path);
        free(text);
    }
}

static void load_bad_paths(void **state)
{
    char path[512], detail[512];
    apns_fcm_account *a;
    (void)state;

    snprintf(path, sizeof path, "%s/no-such-file.json", tmpdir);
    assert_int_equal(apns_fcm_account_load_file(&a, path, detail, sizeof detail), APNS_EIO);
    assert_null(a);
    assert_non_null(strstr(detail, path));
    assert_non_null(strstr(detail, "No such file"));

    assert_int_equal(apns_fcm_account_load_file(&a, tmpdir, detail, sizeof detail), APNS_EIO);
    assert_non_null(strstr(detail, "not a regular file"));

    snprintf(path, sizeof path, "%s/empty.json", tmpdir);
    FILE *f = fopen(path, "w");
    fclose(f);
    assert_int_equal(apns_fcm_account_load_file(&a, path, detail, sizeof detail), APNS_EFORMAT);
    assert_non_null(strstr(detail, "empty"));

    snprintf(path, sizeof path, "%s/huge.json", tmpdir);
    f = fopen(path, "w");
    for (int i = 0; i < 70000; i++)
        fputc(' ', f);
    fclose(f);
    assert_int_equal(apns_fcm_account_load_file(&a, path, detail, sizeof detail), APNS_EIO);
    assert_non_null(strstr(detail, "larger than"));

    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/unreadable.json", tmpdir);
        f = fopen(path, "w");
        fputs("{}", f);
        fclose(f);
        chmod(path, 0);
        assert_int_equal(apns_fcm_account_load_file(&a, path, detail, sizeof detail), APNS_EIO);
        assert_non_null(strstr(detail, "Permission denied"));
    }

    assert_int_equal(apns_fcm_account_load_file(NULL, path, detail, sizeof detail), APNS_EINVAL);
    assert_int_equal(apns_fcm_account_load_file(&a, NULL, detail, sizeof detail), APNS_EINVAL);
    assert_int_equal(apns_fcm_account_load_json(&a, NULL, 0, NULL, 0), APNS_EINVAL);
    apns_fcm_account_free(NULL);
}

static void load_good(void **state)
{
    char detail[512] = "x";
    apns_fcm_account *a;
    (void)state;

    char *pem = pem_of(rsa2048, 0, 0);
    char *text = dump(good_file(pem));
    free(pem);
    assert_int_equal(apns_fcm_account_load_json(&a, text, strlen(text), detail, sizeof detail), 0);
    assert_string_equal(detail, "");
    assert_string_equal(apns_fcm_account_project_id(a), "demo-project");
    assert_string_equal(apns_fcm_account_client_email(a), EMAIL);
    assert_string_equal(apns_fcm_account_token_uri(a), TOKEN_URI);
    assert_string_equal(apns_fcm_account_key_id(a), KID);
    apns_fcm_account_free(a);
    free(text);
}

/* ---- the grant ----------------------------------------------------------------- */

static json_t *decode_part(const char *p, size_t n)
{
    uint8_t buf[4096];
    int len = apns_base64url_decode(p, n, buf, sizeof buf);
    assert_true(len > 0);
    json_error_t e;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(j);
    return j;
}

/* Checks jwt against fcm-protocol.md §2.2 and verifies it with pub. */
static void check_grant(const char *jwt, int64_t iat, EVP_PKEY *pub, const char *email,
                        const char *kid)
{
    const char *d1 = strchr(jwt, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strchr(jwt, '=')); /* no padding */

    json_t *h = decode_part(jwt, (size_t)(d1 - jwt));
    assert_int_equal(json_object_size(h), 3);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    json_decref(h);

    json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_int_equal(json_object_size(c), 5);
    assert_string_equal(json_string_value(json_object_get(c, "iss")), email);
    assert_string_equal(json_string_value(json_object_get(c, "scope")), SCOPE);
    assert_string_equal(json_string_value(json_object_get(c, "aud")), TOKEN_URI);
    assert_true(json_is_integer(json_object_get(c, "iat")));
    assert_true(json_is_integer(json_object_get(c, "exp")));
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), iat);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), iat + 3600);
    json_decref(c);

    uint8_t sig[1024];
    int sl = apns_base64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    assert_int_equal(sl, 256); /* RSA 2048, PKCS#1 v1.5 */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_equal(
        EVP_DigestVerify(md, sig, (size_t)sl, (const uint8_t *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    /* One flipped byte of the signing input no longer verifies. */
    char *bad = strdup(jwt);
    bad[5] ^= 1;
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, (size_t)sl, (const uint8_t *)bad, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(bad);
}

static void grant_signed_and_verified(void **state)
{
    char detail[512], jwt[APNS_FCM_ASSERTION_MAX];
    apns_fcm_account *a;
    (void)state;

    char *pem = pem_of(rsa2048, 0, 0);
    char *text = dump(good_file(pem));
    free(pem);
    assert_int_equal(apns_fcm_account_load_json(&a, text, strlen(text), detail, sizeof detail), 0);
    free(text);
    int n = apns_fcm_assertion_sign(a, 1700000000, jwt, sizeof jwt);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(jwt));
    check_grant(jwt, 1700000000, rsa2048, EMAIL, KID);

    /* A buffer one byte short, NULLs, a negative iat. */
    char small[APNS_FCM_ASSERTION_MAX];
    assert_int_equal(apns_fcm_assertion_sign(a, 1700000000, small, (size_t)n), APNS_EINVAL);
    assert_int_equal(apns_fcm_assertion_sign(a, 1700000000, small, (size_t)n + 1), n);
    assert_int_equal(apns_fcm_assertion_sign(NULL, 1, jwt, sizeof jwt), APNS_EINVAL);
    assert_int_equal(apns_fcm_assertion_sign(a, 1, NULL, sizeof jwt), APNS_EINVAL);
    assert_int_equal(apns_fcm_assertion_sign(a, -1, jwt, sizeof jwt), APNS_EINVAL);
    apns_fcm_account_free(a);
}

/* tests/certs/gen.sh's key file (Google's layout, private key escaped with
 * \n) and the public key it gave fcm-sim. */
static void grant_of_gen_sh_file(void **state)
{
    const char *certs = getenv("APNS_TEST_CERTS");
    char path[1024], pubpath[1200], detail[512], jwt[APNS_FCM_ASSERTION_MAX];
    apns_fcm_account *a;
    (void)state;
    if (certs == NULL)
        skip();
    snprintf(path, sizeof path, "%s/fcm/sa-demo.json", certs);
    assert_int_equal(apns_fcm_account_load_file(&a, path, detail, sizeof detail), 0);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    assert_non_null(j);
    assert_string_equal(apns_fcm_account_project_id(a),
                        json_string_value(json_object_get(j, "project_id")));
    assert_string_equal(apns_fcm_account_client_email(a),
                        json_string_value(json_object_get(j, "client_email")));
    assert_string_equal(apns_fcm_account_token_uri(a), TOKEN_URI);
    snprintf(pubpath, sizeof pubpath, "%s/fcm/accounts/%s.pem", certs,
             apns_fcm_account_client_email(a));
    FILE *f = fopen(pubpath, "r");
    assert_non_null(f);
    EVP_PKEY *pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pub);
    assert_true(apns_fcm_assertion_sign(a, 1760000000, jwt, sizeof jwt) > 0);
    check_grant(jwt, 1760000000, pub, json_string_value(json_object_get(j, "client_email")),
                json_string_value(json_object_get(j, "private_key_id")));
    EVP_PKEY_free(pub);
    json_decref(j);
    apns_fcm_account_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_bad_files),
        cmocka_unit_test(load_bad_paths),
        cmocka_unit_test(load_good),
        cmocka_unit_test(grant_signed_and_verified),
        cmocka_unit_test(grant_of_gen_sh_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_jwt.c - base64url, .p8 signing keys, ES256 JWTs and the token cache.
 *
 * Keys are generated here with OpenSSL (P-256, P-384, RSA, encrypted, SEC1)
 * and written to a private temporary directory for the file-loading cases.
 * When APNS_TEST_CERTS names the directory made by tests/certs/gen.sh, the
 * test also signs with its AuthKey_ABC123DEFG.p8 and verifies with the public
 * key the simulator reads (keys/ABC123DEFG_DEF123GHIJ.pem). Every token is
 * verified independently: the r||s signature is turned back into DER and
 * checked with EVP_DigestVerify. Time is always passed in explicitly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "apns/error.h"
#include "apns/jwt.h"

#define KID  "ABC123DEFG"
#define TEAM "DEF123GHIJ"
#define T0   ((int64_t)1700000000)

/* ---------------------------------------------------------------------- */
/* fixtures                                                               */

struct keys {
    char dir[64];
    EVP_PKEY *p256;
    char *p256_pem;
    size_t p256_pem_len;
    char p256_path[128], p384_path[128], rsa_path[128], enc_path[128], garbage_path[128],
        pub_path[128], empty_path[128], sec1_path[128], ed_path[128], missing_path[128];
    apns_signing_key *key; /* from p256_pem, KID/TEAM */
};

static struct keys K;

static char *pem_of(EVP_PKEY *pkey, size_t *len, int mode)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *copy;
    long n;
    int ok;

    if (mode == 0)
        ok = PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
    else if (mode == 1)
        ok = PEM_write_bio_PKCS8PrivateKey(b, pkey, EVP_aes_256_cbc(), NULL, 0, NULL,
                                           (void *)"secret");
    else if (mode == 2)
        ok = PEM_write_bio_PrivateKey_traditional(b, pkey, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_PUBKEY(b, pkey);
    if (!ok)
        return NULL;
    n = BIO_get_mem_data(b, &data);
    copy = malloc((size_t)n + 1);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    BIO_free(b);
    if (len)
        *len = (size_t)n;
    return copy;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot create %s", path);
    if (len)
        fwrite(data, 1, len, f);
    fclose(f);
}

static void write_key(const char *path, EVP_PKEY *pkey, int mode)
{
    size_t len;
    char *pem = pem_of(pkey, &len, mode);
    assert_non_null(pem);
    write_file(path, pem, len);
    free(pem);
}

static int setup(void **state)
{
    EVP_PKEY *p384, *rsa, *ed;
    char detail[256];

    snprintf(K.dir, sizeof(K.dir), "/tmp/test_jwt.XXXXXX");
    if (mkdtemp(K.dir) == NULL)
        return -1;
#define P(field, name) snprintf(K.field, sizeof(K.field), "%s/%s", K.dir, name)
    P(p256_path, "AuthKey_" KID ".p8");
    P(p384_path, "p384.p8");
    P(rsa_path, "rsa.p8");
    P(enc_path, "encrypted.p8");
    P(garbage_path, "garbage.p8");
    P(pub_path, "public.pem");
    P(empty_path, "empty.p8");
    P(sec1_path, "sec1.pem");
    P(ed_path, "ed25519.p8");
    P(missing_path, "does-not-exist.p8");
#undef P

    K.p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!K.p256 || !p384 || !rsa || !ed)
        return -1;
    K.p256_pem = pem_of(K.p256, &K.p256_pem_len, 0);
    write_key(K.p256_path, K.p256, 0);
    write_key(K.p384_path, p384, 0);
    write_key(K.rsa_path, rsa, 0);
    write_key(K.enc_path, K.p256, 1);
    write_key(K.sec1_path, K.p256, 2);
    write_key(K.pub_path, K.p256, 3);
    write_key(K.ed_path, ed, 0);
    static const char garbage[] =
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n";
    write_file(K.garbage_path, garbage, sizeof(garbage) - 1);
    write_file(K.empty_path, "", 0);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);

    if (apns_signing_key_load_pem(&K.key, K.p256_pem, K.p256_pem_len, KID, TEAM, detail,
                                  sizeof(detail)) != 0)
        return -1;
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    const char *files[] = {K.p256_path, K.p384_path,  K.rsa_path,  K.enc_path, K.garbage_path,
                           K.pub_path,  K.empty_path, K.sec1_path, K.ed_path};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(K.dir);
    apns_signing_key_free(K.key);
    EVP_PKEY_free(K.p256);
    free(K.p256_pem);
    (void)state;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* independent JWT checking                                               */

struct parts {
    char header[128], claims[128];
    uint8_t sig[80];
    int sig_len;
    size_t signing_input_len;
};

static int only_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* Splits a JWT and decodes the three segments; fails the test on any
 * structural problem. */
static void split_jwt(const char *jwt, struct parts *p)
{
    const char *d1 = strchr(jwt, '.'), *d2;
    int n;

    assert_non_null(d1);
    d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strchr(jwt, '='));
    assert_true(only_b64url(jwt, (size_t)(d1 - jwt)));
    assert_true(only_b64url(d1 + 1, (size_t)(d2 - d1 - 1)));
    assert_true(only_b64url(d2 + 1, strlen(d2 + 1)));
    assert_int_equal(strlen(d2 + 1), 86);

    memset(p, 0, sizeof(*p));
    n = apns_base64url_decode(jwt, (size_t)(d1 - jwt), (uint8_t *)p->header, sizeof(p->header) - 1);
    assert_true(n > 0);
    n = apns_base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)p->claims,
                              sizeof(p->claims) - 1);
    assert_true(n > 0);
    p->sig_len = apns_base64url_decode(d2 + 1, strlen(d2 + 1), p->sig, sizeof(p->sig));
    assert_int_equal(p->sig_len, 64);
    p->signing_input_len = (size_t)(d2 - jwt);
}

/* Verifies a raw r||s signature over data with OpenSSL, as a verifier that
 * shares no code with the library would. */
static int verify_raw(EVP_PKEY *pub, const char *data, size_t len, const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int der_len, ok;

    assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
    der_len = i2d_ECDSA_SIG(es, &der);
    assert_true(der_len > 0);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
    ok = EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

/* A public-only copy of a key pair (so verification cannot use d). */
static EVP_PKEY *public_only(EVP_PKEY *pair)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int n = i2d_PUBKEY(pair, &der);
    EVP_PKEY *pub;

    assert_true(n > 0);
    p = der;
    pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    assert_non_null(pub);
    return pub;
}

/* The claims must be exactly {"iss":TEAM,"iat":N}: two keys, iat an integer
 * (not a string, not milliseconds), no typ/exp/aud. An exact comparison is
 * stricter than parsing. */
static void check_claims(const char *claims, const char *team, int64_t iat)
{
    char want[96];

    snprintf(want, sizeof(want), "{\"iss\":\"%s\",\"iat\":%lld}", team, (long long)iat);
    assert_string_equal(claims, want);
}

/* ---------------------------------------------------------------------- */
/* base64url                                                              */

static void b64_vectors(void **state)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    char out[32];
    uint8_t dec[32];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int n = apns_base64url_encode((const uint8_t *)v[i].plain, strlen(v[i].plain), out,
                                      sizeof(out));
        assert_int_equal(n, (int)strlen(v[i].enc));
        assert_string_equal(out, v[i].enc);
        n = apns_base64url_decode(v[i].enc, strlen(v[i].enc), dec, sizeof(dec));
        assert_int_equal(n, (int)strlen(v[i].plain));
        assert_memory_equal(dec, v[i].plain, (size_t)n);
    }
    /* The two url-safe characters. */
    static const uint8_t hi[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(apns_base64url_encode(hi, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "-_-_");
    assert_int_equal(apns_base64url_decode("-_-_", 4, dec, sizeof(dec)), 3);
    assert_memory_equal(dec, hi, 3);
    (void)state;
}

static void b64_round_trip(void **state)
{
    uint8_t in[200], dec[200];
    char enc[300];

    for (size_t len = 0; len <= sizeof(in); len++) {
        assert_int_equal(RAND_bytes(in, (int)sizeof(in)), 1);
        size_t need = (len + 2) / 3 * 4 + 1;
        int n = apns_base64url_encode(in, len, enc, need);
        assert_true(n >= 0);
        assert_int_equal((size_t)n, (len * 4 + 2) / 3); /* unpadded length */
        assert_int_equal(strlen(enc), (size_t)n);
        assert_true(only_b64url(enc, (size_t)n));
        int m = apns_base64url_decode(enc, (size_t)n, dec, len);
        assert_int_equal(m, (int)len);
        assert_memory_equal(dec, in, len);
    }
    (void)state;
}

static void b64_padding_tolerated(void **state)
{
    uint8_t dec[8];

    assert_int_equal(apns_base64url_decode("Zg==", 4, dec, sizeof(dec)), 1);
    assert_int_equal(dec[0], 'f');
    assert_int_equal(apns_base64url_decode("Zm8=", 4, dec, sizeof(dec)), 2);
    assert_memory_equal(dec, "fo", 2);
    /* Not NUL-terminated: the length decides. */
    assert_int_equal(apns_base64url_decode("Zm9v!!!", 4, dec, sizeof(dec)), 3);
    (void)state;
}

static void b64_bad_input(void **state)
{
    static const char *bad[] = {
        "Zm9v+A",     /* standard-alphabet '+' */
        "Zm9v/A",     /* standard-alphabet '/' */
        "Zm9v YmFy",  /* space */
        "Zm9v\nYmFy", /* newline */
        "Zm9v.Zm9v",  /* dot */
        "Z",          /* length 1 mod 4 */
        "Zm9vY",      /* length 1 mod 4 */
        "Zg=",        /* padding that does not reach a multiple of 4 */
        "Zm9v=",      /* padding after a full quantum */
        "Z===",       /* three '=' */
        "Zg===",      /* too much padding */
        "Zm=v",       /* '=' in the middle */
        "=Zm9",       /* '=' first */
        "Zh",         /* non-zero unused bits: not canonical */
        "Zm9",        /* non-zero unused bits */
        "Zm9v\x80",   /* high byte */
    };
    uint8_t dec[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = apns_base64url_decode(bad[i], strlen(bad[i]), dec, sizeof(dec));
        if (rc != APNS_EFORMAT)
            fail_msg("\"%s\" decoded to %d, expected APNS_EFORMAT", bad[i], rc);
    }
    /* A NUL inside the given length is a bad character too. */
    assert_int_equal(apns_base64url_decode("Zm\0v", 4, dec, sizeof(dec)), APNS_EFORMAT);
    (void)state;
}

static void b64_small_buffers(void **state)
{
    char out[8];
    uint8_t dec[2];

    /* "foo" needs 4 + NUL. */
    assert_int_equal(apns_base64url_encode((const uint8_t *)"foo", 3, out, 4), APNS_EINVAL);
    assert_int_equal(apns_base64url_encode((const uint8_t *)"foo", 3, out, 5), 4);
    assert_int_equal(apns_base64url_encode((const uint8_t *)"", 0, out, 0), APNS_EINVAL);
    assert_int_equal(apns_base64url_encode((const uint8_t *)"", 0, out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(apns_base64url_decode("Zm9v", 4, dec, 2), APNS_EINVAL);
    assert_int_equal(apns_base64url_decode("Zm8", 3, dec, 2), 2);
    (void)state;
}

/* ---------------------------------------------------------------------- */
/* signing                                                                */

static void sign_verifies_with_openssl(void **state)
{
    char jwt[APNS_JWT_MAX];
    struct parts p;
    EVP_PKEY *pub = public_only(K.p256);

    assert_int_equal(apns_jwt_sign(K.key, 1437179036, jwt, sizeof(jwt)), 0);
    split_jwt(jwt, &p);
    assert_string_equal(p.header, "{\"alg\":\"ES256\",\"kid\":\"" KID "\"}");
    assert_string_equal(p.claims, "{\"iss\":\"" TEAM "\",\"iat\":1437179036}");
    check_claims(p.claims, TEAM, 1437179036);
    assert_true(verify_raw(pub, jwt, p.signing_input_len, p.sig));

    /* Tampering with the claims breaks the signature. */
    char forged[APNS_JWT_MAX];
    strcpy(forged, jwt);
    char *c = strchr(forged, '.') + 1;
    *c = *c == 'e' ? 'f' : 'e';
    assert_false(verify_raw(pub, forged, p.signing_input_len, p.sig));
    EVP_PKEY_free(pub);
    (void)state;
}

/* ECDSA is randomised: over many tokens r or s will have leading zero
 * bytes, which must still be padded to 32 bytes each (86 characters). */
static void sign_many_always_64_bytes(void **state)
{
    char jwt[APNS_JWT_MAX];
    struct parts p;
    EVP_PKEY *pub = public_only(K.p256);
    int short_component = 0;

    for (int i = 0; i < 400; i++) {
        int64_t iat = T0 + i;
        char want[64];
        assert_int_equal(apns_jwt_sign(K.key, iat, jwt, sizeof(jwt)), 0);
        split_jwt(jwt, &p);
        snprintf(want, sizeof(want), "{\"iss\":\"" TEAM "\",\"iat\":%lld}", (long long)iat);
        assert_string_equal(p.claims, want);
        assert_true(verify_raw(pub, jwt, p.signing_input_len, p.sig));
        if (p.sig[0] == 0 || p.sig[32] == 0)
            short_component++;
    }
    /* Expected ~3 of 400; not asserted (random), but worth seeing. */
    print_message("tokens with a zero leading byte in r or s: %d\n", short_component);
    EVP_PKEY_free(pub);
    (void)state;
}

static void sign_iat_edges(void **state)
{
    char jwt[APNS_JWT_MAX];
    struct parts p;

    assert_int_equal(apns_jwt_sign(K.key, 0, jwt, sizeof(jwt)), 0);
    split_jwt(jwt, &p);
    check_claims(p.claims, TEAM, 0);
    assert_int_equal(apns_jwt_sign(K.key, INT64_MAX, jwt, sizeof(jwt)), 0);
    split_jwt(jwt, &p);
    assert_string_equal(p.claims, "{\"iss\":\"" TEAM "\",\"iat\":9223372036854775807}");
    assert_true(strlen(jwt) < APNS_JWT_MAX);
    assert_int_equal(apns_jwt_sign(K.key, -1, jwt, sizeof(jwt)), APNS_EINVAL);
    (void)state;
}

static void sign_buffer_size(void **state)
{
    char jwt[APNS_JWT_MAX], small[APNS_JWT_MAX];
    size_t len;

    assert_int_equal(apns_jwt_sign(K.key, T0, jwt, sizeof(jwt)), 0);
    len = strlen(jwt);
    assert_true(len > 150 && len < 250);
    assert_int_equal(apns_jwt_sign(K.key, T0, small, len + 1), 0);
    assert_int_equal(strlen(small), len);
    assert_int_equal(apns_jwt_sign(K.key, T0, small, len), APNS_EINVAL);
    assert_int_equal(apns_jwt_sign(K.key, T0, small, 0), APNS_EINVAL);
    assert_int_equal(apns_jwt_sign(NULL, T0, small, sizeof(small)), APNS_EINVAL);
    (void)state;
}

/* The credentials tests/certs/gen.sh makes for the simulator. */
static void sign_with_gen_sh_key(void **state)
{
    const char *dir = getenv("APNS_TEST_CERTS");
    char path[512], pubpath[512], detail[256], jwt[APNS_JWT_MAX];
    apns_signing_key *k = NULL;
    struct parts p;
    FILE *f;
    EVP_PKEY *pub;

    if (dir == NULL || *dir == '\0')
        skip();
    snprintf(path, sizeof(path), "%s/AuthKey_ABC123DEFG.p8", dir);
    snprintf(pubpath, sizeof(pubpath), "%s/keys/ABC123DEFG_DEF123GHIJ.pem", dir);
    if (access(path, R_OK) != 0)
        fail_msg("APNS_TEST_CERTS=%s has no AuthKey_ABC123DEFG.p8 (run tests/certs/gen.sh)", dir);

    assert_int_equal(
        apns_signing_key_load_file(&k, path, "ABC123DEFG", "DEF123GHIJ", detail, sizeof(detail)),
        0);
    assert_string_equal(detail, "");
    assert_string_equal(apns_signing_key_id(k), "ABC123DEFG");
    assert_string_equal(apns_signing_key_team(k), "DEF123GHIJ");
    assert_int_equal(apns_jwt_sign(k, T0, jwt, sizeof(jwt)), 0);
    split_jwt(jwt, &p);
    assert_string_equal(p.header, "{\"alg\":\"ES256\",\"kid\":\"ABC123DEFG\"}");
    check_claims(p.claims, "DEF123GHIJ", T0);

    f = fopen(pubpath, "r");
    assert_non_null(f);
    pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pub);
    assert_true(verify_raw(pub, jwt, p.signing_input_len, p.sig));
    EVP_PKEY_free(pub);
    apns_signing_key_free(k);
    (void)state;
}

/* ---------------------------------------------------------------------- */
/* loading                                                                */

static void expect_load(const char *path, const char *kid, const char *team, int want,
                        const char *detail_has)
{
    apns_signing_key *k = (apns_signing_key *)&K; /* must be reset to NULL on failure */
    char detail[256] = "unset";
    int rc = apns_signing_key_load_file(&k, path, kid, team, detail, sizeof(detail));
    if (getenv("TEST_JWT_SHOW_DETAIL"))
        print_message("%s -> %s: %s\n", path, apns_err_name(rc), detail);

    if (rc != want)
        fail_msg("%s: got %s, want %s (detail: %s)", path, apns_err_name(rc), apns_err_name(want),
                 detail);
    if (want != 0) {
        assert_null(k);
        /* detail names the file first, then the problem */
        assert_true(strncmp(detail, path, strlen(path)) == 0);
        if (detail_has && strstr(detail, detail_has) == NULL)
            fail_msg("detail \"%s\" lacks \"%s\"", detail, detail_has);
    } else {
        assert_non_null(k);
        assert_string_equal(detail, "");
        apns_signing_key_free(k);
    }
}

static void load_good_file(void **state)
{
    expect_load(K.p256_path, KID, TEAM, 0, NULL);
    /* A SEC1 "EC PRIVATE KEY" on P-256 is accepted too. */
    expect_load(K.sec1_path, KID, TEAM, 0, NULL);
    (void)state;
}

static void load_errors(void **state)
{
    expect_load(K.missing_path, KID, TEAM, APNS_EIO, "No such file");
    expect_load(K.dir, KID, TEAM, APNS_EIO, NULL); /* a directory */
    expect_load(K.rsa_path, KID, TEAM, APNS_EKEY, "not an EC P-256 key (found RSA)");
    expect_load(K.p384_path, KID, TEAM, APNS_EKEY, "secp384r1");
    expect_load(K.ed_path, KID, TEAM, APNS_EKEY, "ED25519");
    expect_load(K.enc_path, KID, TEAM, APNS_EKEY, "encrypted");
    expect_load(K.garbage_path, KID, TEAM, APNS_EKEY, NULL);
    expect_load(K.pub_path, KID, TEAM, APNS_EKEY, "public key");
    expect_load(K.empty_path, KID, TEAM, APNS_EKEY, "empty");
    (void)state;
}

static void load_bad_ids(void **state)
{
    /* ids are checked before the file is opened */
    expect_load(K.missing_path, "ABC123DEF", TEAM, APNS_EKEYID, "key id is 9 characters");
    expect_load(K.p256_path, "ABC123DEFGH", TEAM, APNS_EKEYID, "11 characters");
    expect_load(K.p256_path, "abc123defg", TEAM, APNS_EKEYID, "'a' at position 1");
    expect_load(K.p256_path, "ABC123DEF-", TEAM, APNS_EKEYID, "'-' at position 10");
    expect_load(K.p256_path, "", TEAM, APNS_EKEYID, NULL);
    expect_load(K.p256_path, NULL, TEAM, APNS_EKEYID, "missing");
    expect_load(K.p256_path, KID, "DEF123GHI", APNS_ETEAMID, "team id");
    expect_load(K.p256_path, KID, "DEF 23GHIJ", APNS_ETEAMID, NULL);
    expect_load(K.p256_path, KID, NULL, APNS_ETEAMID, NULL);
    (void)state;
}

static void load_pem_memory(void **state)
{
    apns_signing_key *k = NULL;
    char detail[200];

    assert_int_equal(apns_signing_key_load_pem(&k, K.p256_pem, K.p256_pem_len, "ZZZ999ZZZZ",
                                               "TEAM000002", detail, sizeof(detail)),
                     0);
    assert_string_equal(apns_signing_key_id(k), "ZZZ999ZZZZ");
    assert_string_equal(apns_signing_key_team(k), "TEAM000002");
    apns_signing_key_free(k);

    assert_int_equal(apns_signing_key_load_pem(&k, "junk", 4, KID, TEAM, detail, sizeof(detail)),
                     APNS_EKEY);
    assert_null(k);
    assert_true(strncmp(detail, "PEM key: ", 9) == 0);
    /* detail may be NULL; a short buffer is truncated, not overrun */
    assert_int_equal(apns_signing_key_load_pem(&k, "junk", 4, KID, TEAM, NULL, 0), APNS_EKEY);
    char tiny[8];
    assert_int_equal(apns_signing_key_load_pem(&k, "junk", 4, KID, TEAM, tiny, sizeof(tiny)),
                     APNS_EKEY);
    assert_true(strlen(tiny) < sizeof(tiny));
    apns_signing_key_free(NULL);
    (void)state;
}

/* ---------------------------------------------------------------------- */
/* token cache                                                            */

static void cache_reuses_within_window(void **state)
{
    apns_token_cache *c;
    apns_token tok = {0};
    char first[APNS_JWT_MAX];

    assert_int_equal(apns_token_cache_new(&c, K.key, 0), 0);
    assert_int_equal(apns_token_cache_refresh_age(c), APNS_TOKEN_DEFAULT_REFRESH_S);
    assert_int_equal(apns_token_cache_refreshes(c), 0);

    assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
    assert_int_equal(tok.generation, 1);
    assert_int_equal(tok.issued_at, T0);
    assert_int_equal(apns_token_cache_refreshes(c), 1);
    strcpy(first, tok.jwt);

    struct parts p;
    split_jwt(tok.jwt, &p);
    check_claims(p.claims, TEAM, T0);

    /* Same generation: nothing is copied (the holder's copy is left alone). */
    tok.jwt[0] = '#';
    assert_int_equal(apns_token_cache_get(c, T0 + 50 * 60 - 1, &tok), 0);
    assert_int_equal(tok.generation, 1);
    assert_int_equal(tok.jwt[0], '#');
    assert_int_equal(apns_token_cache_refreshes(c), 1);

    /* Another holder with generation 0 gets the same token. */
    apns_token other = {0};
    assert_int_equal(apns_token_cache_get(c, T0 + 60, &other), 0);
    assert_int_equal(other.generation, 1);
    assert_string_equal(other.jwt, first);
    assert_int_equal(apns_token_cache_refreshes(c), 1);

    /* At exactly the refresh age: a new token. */
    assert_int_equal(apns_token_cache_get(c, T0 + 50 * 60, &tok), 0);
    assert_int_equal(tok.generation, 2);
    assert_int_equal(tok.issued_at, T0 + 50 * 60);
    assert_string_not_equal(tok.jwt, first);
    split_jwt(tok.jwt, &p);
    check_claims(p.claims, TEAM, T0 + 50 * 60);
    assert_int_equal(apns_token_cache_refreshes(c), 2);

    /* The other holder catches up on its next get. */
    assert_int_equal(apns_token_cache_get(c, T0 + 50 * 60 + 1, &other), 0);
    assert_int_equal(other.generation, 2);
    assert_string_equal(other.jwt, tok.jwt);
    assert_int_equal(apns_token_cache_refreshes(c), 2);
    apns_token_cache_free(c);
    (void)state;
}

static void cache_clamps_refresh_age(void **state)
{
    static const struct {
        int64_t asked, got;
    } v[] = {{0, 50 * 60},         {1, 20 * 60},        {60, 20 * 60},      {-5, 20 * 60},
             {20 * 60, 20 * 60},   {30 * 60, 30 * 60},  {60 * 60, 60 * 60}, {60 * 60 + 1, 60 * 60},
             {INT64_MAX, 60 * 60}, {INT64_MIN, 20 * 60}};

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        apns_token_cache *c;
        apns_token tok = {0};
        assert_int_equal(apns_token_cache_new(&c, K.key, v[i].asked), 0);
        assert_int_equal(apns_token_cache_refresh_age(c), v[i].got);
        /* The clamped age is the one in force. */
        assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
        assert_int_equal(apns_token_cache_get(c, T0 + v[i].got - 1, &tok), 0);
        assert_int_equal(tok.generation, 1);
        assert_int_equal(apns_token_cache_get(c, T0 + v[i].got, &tok), 0);
        assert_int_equal(tok.generation, 2);
        apns_token_cache_free(c);
    }
    assert_int_equal(apns_token_cache_new(NULL, K.key, 0), APNS_EINVAL);
    apns_token_cache *c = (apns_token_cache *)&K;
    assert_int_equal(apns_token_cache_new(&c, NULL, 0), APNS_EINVAL);
    assert_null(c);
    apns_token_cache_free(NULL);
    (void)state;
}

/* The expired-token callback of an external cache: called for the current
 * generation only, once per generation however many connections report it,
 * never for a stale or unknown generation, and never after it was cleared. */
typedef struct {
    int calls;
    uint64_t gen;
    apns_token_cache *c;
} exp_rec;

static void on_expired(apns_token_cache *c, uint64_t generation, void *ud)
{
    exp_rec *r = ud;
    r->calls++;
    r->gen = generation;
    r->c = c;
}

static void cache_external_expired_cb(void **state)
{
    apns_token_cache *c, *minting;
    exp_rec r = {0};
    /* Google access tokens reach 2048 bytes (fcm-protocol.md §2): one fits. */
    char google[2049];

    (void)state;
    memset(google, 'y', 2048);
    memcpy(google, "ya29.", 5);
    google[2048] = '\0';
    assert_int_equal(apns_token_cache_new_external(&c), 0);
    assert_int_equal(apns_token_cache_set_expired_cb(NULL, on_expired, &r), APNS_EINVAL);
    assert_int_equal(apns_token_cache_set_expired_cb(c, on_expired, &r), 0);
    /* No token yet: nothing to report. */
    assert_int_equal(apns_token_cache_expired(c, 0, T0), 0);
    assert_int_equal(apns_token_cache_expired(c, 1, T0), 0);
    assert_int_equal(r.calls, 0);

    assert_int_equal(apns_token_cache_put(c, google, T0), 0);
    apns_token tok = {0};
    assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
    assert_string_equal(tok.jwt, google);
    /* Ten connections see the same 401: one callback, at once (no age rule). */
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 1), 1);
    for (int i = 0; i < 9; i++)
        assert_int_equal(apns_token_cache_expired(c, 1, T0 + 1), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.gen, 1);
    assert_ptr_equal(r.c, c);

    /* The owner puts a new token; a late 401 for the old one changes nothing. */
    google[10] = 'z';
    assert_int_equal(apns_token_cache_put(c, google, T0 + 2), 0);
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 3), 0);
    assert_int_equal(apns_token_cache_expired(c, 3, T0 + 3), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(apns_token_cache_expired(c, 2, T0 + 3), 1);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.gen, 2);

    /* Cleared: never called again. */
    google[11] = 'z';
    assert_int_equal(apns_token_cache_put(c, google, T0 + 4), 0);
    assert_int_equal(apns_token_cache_set_expired_cb(c, NULL, NULL), 0);
    assert_int_equal(apns_token_cache_expired(c, 3, T0 + 5), 0);
    assert_int_equal(r.calls, 2);
    apns_token_cache_free(c);

    /* A minting cache has no owner to call. */
    assert_int_equal(apns_token_cache_new(&minting, K.key, 0), 0);
    assert_int_equal(apns_token_cache_set_expired_cb(minting, on_expired, &r), APNS_EINVAL);
    apns_token_cache_free(minting);
}

/* An external cache never mints: it answers EAGAIN until a token is put,
 * then hands out exactly what was put; the same JWT again is not a new
 * generation; expired() schedules nothing (the owner replaces the token). */
static void cache_external(void **state)
{
    apns_token_cache *c;
    apns_token tok = {0};
    char jwt1[APNS_JWT_MAX], jwt2[APNS_JWT_MAX], big[APNS_JWT_MAX + 1];

    (void)state;
    assert_int_equal(apns_token_cache_new_external(NULL), APNS_EINVAL);
    assert_int_equal(apns_token_cache_new_external(&c), 0);
    assert_int_equal(apns_token_cache_get(c, T0, &tok), APNS_EAGAIN);
    assert_int_equal(tok.generation, 0);
    assert_int_equal(apns_token_cache_refreshes(c), 0);

    assert_int_equal(apns_jwt_sign(K.key, T0 - 600, jwt1, sizeof(jwt1)), 0);
    assert_int_equal(apns_jwt_sign(K.key, T0 + 1800, jwt2, sizeof(jwt2)), 0);
    assert_int_equal(apns_token_cache_put(c, jwt1, T0 - 600), 0);
    assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
    assert_int_equal(tok.generation, 1);
    assert_string_equal(tok.jwt, jwt1);
    assert_int_equal(tok.issued_at, T0 - 600);

    /* Never minted by age: an hour later it is still the one put. */
    assert_int_equal(apns_token_cache_get(c, T0 + 3 * 3600, &tok), 0);
    assert_int_equal(tok.generation, 1);
    /* expired() leaves it to the owner. */
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 3 * 3600), 0);
    assert_int_equal(apns_token_cache_get(c, T0 + 3 * 3600, &tok), 0);
    assert_int_equal(tok.generation, 1);

    /* The same JWT again: nothing changes; another one: next generation. */
    assert_int_equal(apns_token_cache_put(c, jwt1, T0 - 600), 0);
    assert_int_equal(apns_token_cache_refreshes(c), 1);
    assert_int_equal(apns_token_cache_put(c, jwt2, T0 + 1800), 0);
    assert_int_equal(apns_token_cache_get(c, T0 + 1800, &tok), 0);
    assert_int_equal(tok.generation, 2);
    assert_string_equal(tok.jwt, jwt2);
    assert_int_equal(apns_token_cache_refreshes(c), 2);

    /* Bad input. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(apns_token_cache_put(c, big, T0), APNS_EINVAL);
    assert_int_equal(apns_token_cache_put(c, "", T0), APNS_EINVAL);
    assert_int_equal(apns_token_cache_put(c, NULL, T0), APNS_EINVAL);
    assert_int_equal(apns_token_cache_put(NULL, jwt1, T0), APNS_EINVAL);
    assert_int_equal(apns_token_cache_get(c, T0 + 1800, &tok), 0);
    assert_string_equal(tok.jwt, jwt2);
    apns_token_cache_free(c);

    /* A minting cache refuses put(): two sources of truth would race. */
    assert_int_equal(apns_token_cache_new(&c, K.key, 0), 0);
    assert_int_equal(apns_token_cache_put(c, jwt1, T0), APNS_EINVAL);
    apns_token_cache_free(c);
}

static void cache_expired_rules(void **state)
{
    apns_token_cache *c;
    apns_token tok = {0};

    assert_int_equal(apns_token_cache_new(&c, K.key, 0), 0);
    /* Nothing minted yet: nothing to expire. */
    assert_int_equal(apns_token_cache_expired(c, 0, T0), 0);
    assert_int_equal(apns_token_cache_expired(c, 1, T0), 0);

    assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
    assert_int_equal(tok.generation, 1);

    /* Younger than 20 minutes: refuses (the clock is wrong somewhere). */
    assert_int_equal(apns_token_cache_expired(c, 1, T0), 0);
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 20 * 60 - 1), 0);
    assert_int_equal(apns_token_cache_get(c, T0 + 20 * 60 - 1, &tok), 0);
    assert_int_equal(tok.generation, 1);
    assert_int_equal(apns_token_cache_refreshes(c), 1);

    /* At 20 minutes: scheduled; the next get mints. Idempotent. */
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 20 * 60), 1);
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 20 * 60), 1);
    assert_int_equal(apns_token_cache_get(c, T0 + 20 * 60, &tok), 0);
    assert_int_equal(tok.generation, 2);
    assert_int_equal(tok.issued_at, T0 + 20 * 60);
    assert_int_equal(apns_token_cache_refreshes(c), 2);

    /* A late answer for the old generation changes nothing. */
    assert_int_equal(apns_token_cache_expired(c, 1, T0 + 45 * 60), 0);
    assert_int_equal(apns_token_cache_get(c, T0 + 45 * 60, &tok), 0);
    assert_int_equal(tok.generation, 2);
    /* A generation from the future either. */
    assert_int_equal(apns_token_cache_expired(c, 7, T0 + 45 * 60), 0);

    /* The current one, old enough, is replaced once, then the new one is
     * young again. */
    assert_int_equal(apns_token_cache_expired(c, 2, T0 + 45 * 60), 1);
    assert_int_equal(apns_token_cache_get(c, T0 + 45 * 60, &tok), 0);
    assert_int_equal(tok.generation, 3);
    assert_int_equal(apns_token_cache_expired(c, 3, T0 + 45 * 60 + 5), 0);
    assert_int_equal(apns_token_cache_get(c, T0 + 45 * 60 + 5, &tok), 0);
    assert_int_equal(tok.generation, 3);
    assert_int_equal(apns_token_cache_refreshes(c), 3);
    apns_token_cache_free(c);
    (void)state;
}

static void cache_clock_backwards(void **state)
{
    apns_token_cache *c;
    apns_token tok = {0};

    assert_int_equal(apns_token_cache_new(&c, K.key, 20 * 60), 0);
    assert_int_equal(apns_token_cache_get(c, T0, &tok), 0);
    /* An hour back: keep the token, do not mint. */
    assert_int_equal(apns_token_cache_get(c, T0 - 3600, &tok), 0);
    assert_int_equal(tok.generation, 1);
    assert_int_equal(tok.issued_at, T0);
    assert_int_equal(apns_token_cache_expired(c, 1, T0 - 3600), 0);
    assert_int_equal(apns_token_cache_refreshes(c), 1);
    apns_token_cache_free(c);
    (void)state;
}

/* Many connections call get at once: one token, one mint. */
struct race {
    apns_token_cache *c;
    int64_t now;
    apns_token tok;
    int rc;
};

static void *race_get(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 200 && r->rc == 0; i++)
        r->rc = apns_token_cache_get(r->c, r->now + i, &r->tok);
    return NULL;
}

static void cache_threads_share_one_token(void **state)
{
    apns_token_cache *c;
    struct race r[8];
    pthread_t th[8];

    assert_int_equal(apns_token_cache_new(&c, K.key, 0), 0);
    for (int i = 0; i < 8; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].c = c;
        r[i].now = T0;
        assert_int_equal(pthread_create(&th[i], NULL, race_get, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(r[i].tok.generation, 1);
        assert_string_equal(r[i].tok.jwt, r[0].tok.jwt);
    }
    assert_int_equal(apns_token_cache_refreshes(c), 1);
    apns_token_cache_free(c);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64_vectors),
        cmocka_unit_test(b64_round_trip),
        cmocka_unit_test(b64_padding_tolerated),
        cmocka_unit_test(b64_bad_input),
        cmocka_unit_test(b64_small_buffers),
        cmocka_unit_test(sign_verifies_with_openssl),
        cmocka_unit_test(sign_many_always_64_bytes),
        cmocka_unit_test(sign_iat_edges),
        cmocka_unit_test(sign_buffer_size),
        cmocka_unit_test(sign_with_gen_sh_key),
        cmocka_unit_test(load_good_file),
        cmocka_unit_test(load_errors),
        cmocka_unit_test(load_bad_ids),
        cmocka_unit_test(load_pem_memory),
        cmocka_unit_test(cache_reuses_within_window),
        cmocka_unit_test(cache_clamps_refresh_age),
        cmocka_unit_test(cache_expired_rules),
        cmocka_unit_test(cache_external),
        cmocka_unit_test(cache_external_expired_cb),
        cmocka_unit_test(cache_clock_backwards),
        cmocka_unit_test(cache_threads_share_one_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * jwt.c - ES256 provider tokens: loading .p8 signing keys and minting JWTs.
 *
 * Design note. A token is H "." P "." S where H is the base64url header
 * {"alg":"ES256","kid":KID}, P the base64url claims {"iss":TEAM,"iat":N} and
 * S the base64url of the raw 64-byte r||s signature (RFC 7518 3.4). H never
 * changes for a key, so it is encoded once at load time. OpenSSL gives
 * ECDSA signatures as DER (ECDSA-Sig-Value); we parse that and left-pad r
 * and s to 32 bytes each. APNs is known to tolerate DER too, but r||s is the
 * standard and what every independent verifier expects.
 *
 * Loading is strict and explains itself: the id formats, the PEM label,
 * encryption, key type and curve each get their own sentence in `detail`,
 * prefixed with the file name, because a wrong .p8 is the most common
 * misconfiguration and "cannot load key" helps nobody. The PEM password
 * callback always refuses, so an encrypted key can never make OpenSSL prompt
 * on the terminal. After loading, the key signs and verifies one test input,
 * which catches a private scalar that does not match its public point and
 * warms OpenSSL's provider caches before the key is shared between threads.
 */
#include "apns/error.h"
#include "apns/jwt.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#define MAX_KEY_FILE   (64 * 1024) /* a .p8 is ~250 bytes */
#define HEADER_B64_MAX 64          /* {"alg":"ES256","kid":"XXXXXXXXXX"} is 34 bytes -> 46 */
#define ES256_SIG_LEN  64

struct apns_signing_key {
    EVP_PKEY *pkey;
    char key_id[APNS_KEY_ID_LEN + 1];
    char team_id[APNS_TEAM_ID_LEN + 1];
    char header_b64[HEADER_B64_MAX];
    size_t header_b64_len;
};

/* ---------------------------------------------------------------------- */
/* helpers                                                                */

static void set_detail(char *detail, size_t detail_len, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_detail(char *detail, size_t detail_len, const char *name, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (detail == NULL || detail_len == 0)
        return;
    n = snprintf(detail, detail_len, "%s: ", name);
    if (n < 0 || (size_t)n >= detail_len)
        return;
    va_start(ap, fmt);
    vsnprintf(detail + n, detail_len - (size_t)n, fmt, ap);
    va_end(ap);
}

/* 10 characters, each [A-Z0-9]. */
static int valid_id(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; i < APNS_KEY_ID_LEN; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return s[APNS_KEY_ID_LEN] == '\0';
}

/* Describes a bad id for the detail message without echoing unbounded
 * input: its length and the first offending character. */
static void describe_bad_id(char *detail, size_t detail_len, const char *name, const char *what,
                            const char *s)
{
    size_t len, i;

    if (s == NULL) {
        set_detail(detail, detail_len, name, "%s is missing (10 characters A-Z, 0-9)", what);
        return;
    }
    len = strlen(s);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            if (c >= 0x21 && c < 0x7f)
                set_detail(detail, detail_len, name,
                           "%s has invalid character '%c' at position %zu "
                           "(must be 10 characters A-Z, 0-9)",
                           what, c, i + 1);
            else
                set_detail(detail, detail_len, name,
                           "%s has invalid byte 0x%02x at position %zu "
                           "(must be 10 characters A-Z, 0-9)",
                           what, c, i + 1);
            return;
        }
    }
    set_detail(detail, detail_len, name,
               "%s is %zu characters long (must be 10 characters A-Z, 0-9)", what, len);
}

/* PEM password callback that always refuses: never prompt. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static const char *find_mem(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle), i;

    if (n == 0 || hay_len < n)
        return NULL;
    for (i = 0; i + n <= hay_len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* Explains why PEM_read_bio_PrivateKey refused the text. */
static void describe_pem_failure(char *detail, size_t detail_len, const char *name, const char *pem,
                                 size_t pem_len)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;

    if (find_mem(pem, pem_len, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
        find_mem(pem, pem_len, "Proc-Type: 4,ENCRYPTED"))
        set_detail(detail, detail_len, name,
                   "the private key is encrypted (an APNs .p8 key is unencrypted PKCS#8)");
    else if (find_mem(pem, pem_len, "-----BEGIN PUBLIC KEY-----"))
        set_detail(detail, detail_len, name,
                   "contains a public key, not a private key (use the AuthKey_<KEYID>.p8 file)");
    else if (find_mem(pem, pem_len, "-----BEGIN CERTIFICATE-----"))
        set_detail(detail, detail_len, name,
                   "contains a certificate, not a signing key (use the AuthKey_<KEYID>.p8 file)");
    else if (!find_mem(pem, pem_len, "-----BEGIN "))
        set_detail(detail, detail_len, name,
                   "no PEM \"-----BEGIN PRIVATE KEY-----\" block found (not a .p8 key file)");
    else
        set_detail(detail, detail_len, name, "cannot parse the PEM private key (%s)",
                   why ? why : "malformed");
}

/* Returns 1 if pkey is EC on P-256; else 0 with detail filled in. */
static int check_p256(EVP_PKEY *pkey, char *detail, size_t detail_len, const char *name)
{
    char group[80];
    size_t glen = 0;
    int nid;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
        const char *type = EVP_PKEY_get0_type_name(pkey);
        if (type == NULL)
            type = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
        set_detail(detail, detail_len, name, "not an EC P-256 key (found %s)",
                   type ? type : "an unknown key type");
        return 0;
    }
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &glen)) {
        set_detail(detail, detail_len, name,
                   "not an EC P-256 key (EC key with explicit or unknown curve parameters)");
        return 0;
    }
    nid = OBJ_txt2nid(group);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(group);
    if (nid != NID_X9_62_prime256v1) {
        set_detail(detail, detail_len, name, "not an EC P-256 key (found EC curve %s)", group);
        return 0;
    }
    return 1;
}

/* DER ECDSA-Sig-Value -> raw r||s (32 bytes each). Returns 0 or -1. */
static int der_to_raw(const unsigned char *der, size_t der_len, uint8_t raw[ES256_SIG_LEN])
{
    const unsigned char *p = der;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    int ok;

    if (sig == NULL)
        return -1;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = r != NULL && s != NULL && BN_bn2binpad(r, raw, 32) == 32 &&
         BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

/* Signs data with SHA-256 into raw r||s. Returns 0 or APNS_ECRYPTO. */
static int es256_sign(EVP_PKEY *pkey, const char *data, size_t len, uint8_t raw[ES256_SIG_LEN])
{
    unsigned char der[128];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = APNS_ECRYPTO;

    if (md == NULL)
        return APNS_ECRYPTO;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)data, len) == 1 &&
        der_to_raw(der, der_len, raw) == 0)
        rc = 0;
    EVP_MD_CTX_free(md);
    return rc;
}

/* Verifies a raw r||s signature (used for the load-time self-test). */
static int es256_verify(EVP_PKEY *pkey, const char *data, size_t len,
                        const uint8_t raw[ES256_SIG_LEN])
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *der = NULL;
    int der_len, ok = 0;
    EVP_MD_CTX *md = NULL;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return 0;
    }
    der_len = i2d_ECDSA_SIG(sig, &der);
    md = EVP_MD_CTX_new();
    if (der_len > 0 && md != NULL &&
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)data, len) == 1)
        ok = 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return ok;
}

static int load(apns_signing_key **out, const char *name, const char *pem, size_t pem_len,
                const char *key_id, const char *team_id, char *detail, size_t detail_len)
{
    apns_signing_key *k;
    EVP_PKEY *pkey;
    BIO *bio;
    char header[64];
    uint8_t raw[ES256_SIG_LEN];
    static const char probe[] = "apns signing key self-test";
    int n;

    if (!valid_id(key_id)) {
        describe_bad_id(detail, detail_len, name, "key id", key_id);
        return APNS_EKEYID;
    }
    if (!valid_id(team_id)) {
        describe_bad_id(detail, detail_len, name, "team id", team_id);
        return APNS_ETEAMID;
    }
    if (pem_len == 0) {
        set_detail(detail, detail_len, name, "is empty (expected a PEM PKCS#8 EC P-256 key)");
        return APNS_EKEY;
    }
    if (pem_len > MAX_KEY_FILE || pem_len > (size_t)INT32_MAX) {
        set_detail(detail, detail_len, name, "is %zu bytes, too large to be a .p8 key", pem_len);
        return APNS_EKEY;
    }

    ERR_clear_error();
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    if (bio == NULL) {
        set_detail(detail, detail_len, name, "out of memory");
        return APNS_ENOMEM;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        describe_pem_failure(detail, detail_len, name, pem, pem_len);
        ERR_clear_error();
        return APNS_EKEY;
    }
    if (!check_p256(pkey, detail, detail_len, name)) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return APNS_EKEY;
    }
    if (es256_sign(pkey, probe, sizeof(probe) - 1, raw) != 0 ||
        !es256_verify(pkey, probe, sizeof(probe) - 1, raw)) {
        set_detail(detail, detail_len, name,
                   "the EC P-256 key failed a sign/verify self-test (corrupt key?)");
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return APNS_EKEY;
    }

    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        set_detail(detail, detail_len, name, "out of memory");
        return APNS_ENOMEM;
    }
    k->pkey = pkey;
    memcpy(k->key_id, key_id, APNS_KEY_ID_LEN);
    memcpy(k->team_id, team_id, APNS_TEAM_ID_LEN);
    n = snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", k->key_id);
    n = apns_base64url_encode((const uint8_t *)header, (size_t)n, k->header_b64,
                              sizeof(k->header_b64));
    if (n < 0) { /* cannot happen: the header has a fixed size */
        apns_signing_key_free(k);
        set_detail(detail, detail_len, name, "internal error encoding the JWT header");
        return APNS_ECRYPTO;
    }
    k->header_b64_len = (size_t)n;
    if (detail != NULL && detail_len > 0)
        detail[0] = '\0';
    *out = k;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* public API                                                             */

int apns_signing_key_load_file(apns_signing_key **out, const char *path, const char *key_id,
                               const char *team_id, char *detail, size_t detail_len)
{
    FILE *f;
    char *buf;
    size_t len = 0;
    int rc;

    if (out == NULL || path == NULL) {
        set_detail(detail, detail_len, path ? path : "(null)", "invalid argument");
        return APNS_EINVAL;
    }
    *out = NULL;
    /* Check the ids before touching the file, so the cheap error wins. */
    if (!valid_id(key_id)) {
        describe_bad_id(detail, detail_len, path, "key id", key_id);
        return APNS_EKEYID;
    }
    if (!valid_id(team_id)) {
        describe_bad_id(detail, detail_len, path, "team id", team_id);
        return APNS_ETEAMID;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        set_detail(detail, detail_len, path, "cannot open: %s", strerror(errno));
        return APNS_EIO;
    }
    buf = malloc(MAX_KEY_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        set_detail(detail, detail_len, path, "out of memory");
        return APNS_ENOMEM;
    }
    len = fread(buf, 1, MAX_KEY_FILE + 1, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        set_detail(detail, detail_len, path, "cannot read: %s", strerror(e ? e : EIO));
        return APNS_EIO;
    }
    fclose(f);
    rc = load(out, path, buf, len, key_id, team_id, detail, detail_len);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

int apns_signing_key_load_pem(apns_signing_key **out, const char *pem, size_t pem_len,
                              const char *key_id, const char *team_id, char *detail,
                              size_t detail_len)
{
    if (out == NULL || (pem == NULL && pem_len > 0)) {
        set_detail(detail, detail_len, "PEM key", "invalid argument");
        return APNS_EINVAL;
    }
    *out = NULL;
    return load(out, "PEM key", pem ? pem : "", pem_len, key_id, team_id, detail, detail_len);
}

void apns_signing_key_free(apns_signing_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *apns_signing_key_id(const apns_signing_key *k)
{
    return k->key_id;
}

const char *apns_signing_key_team(const apns_signing_key *k)
{
    return k->team_id;
}

int apns_jwt_sign(const apns_signing_key *k, int64_t iat, char *out, size_t out_len)
{
    char claims[80], claims_b64[112], sig_b64[ES256_SIG_LEN / 3 * 4 + 8];
    uint8_t raw[ES256_SIG_LEN];
    size_t pos, total;
    int n, cn, sn, rc;

    if (k == NULL || out == NULL || iat < 0)
        return APNS_EINVAL;
    n = snprintf(claims, sizeof(claims), "{\"iss\":\"%s\",\"iat\":%" PRId64 "}", k->team_id, iat);
    if (n < 0 || (size_t)n >= sizeof(claims))
        return APNS_EINVAL;
    cn = apns_base64url_encode((const uint8_t *)claims, (size_t)n, claims_b64, sizeof(claims_b64));
    if (cn < 0)
        return APNS_EINVAL;

    /* H "." P "." S, S = 86 characters. */
    total = k->header_b64_len + 1 + (size_t)cn + 1 + 86;
    if (out_len < total + 1)
        return APNS_EINVAL;

    memcpy(out, k->header_b64, k->header_b64_len);
    pos = k->header_b64_len;
    out[pos++] = '.';
    memcpy(out + pos, claims_b64, (size_t)cn);
    pos += (size_t)cn;

    rc = es256_sign(k->pkey, out, pos, raw);
    if (rc != 0) {
        ERR_clear_error();
        out[0] = '\0';
        return rc;
    }
    sn = apns_base64url_encode(raw, sizeof(raw), sig_b64, sizeof(sig_b64));
    if (sn != 86) {
        out[0] = '\0';
        return APNS_ECRYPTO;
    }
    out[pos++] = '.';
    memcpy(out + pos, sig_b64, (size_t)sn);
    pos += (size_t)sn;
    out[pos] = '\0';
    return 0;
}

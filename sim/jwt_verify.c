/* jwt_verify.c - ES256 provider-token verification with OpenSSL + jansson. */
#include "jwt_verify.h"

#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define SEG_MAX 512 /* decoded header / claims bytes */
#define SIG_MAX 128 /* encoded signature characters (DER is at most 96) */

/* Decodes one segment, accepting the standard alphabet and '=' padding too
 * (apns4erl and `openssl dgst` pipelines send those). Returns the decoded
 * length or -1. */
static int decode(const char *in, size_t len, uint8_t *out, size_t out_len)
{
    char tmp[SEG_MAX * 4 / 3 + 8];
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len == 0 || len >= sizeof tmp)
        return -1;
    for (size_t i = 0; i < len; i++)
        tmp[i] = in[i] == '+' ? '-' : in[i] == '/' ? '_' : in[i];
    int n = apns_base64url_decode(tmp, len, out, out_len);
    return n < 0 ? -1 : n;
}

static json_t *decode_object(const char *in, size_t len)
{
    uint8_t buf[SEG_MAX];
    int n = decode(in, len, buf, sizeof buf);
    if (n <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The signature segment as DER ECDSA-Sig-Value, from raw r||s or DER.
 * Returns the DER length or -1. */
static int signature_der(const char *in, size_t len, uint8_t *der, size_t der_cap)
{
    uint8_t raw[SIG_MAX];
    if (len > SIG_MAX)
        return -1;
    int n = decode(in, len, raw, sizeof raw);
    if (n <= 0)
        return -1;
    ECDSA_SIG *sig = NULL;
    if (n == 64) {
        BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
        sig = ECDSA_SIG_new();
        if (!r || !s || !sig || !ECDSA_SIG_set0(sig, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(sig);
            return -1;
        }
    } else {
        const uint8_t *p = raw;
        sig = d2i_ECDSA_SIG(NULL, &p, n);
        if (!sig || p != raw + n) {
            ECDSA_SIG_free(sig);
            return -1;
        }
    }
    int dlen = i2d_ECDSA_SIG(sig, NULL);
    if (dlen <= 0 || (size_t)dlen > der_cap) {
        ECDSA_SIG_free(sig);
        return -1;
    }
    uint8_t *p = der;
    dlen = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    return dlen;
}

static int verify_es256(EVP_PKEY *key, const char *msg, size_t len, const uint8_t *der,
                        size_t der_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, der, der_len, (const uint8_t *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* Header: alg ES256 and a known kid. Returns the key or NULL. */
static const sim_key *check_header(const sim_keys *ks, const char *seg, size_t len)
{
    json_t *h = decode_object(seg, len);
    if (!h)
        return NULL;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *kid = json_object_get(h, "kid");
    const sim_key *k = NULL;
    if (alg && strcmp(alg, "ES256") == 0 && json_is_string(kid))
        k = sim_keys_find(ks, json_string_value(kid), json_string_length(kid));
    json_decref(h);
    return k;
}

/* Claims: iss = the key's team, iat an integer. */
static int check_claims(const sim_key *k, const char *seg, size_t len, int64_t *iat)
{
    json_t *c = decode_object(seg, len);
    if (!c)
        return -1;
    json_t *iss = json_object_get(c, "iss");
    json_t *at = json_object_get(c, "iat");
    int ok = json_is_string(iss) && strcmp(json_string_value(iss), k->team) == 0 &&
             json_string_length(iss) == strlen(k->team) && json_is_integer(at);
    if (ok)
        *iat = (int64_t)json_integer_value(at);
    json_decref(c);
    return ok ? 0 : -1;
}

sim_reason sim_jwt_verify(const sim_keys *ks, const char *jwt, size_t len, sim_jwt *out)
{
    const sim_reason bad = SIM_REASON_INVALID_PROVIDER_TOKEN;
    if (!ks || len == 0 || len > SIM_JWT_MAX)
        return bad;
    const char *d1 = memchr(jwt, '.', len);
    if (!d1)
        return bad;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt));
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
        return bad;

    const sim_key *k = check_header(ks, jwt, (size_t)(d1 - jwt));
    if (!k)
        return bad;
    int64_t iat = 0;
    if (check_claims(k, d1 + 1, (size_t)(d2 - d1 - 1), &iat) != 0)
        return bad;
    uint8_t der[80];
    int dlen = signature_der(d2 + 1, len - (size_t)(d2 + 1 - jwt), der, sizeof der);
    if (dlen < 0 || !verify_es256(k->pub, jwt, (size_t)(d2 - jwt), der, (size_t)dlen))
        return bad;
    out->key = k;
    out->iat = iat;
    return SIM_REASON_NONE;
}

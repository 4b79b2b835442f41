/*
 * fcm_auth_account.c - the service-account key file and the RS256 grant.
 *
 * Design note. The key file is Google's JSON (fcm-protocol.md §2.1). The
 * loader checks everything a grant needs before anything is sent, and says
 * which field or key property is wrong, so a bad file fails at load with
 * one sentence instead of an invalid_grant an hour later. The signing key
 * is PKCS#8 PEM RSA of at least 2048 bits (Google issues 2048); encrypted
 * keys are refused without prompting. The grant is built with snprintf from
 * strings the loader already checked to be free of characters that would
 * need JSON escaping, so no JSON library runs on the signing path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "apns/error.h"
#include "apns/fcm_auth.h"
#include "detail.h"

#define KEY_FILE_MAX (64 * 1024)
#define FIELD_MAX    512 /* project_id, client_email, token_uri, private_key_id */
#define RSA_MIN_BITS 2048

struct apns_fcm_account {
    EVP_PKEY *pkey;
    char *project_id, *client_email, *token_uri, *key_id;
};

void apns_fcm_account_free(apns_fcm_account *a)
{
    if (a == NULL)
        return;
    EVP_PKEY_free(a->pkey);
    free(a->project_id);
    free(a->client_email);
    free(a->token_uri);
    free(a->key_id);
    free(a);
}

const char *apns_fcm_account_project_id(const apns_fcm_account *a)
{
    return a ? a->project_id : NULL;
}
const char *apns_fcm_account_client_email(const apns_fcm_account *a)
{
    return a ? a->client_email : NULL;
}
const char *apns_fcm_account_token_uri(const apns_fcm_account *a)
{
    return a ? a->token_uri : NULL;
}
const char *apns_fcm_account_key_id(const apns_fcm_account *a)
{
    return a ? a->key_id : NULL;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* A string that goes into the grant's JSON verbatim: printable ASCII
 * without '"' and '\\'. */
static int json_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* A required string field: *out malloc'ed, or a detail naming it. */
static int get_field(json_t *root, const char *field, char **out, const char *name, char *detail,
                     size_t dl, int grant)
{
    json_t *v = json_object_get(root, field);
    if (v == NULL) {
        apns__set_detail(detail, dl, "%s: field \"%s\" is missing", name, field);
        return APNS_EFORMAT;
    }
    if (!json_is_string(v)) {
        apns__set_detail(detail, dl, "%s: field \"%s\" is not a string", name, field);
        return APNS_EFORMAT;
    }
    if (json_string_length(v) == 0) {
        apns__set_detail(detail, dl, "%s: field \"%s\" is empty", name, field);
        return APNS_EFORMAT;
    }
    if (grant && (json_string_length(v) > FIELD_MAX || !json_safe(json_string_value(v)) ||
                  strlen(json_string_value(v)) != json_string_length(v))) {
        apns__set_detail(detail, dl,
                         "%s: field \"%s\" is over %d bytes or holds a character outside "
                         "printable ASCII, '\"' or '\\'",
                         name, field, FIELD_MAX);
        return APNS_EFORMAT;
    }
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    return 0;
}

static int load_key(apns_fcm_account *a, const char *pem, size_t len, const char *name,
                    char *detail, size_t dl)
{
    if (strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
        apns__set_detail(detail, dl,
                         "%s: \"private_key\" is encrypted (Google's key files hold an "
                         "unencrypted PKCS#8 key)",
                         name);
        return APNS_EKEY;
    }
    if (!strstr(pem, "-----BEGIN PRIVATE KEY-----") &&
        !strstr(pem, "-----BEGIN RSA PRIVATE KEY-----")) {
        apns__set_detail(
            detail, dl, "%s: \"private_key\" holds no PEM \"-----BEGIN PRIVATE KEY-----\" block%s",
            name, strstr(pem, "-----BEGIN PUBLIC KEY-----") ? " (it is a public key)" : "");
        return APNS_EKEY;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    ERR_clear_error();
    a->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (a->pkey == NULL) {
        unsigned long e = ERR_peek_last_error();
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        ERR_clear_error();
        apns__set_detail(detail, dl, "%s: cannot parse \"private_key\" (%s)", name,
                         why ? why : "malformed PEM");
        return APNS_EKEY;
    }
    if (EVP_PKEY_get_base_id(a->pkey) != EVP_PKEY_RSA) {
        const char *type = EVP_PKEY_get0_type_name(a->pkey);
        apns__set_detail(detail, dl, "%s: \"private_key\" is not an RSA key (found %s)", name,
                         type ? type : "an unknown key type");
        return APNS_EKEY;
    }
    int bits = EVP_PKEY_get_bits(a->pkey);
    if (bits < RSA_MIN_BITS) {
        apns__set_detail(detail, dl,
                         "%s: \"private_key\" is a %d-bit RSA key (at least %d bits are needed)",
                         name, bits, RSA_MIN_BITS);
        return APNS_EKEY;
    }
    if (bits > 8192) {
        apns__set_detail(detail, dl, "%s: \"private_key\" is a %d-bit RSA key (at most 8192)", name,
                         bits);
        return APNS_EKEY;
    }
    return 0;
}

static int load(apns_fcm_account **out, const char *json, size_t len, const char *name,
                char *detail, size_t dl)
{
    json_error_t jerr;
    apns_fcm_account *a = NULL;
    int rc;

    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        apns__set_detail(detail, dl, "%s: not JSON: %s (line %d, column %d)", name, jerr.text,
                         jerr.line, jerr.column);
        return APNS_EFORMAT;
    }
    if (!json_is_object(root)) {
        apns__set_detail(detail, dl, "%s: not a JSON object (a service-account key file is one)",
                         name);
        rc = APNS_EFORMAT;
        goto fail;
    }
    json_t *type = json_object_get(root, "type");
    if (type == NULL) {
        apns__set_detail(detail, dl,
                         "%s: field \"type\" is missing (a service-account key file "
                         "says \"type\": \"service_account\")",
                         name);
        rc = APNS_EFORMAT;
        goto fail;
    }
    if (!json_is_string(type) || strcmp(json_string_value(type), "service_account") != 0) {
        char t[41] = "(not a string)";
        if (json_is_string(type)) {
            snprintf(t, sizeof t, "%s", json_string_value(type));
            for (char *p = t; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                    *p = '?';
        }
        apns__set_detail(detail, dl,
                         "%s: \"type\" is \"%s\", not \"service_account\" (use the key file of a "
                         "service account)",
                         name, t);
        rc = APNS_EFORMAT;
        goto fail;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        apns__set_detail(detail, dl, "out of memory");
        rc = APNS_ENOMEM;
        goto fail;
    }
    char *pem = NULL;
    if ((rc = get_field(root, "project_id", &a->project_id, name, detail, dl, 1)) != 0 ||
        (rc = get_field(root, "private_key_id", &a->key_id, name, detail, dl, 1)) != 0 ||
        (rc = get_field(root, "private_key", &pem, name, detail, dl, 0)) != 0 ||
        (rc = get_field(root, "client_email", &a->client_email, name, detail, dl, 1)) != 0 ||
        (rc = get_field(root, "token_uri", &a->token_uri, name, detail, dl, 1)) != 0)
        goto fail_pem;
    if (strncmp(a->token_uri, "https://", 8) != 0) {
        apns__set_detail(detail, dl, "%s: \"token_uri\" \"%.100s\" is not an https URL", name,
                         a->token_uri);
        rc = APNS_EFORMAT;
        goto fail_pem;
    }
    rc = load_key(a, pem, strlen(pem), name, detail, dl);
fail_pem:
    if (pem) {
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
    }
    if (rc)
        goto fail;
    json_decref(root);
    apns__set_detail(detail, dl, "%s", "");
    *out = a;
    return 0;
fail:
    json_decref(root);
    apns_fcm_account_free(a);
    return rc;
}

int apns_fcm_account_load_json(apns_fcm_account **out, const char *json, size_t len, char *detail,
                               size_t dl)
{
    if (out)
        *out = NULL;
    if (out == NULL || json == NULL) {
        apns__set_detail(detail, dl, "out and json are required");
        return APNS_EINVAL;
    }
    return load(out, json, len, "service-account JSON", detail, dl);
}

int apns_fcm_account_load_file(apns_fcm_account **out, const char *path, char *detail, size_t dl)
{
    if (out)
        *out = NULL;
    if (out == NULL || path == NULL) {
        apns__set_detail(detail, dl, "out and path are required");
        return APNS_EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        apns__set_detail(detail, dl, "%s: cannot open: %s", path, strerror(errno));
        return APNS_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        apns__set_detail(detail, dl, "%s: not a regular file", path);
        return APNS_EIO;
    }
    char *buf = malloc(KEY_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        apns__set_detail(detail, dl, "out of memory");
        return APNS_ENOMEM;
    }
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    int rc;
    if (rerr) {
        apns__set_detail(detail, dl, "%s: cannot read: %s", path, strerror(rerr));
        rc = APNS_EIO;
    } else if (n > KEY_FILE_MAX) {
        apns__set_detail(detail, dl, "%s: larger than %d bytes (not a service-account key file)",
                         path, KEY_FILE_MAX);
        rc = APNS_EIO;
    } else if (n == 0) {
        apns__set_detail(detail, dl, "%s: empty file", path);
        rc = APNS_EFORMAT;
    } else {
        rc = load(out, buf, n, path, detail, dl);
    }
    OPENSSL_cleanse(buf, n);
    free(buf);
    return rc;
}

int apns_fcm_assertion_sign(const apns_fcm_account *a, int64_t iat, char *out, size_t out_len)
{
    char head[FIELD_MAX + 64], claims[4 * FIELD_MAX + 256], jwt[APNS_FCM_ASSERTION_MAX];
    uint8_t sig[1024];
    size_t sig_len = sizeof sig;

    if (a == NULL || out == NULL || iat < 0 || iat > INT64_MAX - APNS_FCM_ASSERTION_LIFE)
        return APNS_EINVAL;
    int hl = snprintf(head, sizeof head, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                      a->key_id);
    int cl = snprintf(claims, sizeof claims,
                      "{\"iss\":\"%s\",\"scope\":\"%s\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
                      a->client_email, APNS_FCM_SCOPE, a->token_uri, (long long)iat,
                      (long long)(iat + APNS_FCM_ASSERTION_LIFE));
    if (hl < 0 || cl < 0 || (size_t)hl >= sizeof head || (size_t)cl >= sizeof claims)
        return APNS_EINVAL;
    /* b64(head) "." b64(claims) "." b64(sig), built in jwt (always large
     * enough: FIELD_MAX bounds the strings, 8192 bits the key) */
    int n1 = apns_base64url_encode((const uint8_t *)head, (size_t)hl, jwt, sizeof jwt);
    if (n1 < 0)
        return APNS_EINVAL;
    jwt[n1] = '.';
    int n2 = apns_base64url_encode((const uint8_t *)claims, (size_t)cl, jwt + n1 + 1,
                                   sizeof jwt - (size_t)n1 - 1);
    if (n2 < 0)
        return APNS_EINVAL;
    size_t signing_len = (size_t)n1 + 1 + (size_t)n2;

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return APNS_ENOMEM;
    int ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, a->pkey) == 1 &&
             EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)jwt, signing_len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        ERR_clear_error();
        return APNS_ECRYPTO;
    }
    jwt[signing_len] = '.';
    int n3 =
        apns_base64url_encode(sig, sig_len, jwt + signing_len + 1, sizeof jwt - signing_len - 1);
    if (n3 < 0)
        return APNS_EINVAL;
    size_t n = signing_len + 1 + (size_t)n3;
    int rc = APNS_EINVAL;
    if (n < out_len) {
        memcpy(out, jwt, n + 1);
        rc = (int)n;
    }
    OPENSSL_cleanse(jwt, n); /* a grant is a credential for an hour */
    return rc;
}

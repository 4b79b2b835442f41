/*
 * service.c - fcm-sim's token endpoint and send endpoint (service.h).
 *
 * Design note. Access tokens are "ya29.fsim.<slot>.<32 hex>": the slot
 * indexes a fixed ring of FSIM_MAX_TOKENS issued tokens, so a bearer is found
 * in O(1) and memory stays bounded (the oldest slot is reused: a token that
 * old is answered as expired). Token lists are sorted arrays searched with
 * bsearch (case-sensitive: FCM tokens are opaque). The project quota is a
 * sliding window of FSIM_QUOTA_SLOTS buckets; messages answered 200 or 4xx
 * other than 429 count, as Google documents.
 */
#include "service.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "apns/jwt.h" /* apns_base64url_decode */
#include "hash.h"     /* common/ */

#define FSIM_MAX_TOKENS     65536
#define FSIM_MAX_ACCOUNTS   64
#define FSIM_MAX_PROJECTS   64
#define FSIM_QUOTA_SLOTS    100
#define FSIM_TOKEN_URI      "https://oauth2.googleapis.com/token"
#define FSIM_GRANT_TYPE     "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define FSIM_SCOPE_FCM      "https://www.googleapis.com/auth/firebase.messaging"
#define FSIM_SCOPE_CLOUD    "https://www.googleapis.com/auth/cloud-platform"
#define FSIM_MAX_DATA       4096
#define FSIM_MAX_DATA_TOPIC 2048
#define FSIM_MAX_TTL_S      2419200
#define FSIM_DEV_SLOTS      65536 /* per-token rate windows, by token hash */

typedef struct fsim_project {
    char id[128];
    char number[32];                      /* "" = none */
    int64_t slot_start[FSIM_QUOTA_SLOTS]; /* bucket start (ms) */
    uint32_t slot_count[FSIM_QUOTA_SLOTS];
} fsim_project;

typedef struct fsim_account {
    char email[256];
    char kid[64]; /* "" = any (public-key file) */
    EVP_PKEY *key;
    fsim_project *project;
    uint64_t token_requests, tokens_issued;
} fsim_account;

typedef struct fsim_issued {
    uint8_t secret[16];
    int64_t expires_ms; /* 0 = free slot */
    fsim_account *acct;
} fsim_issued;

typedef struct fsim_list {
    char **v;
    size_t n;
} fsim_list;

struct fsim_service {
    fsim_config cfg;
    fsim_account acct[FSIM_MAX_ACCOUNTS];
    size_t nacct;
    fsim_project proj[FSIM_MAX_PROJECTS];
    size_t nproj;
    fsim_issued *issued;
    uint32_t next_slot;
    fsim_list unregistered, invalid, mismatched, third_party;
    uint64_t msg_seq, id_salt;
    uint64_t token_refusals;
    struct fsim_dev {
        uint64_t h;       /* the token's hash; 0 = free */
        int64_t start_ms; /* the window's start */
        uint32_t n;
    } * dev; /* FSIM_DEV_SLOTS, with --device-rate */
};

/* ---------------------------------------------------------------- set-up */

static fsim_project *project_find(fsim_service *s, const char *p, size_t n)
{
    for (size_t i = 0; i < s->nproj; i++) {
        fsim_project *pr = &s->proj[i];
        if ((strlen(pr->id) == n && memcmp(pr->id, p, n) == 0) ||
            (pr->number[0] && strlen(pr->number) == n && memcmp(pr->number, p, n) == 0))
            return pr;
    }
    return NULL;
}

static fsim_project *project_add(fsim_service *s, const char *id, size_t n)
{
    fsim_project *pr = project_find(s, id, n);
    if (pr)
        return pr;
    if (s->nproj == FSIM_MAX_PROJECTS || n == 0 || n >= sizeof pr->id)
        return NULL;
    pr = &s->proj[s->nproj++];
    memset(pr, 0, sizeof *pr);
    memcpy(pr->id, id, n);
    return pr;
}

/* The project of a service account e-mail NAME@PROJECT.iam.gserviceaccount.com. */
static fsim_project *project_of_email(fsim_service *s, const char *email)
{
    const char *at = strchr(email, '@');
    const char *dom = at ? strstr(at, ".iam.gserviceaccount.com") : NULL;
    return dom ? project_add(s, at + 1, (size_t)(dom - at - 1)) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_load(fsim_list *l, const char *path, char *err, size_t errlen)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read token list %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, vcap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            line[--n] = '\0';
        char *t = line;
        while (*t && isspace((unsigned char)*t))
            t++;
        if (*t == '\0' || *t == '#')
            continue;
        if (l->n == vcap) {
            vcap = vcap ? vcap * 2 : 64;
            char **nv = realloc(l->v, vcap * sizeof *nv);
            if (!nv)
                goto oom;
            l->v = nv;
        }
        if (!(l->v[l->n] = strdup(t)))
            goto oom;
        l->n++;
    }
    free(line);
    fclose(f);
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
    return 0;
oom:
    free(line);
    fclose(f);
    snprintf(err, errlen, "out of memory reading %s", path);
    return -1;
}

static int list_has(const fsim_list *l, const char *tok)
{
    return l->n && bsearch(&tok, l->v, l->n, sizeof *l->v, cmp_str) != NULL;
}

static void list_free(fsim_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int load_json_key(fsim_service *s, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        snprintf(err, errlen, "%s: not JSON: %s (line %d)", path, je.text, je.line);
        return -1;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *email = json_string_value(json_object_get(j, "client_email"));
    const char *kid = json_string_value(json_object_get(j, "private_key_id"));
    const char *pem = json_string_value(json_object_get(j, "private_key"));
    const char *pid = json_string_value(json_object_get(j, "project_id"));
    const char *why = !type || strcmp(type, "service_account") != 0
                          ? "\"type\" is not \"service_account\""
                      : !email || strlen(email) >= 256 ? "no \"client_email\""
                      : !pem                           ? "no \"private_key\""
                      : kid && strlen(kid) >= 64       ? "\"private_key_id\" too long"
                                                       : NULL;
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        json_decref(j);
        return -1;
    }
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: \"private_key\" is not a PEM RSA private key", path);
        EVP_PKEY_free(k);
        json_decref(j);
        return -1;
    }
    fsim_account *a = &s->acct[s->nacct++];
    snprintf(a->email, sizeof a->email, "%s", email);
    snprintf(a->kid, sizeof a->kid, "%s", kid ? kid : "");
    a->key = k;
    a->project = pid ? project_add(s, pid, strlen(pid)) : project_of_email(s, email);
    json_decref(j);
    if (!a->project) {
        snprintf(err, errlen, "%s: no project (\"project_id\" or the e-mail's domain)", path);
        return -1;
    }
    return 0;
}

static int load_pem_key(fsim_service *s, const char *dir, const char *name, char *err,
                        size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: not a PEM RSA public key", path);
        EVP_PKEY_free(k);
        return -1;
    }
    fsim_account *a = &s->acct[s->nacct++];
    size_t n = strlen(name) - 4; /* ".pem" */
    if (n >= sizeof a->email)
        n = sizeof a->email - 1;
    memcpy(a->email, name, n);
    a->email[n] = '\0';
    a->kid[0] = '\0';
    a->key = k;
    a->project = project_of_email(s, a->email);
    if (!a->project) {
        snprintf(err, errlen,
                 "%s: the file name is not <name>@<project>.iam.gserviceaccount.com.pem", path);
        return -1;
    }
    return 0;
}

static int load_accounts(fsim_service *s, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "--service-accounts %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        int json = n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
        int pem = n > 4 && strcmp(e->d_name + n - 4, ".pem") == 0;
        if (!json && !pem)
            continue;
        if (s->nacct == FSIM_MAX_ACCOUNTS) {
            snprintf(err, errlen, "--service-accounts %s: more than %d accounts", dir,
                     FSIM_MAX_ACCOUNTS);
            rc = -1;
            break;
        }
        if (json) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            rc = load_json_key(s, path, err, errlen);
        } else {
            rc = load_pem_key(s, dir, e->d_name, err, errlen);
        }
    }
    closedir(d);
    if (rc == 0 && s->nacct == 0) {
        snprintf(err, errlen, "--service-accounts %s: no *.json key file or *.pem public key", dir);
        rc = -1;
    }
    return rc;
}

static int load_projects(fsim_service *s, const char *list, char *err, size_t errlen)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t idn = eq ? (size_t)(eq - p) : n;
        fsim_project *pr = project_add(s, p, idn);
        if (!pr) {
            snprintf(err, errlen, "--projects: bad or too many projects at \"%.*s\"", (int)n, p);
            return -1;
        }
        if (eq) {
            size_t numn = n - idn - 1;
            if (numn == 0 || numn >= sizeof pr->number) {
                snprintf(err, errlen, "--projects: bad project number in \"%.*s\"", (int)n, p);
                return -1;
            }
            for (size_t i = 0; i < numn; i++)
                if (!isdigit((unsigned char)eq[1 + i])) {
                    snprintf(err, errlen, "--projects: bad project number in \"%.*s\"", (int)n, p);
                    return -1;
                }
            memcpy(pr->number, eq + 1, numn);
            pr->number[numn] = '\0';
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

fsim_service *fsim_service_new(const fsim_config *cfg, char *err, size_t errlen)
{
    fsim_service *s = calloc(1, sizeof *s);
    if (!s || !(s->issued = calloc(FSIM_MAX_TOKENS, sizeof *s->issued)) ||
        (cfg->device_n && !(s->dev = calloc(FSIM_DEV_SLOTS, sizeof *s->dev)))) {
        snprintf(err, errlen, "out of memory");
        fsim_service_free(s);
        return NULL;
    }
    s->cfg = *cfg;
    if (RAND_bytes((uint8_t *)&s->id_salt, sizeof s->id_salt) != 1)
        s->id_salt = 0x5eed;
    if ((cfg->service_accounts && load_accounts(s, cfg->service_accounts, err, errlen) != 0) ||
        load_projects(s, cfg->projects, err, errlen) != 0 ||
        list_load(&s->unregistered, cfg->unregistered, err, errlen) != 0 ||
        list_load(&s->invalid, cfg->invalid_tokens, err, errlen) != 0 ||
        list_load(&s->mismatched, cfg->mismatched_tokens, err, errlen) != 0 ||
        list_load(&s->third_party, cfg->third_party_tokens, err, errlen) != 0) {
        fsim_service_free(s);
        return NULL;
    }
    return s;
}

void fsim_service_free(fsim_service *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nacct; i++)
        EVP_PKEY_free(s->acct[i].key);
    free(s->issued);
    free(s->dev);
    list_free(&s->unregistered);
    list_free(&s->invalid);
    list_free(&s->mismatched);
    list_free(&s->third_party);
    free(s);
}

/* --------------------------------------------------------------- answers */

void fsim_answer_clear(fsim_answer *a)
{
    free(a->body);
    memset(a, 0, sizeof *a);
    a->retry_after = -1;
}

static int answer_json(fsim_answer *a, int status, json_t *j)
{
    free(a->body);
    a->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!a->body)
        return -1;
    a->len = strlen(a->body);
    a->status = status;
    a->content_type = "application/json; charset=UTF-8";
    return 0;
}

static json_t *detail(const char *type)
{
    char t[160];
    snprintf(t, sizeof t, "type.googleapis.com/%s", type);
    return json_pack("{ss}", "@type", t);
}

/* The google.rpc.Status envelope of e, with a field violation when field is set. */
static int answer_send_error(fsim_answer *a, fsim_err e, const char *field, const char *desc,
                             const char *message)
{
    const fsim_err_info *row = fsim_err_get(e);
    json_t *details = json_array();
    if (row->fcm_code) {
        json_t *d = detail("google.firebase.fcm.v1.FcmError");
        json_object_set_new(d, "errorCode", json_string(row->fcm_code));
        json_array_append_new(details, d);
    }
    if (field) {
        json_t *d = detail("google.rpc.BadRequest");
        json_t *fv = json_pack("{ss}", "description", desc ? desc : "");
        if (field[0])
            json_object_set_new(fv, "field", json_string(field));
        json_object_set_new(d, "fieldViolations", json_pack("[o]", fv));
        json_array_append_new(details, d);
    }
    if (e == FSIM_E_DEVICE_QUOTA) {
        json_t *d = detail("google.rpc.QuotaFailure");
        json_object_set_new(d, "violations",
                            json_pack("[{ssss}]", "subject", "device", "description",
                                      "Device message rate exceeded."));
        json_array_append_new(details, d);
    }
    if (e == FSIM_E_BAD_AUTH || e == FSIM_E_PROJECT_QUOTA) {
        json_t *d = detail("google.rpc.ErrorInfo");
        json_object_set_new(
            d, "reason",
            json_string(e == FSIM_E_BAD_AUTH ? "ACCESS_TOKEN_EXPIRED" : "RATE_LIMIT_EXCEEDED"));
        json_object_set_new(d, "domain", json_string("googleapis.com"));
        json_object_set_new(d, "metadata",
                            e == FSIM_E_BAD_AUTH
                                ? json_pack("{ss}", "service", "fcm.googleapis.com")
                                : json_pack("{ssss}", "service", "fcm.googleapis.com",
                                            "quota_limit", "SendsPerMinutePerProject"));
        json_array_append_new(details, d);
    }
    json_t *err = json_pack("{sissss}", "code", row->http, "message",
                            message ? message : row->message, "status", row->status);
    if (!err) {
        json_decref(details);
        return -1;
    }
    if (json_array_size(details))
        json_object_set_new(err, "details", details);
    else
        json_decref(details);
    a->err = e;
    return answer_json(a, row->http, json_pack("{so}", "error", err));
}

int fsim_answer_frontend(fsim_answer *out, int status)
{
    char page[400];
    const char *what = status == 502 ? "Server Error" : "Not Found";
    int n = snprintf(page, sizeof page,
                     "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n"
                     "<title>Error %d (%s)!!1</title>\n<p><b>%d.</b> <ins>That's an error.</ins>\n"
                     "<p>The server encountered an error. Please try again later.\n",
                     status, what, status);
    char *b = malloc((size_t)n + 1);
    if (!b)
        return -1;
    memcpy(b, page, (size_t)n + 1);
    free(out->body);
    out->body = b;
    out->len = (size_t)n;
    out->status = status;
    out->content_type = "text/html; charset=UTF-8";
    out->err = FSIM_OK;
    out->delivered = 0;
    return 0;
}

int fsim_answer_error(fsim_answer *out, fsim_err e)
{
    out->delivered = 0;
    return answer_send_error(out, e, NULL, NULL, NULL);
}

static int answer_token_error(fsim_service *s, fsim_answer *a, fsim_tok_err e)
{
    const fsim_tok_err_info *row = fsim_tok_err_get(e);
    s->token_refusals++;
    a->terr = e;
    return answer_json(
        a, row->http,
        json_pack("{ssss}", "error", row->error, "error_description", row->description));
}

/* ------------------------------------------------------- token endpoint */

/* Decodes application/x-www-form-urlencoded value v[0..n) into out (NUL-terminated). */
static int form_decode(const char *v, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap)
            return -1;
        char c = v[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)v[i + 1]) ||
                !isxdigit((unsigned char)v[i + 2]))
                return -1;
            char hx[3] = {v[i + 1], v[i + 2], 0};
            c = (char)strtol(hx, NULL, 16);
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Finds form field name in body; 1 and decoded into out, 0 absent, -1 malformed. */
static int form_get(fsim_str body, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), i = 0;
    int found = 0;
    while (i < body.len) {
        const char *amp = memchr(body.p + i, '&', body.len - i);
        size_t end = amp ? (size_t)(amp - body.p) : body.len;
        if (end - i > nl && memcmp(body.p + i, name, nl) == 0 && body.p[i + nl] == '=') {
            if (form_decode(body.p + i + nl + 1, end - i - nl - 1, out, cap) != 0)
                return -1;
            found = 1; /* the last one wins */
        }
        i = end + 1;
    }
    return found;
}

static json_t *b64_json(const char *p, size_t n)
{
    uint8_t buf[2048];
    int m = apns_base64url_decode(p, n, buf, sizeof buf);
    return m < 0 ? NULL : json_loadb((const char *)buf, (size_t)m, 0, NULL);
}

static int scope_ok(const char *scope)
{
    const char *p = scope;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if ((n == strlen(FSIM_SCOPE_FCM) && memcmp(p, FSIM_SCOPE_FCM, n) == 0) ||
            (n == strlen(FSIM_SCOPE_CLOUD) && memcmp(p, FSIM_SCOPE_CLOUD, n) == 0))
            return 1;
        p += n;
    }
    return 0;
}

static fsim_tok_err check_jwt(fsim_service *s, const char *jwt, int64_t now_s, fsim_account **who)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return FSIM_T_BAD_SIGNATURE;
    json_t *h = b64_json(jwt, (size_t)(d1 - jwt));
    json_t *c = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
    fsim_tok_err r = FSIM_TOK_OK;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    const char *iss = json_string_value(json_object_get(c, "iss"));
    fsim_account *a = NULL;
    if (!h || !c || !alg || strcmp(alg, "RS256") != 0) {
        r = FSIM_T_BAD_SIGNATURE;
        goto out;
    }
    for (size_t i = 0; iss && i < s->nacct; i++)
        if (strcmp(s->acct[i].email, iss) == 0)
            a = &s->acct[i];
    if (!a) {
        r = FSIM_T_NO_ACCOUNT;
        goto out;
    }
    a->token_requests++;
    if (a->kid[0] && kid && strcmp(kid, a->kid) != 0) {
        r = FSIM_T_BAD_SIGNATURE;
        goto out;
    }
    uint8_t sig[1024];
    int sl = apns_base64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = sl > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, a->key) == 1 &&
             EVP_DigestVerify(md, sig, (size_t)sl, (const uint8_t *)jwt, (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error(); /* a failed verification leaves errors that SSL_write would see */
    if (!ok) {
        r = FSIM_T_BAD_SIGNATURE;
        goto out;
    }
    const char *aud = json_string_value(json_object_get(c, "aud"));
    if (!aud || strcmp(aud, FSIM_TOKEN_URI) != 0) {
        r = FSIM_T_BAD_AUDIENCE;
        goto out;
    }
    json_t *ji = json_object_get(c, "iat"), *je = json_object_get(c, "exp");
    if (!json_is_integer(ji) || !json_is_integer(je)) {
        r = FSIM_T_BAD_TIME;
        goto out;
    }
    json_int_t iat = json_integer_value(ji), exp = json_integer_value(je);
    if (exp < iat || exp - iat > 3600 || exp < now_s || iat > now_s + 300) {
        r = FSIM_T_BAD_TIME;
        goto out;
    }
    const char *scope = json_string_value(json_object_get(c, "scope"));
    if (!scope || !scope_ok(scope))
        r = FSIM_T_BAD_SCOPE;
out:
    json_decref(h);
    json_decref(c);
    *who = a;
    return r;
}

static int handle_token(fsim_service *s, const fsim_request *req, int64_t now_ms, fsim_answer *a)
{
    char grant[128], *jwt = malloc(FSIM_H1_MAX_BODY);
    if (!jwt)
        return -1;
    int g = form_get(req->body, "grant_type", grant, sizeof grant);
    int j = form_get(req->body, "assertion", jwt, FSIM_H1_MAX_BODY);
    int rc;
    fsim_account *acct = NULL;
    fsim_tok_err e = g != 1 || strcmp(grant, FSIM_GRANT_TYPE) != 0 ? FSIM_T_BAD_GRANT_TYPE
                     : j != 1                                      ? FSIM_T_BAD_REQUEST
                              : check_jwt(s, jwt, now_ms / 1000, &acct);
    free(jwt);
    if (e != FSIM_TOK_OK)
        return answer_token_error(s, a, e);
    uint32_t slot = s->next_slot++ % FSIM_MAX_TOKENS;
    fsim_issued *t = &s->issued[slot];
    if (RAND_bytes(t->secret, sizeof t->secret) != 1)
        return -1;
    t->acct = acct;
    t->expires_ms = now_ms + (int64_t)s->cfg.token_ttl * 1000;
    acct->tokens_issued++;
    char tok[128], hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", t->secret[i]);
    snprintf(tok, sizeof tok, "ya29.fsim.%u.%s", slot, hex);
    rc = answer_json(a, 200,
                     json_pack("{sssiss}", "access_token", tok, "expires_in", s->cfg.token_ttl,
                               "token_type", "Bearer"));
    return rc;
}

/* The account behind "Bearer ya29.fsim.<slot>.<hex>", or NULL (unknown or expired). */
static fsim_account *bearer(fsim_service *s, fsim_str auth, int64_t now_ms)
{
    const char pre[] = "Bearer ya29.fsim.";
    size_t pl = sizeof pre - 1;
    if (auth.len < pl + 34 || strncmp(auth.p, pre, pl) != 0)
        return NULL;
    char buf[64];
    size_t n = auth.len - pl;
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, auth.p + pl, n);
    buf[n] = '\0';
    char *dot;
    unsigned long slot = strtoul(buf, &dot, 10);
    if (*dot != '.' || slot >= FSIM_MAX_TOKENS || strlen(dot + 1) != 32)
        return NULL;
    fsim_issued *t = &s->issued[slot];
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(dot + 1 + 2 * i, "%2x", &v) != 1 || v != t->secret[i])
            return NULL;
    }
    return t->expires_ms > now_ms ? t->acct : NULL;
}

/* ------------------------------------------------------------- quota */

static int64_t quota_width(const fsim_service *s)
{
    int64_t w = (int64_t)s->cfg.quota_s * 1000 / FSIM_QUOTA_SLOTS;
    return w > 0 ? w : 1;
}

/* Messages counted in the window ending at now; *retry = seconds until one leaves. */
static uint64_t quota_used(const fsim_service *s, const fsim_project *p, int64_t now, int *retry)
{
    int64_t win = (int64_t)s->cfg.quota_s * 1000, oldest = INT64_MAX;
    uint64_t used = 0;
    for (int i = 0; i < FSIM_QUOTA_SLOTS; i++)
        if (p->slot_count[i] && p->slot_start[i] > now - win) {
            used += p->slot_count[i];
            if (p->slot_start[i] < oldest)
                oldest = p->slot_start[i];
        }
    if (retry) {
        int64_t ms = oldest == INT64_MAX ? 0 : oldest + win + quota_width(s) - now;
        *retry = ms <= 1000 ? 1 : (int)((ms + 999) / 1000);
    }
    return used;
}

static void quota_count(const fsim_service *s, fsim_project *p, int64_t now)
{
    int64_t w = quota_width(s), start = now - now % w;
    int i = (int)((now / w) % FSIM_QUOTA_SLOTS);
    if (p->slot_start[i] != start) {
        p->slot_start[i] = start;
        p->slot_count[i] = 0;
    }
    p->slot_count[i]++;
}

/* ---------------------------------------------------------- validation */

typedef struct vctx {
    char field[256];
    char desc[256];
} vctx;

/* lowerCamel -> snake_case (the proto3 JSON mapping accepts both). */
static void canon(const char *k, char *out, size_t cap)
{
    size_t o = 0;
    for (; *k && o + 2 < cap; k++) {
        if (isupper((unsigned char)*k)) {
            out[o++] = '_';
            out[o++] = (char)tolower((unsigned char)*k);
        } else {
            out[o++] = *k;
        }
    }
    out[o] = '\0';
}

static int one_of(const char *k, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(k, *names) == 0)
            return 1;
    return 0;
}

static fsim_err violation(vctx *v, const char *field, const char *desc)
{
    snprintf(v->field, sizeof v->field, "%s", field);
    snprintf(v->desc, sizeof v->desc, "%s", desc);
    return FSIM_E_BAD_FIELD;
}

/* A data map at path: string values, no reserved keys; adds key+value bytes to *bytes. */
static fsim_err check_data(json_t *d, const char *path, size_t *bytes, vctx *v)
{
    if (!json_is_object(d))
        return violation(v, path, "Invalid value: expected a map of strings");
    const char *k;
    json_t *val;
    size_t idx = 0;
    json_object_foreach(d, k, val)
    {
        if (!json_is_string(val)) {
            char f[128];
            snprintf(f, sizeof f, "%s[%zu].value", path, idx);
            char *txt = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(v->desc, sizeof v->desc, "Invalid value at '%s' (TYPE_STRING), %s", f,
                     txt ? txt : "");
            free(txt);
            snprintf(v->field, sizeof v->field, "%s", f);
            return FSIM_E_BAD_FIELD;
        }
        if (strcmp(k, "from") == 0 || strcmp(k, "message_type") == 0 ||
            strncmp(k, "google", 6) == 0 || strncmp(k, "gcm", 3) == 0) {
            char desc[200];
            snprintf(desc, sizeof desc, "Invalid data payload key: %.100s", k);
            return violation(v, path, desc);
        }
        *bytes += strlen(k) + json_string_length(val);
        idx++;
    }
    return FSIM_OK;
}

/* protobuf Duration: decimal seconds, up to 9 fraction digits, "s". */
static int duration_ok(const char *s, double max)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p))
            p++, n++;
        if (n < 1 || n > 9)
            return 0;
    }
    return p[0] == 's' && p[1] == '\0' && strtod(s, NULL) <= max;
}

static fsim_err check_android(fsim_service *s, json_t *an, size_t *bytes, vctx *v)
{
    static const char *const known[] = {"collapse_key",
                                        "priority",
                                        "ttl",
                                        "restricted_package_name",
                                        "data",
                                        "notification",
                                        "fcm_options",
                                        "direct_boot_ok",
                                        "bandwidth_constrained_ok",
                                        "restricted_satellite_ok",
                                        NULL};
    if (!json_is_object(an))
        return violation(v, "message.android", "Invalid value: expected an object");
    const char *k;
    json_t *val;
    json_object_foreach(an, k, val)
    {
        char c[128], f[200];
        canon(k, c, sizeof c);
        snprintf(f, sizeof f, "message.android.%s", c);
        if (!one_of(c, known))
            return violation(v, f, "Unknown name: Cannot find field.");
        if (strcmp(c, "priority") == 0) {
            const char *pr = json_string_value(val);
            if (!pr || (strcasecmp(pr, "normal") != 0 && strcasecmp(pr, "high") != 0))
                return violation(v, f, "Invalid value: expected NORMAL or HIGH");
        } else if (strcmp(c, "ttl") == 0) {
            const char *t = json_string_value(val);
            if (!t || !duration_ok(t, FSIM_MAX_TTL_S))
                return violation(v, f, "Invalid value: a Duration of 0s to 2419200s");
        } else if (strcmp(c, "data") == 0) {
            size_t b = 0;
            fsim_err e = check_data(val, "message.android.data", &b, v);
            if (e != FSIM_OK)
                return e;
            if (b > *bytes)
                *bytes = b;
        } else if (strcmp(c, "restricted_package_name") == 0 || strcmp(c, "collapse_key") == 0) {
            if (!json_is_string(val))
                return violation(v, f, "Invalid value: expected a string");
            if (c[0] == 'r' && s->cfg.package_name &&
                strcmp(json_string_value(val), s->cfg.package_name) != 0)
                return violation(v, f, "Invalid value: the token's package does not match");
        } else if (strcmp(c, "notification") == 0 || strcmp(c, "fcm_options") == 0) {
            if (!json_is_object(val))
                return violation(v, f, "Invalid value: expected an object");
        } else if (!json_is_boolean(val)) {
            return violation(v, f, "Invalid value: expected a boolean");
        }
    }
    return FSIM_OK;
}

static fsim_err check_message(fsim_service *s, json_t *m, vctx *v, const char **target,
                              const char **kind, size_t *bytes)
{
    static const char *const known[] = {"name", "token",   "topic",        "condition",
                                        "fid",  "data",    "notification", "android",
                                        "apns", "webpush", "fcm_options",  NULL};
    if (!json_is_object(m))
        return violation(v, "message", "Invalid value: expected an object");
    int ntargets = 0;
    size_t databytes = 0;
    const char *k;
    json_t *val;
    json_object_foreach(m, k, val)
    {
        char c[128], f[200];
        canon(k, c, sizeof c);
        snprintf(f, sizeof f, "message.%s", c);
        if (!one_of(c, known))
            return violation(v, f, "Unknown name: Cannot find field.");
        if (strcmp(c, "token") == 0 || strcmp(c, "topic") == 0 || strcmp(c, "condition") == 0 ||
            strcmp(c, "fid") == 0) {
            if (!json_is_string(val))
                return violation(v, f, "Invalid value: expected a string");
            ntargets++;
            *target = json_string_value(val);
            *kind = c[1] == 'o' ? (c[2] == 'k' ? "" : "topic") : c[0] == 'c' ? "condition" : "fid";
        } else if (strcmp(c, "data") == 0) {
            fsim_err e = check_data(val, "message.data", &databytes, v);
            if (e != FSIM_OK)
                return e;
        } else if (strcmp(c, "notification") == 0) {
            if (!json_is_object(val))
                return violation(v, f, "Invalid value: expected an object");
            const char *nk;
            json_t *nv;
            json_object_foreach(val, nk, nv)
            {
                char nf[200];
                snprintf(nf, sizeof nf, "message.notification.%s", nk);
                if (strcmp(nk, "title") != 0 && strcmp(nk, "body") != 0 && strcmp(nk, "image") != 0)
                    return violation(v, nf, "Unknown name: Cannot find field.");
                if (!json_is_string(nv))
                    return violation(v, nf, "Invalid value: expected a string");
            }
        } else if (strcmp(c, "android") == 0) {
            size_t ab = databytes;
            fsim_err e = check_android(s, val, &ab, v);
            if (e != FSIM_OK)
                return e;
            databytes = ab;
        } else if (strcmp(c, "name") != 0 && !json_is_object(val)) {
            return violation(v, f, "Invalid value: expected an object");
        }
    }
    if (ntargets == 0)
        return FSIM_E_NO_TARGET;
    if (ntargets > 1) {
        violation(v, "message", "Exactly one of token, topic, condition or fid must be set");
        return FSIM_E_NO_TARGET;
    }
    if (**kind == '\0') {
        const char *t = *target;
        size_t n = strlen(t);
        int bad = n == 0 || n > 4096;
        for (size_t i = 0; i < n && !bad; i++)
            bad = (unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f;
        if (bad)
            return FSIM_E_BAD_TOKEN;
    } else if (strcmp(*kind, "topic") == 0) {
        const char *t = *target;
        if (*t == '\0' || strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_.~%") != strlen(t))
            return violation(v, "message.topic", "Invalid topic name");
    } else if (**target == '\0') {
        return violation(v, strcmp(*kind, "fid") == 0 ? "message.fid" : "message.condition",
                         "Invalid value: empty");
    }
    size_t max = **kind == 't' || **kind == 'c' ? FSIM_MAX_DATA_TOPIC : FSIM_MAX_DATA;
    if (databytes > max)
        return FSIM_E_TOO_BIG;
    *bytes = databytes;
    return FSIM_OK;
}

/* ------------------------------------------------------------- send */

static int handle_send(fsim_service *s, const fsim_request *req, fsim_str pid, int64_t now,
                       fsim_answer *a)
{
    a->is_send = 1;
    if (!req->authorization.p)
        return answer_send_error(a, FSIM_E_MISSING_AUTH, NULL, NULL, NULL);
    fsim_account *acct = bearer(s, req->authorization, now);
    if (!acct)
        return answer_send_error(a, FSIM_E_BAD_AUTH, NULL, NULL, NULL);
    fsim_project *p = project_find(s, pid.p, pid.len);
    if (!p)
        return answer_send_error(a, FSIM_E_NO_PROJECT, NULL, NULL, NULL);
    if (p != acct->project)
        return answer_send_error(a, FSIM_E_PERMISSION, NULL, NULL, NULL);
    if (s->cfg.quota_n) {
        int retry;
        if (quota_used(s, p, now, &retry) >= s->cfg.quota_n) {
            a->retry_after = retry;
            return answer_send_error(a, FSIM_E_PROJECT_QUOTA, NULL, NULL, NULL);
        }
        quota_count(s, p, now); /* 200s and client errors count alike */
    }

    vctx v = {{0}, {0}};
    json_error_t je;
    json_t *root = json_loadb(req->body.p ? req->body.p : "", req->body.len, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid JSON payload received. %s", je.text);
        return answer_send_error(a, FSIM_E_BAD_JSON, "", msg, msg);
    }
    json_t *msg = NULL;
    int validate_only = 0;
    fsim_err e = FSIM_OK;
    const char *k;
    json_t *val;
    json_object_foreach(root, k, val)
    {
        char c[128];
        canon(k, c, sizeof c);
        if (strcmp(c, "message") == 0) {
            msg = val;
        } else if (strcmp(c, "validate_only") == 0) {
            if (!json_is_boolean(val)) {
                e = violation(&v, "validate_only", "Invalid value: expected a boolean");
                break;
            }
            validate_only = json_is_true(val);
        } else {
            char desc[200];
            snprintf(desc, sizeof desc,
                     "Invalid JSON payload received. Unknown name \"%.100s\": "
                     "Cannot find field.",
                     k);
            e = violation(&v, k, desc);
            break;
        }
    }
    const char *target = NULL, *kind = "";
    size_t bytes = 0;
    if (e == FSIM_OK)
        e = msg ? check_message(s, msg, &v, &target, &kind, &bytes)
                : violation(&v, "message", "Invalid value: message is required");
    if (e == FSIM_OK && *kind == '\0') {
        e = list_has(&s->invalid, target)        ? FSIM_E_BAD_TOKEN
            : list_has(&s->unregistered, target) ? FSIM_E_UNREGISTERED
            : list_has(&s->mismatched, target)   ? FSIM_E_SENDER_ID_MISMATCH
            : list_has(&s->third_party, target)  ? FSIM_E_THIRD_PARTY_AUTH
                                                 : FSIM_OK;
    }
    int retry = -1;
    if (e == FSIM_OK && !validate_only && *kind == '\0' && s->dev) {
        /* --device-rate: a fixed window per token, in a table indexed by the
         * token's hash (a colliding token takes the slot over). */
        uint64_t h = common_fnv1a_str(target) | 1;
        struct fsim_dev *d = &s->dev[h % FSIM_DEV_SLOTS];
        int64_t win = (int64_t)s->cfg.device_s * 1000;
        if (d->h != h || now - d->start_ms >= win) {
            d->h = h;
            d->start_ms = now;
            d->n = 0;
        }
        if (d->n >= s->cfg.device_n) {
            e = FSIM_E_DEVICE_QUOTA;
            retry = (int)((d->start_ms + win - now + 999) / 1000);
            if (retry < 1)
                retry = 1;
        } else {
            d->n++;
        }
    }
    int rc;
    if (e == FSIM_E_DEVICE_QUOTA) {
        a->retry_after = retry;
        rc = answer_send_error(a, e, NULL, NULL, NULL);
    } else if (e == FSIM_E_BAD_TOKEN) {
        rc = answer_send_error(a, e, "message.token", "Invalid registration token", NULL);
    } else if (e == FSIM_E_NO_TARGET) {
        rc = answer_send_error(a, e, "message",
                               v.field[0] ? v.desc : "Recipient of the message is not set.", NULL);
    } else if (e == FSIM_E_BAD_FIELD) {
        const char *m = strncmp(v.desc, "Invalid value at", 16) == 0 ? v.desc : NULL;
        rc = answer_send_error(a, e, v.field, v.desc, m);
    } else if (e != FSIM_OK) {
        rc = answer_send_error(a, e, NULL, NULL, NULL);
    } else {
        char name[300];
        if (validate_only) {
            snprintf(a->id, sizeof a->id, "fake_message_id");
        } else {
            uint64_t seq = ++s->msg_seq;
            uint64_t h = common_fnv1a_add(s->id_salt, &seq, sizeof seq);
            snprintf(a->id, sizeof a->id, "0:%016llu%%%016llx",
                     (unsigned long long)(now * 1000 % 10000000000000000ull + seq % 1000),
                     (unsigned long long)h);
            a->delivered = 1;
            if (*kind == 'c')
                snprintf(a->target, sizeof a->target, "condition:%016llx",
                         (unsigned long long)common_fnv1a_str(target));
            else
                snprintf(a->target, sizeof a->target, "%s%s%s", kind, *kind ? ":" : "", target);
            snprintf(a->project, sizeof a->project, "%s", p->id);
            a->payload_bytes = req->body.len;
        }
        snprintf(name, sizeof name, "projects/%s/messages/%s", p->id, a->id);
        rc = answer_json(a, 200, json_pack("{ss}", "name", name));
    }
    json_decref(root);
    return rc;
}

int fsim_service_handle(fsim_service *s, const fsim_request *req, int64_t now_ms, fsim_answer *out)
{
    fsim_answer_clear(out);
    fsim_str path = req->path;
    const char *q = memchr(path.p, '?', path.len);
    if (q)
        path.len = (size_t)(q - path.p);
    int post = req->method.len == 4 && memcmp(req->method.p, "POST", 4) == 0;
    if (post && path.len == 6 && memcmp(path.p, "/token", 6) == 0)
        return handle_token(s, req, now_ms, out);
    const char pre[] = "/v1/projects/", suf[] = "/messages:send";
    size_t pl = sizeof pre - 1, sl = sizeof suf - 1;
    if (post && path.len > pl + sl && memcmp(path.p, pre, pl) == 0 &&
        memcmp(path.p + path.len - sl, suf, sl) == 0) {
        fsim_str pid = {path.p + pl, path.len - pl - sl};
        if (!memchr(pid.p, '/', pid.len))
            return handle_send(s, req, pid, now_ms, out);
    }
    return answer_send_error(out, FSIM_E_NO_METHOD, NULL, NULL, NULL);
}

void fsim_service_print_counters(const fsim_service *s, char *buf, size_t len)
{
    size_t o = 0;
    uint64_t issued = 0;
    o += (size_t)snprintf(buf + o, len - o, "\"token_requests\":{");
    for (size_t i = 0; i < s->nacct && o < len; i++) {
        issued += s->acct[i].tokens_issued;
        o += (size_t)snprintf(buf + o, len - o, "%s\"%s\":%llu", i ? "," : "", s->acct[i].email,
                              (unsigned long long)s->acct[i].token_requests);
    }
    if (o < len)
        snprintf(buf + o, len - o, "},\"tokens_issued\":%llu,\"token_refusals\":%llu",
                 (unsigned long long)issued, (unsigned long long)s->token_refusals);
}

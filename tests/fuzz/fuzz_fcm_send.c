/*
 * fuzz_fcm_send.c - fcm-sim's answers (sim/fcm/service.c) to arbitrary
 * bytes: each input is the body of a messages:send request with a valid
 * access token, then the form body of a POST /token.
 *
 * Set-up (once): an RSA key pair, its public key in a temporary
 * --service-accounts directory as <client_email>.pem, and an access token
 * from the token endpoint for a JWT signed with it.
 *
 * Invariants (abort() on a violation):
 *   - fsim_service_handle() succeeds; the answer is JSON;
 *   - a send answer is 200 with "name" under projects/fuzz-proj/messages/,
 *     or its status and error.status are those of the row of errors.h the
 *     answer names (a verdict never comes from anywhere else);
 *   - a token answer is 200 with access_token, or 400 with error and
 *     error_description.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "apns/jwt.h"
#include "service.h"

#define EMAIL "fuzz@fuzz-proj.iam.gserviceaccount.com"

static fsim_service *svc;
static char bearer[200];

static void check(int ok)
{
    if (!ok)
        abort();
}

static void setup(void)
{
    char dir[] = "/tmp/fuzz-fcm-XXXXXX";
    check(mkdtemp(dir) != NULL);
    EVP_PKEY *k = EVP_RSA_gen(2048);
    check(k != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/" EMAIL ".pem", dir);
    FILE *f = fopen(path, "w");
    check(f && PEM_write_PUBKEY(f, k) == 1);
    fclose(f);
    fsim_config cfg = {.service_accounts = dir, .token_ttl = 3600};
    char err[256];
    svc = fsim_service_new(&cfg, err, sizeof err);
    check(svc != NULL);
    unlink(path);
    rmdir(dir);

    char claims[400], h64[100], c64[600], jwt[1200];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"" EMAIL
             "\",\"scope\":\"https://www.googleapis.com/auth/firebase.messaging\","
             "\"aud\":\"https://oauth2.googleapis.com/token\",\"iat\":%ld,\"exp\":%ld}",
             now, now + 3600);
    const char *head = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    apns_base64url_encode((const uint8_t *)head, strlen(head), h64, sizeof h64);
    apns_base64url_encode((const uint8_t *)claims, strlen(claims), c64, sizeof c64);
    int n = snprintf(jwt, sizeof jwt, "%s.%s", h64, c64);
    uint8_t sig[256];
    size_t sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    check(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
          EVP_DigestSign(md, sig, &sl, (const uint8_t *)jwt, (size_t)n) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    jwt[n++] = '.';
    apns_base64url_encode(sig, sl, jwt + n, sizeof jwt - (size_t)n);

    char form[1400];
    snprintf(form, sizeof form,
             "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
             jwt);
    fsim_request req = {.method = {"POST", 4}, .path = {"/token", 6}, .body = {form, strlen(form)}};
    fsim_answer a = {0};
    a.retry_after = -1;
    check(fsim_service_handle(svc, &req, (int64_t)now * 1000, &a) == 0 && a.status == 200);
    json_t *j = json_loadb(a.body, a.len, 0, NULL);
    check(j != NULL);
    snprintf(bearer, sizeof bearer, "Bearer %s",
             json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    fsim_answer_clear(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!svc)
        setup();
    int64_t now = (int64_t)time(NULL) * 1000;
    const char *path = "/v1/projects/fuzz-proj/messages:send";
    fsim_request req = {.method = {"POST", 4},
                        .path = {path, strlen(path)},
                        .authorization = {bearer, strlen(bearer)},
                        .body = {(const char *)data, size}};
    fsim_answer a = {0};
    a.retry_after = -1;
    check(fsim_service_handle(svc, &req, now, &a) == 0);
    json_t *j = json_loadb(a.body, a.len, 0, NULL);
    check(j != NULL);
    if (a.status == 200) {
        const char *name = json_string_value(json_object_get(j, "name"));
        check(name && strncmp(name, "projects/fuzz-proj/messages/", 28) == 0);
    } else {
        const fsim_err_info *row = fsim_err_get(a.err);
        json_t *e = json_object_get(j, "error");
        check(row && row->http == a.status);
        check(json_integer_value(json_object_get(e, "code")) == a.status);
        check(strcmp(json_string_value(json_object_get(e, "status")), row->status) == 0);
    }
    json_decref(j);
    fsim_answer_clear(&a);

    fsim_request tok = {
        .method = {"POST", 4}, .path = {"/token", 6}, .body = {(const char *)data, size}};
    check(fsim_service_handle(svc, &tok, now, &a) == 0);
    j = json_loadb(a.body, a.len, 0, NULL);
    check(j != NULL);
    if (a.status == 200)
        check(json_is_string(json_object_get(j, "access_token")));
    else
        check(a.status == 400 && json_is_string(json_object_get(j, "error")) &&
              json_is_string(json_object_get(j, "error_description")));
    json_decref(j);
    fsim_answer_clear(&a);
    return 0;
}

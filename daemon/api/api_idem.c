/*
 * api_idem.c - the Idempotency-Key header of POST /v1/push: its syntax, its
 * scope (the API key) and the body's digest.
 *
 * Design note
 * -----------
 * The header is checked with the head, before the body is read: a bad key
 * is a 400 naming the header, whatever the body. The key is scoped by the
 * SHA-256 of the bearer key (r->key), so two API keys never see each
 * other's answers. The body is compared by the SHA-256 of its bytes: a
 * repeat must send the same bytes (a client retrying sends the request it
 * built once). The flow around the queue is in api_submit.c.
 */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

int gw__api_idem_header(gw_api_req *r, const gw_api_http_head *h)
{
    size_t count = 0, len;
    const char *v = gw_api_http_field_get(h, "Idempotency-Key", &count);

    r->idem_key[0] = '\0';
    if (v == NULL)
        return 0;
    if (count > 1) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_HEADER, "Idempotency-Key",
                             "Idempotency-Key is given %zu times; send it once", count);
        return -1;
    }
    len = strlen(v);
    if (len == 0 || len > GW_IDEM_KEY_MAX) {
        gw__api_reply_errorf(r, GW_API_E_INVALID_HEADER, "Idempotency-Key",
                             "Idempotency-Key has %zu characters; it takes 1..%d printable ASCII "
                             "characters",
                             len, GW_IDEM_KEY_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e) {
            gw__api_reply_errorf(r, GW_API_E_INVALID_HEADER, "Idempotency-Key",
                                 "Idempotency-Key holds byte 0x%02x at offset %zu; it takes 1..%d "
                                 "printable ASCII characters",
                                 c, i, GW_IDEM_KEY_MAX);
            return -1;
        }
    }
    memcpy(r->idem_key, v, len + 1);
    return 0;
}

void gw__api_idem_scope(const gw_api_req *r, char out[GW_IDEM_SCOPE_MAX + 1])
{
    if (!r->has_key) {
        snprintf(out, GW_IDEM_SCOPE_MAX + 1, "-");
        return;
    }
    for (size_t i = 0; i < GW__API_DIGEST && 2 * i + 2 <= GW_IDEM_SCOPE_MAX; i++)
        snprintf(out + 2 * i, 3, "%02x", r->key[i]);
}

void gw__api_idem_hash(const void *body, size_t len, uint8_t out[GW_IDEM_HASH])
{
    unsigned n = 0;

    if (EVP_Digest(body, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, GW_IDEM_HASH);
}

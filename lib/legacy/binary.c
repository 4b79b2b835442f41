/*
 * binary.c - codecs of the legacy binary provider interface (apns/binary.h).
 *
 * Every reader checks the bytes it is about to read against the length it
 * was given before reading them; every length field is checked against the
 * format's maximum before the decoder agrees to wait for the bytes it
 * announces. So a hostile length (0xFFFFFFFF) is rejected from the first 5
 * bytes and never makes the caller buffer anything.
 */
#include "hex.h" /* common/ */
#include "apns/binary.h"

#include <string.h>

#include "apns/error.h"

/* ---- big-endian helpers ---------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* ---- statuses -------------------------------------------------------------- */

const char *apns_binary_status_name(int status)
{
    switch (status) {
#define XX(id, val, msg)                                                                           \
    case val:                                                                                      \
        return msg;
        APNS_BINARY_STATUS_MAP(XX)
#undef XX
    default:
        return "Unknown status";
    }
}

/* ---- notifications: encode ------------------------------------------------- */

enum { ITEM_TOKEN = 1, ITEM_PAYLOAD, ITEM_ID, ITEM_EXPIRY, ITEM_PRIORITY };

size_t apns_binary_encoded_len(apns_binary_format f, const apns_binary_notification *n)
{
    if (n == NULL)
        return 0;
    switch (f) {
    case APNS_BINARY_SIMPLE:
        return 5 + n->token_len + n->payload_len;
    case APNS_BINARY_ENHANCED:
        return 13 + n->token_len + n->payload_len;
    case APNS_BINARY_FRAME:
        return 5 + 3 + n->token_len + 3 + n->payload_len +
               ((n->omit & APNS_BINARY_OMIT_ID) ? 0 : 7) +
               ((n->omit & APNS_BINARY_OMIT_EXPIRY) ? 0 : 7) + (n->priority ? 4 : 0);
    }
    return 0;
}

static int check_for_encode(apns_binary_format f, const apns_binary_notification *n)
{
    int frame = f == APNS_BINARY_FRAME;
    if (n->token == NULL || n->token_len == 0)
        return APNS_EBADTOKEN;
    if (frame ? n->token_len > APNS_BINARY_TOKEN_MAX : n->token_len != APNS_BINARY_TOKEN_LEGACY)
        return APNS_EBADTOKEN;
    if (n->payload == NULL || n->payload_len == 0)
        return APNS_EPAYLOADEMPTY;
    if (n->payload_len > (frame ? APNS_BINARY_PAYLOAD_MAX_FRAME : APNS_BINARY_PAYLOAD_MAX_LEGACY))
        return APNS_ETOOBIG;
    if (frame && n->priority != 0 && n->priority != 5 && n->priority != 10)
        return APNS_EPRIORITY;
    return 0;
}

int apns_binary_encode(apns_binary_format f, const apns_binary_notification *n, uint8_t *out,
                       size_t out_len)
{
    if (n == NULL || out == NULL)
        return APNS_EINVAL;
    if (f != APNS_BINARY_SIMPLE && f != APNS_BINARY_ENHANCED && f != APNS_BINARY_FRAME)
        return APNS_EINVAL;
    int rc = check_for_encode(f, n);
    if (rc != 0)
        return rc;
    size_t need = apns_binary_encoded_len(f, n);
    if (out_len < need)
        return APNS_EINVAL;

    uint8_t *p = out;
    *p++ = (uint8_t)f;
    if (f == APNS_BINARY_FRAME) {
        p = put32(p, (uint32_t)(need - 5));
        *p++ = ITEM_TOKEN;
        p = put16(p, (uint16_t)n->token_len);
        memcpy(p, n->token, n->token_len);
        p += n->token_len;
        *p++ = ITEM_PAYLOAD;
        p = put16(p, (uint16_t)n->payload_len);
        memcpy(p, n->payload, n->payload_len);
        p += n->payload_len;
        if (!(n->omit & APNS_BINARY_OMIT_ID)) {
            *p++ = ITEM_ID;
            p = put16(p, 4);
            p = put32(p, n->id);
        }
        if (!(n->omit & APNS_BINARY_OMIT_EXPIRY)) {
            *p++ = ITEM_EXPIRY;
            p = put16(p, 4);
            p = put32(p, n->expiry);
        }
        if (n->priority) {
            *p++ = ITEM_PRIORITY;
            p = put16(p, 1);
            *p++ = n->priority;
        }
    } else {
        if (f == APNS_BINARY_ENHANCED) {
            p = put32(p, n->id);
            p = put32(p, n->expiry);
        }
        p = put16(p, (uint16_t)n->token_len);
        memcpy(p, n->token, n->token_len);
        p += n->token_len;
        p = put16(p, (uint16_t)n->payload_len);
        memcpy(p, n->payload, n->payload_len);
        p += n->payload_len;
    }
    return (int)(p - out);
}

/* ---- notifications: decode ------------------------------------------------- */

static int malformed(uint8_t *status, uint8_t s)
{
    *status = s;
    return APNS_EFORMAT;
}

/* Simple (hdr = 1) and enhanced (hdr = 9): [hdr] TL(2) token PL(2) payload. */
static int decode_legacy(const uint8_t *buf, size_t len, size_t hdr, apns_binary_notification *out,
                         uint8_t *status)
{
    if (hdr == 9 && len >= 5)
        out->id = get32(buf + 1);
    if (len < hdr + 2)
        return 0;
    if (hdr == 9)
        out->expiry = get32(buf + 5);
    size_t tl = get16(buf + hdr);
    if (tl == 0)
        return malformed(status, APNS_BINARY_STATUS_MISSING_TOKEN);
    if (tl != APNS_BINARY_TOKEN_LEGACY)
        return malformed(status, APNS_BINARY_STATUS_INVALID_TOKEN_SIZE);
    size_t po = hdr + 2 + tl; /* offset of the payload length */
    if (len < po + 2)
        return 0;
    size_t pl = get16(buf + po);
    if (pl == 0)
        return malformed(status, APNS_BINARY_STATUS_MISSING_PAYLOAD);
    if (pl > APNS_BINARY_PAYLOAD_MAX_LEGACY)
        return malformed(status, APNS_BINARY_STATUS_INVALID_PAYLOAD_SIZE);
    if (len < po + 2 + pl)
        return 0;
    out->token = buf + hdr + 2;
    out->token_len = tl;
    out->payload = (const char *)(buf + po + 2);
    out->payload_len = pl;
    return (int)(po + 2 + pl);
}

static int decode_frame(const uint8_t *buf, size_t len, apns_binary_notification *out,
                        uint8_t *status)
{
    if (len < 5)
        return 0;
    uint32_t flen = get32(buf + 1);
    if (flen > APNS_BINARY_FRAME_DATA_MAX)
        return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
    if (len < 5 + (size_t)flen)
        return 0;

    /* The whole frame is here: read the identifier first (if any), so every
     * error below can name it, then walk the items in wire order. */
    const uint8_t *p = buf + 5, *end = buf + 5 + flen;
    for (const uint8_t *q = p; end - q >= 3;) {
        size_t il = get16(q + 1);
        if ((size_t)(end - q - 3) < il)
            break;
        if (q[0] == ITEM_ID && il == 4) {
            out->id = get32(q + 3);
            break;
        }
        q += 3 + il;
    }

    unsigned seen = 0;
    while (p < end) {
        if (end - p < 3)
            return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR); /* truncated header */
        uint8_t item = p[0];
        size_t il = get16(p + 1);
        if (item < ITEM_TOKEN || item > ITEM_PRIORITY || (seen & (1u << item)))
            return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
        seen |= 1u << item;
        switch (item) {
        case ITEM_TOKEN:
            if (il == 0)
                return malformed(status, APNS_BINARY_STATUS_MISSING_TOKEN);
            if (il > APNS_BINARY_TOKEN_MAX)
                return malformed(status, APNS_BINARY_STATUS_INVALID_TOKEN_SIZE);
            break;
        case ITEM_PAYLOAD:
            if (il == 0)
                return malformed(status, APNS_BINARY_STATUS_MISSING_PAYLOAD);
            if (il > APNS_BINARY_PAYLOAD_MAX_FRAME)
                return malformed(status, APNS_BINARY_STATUS_INVALID_PAYLOAD_SIZE);
            break;
        case ITEM_ID:
        case ITEM_EXPIRY:
            if (il != 4)
                return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
            break;
        default: /* ITEM_PRIORITY */
            if (il != 1)
                return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
            break;
        }
        if ((size_t)(end - p - 3) < il)
            return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR); /* overruns the frame */
        const uint8_t *d = p + 3;
        switch (item) {
        case ITEM_TOKEN:
            out->token = d;
            out->token_len = il;
            break;
        case ITEM_PAYLOAD:
            out->payload = (const char *)d;
            out->payload_len = il;
            break;
        case ITEM_ID:
            out->id = get32(d);
            break;
        case ITEM_EXPIRY:
            out->expiry = get32(d);
            break;
        default:
            if (d[0] != 5 && d[0] != 10)
                return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
            out->priority = d[0];
            break;
        }
        p = d + il;
    }
    if (!(seen & (1u << ITEM_TOKEN)))
        return malformed(status, APNS_BINARY_STATUS_MISSING_TOKEN);
    if (!(seen & (1u << ITEM_PAYLOAD)))
        return malformed(status, APNS_BINARY_STATUS_MISSING_PAYLOAD);
    if (!(seen & (1u << ITEM_ID)))
        out->omit |= APNS_BINARY_OMIT_ID;
    if (!(seen & (1u << ITEM_EXPIRY)))
        out->omit |= APNS_BINARY_OMIT_EXPIRY;
    return (int)(5 + flen);
}

int apns_binary_decode(const uint8_t *buf, size_t len, apns_binary_format *format,
                       apns_binary_notification *out, uint8_t *status)
{
    if ((buf == NULL && len > 0) || format == NULL || out == NULL || status == NULL)
        return APNS_EINVAL;
    memset(out, 0, sizeof *out);
    *status = APNS_BINARY_STATUS_NO_ERROR;
    if (len == 0)
        return 0;
    switch (buf[0]) {
    case APNS_BINARY_SIMPLE:
        *format = APNS_BINARY_SIMPLE;
        return decode_legacy(buf, len, 1, out, status);
    case APNS_BINARY_ENHANCED:
        *format = APNS_BINARY_ENHANCED;
        return decode_legacy(buf, len, 9, out, status);
    case APNS_BINARY_FRAME:
        *format = APNS_BINARY_FRAME;
        return decode_frame(buf, len, out, status);
    default:
        return malformed(status, APNS_BINARY_STATUS_PROTOCOL_ERROR);
    }
}

/* ---- error-response packet ------------------------------------------------- */

int apns_binary_error_encode(uint8_t status, uint32_t id, uint8_t *out, size_t out_len)
{
    if (out == NULL || out_len < APNS_BINARY_ERROR_LEN)
        return APNS_EINVAL;
    out[0] = 8;
    out[1] = status;
    put32(out + 2, id);
    return APNS_BINARY_ERROR_LEN;
}

int apns_binary_error_decode(const uint8_t *buf, size_t len, uint8_t *status, uint32_t *id)
{
    if ((buf == NULL && len > 0) || status == NULL || id == NULL)
        return APNS_EINVAL;
    if (len == 0)
        return 0;
    if (buf[0] != 8)
        return APNS_EFORMAT;
    if (len < APNS_BINARY_ERROR_LEN)
        return 0;
    *status = buf[1];
    *id = get32(buf + 2);
    return APNS_BINARY_ERROR_LEN;
}

/* ---- feedback tuples ------------------------------------------------------- */

int apns_feedback_encode(uint32_t timestamp, const uint8_t *token, size_t token_len, uint8_t *out,
                         size_t out_len)
{
    if (out == NULL)
        return APNS_EINVAL;
    if (token == NULL || token_len == 0 || token_len > APNS_BINARY_TOKEN_MAX)
        return APNS_EBADTOKEN;
    if (out_len < 6 + token_len)
        return APNS_EINVAL;
    uint8_t *p = put32(out, timestamp);
    p = put16(p, (uint16_t)token_len);
    memcpy(p, token, token_len);
    return (int)(6 + token_len);
}

int apns_feedback_decode(const uint8_t *buf, size_t len, apns_feedback_tuple *out)
{
    if ((buf == NULL && len > 0) || out == NULL)
        return APNS_EINVAL;
    memset(out, 0, sizeof *out);
    if (len < 6)
        return 0;
    size_t tl = get16(buf + 4);
    if (tl == 0 || tl > APNS_BINARY_TOKEN_MAX)
        return APNS_EFORMAT;
    if (len < 6 + tl)
        return 0;
    out->timestamp = get32(buf);
    out->token = buf + 6;
    out->token_len = tl;
    return (int)(6 + tl);
}

/* ---- hex tokens ------------------------------------------------------------ */

int apns_token_hex_to_bin(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex == NULL || out == NULL)
        return APNS_EINVAL;
    if (hex_len == 0 || hex_len % 2 != 0)
        return APNS_EBADTOKEN;
    if (out_len < hex_len / 2)
        return APNS_EINVAL;
    return common_hex_to_bin(hex, hex_len, out, out_len) < 0 ? APNS_EBADTOKEN : (int)(hex_len / 2);
}

int apns_token_bin_to_hex(const uint8_t *bin, size_t len, char *out, size_t out_len)
{
    if ((bin == NULL && len > 0) || out == NULL || len > (SIZE_MAX - 1) / 2 ||
        out_len < 2 * len + 1)
        return APNS_EINVAL;
    common_bin_to_hex(bin, len, out);
    return 0;
}

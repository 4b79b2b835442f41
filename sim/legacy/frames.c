/*
 * frames.c - the binary gateway's decoder (see frames.h).
 *
 * Frame items are judged by one table (length range and the status for each
 * side of it) rather than by a case per item, so the sizes stated in
 * frames.h are the only place the limits live.
 */
#include "frames.h"

#include <string.h>

enum { ITEM_TOKEN = 1, ITEM_PAYLOAD, ITEM_ID, ITEM_EXPIRY, ITEM_PRIORITY };

static const struct {
    uint16_t min, max;           /* data length range */
    uint8_t too_short, too_long; /* status outside it */
} items[ITEM_PRIORITY + 1] = {
    [ITEM_TOKEN] = {1, SIM_BIN_TOKEN_MAX, SIM_BIN_STATUS_MISSING_TOKEN,
                    SIM_BIN_STATUS_INVALID_TOKEN_SIZE},
    [ITEM_PAYLOAD] = {1, SIM_BIN_PAYLOAD_FRAME, SIM_BIN_STATUS_MISSING_PAYLOAD,
                      SIM_BIN_STATUS_INVALID_PAYLOAD_SIZE},
    [ITEM_ID] = {4, 4, SIM_BIN_STATUS_PROTOCOL_ERROR, SIM_BIN_STATUS_PROTOCOL_ERROR},
    [ITEM_EXPIRY] = {4, 4, SIM_BIN_STATUS_PROTOCOL_ERROR, SIM_BIN_STATUS_PROTOCOL_ERROR},
    [ITEM_PRIORITY] = {1, 1, SIM_BIN_STATUS_PROTOCOL_ERROR, SIM_BIN_STATUS_PROTOCOL_ERROR},
};

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int refuse(uint8_t *status, uint8_t why)
{
    *status = why;
    return -1;
}

/* Simple (head 1) and enhanced (head 9: + identifier, expiry):
 * command [id expiry] token-length token payload-length payload. */
static int decode_legacy(const uint8_t *b, size_t len, size_t head, sim_bin_note *n, uint8_t *st)
{
    n->has_id = head == 9;
    if (n->has_id && len >= 5)
        n->id = be32(b + 1);
    if (len < head + 2)
        return 0;
    size_t tl = be16(b + head);
    if (tl == 0)
        return refuse(st, SIM_BIN_STATUS_MISSING_TOKEN);
    if (tl != SIM_BIN_TOKEN_LEGACY)
        return refuse(st, SIM_BIN_STATUS_INVALID_TOKEN_SIZE);
    size_t at = head + 2 + tl; /* the payload length */
    if (len < at + 2)
        return 0;
    size_t pl = be16(b + at);
    if (pl == 0)
        return refuse(st, SIM_BIN_STATUS_MISSING_PAYLOAD);
    if (pl > SIM_BIN_PAYLOAD_LEGACY)
        return refuse(st, SIM_BIN_STATUS_INVALID_PAYLOAD_SIZE);
    if (len < at + 2 + pl)
        return 0;
    n->token = b + head + 2;
    n->token_len = tl;
    n->payload_len = pl;
    return (int)(at + 2 + pl);
}

/* The identifier, wherever item 3 stands among the items that can be read,
 * so an error about an earlier item can still name it. */
static void find_id(const uint8_t *p, const uint8_t *end, sim_bin_note *n)
{
    while (end - p >= 3) {
        size_t il = be16(p + 1);
        if ((size_t)(end - p - 3) < il)
            return;
        if (p[0] == ITEM_ID && il == 4) {
            n->id = be32(p + 3);
            return;
        }
        p += 3 + il;
    }
}

/* Frame: command, frame length, then items (id, length, data) in any order. */
static int decode_frame(const uint8_t *b, size_t len, sim_bin_note *n, uint8_t *st)
{
    if (len < 5)
        return 0;
    uint32_t flen = be32(b + 1);
    if (flen > SIM_BIN_FRAME_DATA_MAX)
        return refuse(st, SIM_BIN_STATUS_PROTOCOL_ERROR);
    if (len - 5 < flen)
        return 0;
    const uint8_t *p = b + 5, *end = p + flen;
    find_id(p, end, n);
    unsigned seen = 0;
    while (p < end) {
        if (end - p < 3)
            return refuse(st, SIM_BIN_STATUS_PROTOCOL_ERROR);
        unsigned item = p[0];
        size_t il = be16(p + 1);
        if (item < ITEM_TOKEN || item > ITEM_PRIORITY || (seen & 1u << item))
            return refuse(st, SIM_BIN_STATUS_PROTOCOL_ERROR);
        seen |= 1u << item;
        if (il < items[item].min)
            return refuse(st, items[item].too_short);
        if (il > items[item].max)
            return refuse(st, items[item].too_long);
        const uint8_t *d = p + 3;
        if ((size_t)(end - d) < il)
            return refuse(st, SIM_BIN_STATUS_PROTOCOL_ERROR);
        if (item == ITEM_TOKEN) {
            n->token = d;
            n->token_len = il;
        } else if (item == ITEM_PAYLOAD) {
            n->payload_len = il;
        } else if (item == ITEM_PRIORITY && d[0] != 10 && d[0] != 5) {
            return refuse(st, SIM_BIN_STATUS_PROTOCOL_ERROR);
        }
        p = d + il;
    }
    if (!(seen & 1u << ITEM_TOKEN))
        return refuse(st, SIM_BIN_STATUS_MISSING_TOKEN);
    if (!(seen & 1u << ITEM_PAYLOAD))
        return refuse(st, SIM_BIN_STATUS_MISSING_PAYLOAD);
    n->has_id = (seen >> ITEM_ID) & 1;
    return (int)(5 + flen);
}

int sim_bin_decode(const uint8_t *buf, size_t len, sim_bin_note *n, uint8_t *status)
{
    memset(n, 0, sizeof *n);
    *status = SIM_BIN_STATUS_NO_ERROR;
    if (len == 0)
        return 0;
    n->command = buf[0];
    switch (buf[0]) {
    case SIM_BIN_SIMPLE:
        return decode_legacy(buf, len, 1, n, status);
    case SIM_BIN_ENHANCED:
        return decode_legacy(buf, len, 9, n, status);
    case SIM_BIN_FRAME:
        return decode_frame(buf, len, n, status);
    default:
        return refuse(status, SIM_BIN_STATUS_PROTOCOL_ERROR);
    }
}

void sim_bin_error_encode(uint8_t status, uint32_t id, uint8_t out[SIM_BIN_ERROR_LEN])
{
    out[0] = 8;
    out[1] = status;
    out[2] = (uint8_t)(id >> 24);
    out[3] = (uint8_t)(id >> 16);
    out[4] = (uint8_t)(id >> 8);
    out[5] = (uint8_t)id;
}

size_t sim_feedback_tuple_encode(uint32_t timestamp, const uint8_t *token, size_t len, uint8_t *out,
                                 size_t out_len)
{
    if (len == 0 || len > SIM_BIN_TOKEN_MAX || out_len < 6 + len)
        return 0;
    out[0] = (uint8_t)(timestamp >> 24);
    out[1] = (uint8_t)(timestamp >> 16);
    out[2] = (uint8_t)(timestamp >> 8);
    out[3] = (uint8_t)timestamp;
    out[4] = (uint8_t)(len >> 8);
    out[5] = (uint8_t)len;
    memcpy(out + 6, token, len);
    return 6 + len;
}

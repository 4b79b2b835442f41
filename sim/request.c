/* request.c - collects the documented request headers into bounded slots. */
#include "request.h"

#include <string.h>

/* Capacity of each stored value including its NUL. Each is larger than the
 * longest value that can be valid, so truncation always means "invalid". */
static const struct {
    const char *name;
    uint16_t namelen;
    uint16_t off;
    uint16_t cap;
} slots[SIM_HDR_COUNT] = {
    [SIM_HDR_METHOD] = {":method", 7, 0, 16},
    [SIM_HDR_PATH] = {":path", 5, 16, 300}, /* "/1/apps/" + 255-byte bundle id + "/all-channels" */
    [SIM_HDR_AUTHORIZATION] = {"authorization", 13, 316, 1040},
    [SIM_HDR_PUSH_TYPE] = {"apns-push-type", 14, 1356, 32},
    [SIM_HDR_ID] = {"apns-id", 7, 1388, 48},
    [SIM_HDR_EXPIRATION] = {"apns-expiration", 15, 1436, 32},
    [SIM_HDR_PRIORITY] = {"apns-priority", 13, 1468, 16},
    [SIM_HDR_TOPIC] = {"apns-topic", 10, 1484, 260},           /* SIM_TOPIC_MAX + 5 */
    [SIM_HDR_COLLAPSE_ID] = {"apns-collapse-id", 16, 1744, 0}, /* only its length matters */
    [SIM_HDR_CHANNEL_ID] = {"apns-channel-id", 15, 1744, 130}, /* SIM_CHANNEL_ID_MAX + 2 */
    [SIM_HDR_REQUEST_ID] = {"apns-request-id", 15, 1874, 48},
};

_Static_assert(1040 > 7 + 1024, "authorization slot holds 'bearer ' + a long JWT");
_Static_assert(260 > SIM_TOPIC_MAX + 1, "topic slot");
_Static_assert(300 > sizeof SIM_PATH_PREFIX - 1 + 2 * SIM_TOKEN_BYTES_MAX, "path slot");
_Static_assert(300 > sizeof SIM_BC_MANAGE_PREFIX + SIM_TOPIC_MAX + sizeof SIM_BC_ALL_CHANNELS,
               "path slot holds a management path");
_Static_assert(130 > SIM_CHANNEL_ID_MAX + 1, "channel id slot");
_Static_assert(1922 == SIM_VALUES_BYTES, "slot offsets add up");

void sim_request_reset(sim_request *r)
{
    memset(r->count, 0, sizeof r->count);
    memset(r->len, 0, sizeof r->len);
    r->body_len = 0;
}

static int lookup(const uint8_t *name, size_t namelen)
{
    /* Every documented name starts with ':' or 'a'; most traffic headers
     * (:scheme, :authority, content-type, user-agent) are rejected fast. */
    if (namelen < 5 || (name[0] != ':' && name[0] != 'a'))
        return -1;
    for (int i = 0; i < SIM_HDR_COUNT; i++) {
        if (slots[i].namelen == namelen && memcmp(slots[i].name, name, namelen) == 0)
            return i;
    }
    return -1;
}

void sim_request_add_header(sim_request *r, const uint8_t *name, size_t namelen,
                            const uint8_t *value, size_t valuelen)
{
    int h = lookup(name, namelen);
    if (h < 0)
        return;
    if (r->count[h] < UINT8_MAX)
        r->count[h]++;
    if (r->count[h] > 1)
        return; /* DuplicateHeaders: the first value is enough */
    r->len[h] = valuelen > UINT32_MAX ? UINT32_MAX : (uint32_t)valuelen;
    size_t cap = slots[h].cap;
    if (cap == 0)
        return;
    size_t n = valuelen < cap - 1 ? valuelen : cap - 1;
    char *dst = r->values + slots[h].off;
    memcpy(dst, value, n);
    dst[n] = '\0';
}

void sim_request_add_body(sim_request *r, const uint8_t *data, size_t len)
{
    if (r->body_len < SIM_BODY_CAP) {
        size_t room = SIM_BODY_CAP - r->body_len;
        memcpy(r->body + r->body_len, data, len < room ? len : room);
    }
    r->body_len = len > SIZE_MAX - r->body_len ? SIZE_MAX : r->body_len + len;
}

const char *sim_request_value(const sim_request *r, sim_hdr h, size_t *len)
{
    if ((unsigned)h >= SIM_HDR_COUNT || r->count[h] == 0)
        return NULL;
    if (len)
        *len = r->len[h];
    return slots[h].cap ? r->values + slots[h].off : "";
}

int sim_request_complete(const sim_request *r, sim_hdr h)
{
    if ((unsigned)h >= SIM_HDR_COUNT || r->count[h] == 0)
        return 0;
    return slots[h].cap != 0 && r->len[h] < slots[h].cap;
}

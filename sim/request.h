/*
 * request.h - one APNs request as the simulator collects it from HTTP/2
 * callbacks: the documented headers (bounded copies), how often each was
 * seen, and the first bytes of the body. Pure data; no I/O, no allocation.
 *
 * Every stored value is bounded by a fixed capacity chosen above the longest
 * valid value, so an oversize value is kept truncated while `len` records
 * its real length: the validator sees "too long" without the server ever
 * holding more than the capacity. Undocumented headers are ignored, as APNs
 * does.
 */
#ifndef SIM_REQUEST_H
#define SIM_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "apple.h"

typedef enum sim_hdr {
    SIM_HDR_METHOD,
    SIM_HDR_PATH,
    SIM_HDR_AUTHORIZATION,
    SIM_HDR_PUSH_TYPE,
    SIM_HDR_ID,
    SIM_HDR_EXPIRATION,
    SIM_HDR_PRIORITY,
    SIM_HDR_TOPIC,
    SIM_HDR_COLLAPSE_ID,
    SIM_HDR_CHANNEL_ID, /* broadcast publish and channel management (§4) */
    SIM_HDR_REQUEST_ID,
    SIM_HDR_COUNT
} sim_hdr;

#define SIM_BODY_CAP     SIM_PAYLOAD_LIMIT_MAX /* largest payload any push type allows */
#define SIM_VALUES_BYTES 1922                  /* sum of the per-header capacities */

typedef struct sim_request {
    uint8_t count[SIM_HDR_COUNT];  /* times seen (saturates at 255) */
    uint32_t len[SIM_HDR_COUNT];   /* real value length (saturates) */
    size_t body_len;               /* bytes received so far, all of them */
    char values[SIM_VALUES_BYTES]; /* NUL-terminated, truncated copies */
    char body[SIM_BODY_CAP];       /* the first min(body_len, SIM_BODY_CAP) bytes */
} sim_request;

/* Forgets everything (cheap: does not clear the buffers). */
void sim_request_reset(sim_request *r);

/* Records one header field (name as on the wire, lower case). */
void sim_request_add_header(sim_request *r, const uint8_t *name, size_t namelen,
                            const uint8_t *value, size_t valuelen);

/* Appends body bytes; keeps at most SIM_BODY_CAP of them, counts all. */
void sim_request_add_body(sim_request *r, const uint8_t *data, size_t len);

/* The stored value of h (NUL-terminated, possibly truncated) or NULL when the
 * header was absent. *len (may be NULL) receives the real length; the value
 * is complete iff sim_request_complete(). Borrowed from r. */
const char *sim_request_value(const sim_request *r, sim_hdr h, size_t *len);

/* 1 if h is present and its whole value is stored. */
int sim_request_complete(const sim_request *r, sim_hdr h);

/* Number of stored body bytes (the rest was counted, not kept). */
static inline size_t sim_request_body_stored(const sim_request *r)
{
    return r->body_len < SIM_BODY_CAP ? r->body_len : SIM_BODY_CAP;
}

#endif

/*
 * fuzz_sim_binary.c - apns-sim's own binary-gateway decoder
 * (sim/legacy/frames.c). Decodes the input as a stream of notifications, as
 * the gateway does, and aborts when an invariant breaks:
 *   - a decoded notification never runs past the input or SIM_BIN_NOTE_MAX,
 *     its token and payload sizes are within its format's limits, and its
 *     token pointer stays inside it;
 *   - "need more" only while fewer than SIM_BIN_NOTE_MAX bytes are left;
 *   - a refusal carries a status of the simulator's table that a decoder
 *     may give (never 0, 8 or 10: those are the gateway's, not the bytes');
 *   - the answer never depends on how the bytes were split: every strict
 *     prefix of a decoded notification needs more bytes, and a prefix of
 *     refused bytes needs more or is refused with the same status.
 * The corpus (corpus/sim_binary) holds one file per format and per refusal.
 */
#include <stdint.h>
#include <stdlib.h>

#include "legacy/frames.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static int decoder_status(uint8_t s)
{
    switch (s) {
    case SIM_BIN_STATUS_MISSING_TOKEN:
    case SIM_BIN_STATUS_INVALID_TOKEN_SIZE:
    case SIM_BIN_STATUS_MISSING_PAYLOAD:
    case SIM_BIN_STATUS_INVALID_PAYLOAD_SIZE:
    case SIM_BIN_STATUS_PROTOCOL_ERROR:
        return 1;
    default:
        return 0;
    }
}

static void check_decoded(const uint8_t *b, size_t len, int rc, const sim_bin_note *n)
{
    CHECK((size_t)rc <= len && rc <= SIM_BIN_NOTE_MAX);
    CHECK(n->command == b[0] && n->command <= SIM_BIN_FRAME);
    CHECK(n->token >= b && n->token + n->token_len <= b + rc);
    if (n->command == SIM_BIN_FRAME) {
        CHECK(n->token_len >= 1 && n->token_len <= SIM_BIN_TOKEN_MAX);
        CHECK(n->payload_len >= 1 && n->payload_len <= SIM_BIN_PAYLOAD_FRAME);
    } else {
        CHECK(n->token_len == SIM_BIN_TOKEN_LEGACY);
        CHECK(n->payload_len >= 1 && n->payload_len <= SIM_BIN_PAYLOAD_LEGACY);
        CHECK(n->has_id == (n->command == SIM_BIN_ENHANCED));
    }
}

/* The same bytes cut at k (< the decided length) need more, or (refused
 * bytes) are refused the same way. */
static void check_prefix(const uint8_t *b, size_t k, int whole_rc, uint8_t whole_status)
{
    sim_bin_note n;
    uint8_t st;
    int rc = sim_bin_decode(b, k, &n, &st);
    if (whole_rc > 0)
        CHECK(rc == 0);
    else
        CHECK(rc == 0 || (rc < 0 && st == whole_status));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const uint8_t *b = data + off;
        size_t left = size - off;
        sim_bin_note n;
        uint8_t status;
        int rc = sim_bin_decode(b, left, &n, &status);
        if (rc == 0) {
            CHECK(left < SIM_BIN_NOTE_MAX && status == SIM_BIN_STATUS_NO_ERROR);
            return 0;
        }
        size_t upto = rc > 0 ? (size_t)rc : left;
        check_prefix(b, upto - 1, rc, status);
        check_prefix(b, upto / 2, rc, status);
        if (rc < 0) {
            CHECK(rc == -1 && decoder_status(status));
            return 0; /* the gateway stops at the first bad notification */
        }
        check_decoded(b, left, rc, &n);
        off += (size_t)rc;
    }
    return 0;
}

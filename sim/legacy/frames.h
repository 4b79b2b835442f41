/*
 * frames.h - the legacy binary interface as apns-sim states it: the
 * error-response statuses, the sizes the three notification formats allow,
 * and the gateway's decoder, which turns the bytes a provider writes into
 * notifications or into the status APNs would answer.
 *
 * The simulator's own rules, written from shared/docs/apns-protocol.md §5.2
 * to §5.5, never taken from libapns (its encoder is what the simulator
 * judges). ctest golden_sim checks the status table against
 * tests/golden/binary-status.tsv and decodes notifications built from
 * tests/golden/binary-formats.tsv and binary-items.tsv; fuzz_sim_binary
 * fuzzes the decoder.
 */
#ifndef SIM_LEGACY_FRAMES_H
#define SIM_LEGACY_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/* Error-response statuses: XX(ID, value, "Apple's meaning") (§5.5). */
#define SIM_BIN_STATUS_MAP(XX)                                                                     \
    XX(NO_ERROR, 0, "No errors encountered")                                                       \
    XX(PROCESSING_ERROR, 1, "Processing error")                                                    \
    XX(MISSING_TOKEN, 2, "Missing device token")                                                   \
    XX(MISSING_TOPIC, 3, "Missing topic")                                                          \
    XX(MISSING_PAYLOAD, 4, "Missing payload")                                                      \
    XX(INVALID_TOKEN_SIZE, 5, "Invalid token size")                                                \
    XX(INVALID_TOPIC_SIZE, 6, "Invalid topic size")                                                \
    XX(INVALID_PAYLOAD_SIZE, 7, "Invalid payload size")                                            \
    XX(INVALID_TOKEN, 8, "Invalid token")                                                          \
    XX(SHUTDOWN, 10, "Shutdown")                                                                   \
    XX(PROTOCOL_ERROR, 128, "Protocol error")                                                      \
    XX(UNKNOWN, 255, "None (unknown)")

typedef enum sim_bin_status {
#define SIM_BIN_STATUS_ENUM(id, value, meaning) SIM_BIN_STATUS_##id = (value),
    SIM_BIN_STATUS_MAP(SIM_BIN_STATUS_ENUM)
#undef SIM_BIN_STATUS_ENUM
} sim_bin_status;

/* Command bytes (§5.2-§5.4). */
enum { SIM_BIN_SIMPLE = 0, SIM_BIN_ENHANCED = 1, SIM_BIN_FRAME = 2 };

/* 1 if a bad notification with this command byte is answered with an error
 * packet before the close: every format but simple, which has no identifier
 * to name (an unknown command byte gets one too: status 128, id 0). */
static inline int sim_bin_error_packet(uint8_t command)
{
    return command != SIM_BIN_SIMPLE;
}

#define SIM_BIN_TOKEN_LEGACY   32   /* bytes: simple and enhanced, exactly */
#define SIM_BIN_TOKEN_MAX      100  /* bytes: frame item 1 */
#define SIM_BIN_PAYLOAD_LEGACY 256  /* bytes: simple and enhanced */
#define SIM_BIN_PAYLOAD_FRAME  2048 /* bytes: frame item 2 */
#define SIM_BIN_ERROR_LEN      6    /* command 8, status, identifier */
/* The longest frame data: items 1-5 once each, at their largest. */
#define SIM_BIN_FRAME_DATA_MAX                                                                     \
    (3 + SIM_BIN_TOKEN_MAX + 3 + SIM_BIN_PAYLOAD_FRAME + 3 + 4 + 3 + 4 + 3 + 1)
/* The longest notification of any format: command, frame length, data. */
#define SIM_BIN_NOTE_MAX (5 + SIM_BIN_FRAME_DATA_MAX)

/* One decoded notification; pointers go into the decoded buffer. Expiry and
 * priority are checked, then dropped: the simulator does not use them. */
typedef struct sim_bin_note {
    uint8_t command;      /* the command byte (SIM_BIN_*, or another when malformed) */
    uint8_t has_id;       /* enhanced, or a frame with item 3 */
    uint32_t id;          /* the identifier; on a malformed one, 0 when unreadable */
    const uint8_t *token; /* binary device token */
    size_t token_len;
    size_t payload_len;
} sim_bin_note;

/*
 * Decodes the notification at buf[0..len) and fills *n (zeroed first).
 * Returns its length in bytes (> 0); 0 when more bytes are needed (never
 * once len >= SIM_BIN_NOTE_MAX); -1 when the bytes can never become a valid
 * notification, with *status set to the status APNs answers:
 *   PROTOCOL_ERROR        unknown command; a frame length over
 *                         SIM_BIN_FRAME_DATA_MAX; an unknown, repeated,
 *                         truncated or overrunning item; identifier or
 *                         expiry not 4 bytes; priority not 1 byte of 10 or 5
 *   MISSING_TOKEN         token length 0, or a frame without item 1
 *   INVALID_TOKEN_SIZE    a token not 32 bytes (simple, enhanced) or over 100
 *   MISSING_PAYLOAD       payload length 0, or a frame without item 2
 *   INVALID_PAYLOAD_SIZE  a payload over 256 (simple, enhanced) or 2048 bytes
 * A simple/enhanced error is decided as soon as its length field has
 * arrived; a frame's once the whole frame has (the first bad item in wire
 * order decides), so the status never depends on how the bytes were split.
 * A frame names its identifier in every error when item 3 is readable.
 */
int sim_bin_decode(const uint8_t *buf, size_t len, sim_bin_note *n, uint8_t *status);

/* The error packet (§5.5): command 8, status, identifier (big-endian), into
 * out[0..SIM_BIN_ERROR_LEN). */
void sim_bin_error_encode(uint8_t status, uint32_t id, uint8_t out[SIM_BIN_ERROR_LEN]);

/* One feedback tuple (§5.6): timestamp (big-endian UNIX seconds), token
 * length (big-endian 16 bits), token. Returns its length, or 0 when out_len
 * is too small or len is 0 or above SIM_BIN_TOKEN_MAX. */
size_t sim_feedback_tuple_encode(uint32_t timestamp, const uint8_t *token, size_t len, uint8_t *out,
                                 size_t out_len);

#endif

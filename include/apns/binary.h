/*
 * apns/binary.h - the legacy binary provider interface: byte codecs for the
 * simple (0), enhanced (1) and frame (2) notification formats, the
 * error-response packet (8), and feedback-service tuples.
 *
 * All integers are big-endian, the identifier included (as libcapn writes
 * it; Apple treats it as four opaque bytes). Codecs are pure functions over
 * caller buffers: they allocate nothing, never read or write out of bounds,
 * and are fuzzed. Decoders return the number of bytes consumed (> 0), 0 when
 * more bytes are needed, or a negative APNS_E* code when the bytes can never
 * become valid. A decoder never waits for more than APNS_BINARY_ENCODED_MAX
 * bytes (notifications) or 6 + APNS_BINARY_TOKEN_MAX bytes (feedback): a
 * length field that promises more is malformed at once.
 *
 * Installed and built only with the legacy interface (APNS_HAVE_LEGACY).
 */
#ifndef APNS_BINARY_H
#define APNS_BINARY_H

#include "apns/version.h"

#include <stddef.h>
#include <stdint.h>

#include "apns/client.h" /* apns_binary_format */

#ifdef __cplusplus
extern "C" {
#endif

#define APNS_BINARY_TOKEN_LEGACY       32   /* bytes: the only size simple/enhanced accept */
#define APNS_BINARY_TOKEN_MAX          100  /* bytes, frame format item 1 */
#define APNS_BINARY_PAYLOAD_MAX_LEGACY 256  /* simple and enhanced formats */
#define APNS_BINARY_PAYLOAD_MAX_FRAME  2048 /* frame format */
#define APNS_BINARY_ERROR_LEN          6    /* command 8 packet */
/* Largest frame length (items 1..5, each once, at their maximum sizes):
 * (3 + 100) + (3 + 2048) + (3 + 4) + (3 + 4) + (3 + 1) = 2172. */
#define APNS_BINARY_FRAME_DATA_MAX                                                                 \
    (3 + APNS_BINARY_TOKEN_MAX + 3 + APNS_BINARY_PAYLOAD_MAX_FRAME + 7 + 7 + 4)
/* Largest encoded notification of any format (a full frame: 2177 bytes). */
#define APNS_BINARY_ENCODED_MAX (5 + APNS_BINARY_FRAME_DATA_MAX)

/* Error-response statuses: XX(ID, value, "meaning"). */
#define APNS_BINARY_STATUS_MAP(XX)                                                                 \
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

typedef enum apns_binary_status {
#define APNS_BINARY_STATUS_ENUM(id, val, msg) APNS_BINARY_STATUS_##id = (val),
    APNS_BINARY_STATUS_MAP(APNS_BINARY_STATUS_ENUM)
#undef APNS_BINARY_STATUS_ENUM
} apns_binary_status;

/* Meaning of a status ("Invalid token"); "Unknown status" for other values.
 * Static string; never NULL. */
APNS_EXTERN const char *apns_binary_status_name(int status);

/* apns_binary_notification.omit: frame items left out. */
#define APNS_BINARY_OMIT_ID     0x01 /* no item 3 (identifier) */
#define APNS_BINARY_OMIT_EXPIRY 0x02 /* no item 4: Apple's default storage (assumed) */

/* One notification as the binary formats carry it. Zero-initialised plus a
 * token and a payload, it encodes every item but priority. */
typedef struct apns_binary_notification {
    const uint8_t *token; /* binary device token (borrowed) */
    size_t token_len;
    const char *payload; /* JSON (borrowed), no NUL terminator sent */
    size_t payload_len;
    uint32_t id;      /* enhanced/frame: identifier, echoed in error packets */
    uint32_t expiry;  /* enhanced/frame: UNIX seconds; 0 = do not store */
    uint8_t priority; /* frame: 10 or 5; 0 = item omitted */
    uint8_t omit;     /* frame: APNS_BINARY_OMIT_* (the decoder sets them); other formats
                         ignore it and the decoder leaves it 0 */
} apns_binary_notification;

/* Bytes apns_binary_encode() writes for n in format f (0 for an unknown
 * format). Does not validate n. */
APNS_EXTERN size_t apns_binary_encoded_len(apns_binary_format f, const apns_binary_notification *n);

/*
 * Encodes n into out; frame items are written in the order 1, 2, 3, 4, 5.
 * Returns the number of bytes written, or APNS_EBADTOKEN (token not exactly
 * 32 bytes for simple/enhanced; empty or over 100 for frame), APNS_ETOOBIG
 * (payload over 256 bytes for simple/enhanced, over 2048 for frame),
 * APNS_EPAYLOADEMPTY, APNS_EPRIORITY (frame: not 0, 5 or 10), APNS_EINVAL
 * (unknown format, out_len too small, or a NULL argument). Nothing is
 * written on error.
 */
APNS_EXTERN int apns_binary_encode(apns_binary_format f, const apns_binary_notification *n,
                                   uint8_t *out, size_t out_len);

/*
 * Server side (apns-sim): decodes one notification of any format at buf.
 * On success fills *out (pointers into buf) and *format, sets *status to 0
 * and returns the bytes consumed; 0 = need more bytes. Frame items may come
 * in any order. When the bytes are malformed it returns APNS_EFORMAT and sets
 * *status to the error-response status APNs would send, and out->id to the
 * identifier when it could be read (else 0):
 *   - PROTOCOL_ERROR: unknown command; frame length over
 *     APNS_BINARY_FRAME_DATA_MAX (decided from the first 5 bytes); an
 *     unknown, repeated or truncated item; items that do not fill the frame
 *     length exactly; identifier/expiry not 4 bytes, priority not 1 byte or
 *     not 5/10;
 *   - MISSING_TOKEN: token length 0 or (frame) no item 1;
 *   - INVALID_TOKEN_SIZE: token not 32 bytes (simple/enhanced) or over 100
 *     (frame);
 *   - MISSING_PAYLOAD: payload length 0 or (frame) no item 2;
 *   - INVALID_PAYLOAD_SIZE: payload over 256 (simple/enhanced) or 2048.
 * Simple/enhanced errors are decided as soon as the offending length field
 * is in buf; frame item errors once the whole frame is (the first item in
 * wire order decides), so the status never depends on how the bytes were
 * split. *format is set whenever the command byte is known. Returns
 * APNS_EINVAL for NULL arguments.
 */
APNS_EXTERN int apns_binary_decode(const uint8_t *buf, size_t len, apns_binary_format *format,
                                   apns_binary_notification *out, uint8_t *status);

/* Writes the 6-byte error-response packet. Returns 6, or APNS_EINVAL. */
APNS_EXTERN int apns_binary_error_encode(uint8_t status, uint32_t id, uint8_t *out, size_t out_len);

/* Decodes an error-response packet: returns 6, 0 (need more), or
 * APNS_EFORMAT (first byte is not command 8). Any status value is passed
 * through. */
APNS_EXTERN int apns_binary_error_decode(const uint8_t *buf, size_t len, uint8_t *status,
                                         uint32_t *id);

/* One feedback-service tuple. */
typedef struct apns_feedback_tuple {
    uint32_t timestamp;   /* UNIX seconds when APNs decided the app is gone */
    const uint8_t *token; /* borrowed, points into the input */
    size_t token_len;
} apns_feedback_tuple;

/* Writes a tuple. Returns bytes written (6 + token_len), APNS_EBADTOKEN
 * (token empty or over 100 bytes), APNS_EINVAL. */
APNS_EXTERN int apns_feedback_encode(uint32_t timestamp, const uint8_t *token, size_t token_len,
                                     uint8_t *out, size_t out_len);

/* Decodes one tuple: returns bytes consumed, 0 (need more), or APNS_EFORMAT
 * (token length 0 or over 100, decided from the first 6 bytes). Parsed by
 * its length field, never by assuming 38 bytes. */
APNS_EXTERN int apns_feedback_decode(const uint8_t *buf, size_t len, apns_feedback_tuple *out);

/* Hex <-> binary device tokens. hex_to_bin accepts either case and returns
 * the byte count (hex_len / 2), APNS_EBADTOKEN (empty, odd length or a
 * non-hex character) or APNS_EINVAL (NULL, or out_len < hex_len / 2).
 * bin_to_hex writes 2*len lower-case hex plus NUL and returns 0 or
 * APNS_EINVAL (NULL, or out_len < 2*len + 1). */
APNS_EXTERN int apns_token_hex_to_bin(const char *hex, size_t hex_len, uint8_t *out,
                                      size_t out_len);
APNS_EXTERN int apns_token_bin_to_hex(const uint8_t *bin, size_t len, char *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif

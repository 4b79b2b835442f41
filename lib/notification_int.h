/* notification_int.h - validation entry point for libapns itself (internal). */
#ifndef APNS_NOTIFICATION_INT_H
#define APNS_NOTIFICATION_INT_H

#include <stdint.h>

#include "apns/notification.h"

/* apns_notification_validate() with one shortcut: when json_known_good is
 * non-zero the caller vouches that these exact payload bytes already passed
 * the JSON check (the client remembers the last payload it validated: a
 * broadcast submits the same bytes to every token), so only the cheap checks
 * and the size limit run. Same return codes and detail. */
int apns__notification_validate(const apns_notification *n, int require_topic, int json_known_good,
                                char *detail, size_t detail_len);

/* The channel-id rule of apns_notification_validate() (present, 1..255
 * base64 characters), for the channel-management client. Returns 0 or
 * APNS_ECHANNELID with detail. */
int apns__channel_id_check(const char *id, char *detail, size_t detail_len);

/* Writes b[0..16) as a version-4 UUID (the version and variant bits set
 * over b's) into out: 36 lower-case characters 8-4-4-4-12 and a NUL. b
 * comes from the caller's random source (apns_uuid_generate: OpenSSL; the
 * client: its splitmix64). Cannot fail. */
void apns__uuid_format(const uint8_t b[16], char out[APNS_UUID_LEN + 1]);

#endif

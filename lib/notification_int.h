/* notification_int.h - validation entry point for libapns itself (internal). */
#ifndef APNS_NOTIFICATION_INT_H
#define APNS_NOTIFICATION_INT_H

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

#endif

/* fcm_int.h - the FCM request body, for the client and the HTTP/2 core
 * (internal; apns/fcm.h is the public side). */
#ifndef APNS_FCM_INT_H
#define APNS_FCM_INT_H

#include <stddef.h>

/* Bytes apns__fcm_body_write() writes for a token of tlen bytes and fields
 * of flen bytes (no NUL). */
size_t apns__fcm_body_size(const char *token, size_t tlen, size_t flen, int validate_only);

/*
 * Writes {"message":{"token":"<token>",<the members of fields>}} (with
 * "validate_only":true first when asked) into out, which has room for
 * apns__fcm_body_size() bytes; returns the bytes written (no NUL). The token
 * (checked by apns_fcm_token_check: printable ASCII) is JSON-escaped; fields
 * must be one JSON object (checked by apns_fcm_fields_validate): its members
 * are copied as they are, once.
 */
size_t apns__fcm_body_write(char *out, const char *token, size_t tlen, const char *fields,
                            size_t flen, int validate_only);

#endif

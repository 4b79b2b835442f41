/*
 * token.c - the device-token rule (token.h).
 */
#include "token.h"

#include "apns/notification.h" /* APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX */
#include "hex.h"

common_token_verdict common_token_check(const char *hex, size_t len, size_t *at)
{
    if (len == 0)
        return COMMON_TOKEN_EMPTY;
    for (size_t i = 0; i < len; i++)
        if (common_hex_val((unsigned char)hex[i]) < 0) {
            if (at != NULL)
                *at = i;
            return COMMON_TOKEN_NOT_HEX;
        }
    if (len < APNS_TOKEN_HEX_MIN || len > APNS_TOKEN_HEX_MAX)
        return COMMON_TOKEN_LENGTH;
    if (len % 2 != 0)
        return COMMON_TOKEN_ODD;
    return COMMON_TOKEN_OK;
}

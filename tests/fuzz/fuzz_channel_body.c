/*
 * fuzz_channel_body.c - the channel-management answer parsers
 * (apns__channel_parse_config, apns__channel_parse_list) on arbitrary bytes.
 *
 * Invariants: no crash or leak; the config parser gives 0 with a policy of
 * 0 or 1, or APNS_EFORMAT with -1; the list parser gives 0 with every id a
 * NUL-terminated base64 string of 1..255 bytes, or an error with no ids.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "channel_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int policy = 5;
    int rc = apns__channel_parse_config(s, size, &policy);
    if (rc == 0 ? (policy != 0 && policy != 1) : (rc != APNS_EFORMAT || policy != -1))
        abort();
    char **ids = (char **)1;
    size_t n = 99;
    rc = apns__channel_parse_list(s, size, &ids, &n);
    if (rc != 0 && (ids != NULL || n != 0 || (rc != APNS_EFORMAT && rc != APNS_ENOMEM)))
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        if (len == 0 || len > APNS_CHANNEL_ID_MAX)
            abort();
    }
    apns__channel_list_free(ids, n);
    return 0;
}

/* channel_int.h - the channel-management answer parsers (internal; for the
 * unit tests and tests/fuzz/fuzz_channel_body.c). */
#ifndef APNS_CHANNEL_INT_H
#define APNS_CHANNEL_INT_H

#include <stddef.h>

/* A read answer's body {"message-storage-policy":0|1,...}: *policy = 0 or 1
 * and 0, or *policy = -1 and APNS_EFORMAT (not JSON, no such key, another
 * value). */
int apns__channel_parse_config(const char *body, size_t len, int *policy);

/* A list answer's body {"channels":["<base64>",...]}: *ids (malloc'd, free
 * with apns__channel_list_free) and *n, and 0; an empty body is 0 channels.
 * APNS_EFORMAT (not JSON, no array, an element that is not a base64 string
 * of 1..255 bytes) or APNS_ENOMEM leave *ids NULL and *n 0. */
int apns__channel_parse_list(const char *body, size_t len, char ***ids, size_t *n);

void apns__channel_list_free(char **ids, size_t n);

#endif

/*
 * fuzz_live_activity.c - apns_live_activity_check() on arbitrary bytes.
 *
 * Invariants: it never crashes; it answers 0, APNS_ENOTOBJECT or
 * APNS_ELIVEACTIVITY (APNS_ENOMEM only when memory runs out); ENOTOBJECT
 * exactly when apns_json_is_object() says no; every refusal writes a
 * sentence; and a channel target is never more permissive than a device
 * target (it adds one refusal: event "start").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apns/error.h"
#include "apns/notification.h"
#include "apns/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char d1[256], d2[256];
    int dev = apns_live_activity_check(s, size, APNS_LA_DEVICE, d1, sizeof d1);
    int chan = apns_live_activity_check(s, size, APNS_LA_CHANNEL, d2, sizeof d2);
    int obj = apns_json_is_object(s, size);
    for (int i = 0; i < 2; i++) {
        int rc = i ? chan : dev;
        const char *d = i ? d2 : d1;
        if (rc != 0 && rc != APNS_ENOTOBJECT && rc != APNS_ELIVEACTIVITY && rc != APNS_ENOMEM)
            abort();
        if ((rc == APNS_ENOTOBJECT) != !obj)
            abort();
        if ((rc != 0) != (d[0] != '\0'))
            abort();
    }
    if (chan == 0 && dev != 0)
        abort();
    return 0;
}

/* error.c - apns_strerror() and apns_err_name(), generated from APNS_ERRNO_MAP,
 * and the detail strings that go with the codes (detail.h). */
#include "apns/error.h"

#include <stdarg.h>
#include <stdio.h>

#include "detail.h"

const char *apns_strerror(int err)
{
    switch (err) {
    case APNS_OK:
        return "success";
#define XX(name, val, msg)                                                                         \
    case APNS_##name:                                                                              \
        return msg;
        APNS_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *apns_err_name(int err)
{
    switch (err) {
    case APNS_OK:
        return "APNS_OK";
#define XX(name, val, msg)                                                                         \
    case APNS_##name:                                                                              \
        return "APNS_" #name;
        APNS_ERRNO_MAP(XX)
#undef XX
    default:
        return "APNS_E?";
    }
}

void apns__set_detail(char *d, size_t n, const char *fmt, ...)
{
    if (!d || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, n, fmt, ap);
    va_end(ap);
}

const char *apns_version(void)
{
    return APNS_VERSION;
}

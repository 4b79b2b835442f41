/*
 * core.c - which protocol core speaks which apns_transport (core.h).
 *
 * The one place that lists the protocols: the client asks here and drives
 * what it gets through the class, so a library built without the legacy
 * interface (APNS_LEGACY=OFF) differs only in this table. Also the
 * operations every job-less core shares (APNS__CORE_NO_JOBS) and the cores'
 * log helper.
 */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>

#include "apns/features.h"
#include "detail.h"
#include "h2_conn.h"
#if APNS_HAVE_LEGACY
#include "binary_conn.h"
#endif

int apns__core_class_find(apns_transport t, const apns__core_class **out, char *detail,
                          size_t detail_len)
{
    *out = NULL;
    switch (t) {
    case APNS_TRANSPORT_HTTP2:
        *out = &apns__h2_class;
        return 0;
    case APNS_TRANSPORT_BINARY:
#if APNS_HAVE_LEGACY
        *out = &apns__bin_class;
        return 0;
#else
        apns__set_detail(detail, detail_len,
                         "the legacy binary interface is not available: libapns was built "
                         "without the legacy interface (APNS_LEGACY=OFF)");
        return APNS_EINVAL;
#endif
    }
    apns__set_detail(detail, detail_len, "unknown transport %d", (int)t);
    return APNS_EINVAL;
}

void apns__core_logf(const apns__core_callbacks *cb, void *ud, apns_log_level level,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (cb->on_log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cb->on_log(ud, level, msg);
}

/* ---- the operations of a core that takes no jobs (APNS__CORE_NO_JOBS) ---- */

int apns__core_no_submit(void *core, apns__job *job, const apns_token *tok, int64_t now_ms)
{
    (void)core;
    (void)job;
    (void)tok;
    (void)now_ms;
    return APNS_EINVAL;
}

uint32_t apns__core_no_capacity(const void *core)
{
    (void)core;
    return 0;
}

size_t apns__core_no_in_flight(const void *core)
{
    (void)core;
    return 0;
}

void apns__core_no_shutdown(void *core)
{
    (void)core;
}

void apns__core_no_close(void *core, int64_t now_ms)
{
    (void)core;
    (void)now_ms;
}

int apns__core_never(const void *core)
{
    (void)core;
    return 0;
}

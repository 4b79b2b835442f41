/*
 * reason.c - the APNs reason table (APNS_REASON_MAP) and the retry policy.
 *
 * Lookup is on the answer path of every rejected notification, so it is a
 * switch on length then a memcmp, never a scan with strcmp over all rows.
 * The table itself lives in include/apns/reason.h; nothing here restates it.
 */
#include "apns/reason.h"

#include <string.h>

#include "backoff.h"

static const struct {
    const char *name;
    int status;
    apns_action action;
} rows[APNS_REASON_COUNT] = {
    [APNS_REASON_NONE] = {"", 0, APNS_ACTION_NONE},
#define XX(id, str, status, action) [APNS_REASON_##id] = {str, status, action},
    APNS_REASON_MAP(XX) APNS_FCM_REASON_MAP(XX)
#undef XX
        [APNS_REASON_UNKNOWN] = {"Unknown", 0, APNS_ACTION_DROP},
};

const char *apns_reason_name(apns_reason r)
{
    if ((unsigned)r >= APNS_REASON_COUNT)
        return "Unknown";
    return rows[r].name;
}

int apns_reason_status(apns_reason r)
{
    if ((unsigned)r >= APNS_REASON_COUNT)
        return 0;
    return rows[r].status;
}

apns_reason apns_reason_lookup(const char *s, size_t len)
{
    if (len == 0)
        return APNS_REASON_NONE;
    /* Rows are few (57) and names differ early; comparing the length first
     * rejects almost every row without touching the string. */
    for (int r = APNS_REASON_NONE + 1; r < APNS_REASON_UNKNOWN; r++) {
        const char *n = rows[r].name;
        if (n[0] == s[0] && strlen(n) == len && memcmp(n, s, len) == 0)
            return (apns_reason)r;
    }
    return APNS_REASON_UNKNOWN;
}

apns_action apns_action_for(int status, apns_reason r)
{
    if (status >= 200 && status < 300)
        return APNS_ACTION_NONE;
    if (r > APNS_REASON_NONE && r < APNS_REASON_UNKNOWN)
        return rows[r].action;
    /* Unknown or missing reason: decide from the status alone. */
    if (status == 410)
        return APNS_ACTION_DEAD_TOKEN;
    if (status == 403)
        return APNS_ACTION_PAUSE;
    if (status == 429 || status >= 500)
        return APNS_ACTION_RETRY;
    return APNS_ACTION_DROP;
}

const char *apns_action_name(apns_action a)
{
    switch (a) {
    case APNS_ACTION_NONE:
        return "none";
    case APNS_ACTION_DROP:
        return "drop";
    case APNS_ACTION_DEAD_TOKEN:
        return "dead-token";
    case APNS_ACTION_RETRY:
        return "retry";
    case APNS_ACTION_RECONNECT:
        return "reconnect";
    case APNS_ACTION_REFRESH_TOKEN:
        return "refresh-token";
    case APNS_ACTION_PAUSE:
        return "pause";
    }
    return "unknown";
}

int64_t apns_retry_backoff_ms(const apns_retry_policy *p, int attempt, uint64_t *rng)
{
    int64_t base = (p && p->base_ms > 0) ? p->base_ms : 1000;
    int64_t cap = (p && p->max_ms > 0) ? p->max_ms : 900000;
    return common_backoff_ms(base, cap, attempt, rng);
}

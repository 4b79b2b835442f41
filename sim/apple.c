/* apple.c - the simulator's tables of Apple's rules (see apple.h). */
#include "apple.h"

#include <string.h>

const sim_reason_row sim_reasons[SIM_REASON_COUNT] = {[SIM_REASON_NONE] = {"", 200, "200"},
#define XX(id, name, status) [SIM_REASON_##id] = {name, status, #status},
                                                      SIM_REASON_MAP(XX) SIM_BC_REASON_MAP(XX)
#undef XX
};

const sim_push_rule sim_push_rules[SIM_PUSH_TYPE_COUNT] = {
#define XX(id, name, suffix, limit, bad_priority)                                                  \
    [SIM_PUSH_##id] = {name, suffix, limit, bad_priority},
    SIM_PUSH_TYPE_MAP(XX)
#undef XX
};

const sim_cert_rule sim_cert_rules[SIM_PUSH_TYPE_COUNT] = {
#define XX(type, need, reason) [SIM_PUSH_##type] = {need, SIM_REASON_##reason},
    SIM_CERT_RULE_MAP(XX)
#undef XX
};

sim_reason sim_cert_push_check(sim_push_type t, unsigned svc)
{
    const sim_cert_rule *r = &sim_cert_rules[t];
    switch (r->need) {
    case SIM_CERT_ANY:
        return SIM_REASON_NONE;
    case SIM_CERT_VOIP:
        return svc & SIM_CERT_SVC_VOIP ? SIM_REASON_NONE : r->refusal;
    case SIM_CERT_WATCHKIT:
        return svc & SIM_CERT_SVC_WATCHKIT ? SIM_REASON_NONE : r->refusal;
    case SIM_CERT_TOKEN_ONLY:
        break;
    }
    return r->refusal;
}

const char *const sim_priorities[] = {"10", "5", "1", NULL};

int sim_push_type_parse(const char *s, size_t len, sim_push_type *out)
{
    for (int t = 0; t < SIM_PUSH_TYPE_COUNT; t++) {
        const char *n = sim_push_rules[t].name;
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *out = (sim_push_type)t;
            return 0;
        }
    }
    return -1;
}

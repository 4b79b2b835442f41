/* apple.c - the simulator's tables of Apple's rules (see apple.h). */
#include "apple.h"

#include <string.h>

const sim_reason_row sim_reasons[SIM_REASON_COUNT] = {[SIM_REASON_NONE] = {"", 200, "200"},
#define XX(id, name, status) [SIM_REASON_##id] = {name, status, #status},
                                                      SIM_REASON_MAP(XX)
#undef XX
};

const sim_push_rule sim_push_rules[SIM_PUSH_TYPE_COUNT] = {
#define XX(id, name, suffix, limit, bad_priority)                                                  \
    [SIM_PUSH_##id] = {name, suffix, limit, bad_priority},
    SIM_PUSH_TYPE_MAP(XX)
#undef XX
};

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

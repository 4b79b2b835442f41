#include "backoff.h"

#include "rng.h"

int64_t common_backoff_ms(int64_t base_ms, int64_t cap_ms, int attempt, uint64_t *rng)
{
    if (base_ms <= 0)
        return 0;
    if (cap_ms < base_ms)
        cap_ms = base_ms;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < cap_ms; i++)
        d = d > cap_ms / 2 ? cap_ms : d * 2;
    if (d > cap_ms)
        d = cap_ms;
    int64_t half = d / 2;
    return half + (int64_t)common_rng_below(rng, (uint64_t)(d - half + 1));
}

/*
 * backoff.h - the one jittered exponential backoff of the tree: the
 * library's retry table (apns_retry_backoff_ms), the daemon's durable
 * retries, webhook deliveries and the fleet's token fetches.
 */
#ifndef COMMON_BACKOFF_H
#define COMMON_BACKOFF_H

#include <stdint.h>

/*
 * The delay before retry number `attempt` (1 = the first retry): base_ms
 * doubled per attempt after the first, capped at cap_ms, then jittered into
 * [d/2, d] with *rng (common_rng_next) so a burst of failures does not come
 * back as a burst, and never sooner than half the nominal delay. attempt
 * < 1 counts as 1; base_ms <= 0 gives 0; cap_ms < base_ms caps at base_ms.
 */
int64_t common_backoff_ms(int64_t base_ms, int64_t cap_ms, int attempt, uint64_t *rng);

#endif

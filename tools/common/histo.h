/*
 * histo.h - a fixed-size log-linear histogram of unsigned 64-bit values
 * (HDR-style), for latency percentiles without storing a sample each.
 *
 * Values below 2^HISTO_SUB_BITS get one bucket each; above, every power of
 * two is split into 2^(HISTO_SUB_BITS-1) equal buckets, so a bucket's width
 * is at most 1/128 of its values (HISTO_SUB_BITS 8): every percentile is
 * within 0.8% of the true value. The whole uint64 range is covered by 7424
 * counters (58 KiB), allocated once with the struct; recording is a count
 * of leading zeros, a shift and an increment, and never allocates.
 */
#ifndef APNS_TOOLS_HISTO_H
#define APNS_TOOLS_HISTO_H

#include <stdint.h>

#define HISTO_SUB_BITS 8
#define HISTO_HALF     (1u << (HISTO_SUB_BITS - 1))
#define HISTO_BUCKETS  ((66 - HISTO_SUB_BITS) * HISTO_HALF)

typedef struct histo {
    uint64_t counts[HISTO_BUCKETS];
    uint64_t total; /* values recorded */
    uint64_t min, max;
    uint64_t sum; /* wraps only past 1.8e19: ~580 years of nanoseconds */
} histo;

/* Empties h. */
void histo_init(histo *h);

/* The bucket index of v (exposed for tests). */
static inline unsigned histo_index(uint64_t v)
{
    if (v < (1u << HISTO_SUB_BITS))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - (HISTO_SUB_BITS - 1);
    return e * HISTO_HALF + (unsigned)(v >> e);
}

static inline void histo_record(histo *h, uint64_t v)
{
    h->counts[histo_index(v)]++;
    h->total++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* Lowest and highest value that fall into bucket idx. */
void histo_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

/*
 * The value at percentile p (0 < p <= 100): the highest value of the bucket
 * holding the ceil(p% * total)-th smallest value, but never above the exact
 * maximum. 0 when nothing was recorded.
 */
uint64_t histo_percentile(const histo *h, double p);

/* Arithmetic mean (exact), 0 when empty. */
double histo_mean(const histo *h);

/* Adds every count of src into dst. */
void histo_merge(histo *dst, const histo *src);

#endif

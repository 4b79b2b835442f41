/* histo.c - log-linear histogram: bucket ranges and percentiles (see histo.h). */
#include "histo.h"

#include <string.h>

void histo_init(histo *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void histo_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
    if (idx < (1u << HISTO_SUB_BITS)) {
        *lo = *hi = idx;
        return;
    }
    unsigned e = idx / HISTO_HALF - 1;
    uint64_t m = idx - e * HISTO_HALF; /* in [HALF, 2*HALF) */
    *lo = m << e;
    /* The top bucket ends at UINT64_MAX: ((m + 1) << e) would wrap to 0. */
    *hi = (e + HISTO_SUB_BITS >= 64 && m + 1 == 2u * HISTO_HALF) ? UINT64_MAX : ((m + 1) << e) - 1;
}

uint64_t histo_percentile(const histo *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p > 100.0)
        p = 100.0;
    double want = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want; /* ceil without libm */
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->total)
        rank = h->total;
    uint64_t cum = 0;
    unsigned lo_idx = histo_index(h->min), hi_idx = histo_index(h->max);
    for (unsigned i = lo_idx; i <= hi_idx; i++) {
        cum += h->counts[i];
        if (cum >= rank) {
            uint64_t lo, hi;
            histo_bucket_range(i, &lo, &hi);
            if (hi > h->max)
                hi = h->max;
            if (hi < h->min)
                hi = h->min;
            return hi;
        }
    }
    return h->max;
}

double histo_mean(const histo *h)
{
    return h->total ? (double)h->sum / (double)h->total : 0.0;
}

void histo_merge(histo *dst, const histo *src)
{
    for (unsigned i = 0; i < HISTO_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

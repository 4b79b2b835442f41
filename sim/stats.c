/* stats.c - sums the per-loop counters and prints them as one JSON line. */
#include "stats.h"

#include <inttypes.h>

#define LOAD(p) atomic_load_explicit(&(p), memory_order_relaxed)

void sim_stats_print(FILE *f, sim_stats *const *all, size_t n, sim_teamtokens *tt, sim_channels *cs)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"connections", offsetof(sim_stats, connections)},
        {"tls_failures", offsetof(sim_stats, tls_failures)},
        {"requests", offsetof(sim_stats, requests)},
        {"accepted", offsetof(sim_stats, accepted)},
        {"rejected", offsetof(sim_stats, rejected)},
        {"injected_failures", offsetof(sim_stats, injected)},
        {"no_answer", offsetof(sim_stats, no_answer)},
        {"ignored_streams", offsetof(sim_stats, ignored)},
        {"refused_streams", offsetof(sim_stats, refused)},
        {"goaways", offsetof(sim_stats, goaways)},
        {"resets", offsetof(sim_stats, resets)},
        {"idle_timeouts", offsetof(sim_stats, idle_timeouts)},
        {"http1_refused", offsetof(sim_stats, http1_refused)},
        {"jwt_verifications", offsetof(sim_stats, verifications)},
        {"binary_connections", offsetof(sim_stats, bin_connections)},
        {"binary_accepted", offsetof(sim_stats, bin_accepted)},
        {"binary_rejected", offsetof(sim_stats, bin_rejected)},
        {"binary_invalid_tokens", offsetof(sim_stats, bin_invalid_tokens)},
        {"binary_uninstalled", offsetof(sim_stats, bin_uninstalled)},
        {"binary_error_packets", offsetof(sim_stats, bin_error_packets)},
        {"binary_silent_closes", offsetof(sim_stats, bin_silent_closes)},
        {"binary_shutdowns", offsetof(sim_stats, bin_shutdowns)},
        {"binary_discarded_bytes", offsetof(sim_stats, bin_discarded)},
        {"feedback_connections", offsetof(sim_stats, fb_connections)},
        {"feedback_tuples", offsetof(sim_stats, fb_tuples)},
        {"team_token_refusals", offsetof(sim_stats, team_refusals)},
        {"broadcasts", offsetof(sim_stats, broadcasts)},
        {"manage_requests", offsetof(sim_stats, manage_requests)},
        {"manage_rejected", offsetof(sim_stats, manage_rejected)},
        {"channels_created", offsetof(sim_stats, channels_created)},
        {"channels_deleted", offsetof(sim_stats, channels_deleted)},
    };
    fputc('{', f);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t sum = 0;
        for (size_t j = 0; j < n; j++)
            sum += LOAD(*(_Atomic uint64_t *)((char *)all[j] + fields[i].off));
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", fields[i].name, sum);
    }
    fprintf(f, ",\"team_tokens_untracked\":%" PRIu64, sim_teamtokens_untracked(tt));
    fprintf(f, ",\"channels\":%" PRIu64, sim_channels_total(cs));
    fputs(",\"rejected_by_reason\":{", f);
    int first = 1;
    for (int r = 0; r < SIM_REASON_COUNT; r++) {
        uint64_t sum = 0;
        for (size_t j = 0; j < n; j++)
            sum += LOAD(all[j]->by_reason[r]);
        if (sum == 0)
            continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", sim_reasons[r].name, sum);
        first = 0;
    }
    fputs("},\"provider_tokens_by_team\":", f);
    sim_teamtokens_print_json(tt, f);
    fputs("}\n", f);
    fflush(f);
}

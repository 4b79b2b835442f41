/*
 * stats.h - counters of one event loop. Each loop writes only its own
 * counters (relaxed atomic stores, no locked instructions); the main thread
 * sums them when it prints. The process-wide team-token registry
 * (teamtokens.h) keeps its own numbers and is printed with them.
 */
#ifndef SIM_STATS_H
#define SIM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apple.h"
#include "channels.h"
#include "teamtokens.h"

typedef struct sim_stats {
    _Atomic uint64_t connections;   /* accepted TCP connections */
    _Atomic uint64_t tls_failures;  /* handshakes failed (any listener) */
    _Atomic uint64_t requests;      /* complete requests (answered or not) */
    _Atomic uint64_t accepted;      /* 200s sent (= delivery log lines) */
    _Atomic uint64_t rejected;      /* non-200 answers sent */
    _Atomic uint64_t injected;      /* of those, from --fail-rate */
    _Atomic uint64_t no_answer;     /* streams left unanswered (--no-answer-rate) */
    _Atomic uint64_t ignored;       /* streams past a GOAWAY or reset point */
    _Atomic uint64_t refused;       /* RST_STREAM REFUSED_STREAM sent */
    _Atomic uint64_t goaways;       /* injected GOAWAYs */
    _Atomic uint64_t resets;        /* injected connection aborts */
    _Atomic uint64_t idle_timeouts; /* GOAWAYs IdleTimeout (--idle-timeout; also in goaways) */
    _Atomic uint64_t http1_refused; /* connections that sent HTTP/1.x: 505, closed */
    _Atomic uint64_t verifications; /* JWT signature verifications */
    /* Legacy binary gateway and feedback service. */
    _Atomic uint64_t bin_connections;    /* accepted binary gateway connections */
    _Atomic uint64_t bin_accepted;       /* notifications delivered (= their log lines) */
    _Atomic uint64_t bin_rejected;       /* bad notifications (invalid token or malformed) */
    _Atomic uint64_t bin_invalid_tokens; /* of those, status 8 */
    _Atomic uint64_t bin_uninstalled;    /* accepted for --unregistered tokens, not delivered */
    _Atomic uint64_t bin_error_packets;  /* 6-byte error packets written (status 10 too) */
    _Atomic uint64_t bin_silent_closes;  /* simple format: closed without a packet */
    _Atomic uint64_t bin_shutdowns;      /* --binary-shutdown-every closes */
    _Atomic uint64_t bin_discarded;      /* bytes read and dropped after a bad one */
    _Atomic uint64_t fb_connections;     /* feedback connections served */
    _Atomic uint64_t fb_tuples;          /* feedback tuples written */
    _Atomic uint64_t team_refusals;      /* 429s by --team-token-interval */
    /* Broadcast push (bcast.h). */
    _Atomic uint64_t broadcasts;       /* publishes answered 200 (= their log lines) */
    _Atomic uint64_t manage_requests;  /* complete channel-management requests */
    _Atomic uint64_t manage_rejected;  /* of those, answered with a reason */
    _Atomic uint64_t channels_created; /* 201s */
    _Atomic uint64_t channels_deleted; /* 204s */
    _Atomic uint64_t by_reason[SIM_REASON_COUNT];
} sim_stats;

/* Single-writer increment: plain load + store, never a locked RMW. */
#define SIM_STAT_ADD(st, field, n)                                                                 \
    atomic_store_explicit(&(st)->field,                                                            \
                          atomic_load_explicit(&(st)->field, memory_order_relaxed) + (n),          \
                          memory_order_relaxed)
#define SIM_STAT_INC(st, field) SIM_STAT_ADD(st, field, 1)

/* Prints the sum of n counter sets, with the team registry's numbers (tt may
 * be NULL: none) and the channels held (cs may be NULL), as one JSON object
 * and a newline. */
void sim_stats_print(FILE *f, sim_stats *const *all, size_t n, sim_teamtokens *tt,
                     sim_channels *cs);

#endif

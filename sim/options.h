/*
 * options.h - apns-sim's command line: one struct, filled once by
 * sim_options_parse() and read-only afterwards (shared by every thread).
 */
#ifndef SIM_OPTIONS_H
#define SIM_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "apple.h"

#define SIM_FAIL_MAX 3 /* --fail-rate for 429, 500 and 503 */

typedef struct sim_fail_rule {
    int status;        /* 429, 500 or 503: the reason's status */
    sim_reason reason; /* TooManyRequests, InternalServerError, ServiceUnavailable */
    double rate;       /* probability per otherwise accepted request, 0..1 */
} sim_fail_rule;

typedef struct sim_options {
    char listen_host[256]; /* as given, without brackets */
    int listen_port;       /* 0 = ephemeral */
    const char *tls_cert;
    const char *tls_key;
    const char *client_ca; /* certificate auth when set */
    int h2c;               /* plaintext HTTP/2 with prior knowledge */
    int threads;

    const char *auth_keys; /* token auth when set */
    int64_t token_max_age_s;
    int64_t token_min_interval_s;
    int64_t team_token_interval_s; /* fleet-wide: least time between a team's new tokens; 0 = off */
    uint32_t max_streams;

    char **topics; /* allowed bundle ids; NULL = any */
    size_t ntopics;

    const char *unregistered_file;
    const char *other_topic_file;
    const char *other_env_file;
    const char *expired_file;   /* 410 ExpiredToken */
    const char *forbidden_file; /* 403 Forbidden */
    char **other_env_keys;      /* key ids: 403 BadEnvironmentKeyIdInToken */
    size_t nother_env_keys;
    int sandbox; /* --environment sandbox */

    uint64_t seed;
    int have_seed;
    uint32_t goaway_every;
    uint32_t reset_every;
    sim_fail_rule fail[SIM_FAIL_MAX];
    int nfail;
    int latency_ms;
    double no_answer_rate;
    uint32_t shrink_after;
    uint32_t shrink_to;
    int64_t idle_timeout_ms; /* GOAWAY IdleTimeout after this long without a stream; 0 = off */
    uint32_t shutdown_after; /* streams past N: 503 Shutdown, then GOAWAY; 0 = off */

    const char *delivery_log;
    int delivery_log_flush_ms; /* the delivery log's longest wait for a write */

    /* Broadcast push (§4; bcast.h, channels.h). */
    char manage_host[256]; /* "" = no channel-management listener */
    int manage_port;
    uint32_t channel_limit; /* channels per app (default 10,000) */
    char **bc_topics;       /* bundle ids with the broadcast capability; NULL = every one */
    size_t nbc_topics;

    /* Legacy binary interface (sim/legacy/). */
    char binary_host[256]; /* "" = no binary gateway listener */
    int binary_port;
    char feedback_host[256]; /* "" = no feedback listener */
    int feedback_port;
    const char *invalid_tokens_file; /* binary gateway: status 8 */
    int binary_error_delay_ms;       /* discard time before the error packet */
    uint32_t binary_shutdown_every;  /* 0 = off */
} sim_options;

/* Parses argv into *o. Returns 0 to run, 1 when --help/--version was printed
 * (exit 0), -1 after printing a usage error to stderr (exit 2). */
int sim_options_parse(sim_options *o, int argc, char **argv);

/* Frees what parsing allocated (the topic and key lists). */
void sim_options_cleanup(sim_options *o);

#endif

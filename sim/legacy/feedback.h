/*
 * feedback.h - the feedback service's list of uninstalled apps' tokens,
 * shared by every event loop (one mutex; touched once per feedback
 * connection and once per push to an uninstalled app, never per delivered
 * notification).
 *
 * Apple's feedback service listed the devices on which the app no longer
 * exists (shared/docs/apns-protocol.md §5.6), learned when a push to such a
 * device was attempted; never tokens APNs rejected as invalid (those got
 * status 8 on the gateway). So the list starts empty and grows with every
 * push the binary gateway accepts for an --unregistered token (timestamp:
 * the push), unless that token is already waiting to be read (the first
 * push's time stays). Apple's list is "cleared once read":
 * sim_feedback_take() hands the whole list to one feedback connection and
 * empties it, so each token is reported once and then forgotten; only a
 * new push to it after the read lists it again.
 */
#ifndef SIM_FEEDBACK_H
#define SIM_FEEDBACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "frames.h"
#include "tokenset.h"

typedef struct sim_fb_entry {
    uint32_t timestamp; /* UNIX seconds */
    uint8_t len;
    uint8_t token[SIM_BIN_TOKEN_MAX];
} sim_fb_entry;

typedef struct sim_feedback {
    pthread_mutex_t mu;
    sim_fb_entry *v;
    size_t n, cap;
    sim_tokenset *pending; /* the tokens in v (binary) */
} sim_feedback;

/* Starts an empty list. Returns 0 or -1 (out of memory). */
int sim_feedback_init(sim_feedback *f);
void sim_feedback_cleanup(sim_feedback *f);

/* Lists a token (1..SIM_BIN_TOKEN_MAX bytes, else ignored) unless it is
 * already waiting. Out of memory: the token is not listed. Thread-safe. */
void sim_feedback_add(sim_feedback *f, const uint8_t *token, size_t len, uint32_t timestamp);

/* Takes the whole list (in the order it was built) and empties it.
 * Returns the count; *out is malloc'ed (caller frees), NULL when empty or
 * out of memory (then nothing is taken). Thread-safe. */
size_t sim_feedback_take(sim_feedback *f, sim_fb_entry **out);

#endif

/*
 * feedback.h - the feedback service's list of dead tokens, shared by every
 * event loop (one mutex; touched once per feedback connection and once per
 * status-8 rejection, never per delivered notification).
 *
 * Apple's list is "cleared once read": sim_feedback_take() hands the whole
 * list to one feedback connection and empties it, so each token is reported
 * once across connections. The list starts with the --unregistered tokens
 * (timestamp: the file's ms value / 1000, or the load time) and grows with
 * every token the binary gateway rejects with status 8 (timestamp: the
 * rejection), unless that token is already waiting to be read. A token
 * rejected again after it was read is listed again, as APNs would.
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

/* Starts the list with the tokens of `unregistered` (may be NULL); tokens
 * that are not hex or longer than 100 bytes cannot be sent as tuples and are
 * skipped. Returns 0 or -1 (out of memory). */
int sim_feedback_init(sim_feedback *f, const sim_tokenset *unregistered);
void sim_feedback_cleanup(sim_feedback *f);

/* Lists a token unless it is already waiting. Thread-safe. */
void sim_feedback_add(sim_feedback *f, const uint8_t *token, size_t len, uint32_t timestamp);

/* Takes the whole list (in the order it was built) and empties it.
 * Returns the count; *out is malloc'ed (caller frees), NULL when empty or
 * out of memory (then nothing is taken). Thread-safe. */
size_t sim_feedback_take(sim_feedback *f, sim_fb_entry **out);

#endif

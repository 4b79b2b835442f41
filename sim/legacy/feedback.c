/* feedback.c - the feedback service's list of uninstalled apps' tokens (see
 * feedback.h). */
#include "feedback.h"

#include <stdlib.h>
#include <string.h>

static int push(sim_feedback *f, const uint8_t *token, size_t len, uint32_t ts)
{
    if (len == 0 || len > SIM_BIN_TOKEN_MAX)
        return 0;
    int added = sim_tokenset_add(f->pending, token, len, 0);
    if (added <= 0)
        return added; /* already waiting, or out of memory */
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        sim_fb_entry *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return -1;
        f->v = v;
        f->cap = cap;
    }
    sim_fb_entry *e = &f->v[f->n++];
    e->timestamp = ts;
    e->len = (uint8_t)len;
    memcpy(e->token, token, len);
    return 0;
}

int sim_feedback_init(sim_feedback *f)
{
    memset(f, 0, sizeof *f);
    if (pthread_mutex_init(&f->mu, NULL) != 0)
        return -1;
    if (!(f->pending = sim_tokenset_new(SIM_TOKENS_BINARY))) {
        pthread_mutex_destroy(&f->mu);
        return -1;
    }
    return 0;
}

void sim_feedback_cleanup(sim_feedback *f)
{
    sim_tokenset_free(f->pending);
    free(f->v);
    pthread_mutex_destroy(&f->mu);
    memset(f, 0, sizeof *f);
}

void sim_feedback_add(sim_feedback *f, const uint8_t *token, size_t len, uint32_t timestamp)
{
    pthread_mutex_lock(&f->mu);
    (void)push(f, token, len, timestamp); /* out of memory: the token is not listed */
    pthread_mutex_unlock(&f->mu);
}

size_t sim_feedback_take(sim_feedback *f, sim_fb_entry **out)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->n;
    *out = f->v;
    f->v = NULL;
    f->n = f->cap = 0;
    sim_tokenset_clear(f->pending);
    pthread_mutex_unlock(&f->mu);
    return n;
}

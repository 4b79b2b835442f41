/*
 * idgen.h - apns-id values for requests that did not bring one.
 *
 * apns_uuid_generate() draws 16 bytes from RAND_bytes per call (~0.75 us
 * plus a getpid() syscall in OpenSSL 3), which alone capped the simulator at
 * ~0.6x its throughput. The ids only have to be unique and well-formed, so
 * each event loop takes one random v4 UUID from libapns and then counts in
 * its last 48 bits (the node field): every id is a canonical UUID
 * (apns_uuid_is_valid), unique within the process, and random across runs.
 */
#ifndef SIM_IDGEN_H
#define SIM_IDGEN_H

#include <stdint.h>
#include <string.h>

#include "apns/notification.h"

typedef struct sim_idgen {
    char base[APNS_UUID_LEN + 1];
    uint64_t node; /* the base's last 12 hex digits, advanced per id */
} sim_idgen;

static inline void sim_idgen_init(sim_idgen *g)
{
    apns_uuid_generate(g->base);
    g->node = 0;
    for (int i = 24; i < APNS_UUID_LEN; i++) {
        char ch = g->base[i];
        g->node = (g->node << 4) | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
}

/* Writes the next id (36 characters + NUL). */
static inline void sim_idgen_next(sim_idgen *g, char out[APNS_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = ++g->node;
    memcpy(out, g->base, 24);
    for (int i = APNS_UUID_LEN - 1; i >= 24; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[APNS_UUID_LEN] = '\0';
}

#endif

/*
 * bconn.h - one connection to the legacy binary interface: the gateway
 * (simple, enhanced and frame formats; Apple's failure behaviour) or the
 * feedback service. The design note is at the top of bconn.c.
 *
 * Lifecycle:  HANDSHAKE -> OPEN -> [DISCARD] -> CLOSING -> LINGER -> freed
 *   OPEN     gateway: notifications are decoded and delivered
 *   DISCARD  after a bad notification: everything read is dropped until
 *            --binary-error-delay-ms has passed
 *   CLOSING  the error packet (enhanced/frame), or the feedback tuples, are
 *            written; reads are still drained and dropped
 *   LINGER   close_notify + FIN sent; the peer's bytes are dropped until it
 *            closes (or 2 s), so our last bytes are not lost to a TCP RST
 */
#ifndef SIM_BCONN_H
#define SIM_BCONN_H

#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "frames.h"
#include "sock.h"
#include "worker.h"

typedef enum sim_bkind {
    SIM_BK_GATEWAY = 0,
    SIM_BK_FEEDBACK = 1,
} sim_bkind;

typedef enum sim_bstate {
    SIM_B_HANDSHAKE,
    SIM_B_OPEN,
    SIM_B_DISCARD,
    SIM_B_CLOSING,
    SIM_B_LINGER,
} sim_bstate;

typedef struct sim_bconn {
    sim_worker *w;
    common_list link; /* on the worker's list */
    sim_bkind kind;
    sim_bstate state;
    sim_sock s;           /* s.timer: handshake timeout, error delay, linger timeout */
    unsigned reading : 1; /* s.rev is added */

    /* gateway */
    uint32_t count;   /* notifications delivered on this connection */
    uint32_t last_id; /* identifier of the last one (0: none or no identifier) */
    uint8_t status;   /* error packet to send */
    uint8_t packet;   /* 1: send it (enhanced/frame); 0: close silently (simple) */
    uint32_t err_id;
    char id_prefix[48]; /* delivery-log id prefix, "bin-<loop>.<seq>-" */
    uint8_t id_prefix_len;
    char topic[260]; /* the client certificate's topic, "" = none ("-") */
    size_t topic_len;

    uint8_t *out; /* error packet or feedback tuples not yet written */
    size_t out_off, out_len;

    size_t carry_len; /* the start of a notification split across reads */
    uint8_t carry[SIM_BIN_NOTE_MAX];
} sim_bconn;

/* Takes an accepted socket of the gateway or feedback listener. */
void sim_bconn_accept(sim_worker *w, int fd, sim_bkind kind);

void sim_bconn_free(sim_bconn *c);

/* What the gateway does with a token of sh->bin_tokens (the value stored
 * with it). A token in no list is delivered. */
typedef enum sim_btoken {
    SIM_BTOKEN_INVALID = 1,     /* APNs considers it invalid: status 8 and close */
    SIM_BTOKEN_UNINSTALLED = 2, /* app uninstalled: accepted, delivered to nobody,
                                   listed by the feedback service */
} sim_btoken;

/* Builds sh->bin_tokens, the gateway's token lists as binary tokens:
 * --unregistered as SIM_BTOKEN_UNINSTALLED; --invalid-tokens, --other-env
 * and --other-topic as SIM_BTOKEN_INVALID (which wins for a token on both
 * kinds of list). Tokens that are not hex or longer than SIM_BIN_TOKEN_MAX
 * bytes can never match and are left out. Returns 0, or -1 when out of
 * memory. */
int sim_bconn_build_tokens(sim_shared *sh);

#endif

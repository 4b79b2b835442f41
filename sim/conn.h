/*
 * conn.h - one client connection: its I/O and its end (conn.c, over the
 * socket and TLS layer in sock.c) and the HTTP/2 session with its streams
 * (session.c).
 *
 * Lifecycle:  HANDSHAKE -> OPEN -> (LINGER | ABORT) -> freed
 *   OPEN     nghttp2 session; requests are read, answered, written in batches;
 *            s.timer polls --idle-timeout
 *   LINGER   graceful end: everything flushed, close_notify + FIN sent, the
 *            peer's remaining bytes are discarded until it closes (or 2 s)
 *   ABORT    --reset-every: answers flushed and drained from the kernel send
 *            queue, then close with SO_LINGER 0 (TCP RST)
 * The session never frees the connection from inside an nghttp2 callback:
 * it sets flags, and conn.c acts on them once control is back in the I/O
 * layer (sim_conn_progress).
 */
#ifndef SIM_CONN_H
#define SIM_CONN_H

#include <stdint.h>

#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "auth.h"
#include "request.h"
#include "list.h"   /* common/ */
#include "rng.h"    /* common/ */
#include "outbuf.h" /* sim/base/ */
#include "sock.h"
#include "validate.h"
#include "worker.h"

typedef enum sim_stream_state {
    SIM_ST_RECV,     /* request arriving */
    SIM_ST_DELAYED,  /* verdict made, waiting for --latency-ms */
    SIM_ST_ANSWERED, /* response submitted */
    SIM_ST_NOANSWER, /* --no-answer-rate: never answered */
    SIM_ST_IGNORED,  /* beyond a GOAWAY / reset point: never answered */
} sim_stream_state;

typedef struct sim_stream {
    common_list link;            /* on the delay queue or the free list */
    struct sim_stream *all_next; /* every stream object of the connection */
    struct sim_conn *c;
    int32_t id;
    uint8_t state;
    uint8_t owed;     /* counted in c->pending: an answer is owed before closing */
    uint8_t early;    /* answered before the request ended (oversize body) */
    uint8_t injected; /* status from --fail-rate */
    uint8_t shutdown; /* past --shutdown-after: answered 503 Shutdown */
    int64_t due_ms;
    sim_verdict v;
    char apns_id[40];
    char unique_id[40];
    char resp[128]; /* error body, or a channel's configuration */
    char *big;      /* channel list body (malloc'd), or NULL; freed with the stream */
    uint32_t resp_len, resp_off;
    sim_request req;
} sim_stream;

typedef enum sim_conn_state {
    SIM_C_HANDSHAKE,
    SIM_C_OPEN,
    SIM_C_LINGER,
    SIM_C_ABORT,
} sim_conn_state;

typedef struct sim_conn {
    sim_worker *w;
    const sim_options *opt; /* sh->opt; for --manage-listen sh->manage_opt (no faults) */
    unsigned manage : 1;    /* a channel-management connection (bcast.h) */
    common_list link;       /* on the worker's list */
    sim_sock s;             /* s.timer: handshake timeout, linger timeout, abort polling */
    sim_conn_state state;
    struct event *delay; /* --latency-ms queue */
    int aux_tries;

    sim_outbuf out; /* bytes from nghttp2 not yet written (sim/base/) */

    nghttp2_session *h2;
    sim_policy policy; /* the shared policy plus this connection's cert topic */
    char cert_topic[260];
    sim_auth *auth;      /* token auth only */
    uint64_t rng;        /* common_rng_next: this connection's faults */
    uint32_t nstreams;   /* streams begun */
    int32_t goaway_last; /* 0 = no GOAWAY sent */
    uint32_t pending;    /* answers owed (see sim_stream.owed) */
    uint32_t max_streams_now;
    uint32_t open_streams;  /* stream objects in use */
    int64_t last_stream_ms; /* a stream began or closed (--idle-timeout) */
    unsigned draining : 1;  /* GOAWAY sent: close once pending reaches 0 */
    unsigned resetting : 1; /* abort once pending reaches 0 */
    unsigned raised : 1;    /* token auth: max streams raised */
    unsigned shrunk : 1;
    unsigned dead : 1;          /* fatal error: free at the next chance */
    unsigned await_preface : 1; /* no ALPN: nothing sent before the client's first bytes */
    sim_stream *all_streams;
    common_list free_streams, delayed; /* of sim_stream.link */
} sim_conn;

/* conn.c */
void sim_conn_accept(sim_worker *w, int fd, int manage); /* manage: --manage-listen */
void sim_conn_progress(sim_conn *c);                     /* flush, then act on close conditions */
void sim_conn_free(sim_conn *c);

/* session.c */
int sim_session_start(sim_conn *c); /* nghttp2 session + SETTINGS; 0 or -1 */
void sim_session_free(sim_conn *c);
int64_t sim_now_ms(sim_conn *c);
/* --idle-timeout: sends GOAWAY IdleTimeout when the connection has had no
 * open stream for the timeout. Returns the ms until the next check, or 0
 * when none is needed (GOAWAY sent, now or before). */
int64_t sim_session_idle_check(sim_conn *c);

#endif

/*
 * worker.h - one event loop of apns-sim with its listening socket, its
 * connections, counters and delivery-log buffer. --threads N runs N workers,
 * each on its own SO_REUSEPORT socket, sharing only read-only state.
 */
#ifndef SIM_WORKER_H
#define SIM_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "dlog.h"
#include "idgen.h"
#include "keys.h"
#include "list.h" /* common/ */
#include "options.h"
#include "stats.h"
#include "teamtokens.h"
#include "tokenset.h"
#include "validate.h"

#define SIM_READ_BUF (64 * 1024)

/* Read-only after start-up; shared by every worker. */
typedef struct sim_shared {
    const sim_options *opt;
    SSL_CTX *ssl_ctx;  /* NULL with --h2c */
    sim_keys keys;     /* token auth */
    sim_policy policy; /* cert_topic is filled per connection */
    sim_tokenset *unregistered, *other_topic, *other_env;
    sim_tokenset *expired, *forbidden; /* HTTP/2 only */
    int dlog_fd;                       /* -1 without --delivery-log */
    uint64_t seed;                     /* --seed, or random */

    /* Legacy binary interface. */
    SSL_CTX *bin_ssl_ctx;          /* no ALPN; NULL with --h2c (plaintext) */
    sim_tokenset *invalid_tokens;  /* --invalid-tokens */
    sim_tokenset *bin_tokens;      /* the token lists, binary (legacy/bconn.h sim_btoken) */
    struct sim_feedback *feedback; /* legacy/feedback.h; NULL without --feedback-listen */

    /* Token auth: distinct provider tokens per team across every loop;
     * mutable, locked inside (teamtokens.h). */
    sim_teamtokens *teamtokens;

    /* Broadcast push: the channel store (mutable, locked inside; channels.h,
     * also in policy.channels), and the options management connections run
     * with (opt without its fault flags). */
    struct sim_channels *channels;
    const sim_options *manage_opt;
} sim_shared;

struct sim_conn;
struct sim_bconn;

typedef struct sim_worker {
    int index;
    const sim_shared *sh;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *tick; /* every --delivery-log-flush-ms: flush the delivery log */
    sim_stats stats;
    sim_dlog dlog;
    sim_idgen ids; /* generated apns-id / apns-unique-id values */
    uint64_t conn_seq;
    common_list conns; /* every open connection (for shutdown) */
    struct evconnlistener *bin_listener, *fb_listener;
    struct evconnlistener *manage_listener; /* --manage-listen */
    common_list bconns;                     /* open binary gateway and feedback connections */
    uint64_t bconn_seq;
    pthread_t thread;
    uint8_t rbuf[SIM_READ_BUF]; /* shared read buffer of this loop's connections */
} sim_worker;

/* Creates the loop and listener on an already listening fd. Returns 0/-1. */
int sim_worker_init(sim_worker *w, int index, const sim_shared *sh, int listen_fd);

/* Adds the binary gateway (kind 0) or feedback (kind 1) listener on an
 * already listening fd. Returns 0/-1 (the fd is closed on failure). */
int sim_worker_listen_binary(sim_worker *w, int kind, int listen_fd);

/* Adds the channel-management listener (--manage-listen) on an already
 * listening fd. Returns 0/-1 (the fd is closed on failure). */
int sim_worker_listen_manage(sim_worker *w, int listen_fd);

/* Runs the loop until sim_worker_stop(). */
void sim_worker_run(sim_worker *w);

/* Makes run() return; safe from another thread (with evthread pthreads). */
void sim_worker_stop(sim_worker *w);

/* Closes every connection, flushes the log, frees the loop. */
void sim_worker_cleanup(sim_worker *w);

/*
 * Opens n listening sockets on host:port (SO_REUSEPORT when n > 1; port 0
 * = one ephemeral port for all). Writes the fds and the bound address as
 * "ADDR:PORT" (IPv6 in brackets). Returns 0 or -1 with a sentence in err.
 */
int sim_listen(const char *host, int port, int n, int *fds, char *bound, size_t boundlen, char *err,
               size_t errlen);

#endif

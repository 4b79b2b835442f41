/*
 * nats_cluster.h - real nats-server processes for the JetStream tests: one
 * node or a 3-node JetStream cluster on 127.0.0.1, each with its own temp
 * store directory, started, killed (SIGKILL) and restarted by the test.
 *
 * Every wait has a deadline. Children die with the test process
 * (PR_SET_PDEATHSIG) and are killed by nc_stop() and by an atexit handler,
 * so a failing assertion never leaves a server running.
 *
 * Ports: a random base in 20000..59999 is probed (bind) for three free
 * ports per node: client, cluster route, and monitoring.
 */
#ifndef NATS_CLUSTER_H
#define NATS_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

#define NC_MAX_NODES 3

typedef struct nc_cluster {
    int n;         /* nodes: 1 or 3 */
    char dir[256]; /* temp root: n<i>/ store dirs, n<i>.log */
    int client_port[NC_MAX_NODES];
    int route_port[NC_MAX_NODES];
    int http_port[NC_MAX_NODES];
    pid_t pid[NC_MAX_NODES]; /* 0 = not running */
    char url[NC_MAX_NODES][64];
    char urls[NC_MAX_NODES * 64]; /* "nats://127.0.0.1:p1,nats://..." */
    const char *servers[NC_MAX_NODES];
} nc_cluster;

/* Path of the nats-server binary ($NATS_SERVER, then PATH, /usr/sbin,
 * /usr/bin), or NULL when there is none. */
const char *nc_server_path(void);

/* Starts n (1 or 3) nodes and waits up to timeout_ms until JetStream answers
 * on every node (and, for 3, a meta leader exists). Returns 0 or -1 (and
 * writes why to err). On -1 everything started is stopped. */
int nc_start(nc_cluster *c, int n, int timeout_ms, char *err, size_t err_len);

/* SIGKILL node i and reap it. */
void nc_kill(nc_cluster *c, int i);
/* Starts node i again (same ports, same store). Does not wait. */
int nc_restart(nc_cluster *c, int i);
/* Waits until JetStream answers on node i (and a meta leader exists).
 * Returns 0 or -1. */
int nc_wait_node(nc_cluster *c, int i, int timeout_ms);
/* Waits until the stream `stream` has a leader and `want` current replicas
 * (seen from any running node). Returns 0 or -1. */
int nc_wait_stream(nc_cluster *c, const char *stream, int want, int timeout_ms);

/* Kills every node, reaps them and removes the temp directory. Idempotent. */
void nc_stop(nc_cluster *c);

#endif

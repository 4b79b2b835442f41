/*
 * h2_conn.h - one HTTP/2 connection to APNs, sans I/O (internal).
 *
 * The core takes bytes read from the server and the current time, and gives
 * bytes to write and events. It never touches a socket, a clock or TLS; the
 * client (client.c) wraps it with those. That is why every protocol rule
 * below is unit-tested and fuzzed without a network.
 *
 * The core implements the in-flight book contract of core.h (on_result,
 * on_handback, on_peer_end; re-entrancy) as apns__h2_class; the functions
 * below are the same operations with their types, for tests. Its
 * hand-backs: GOAWAY (stream id above GOAWAY's last-stream-id), REFUSED,
 * RESET (any other RST_STREAM code before a response), TIMEOUT (stream
 * deadline), CLOSED (connection lost or closed). Its answers carry the
 * outcome (2xx: ACCEPTED) and the reason table's action. on_peer_end
 * reports a GOAWAY received (kind APNS__END_GOAWAY, finishing: the streams
 * at or below last-stream-id still get their answers).
 *
 * The same core speaks FCM HTTP v1 (apns/fcm.h) for jobs of op
 * APNS__OP_FCM_SEND: the request line and headers differ, the answer is
 * classified by apns_fcm_answer_parse(); the book, its hand-backs and its
 * deadlines are the same.
 */
#ifndef APNS_H2_CONN_H
#define APNS_H2_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "apns/client.h"
#include "apns/jwt.h"
#include "buf.h"
#include "core.h"
#include "job.h"

typedef struct apns__h2_conn apns__h2_conn;

typedef struct apns__h2_conn_opts {
    const char *authority;     /* :authority, e.g. "api.push.apple.com" (copied); the class
                                  makes it from the peer's host and port */
    uint32_t max_streams;      /* client-side cap on concurrent streams (0 = 1000) */
    int64_t stream_timeout_ms; /* 0 = 30000 */
    int64_t ping_idle_ms;      /* 0 = 60000 */
    int64_t ping_timeout_ms;   /* 0 = 10000 */
    /* FCM (apns/fcm.h): the project of POST /v1/projects/<p>/messages:send
     * (copied; checked by apns_fcm_project_check), NULL for APNs. Jobs of op
     * APNS__OP_FCM_SEND need it and a token (sent as "Bearer <token>"). */
    const char *fcm_project;
    int64_t unix_offset_ms; /* now_ms + this = UNIX ms: Retry-After HTTP-dates */
} apns__h2_conn_opts;

/* Creates the core and queues the connection preface and SETTINGS for
 * output. Returns 0, APNS_ENOMEM. */
int apns__h2_conn_new(apns__h2_conn **out, const apns__h2_conn_opts *o,
                      const apns__core_callbacks *cb, void *ud, int64_t now_ms);

/* Frees the core. Jobs still in the book are NOT handed back: call
 * apns__h2_conn_close() first. Never from inside one of its callbacks. */
void apns__h2_conn_free(apns__h2_conn *c);

/* Feeds bytes read from the server. Fires callbacks. Returns 0, or
 * APNS_EPROTO / APNS_ENOMEM: then the connection is dead (call close).
 * On a connection that is already dead it does nothing and returns the
 * error that ended it (APNS_ECLOSED after close(), also when close() was
 * called from a callback during this very call; APNS_ETIMEOUT after a PING
 * timeout). */
int apns__h2_conn_recv(apns__h2_conn *c, const uint8_t *data, size_t len, int64_t now_ms);

/* Appends every byte the core wants to write to out. May fire callbacks
 * (streams closed by the RST_STREAMs it writes). After a protocol error it
 * still writes nghttp2's GOAWAY; after close() it writes nothing and
 * returns 0. Returns 0, APNS_EPROTO, APNS_ENOMEM, or APNS_ECLOSED when a
 * callback closed the connection during this call (each only when the
 * connection died during this call). */
int apns__h2_conn_flush(apns__h2_conn *c, apns__buf *out);

/* How many more streams may be opened now: min(server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, cap) - open streams; 0 after GOAWAY (sent
 * or received), while waiting for the server's first SETTINGS, or when dead.
 * Open streams are the book plus streams whose job already left but which
 * nghttp2 still holds (a RST_STREAM not yet flushed), so it can be briefly
 * lower than limit - in_flight(). With token auth the server allows only one
 * stream until a token was accepted. */
uint32_t apns__h2_conn_capacity(const apns__h2_conn *c);

/* Opens a stream for job (job->attempts is incremented; job->conn and
 * job->stream_id set; job->token_generation = tok ? tok->generation : 0;
 * job->deadline_ms = now_ms + stream timeout; job->body_sent = 0). When
 * job->n.apns_id is "" a UUID is generated into it first, so the id is known
 * before anything is sent. `tok` is the provider token to send as
 * "authorization: bearer <jwt>" (token auth; the client keeps it fresh with
 * apns_token_cache_get), or NULL for certificate auth. Header values are
 * copied by nghttp2; the payload is read from job->n.payload until the
 * job's callback, so it must stay put while the job is in flight.
 * Fires no callback. Returns 0, APNS_EAGAIN (no capacity), APNS_EINVAL
 * (no token, token longer than APNS_TOKEN_HEX_MAX, unknown push type,
 * unusable tok->jwt), APNS_ECRYPTO (no randomness for the apns-id),
 * APNS_ENOMEM, APNS_EPROTO, or the error that ended a dead connection. On
 * error the job is not in the book. */
int apns__h2_conn_submit(apns__h2_conn *c, apns__job *job, const apns_token *tok, int64_t now_ms);

/* Earliest time tick() has work (a stream deadline, PING due, PING timeout),
 * or INT64_MAX when dead. O(1). */
int64_t apns__h2_conn_next_deadline(const apns__h2_conn *c);

/* Expires stream deadlines (RST_STREAM CANCEL + handback TIMEOUT), sends a
 * PING after ping_idle_ms without received bytes, declares the connection
 * dead when that PING's ACK is not back within ping_timeout_ms. Costs
 * O(expired streams): the book is in deadline order. Returns 0, APNS_ETIMEOUT
 * (PING timeout: the connection is now dead), or, on a connection already
 * dead, the error that ended it (APNS_EPROTO, APNS_ECLOSED, ...). */
int apns__h2_conn_tick(apns__h2_conn *c, int64_t now_ms);

/* Hands back every job in the book (APNS__HB_CLOSED) and marks the core
 * dead. Idempotent. Safe from inside a callback (the core stops processing
 * the rest of the input; recv() then returns APNS_ECLOSED), though the
 * client is expected to call it from its I/O layer. Call free() afterwards,
 * outside the callbacks. */
void apns__h2_conn_close(apns__h2_conn *c);

/* Starts a graceful close: GOAWAY to the server, no new streams (capacity
 * 0); the book drains normally, then is_finished() turns 1. */
void apns__h2_conn_shutdown(apns__h2_conn *c);

/* Jobs in the book. */
size_t apns__h2_conn_in_flight(const apns__h2_conn *c);

/* 1 once the server's SETTINGS arrived and no GOAWAY was received or sent,
 * and the connection is not dead. */
int apns__h2_conn_is_open(const apns__h2_conn *c);

/* 1 when the core has ended (GOAWAY and book empty, or dead): close it. */
int apns__h2_conn_is_finished(const apns__h2_conn *c);

/* The HTTP/2 protocol for the client and the transport (core.h). */
extern const apns__core_class apns__h2_class;

#endif

/*
 * binary_conn.h - one connection to the legacy binary gateway, sans I/O
 * (internal).
 *
 * Like apns__h2_conn, the core takes bytes read from the server and the
 * current time, and gives bytes to write and events. It never touches a
 * socket, a clock or TLS. The design note (why the sent list works the way
 * it does, which duplicates it can cause) is at the top of binary_conn.c.
 *
 * It implements the in-flight book contract of core.h as apns__bin_class
 * (the functions below are the same operations with their types, for
 * tests). The book is the sent list: a job submitted here sits on the
 * connection's sent list, in send order, from submit until exactly one of
 * these:
 *   - on_result ACCEPTED: no error packet named it or an earlier
 *     notification within the accept window, or an error packet named a
 *     later one (status 10: this one or a later one);
 *   - on_result REJECTED: an error packet named it with a failure status;
 *   - on_handback: APNs discarded it or may not have seen it: it comes after
 *     the one an error packet named (APNS__HB_DISCARDED: certainly not
 *     processed), or the connection ended without telling us
 *     (APNS__HB_CLOSED: maybe processed, see the design note).
 * Nothing leaves the list any other way, so nothing is lost, and every
 * submitted job gets exactly one callback once close() has been called.
 * An error packet is reported through on_peer_end (APNS__END_ERROR_PACKET,
 * not finishing: the connection is over) before the per-job callbacks it
 * causes.
 *
 * Binary results (apns_result): status is 0 (there is no HTTP status);
 * binary_status is the error-response status (0 when accepted by silence);
 * reason/action come from apns__bin_status_reason(); reason_str is the
 * reason's name, or the binary status' meaning when it has no reason.
 */
#ifndef APNS_BINARY_CONN_H
#define APNS_BINARY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "apns/binary.h"
#include "apns/client.h"
#include "buf.h"
#include "core.h"
#include "job.h"

typedef struct apns__bin_conn apns__bin_conn;

/* What close() assumes about notifications it has no answer for. */
typedef enum apns__bin_close_policy {
    /* Hand back everything still in the sent list (at-least-once). */
    APNS__BIN_CLOSE_RESEND_WINDOW = 0,
    /* Report everything still in the list as ACCEPTED: the naive provider
     * that believes what it wrote was delivered. Only for the benchmark that
     * shows what the sent list saves; loses notifications. */
    APNS__BIN_CLOSE_ASSUME_DELIVERED,
} apns__bin_close_policy;

typedef struct apns__bin_conn_opts {
    /* Zero is APNS_BINARY_SIMPLE, which cannot tell which notification
     * failed: use APNS_BINARY_FRAME unless you mean to show that. */
    apns_binary_format format;
    uint32_t max_sent;        /* credit: jobs in the sent list at most; 0 = 10000 */
    int64_t accept_window_ms; /* silence this long after submit = accepted; 0 = 2000 */
    apns__bin_close_policy close_policy;
    /* now_ms + unix_offset_ms = UNIX time in ms. Only used to give an
     * enhanced-format notification with APNS_EXPIRATION_NONE an expiry of
     * 30 days from now (see the design note). */
    int64_t unix_offset_ms;
    /* Status 10 (Shutdown) names the last notification APNs processed
     * (Apple); one field report says it names the failing one. 0: accept it
     * (Apple's reading); 1: hand it back too (a duplicate instead of a
     * possible loss). */
    int shutdown_resends_id;
    uint32_t first_id; /* identifier of the first notification; 0 = 1 (tests) */
} apns__bin_conn_opts;

/* Creates the core (the sent list is preallocated: max_sent entries).
 * Copies o and cb. Returns 0, APNS_EINVAL (unknown format, no on_result or
 * on_handback), APNS_ENOMEM. */
int apns__bin_conn_new(apns__bin_conn **out, const apns__bin_conn_opts *o,
                       const apns__core_callbacks *cb, void *ud);

/* Frees the core. Jobs still in the list are NOT handed back: call
 * apns__bin_conn_close() first. NULL is fine. Never from a callback. */
void apns__bin_conn_free(apns__bin_conn *c);

/*
 * Encodes job in the configured format with the next identifier and queues
 * the bytes for flush(); appends job to the sent list stamped with now_ms.
 * job->attempts is incremented, job->conn set to c, job->deadline_ms set to
 * the time it counts as accepted (now_ms + window), job->stream_id is 0.
 * Mapping: job->n.token (hex) -> binary token; expiration NONE -> frame:
 * item 4 omitted, enhanced: 30 days from now; 0 and UNIX seconds as is
 * (clamped to 32 bits); priority 0 -> item 5 omitted, 10 -> 10, 5 and 1 ->
 * 5 (frame only). Returns 0, APNS_EAGAIN (list full: wait for results),
 * APNS_ECLOSED (dead, shut down, or identifiers exhausted), APNS_EBADTOKEN
 * (not hex, or not 32 bytes for simple/enhanced, over 100 for frame),
 * APNS_ETOOBIG (payload over 256 bytes, 2048 for frame), APNS_EPAYLOADEMPTY,
 * APNS_ENOMEM. On error the job is not in the list, no identifier was used
 * and no callback fires for it.
 */
int apns__bin_conn_submit(apns__bin_conn *c, apns__job *job, int64_t now_ms);

/* Appends every byte the core wants to write to out (many notifications per
 * call). Jobs count as sent (eligible for the accept window) only once
 * flushed. Returns 0, APNS_ENOMEM (nothing appended). */
int apns__bin_conn_flush(apns__bin_conn *c, apns__buf *out);

/* Feeds bytes read from the server (the error packet may come in pieces).
 * Fires callbacks. Returns 0; APNS_ECLOSED when an error packet ended the
 * connection (every job in the list got its callback; close the socket);
 * APNS_EPROTO when the server sent something that is not an error packet
 * (nothing was called back; call close()). Bytes after an error packet are
 * ignored. */
int apns__bin_conn_recv(apns__bin_conn *c, const uint8_t *data, size_t len, int64_t now_ms);

/* How many more jobs may be submitted now: max_sent - in the list; 0 when
 * dead, shut down or out of identifiers. */
uint32_t apns__bin_conn_capacity(const apns__bin_conn *c);

/* Earliest time tick() has work (the oldest flushed job's accept time), or
 * INT64_MAX. */
int64_t apns__bin_conn_next_deadline(const apns__bin_conn *c);

/* Releases as ACCEPTED every flushed job whose window has passed, oldest
 * first; O(released). Returns 0. */
int apns__bin_conn_tick(apns__bin_conn *c, int64_t now_ms);

/* The connection ended without (another) error packet: EOF, reset, or the
 * caller gave up. Releases what tick(now_ms) would, then applies the close
 * policy to the rest (RESEND_WINDOW: on_handback APNS__HB_CLOSED in send
 * order; ASSUME_DELIVERED: on_result ACCEPTED). Marks the core dead.
 * Idempotent; safe from a callback. */
void apns__bin_conn_close(apns__bin_conn *c, int64_t now_ms);

/* Graceful end: no new submits; the core is finished once the last job's
 * window has passed (tick) and the socket can be closed. */
void apns__bin_conn_shutdown(apns__bin_conn *c);

/* Jobs in the sent list. */
size_t apns__bin_conn_in_flight(const apns__bin_conn *c);

/* 1 when submit may succeed (not dead, not shut down, identifiers left). */
int apns__bin_conn_is_open(const apns__bin_conn *c);

/* 1 when the core has ended (dead, or shut down with an empty list). */
int apns__bin_conn_is_finished(const apns__bin_conn *c);

/* Identifier the next submit will use (0 when exhausted). */
uint32_t apns__bin_conn_next_id(const apns__bin_conn *c);

/* The reason and action a binary error status stands for:
 *   1, 255 -> INTERNAL_SERVER_ERROR, retry     2 -> MISSING_DEVICE_TOKEN, drop
 *   3 -> MISSING_TOPIC, drop                   4 -> PAYLOAD_EMPTY, drop
 *   5, 8 -> BAD_DEVICE_TOKEN, dead token       6 -> BAD_TOPIC, drop
 *   7 -> PAYLOAD_TOO_LARGE, drop               128 -> UNKNOWN, drop
 *   10 -> SHUTDOWN, reconnect                  0 -> NONE, none
 *   anything else -> UNKNOWN, retry. */
apns_reason apns__bin_status_reason(int status, apns_action *action);

/* The legacy binary protocol for the client and the transport (core.h). */
extern const apns__core_class apns__bin_class;

#endif

/*
 * core.h - the in-flight book contract every protocol core implements
 * (internal).
 *
 * Design note
 * ===========
 *
 * A core is one connection's protocol, sans I/O: it takes bytes read from
 * the server and the current time, and gives bytes to write and events. It
 * never touches a socket, a clock or TLS, so every protocol rule is
 * unit-tested and fuzzed without a network. The cores:
 *   - HTTP/2, the provider API (h2_conn.c, apns__h2_class);
 *   - the legacy binary interface and its sent list (legacy/binary_conn.c,
 *     apns__bin_class; built with APNS_LEGACY);
 *   - the feedback reader, receive-only (legacy/feedback.c), and the FCM
 *     token request, one HTTP/1.1 request (fcm_auth.c): cores that take no
 *     jobs and share those operations (APNS__CORE_NO_JOBS).
 * The transport (transport.c) drives a core only through its class below;
 * the client (client.c) only through the transport and the callbacks
 * below. Neither knows which protocol runs: where the protocols truly
 * differ (ALPN, ports, how the server ends a connection) the class
 * declares it as data.
 *
 * The in-flight book. A job submitted to a core sits in the core's book
 * from submit() until exactly one callback takes it out:
 *   on_result    the server answered for it (HTTP/2: a :status; binary: an
 *                error packet named it or a later one, or it stayed silent
 *                for the accept window). The core decides the outcome
 *                (ACCEPTED / REJECTED) and the action (reason table).
 *   on_handback  the server did not answer; the job may be sent again
 *                elsewhere. Its reason (apns__handback) says whether the
 *                server can have processed it:
 *                  never processed: GOAWAY, REFUSED, DISCARDED
 *                  maybe processed: RESET, TIMEOUT, CLOSED
 *                Resending a "maybe" can deliver it twice (the apns-id stays
 *                the same, so the app can tell); resending a "never" cannot.
 * Nothing leaves the book any other way, so nothing is lost; close() hands
 * back what is left, so every submitted job gets exactly one callback. The
 * core has taken the job out of its book before the callback (job->conn =
 * NULL, job->stream_id = 0), and capacity() already counts its room.
 *
 * Who resends what (one owner per resend; include/apns/client.h says it for
 * the library's callers):
 *   - a core never resends: it calls back;
 *   - the client owns every connection-level resend: hand-backs, and the
 *     answers that blame the connection or the credential (RECONNECT;
 *     REFRESH_TOKEN once a new token was minted). It resends them at once,
 *     in the order they came, on another connection, and they never consume
 *     the retry budget (retry.max_attempts): that counts only answers that
 *     ask to wait (action RETRY: 429, 5xx; and a REFRESH_TOKEN for which
 *     the cache would not mint, which can only wait). A loop guard of 10
 *     connection-level resends stops a notification that kills every
 *     connection it touches: its next hand-back fails it (APNS_ERETRIES),
 *     its next RECONNECT or REFRESH_TOKEN answer is final. DISCARDED
 *     hand-backs are exempt from it (apns__handback_guarded): every error
 *     packet settles the notification it names, so those rewinds always
 *     make progress;
 *   - the client's caller owns retries that must outlive the client (the
 *     daemon's durable retry-at for 429/5xx).
 *
 * Re-entrancy. Callbacks run inside recv(), flush(), tick() and close(),
 * never inside submit(). From a callback the callee may call submit(),
 * capacity(), in_flight(), the state queries, shutdown() and close(); never
 * free(). Callers flush() after every recv(), submit(), tick() and
 * shutdown(), and re-check capacity() after every call that fires callbacks.
 */
#ifndef APNS_CORE_H
#define APNS_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "apns/client.h"
#include "apns/jwt.h"
#include "buf.h"
#include "job.h"

/* Why a job left the book without an answer. */
typedef enum apns__handback {
    APNS__HB_GOAWAY = 1, /* never processed: HTTP/2 stream above GOAWAY's last-stream-id */
    APNS__HB_REFUSED,    /* never processed: RST_STREAM REFUSED_STREAM */
    APNS__HB_RESET,      /* maybe processed: RST_STREAM with another code, before an answer */
    APNS__HB_TIMEOUT,    /* maybe processed: the stream deadline passed */
    APNS__HB_CLOSED,     /* maybe processed: the connection was lost or closed without
                            saying (binary: within the accept window) */
    APNS__HB_DISCARDED,  /* never processed: binary, sent after the notification an error
                            packet named; APNs discarded it unread */
    APNS__HB_END
} apns__handback;

/* 1 when a hand-back counts towards the client's loop guard: all but
 * DISCARDED, which always comes with progress (see the design note). */
static inline int apns__handback_guarded(apns__handback why)
{
    return why != APNS__HB_DISCARDED;
}

/* How the server announced the end of a connection. */
typedef enum apns__end_kind {
    APNS__END_GOAWAY = 0,   /* HTTP/2 GOAWAY */
    APNS__END_ERROR_PACKET, /* binary error-response packet */
    APNS__END_KINDS
} apns__end_kind;

typedef struct apns__peer_end {
    apns__end_kind kind;
    /* 1: the connection only stops taking jobs; the jobs the notice spares
     * still get their answers (GOAWAY). 0: the connection is over; the
     * per-job callbacks the notice causes follow at once (error packet). */
    int finishing;
    uint32_t code;        /* GOAWAY error code; binary status */
    uint32_t last_id;     /* GOAWAY last-stream-id; the identifier the packet names */
    const char *reason;   /* GOAWAY debug data's "reason" or ""; the binary status' meaning */
    const char *text;     /* the whole notice, for a log line */
    apns_log_level level; /* how loud a log line about it should be */
} apns__peer_end;

/* What a core reports. Every pointer argument is borrowed for the call. */
typedef struct apns__core_callbacks {
    /* The server answered: r->outcome, r->action and r->attempts
     * (job->attempts) are set. Required for a core that takes jobs. */
    void (*on_result)(void *ud, apns__job *job, const apns_result *r);
    /* No answer: resend elsewhere. Required for a core that takes jobs. */
    void (*on_handback)(void *ud, apns__job *job, apns__handback why);
    /* The server announced the end, before the per-job callbacks that
     * notice causes. No new jobs from now on. Optional. */
    void (*on_peer_end)(void *ud, const apns__peer_end *e);
    /* A log line. Optional. */
    void (*on_log)(void *ud, apns_log_level level, const char *msg);
} apns__core_callbacks;

/* Formats a log line (cut at 511 bytes) and hands it to cb->on_log with ud;
 * does nothing when on_log is NULL. The one log helper of the cores and the
 * transport. */
void apns__core_logf(const apns__core_callbacks *cb, void *ud, apns_log_level level,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Where a connection goes, and the wall clock (create()). */
typedef struct apns__core_peer {
    const char *host; /* the server's name or address, without brackets */
    uint16_t port;
    int64_t unix_offset_ms; /* now_ms + unix_offset_ms = UNIX time in ms */
} apns__core_peer;

/*
 * A protocol: the data the client and the transport need about it, and its
 * core's operations. The operations' semantics are those of the
 * apns__h2_conn_* functions of the same names (h2_conn.h); `core` is what
 * create() made.
 */
typedef struct apns__core_class {
    const char *name; /* "HTTP/2", "binary", "feedback": for log lines */

    /* --- what the client needs (NULL config_new: not a push protocol) --- */
    const char *host_production, *host_sandbox;
    /* apns_publish_host BROADCAST's hosts; NULL: the protocol has no broadcast */
    const char *host_broadcast_production, *host_broadcast_sandbox;
    uint16_t port;  /* when the options say 0 */
    unsigned slots; /* max_pending per connection when the options say 0 */
    int handshake;  /* 1: is_open() turning 1 proves the server accepted the connection
                       (HTTP/2 SETTINGS); 0: only an answer proves it */
    /* Checks the apns_client_opts this protocol reads and keeps its settings
     * in *cfg (the client's `slots` bound the core's book). Returns 0,
     * APNS_EINVAL (detail says which option), APNS_ENOMEM. */
    int (*config_new)(void **cfg, const apns_client_opts *o, size_t slots, char *detail,
                      size_t detail_len);
    void (*config_free)(void *cfg);
    /* A few words for log lines ("legacy binary, frame format"), or NULL. */
    const char *(*label)(const void *cfg);
    /* What submit() would refuse, refused at apns_client_submit() with its
     * code (after apns_notification_validate). NULL: nothing more. */
    int (*check)(const void *cfg, const apns_notification *n, char *detail, size_t detail_len);

    /* --- what the transport needs --- */
    int alpn_h2;             /* TLS must negotiate ALPN "h2" (else: no ALPN at all) */
    int eof_is_close;        /* a TLS EOF without close_notify is a plain disconnect */
    int verdict_then_close;  /* the server writes why and closes: after a failed write,
                                read what it sent before reporting the write error */
    size_t out_limit;        /* > 0: submit() output goes to the transport's buffer at
                                once, and capacity is 0 while this much waits there */
    const char *finished;    /* on_closed detail after is_finished() */
    const char *tick_failed; /* on_closed detail when tick() fails; NULL: the error's */

    /* --- the core --- */
    /* Makes a core for one connection. NULL when the caller brings the core
     * (apns__transport_opts.core). Returns 0, APNS_ENOMEM, APNS_EINVAL. */
    int (*create)(void **core, const void *cfg, const apns__core_peer *peer,
                  const apns__core_callbacks *cb, void *ud, int64_t now_ms);
    void (*free)(void *core); /* NULL: the transport does not own the core */
    /* tok: the provider token, or NULL (certificate auth; ignored by
     * protocols without tokens). */
    int (*submit)(void *core, apns__job *job, const apns_token *tok, int64_t now_ms);
    /* Returns 0, or an APNS_E* code after which the connection is closed;
     * APNS_ECLOSED after on_peer_end(finishing = 0) is the protocol's
     * normal end (every job was called back). */
    int (*recv)(void *core, const uint8_t *data, size_t len, int64_t now_ms);
    int (*flush)(void *core, apns__buf *out);
    int64_t (*next_deadline)(const void *core);
    int (*tick)(void *core, int64_t now_ms);
    uint32_t (*capacity)(const void *core);
    size_t (*in_flight)(const void *core);
    void (*shutdown)(void *core);
    void (*close)(void *core, int64_t now_ms);
    int (*is_open)(const void *core);
    int (*is_finished)(const void *core);
} apns__core_class;

/*
 * The adapters from a core's typed functions to the class's `void *` ops
 * that every core has alike: PREFIX##recv(TYPE *, ...), PREFIX##flush, ...
 * PREFIX##is_finished. A core writes APNS__CORE_ADAPTERS(type, prefix_) once
 * in its .c file and APNS__CORE_OPS in its apns__core_class initialiser;
 * create, free, submit and close, whose arguments differ, it writes itself.
 */
#define APNS__CORE_ADAPTERS(TYPE, PREFIX)                                                          \
    static int cls_recv(void *c, const uint8_t *d, size_t n, int64_t now)                          \
    {                                                                                              \
        return PREFIX##recv((TYPE *)c, d, n, now);                                                 \
    }                                                                                              \
    static int cls_flush(void *c, apns__buf *out)                                                  \
    {                                                                                              \
        return PREFIX##flush((TYPE *)c, out);                                                      \
    }                                                                                              \
    static int64_t cls_next_deadline(const void *c)                                                \
    {                                                                                              \
        return PREFIX##next_deadline((const TYPE *)c);                                             \
    }                                                                                              \
    static int cls_tick(void *c, int64_t now)                                                      \
    {                                                                                              \
        return PREFIX##tick((TYPE *)c, now);                                                       \
    }                                                                                              \
    static uint32_t cls_capacity(const void *c)                                                    \
    {                                                                                              \
        return PREFIX##capacity((const TYPE *)c);                                                  \
    }                                                                                              \
    static size_t cls_in_flight(const void *c)                                                     \
    {                                                                                              \
        return PREFIX##in_flight((const TYPE *)c);                                                 \
    }                                                                                              \
    static void cls_shutdown(void *c)                                                              \
    {                                                                                              \
        PREFIX##shutdown((TYPE *)c);                                                               \
    }                                                                                              \
    static int cls_is_open(const void *c)                                                          \
    {                                                                                              \
        return PREFIX##is_open((const TYPE *)c);                                                   \
    }                                                                                              \
    static int cls_is_finished(const void *c)                                                      \
    {                                                                                              \
        return PREFIX##is_finished((const TYPE *)c);                                               \
    }

#define APNS__CORE_OPS                                                                             \
    .recv = cls_recv, .flush = cls_flush, .next_deadline = cls_next_deadline, .tick = cls_tick,    \
    .capacity = cls_capacity, .in_flight = cls_in_flight, .shutdown = cls_shutdown,                \
    .is_open = cls_is_open, .is_finished = cls_is_finished

/*
 * A core the caller brings that takes no jobs: one request on its own
 * connection (the FCM token request, fcm_auth.c) or a receive-only stream
 * (the feedback reader, legacy/feedback.c). submit() refuses (APNS_EINVAL),
 * capacity() and in_flight() are 0, is_open() is 0 (never open for
 * submits), shutdown() and close() have no book to hand back. Its class
 * writes APNS__CORE_NO_JOBS in its initialiser and sets recv, flush,
 * next_deadline, tick and is_finished itself (apns__core_never for a core
 * that never finishes by itself: the server closing ends it).
 */
int apns__core_no_submit(void *core, apns__job *job, const apns_token *tok, int64_t now_ms);
uint32_t apns__core_no_capacity(const void *core);
size_t apns__core_no_in_flight(const void *core);
void apns__core_no_shutdown(void *core);
void apns__core_no_close(void *core, int64_t now_ms);
/* Always 0. */
int apns__core_never(const void *core);

#define APNS__CORE_NO_JOBS                                                                         \
    .submit = apns__core_no_submit, .capacity = apns__core_no_capacity,                            \
    .in_flight = apns__core_no_in_flight, .shutdown = apns__core_no_shutdown,                      \
    .close = apns__core_no_close, .is_open = apns__core_never

/* The class that speaks transport t. Returns 0, or APNS_EINVAL with detail
 * set (unknown transport; APNS_TRANSPORT_BINARY in a library built without
 * the legacy interface). */
int apns__core_class_find(apns_transport t, const apns__core_class **out, char *detail,
                          size_t detail_len);

#endif
